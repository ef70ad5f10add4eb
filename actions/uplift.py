"""Uplift of acting: conversion of treated accounts against held-out accounts, with confidence intervals."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from kgcrm.graph.driver import Graph
from kgcrm.graph.errors import InvalidInput
from kgcrm.graph.queries import actions as q

logger = logging.getLogger(__name__)

OUTCOMES = ("opened", "won")
Z_95 = 1.959963984540054


@dataclass(frozen=True)
class GroupRate:
    """Conversions among the accounts of one group, with a Wilson 95% interval."""

    accounts: int
    converted: int

    @property
    def rate(self) -> float:
        return self.converted / self.accounts if self.accounts else math.nan

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.converted, self.accounts)


@dataclass(frozen=True)
class UpliftReport:
    treated: GroupRate
    holdout: GroupRate
    in_both_groups: int  # accounts seen in both (only after the fraction or salt changed mid-window)

    @property
    def difference(self) -> float:
        return self.treated.rate - self.holdout.rate

    @property
    def difference_interval(self) -> tuple[float, float]:
        """Newcombe's interval for a difference of two proportions (from the two Wilson intervals)."""
        return newcombe_interval(self.treated.converted, self.treated.accounts, self.holdout.converted, self.holdout.accounts)

    @property
    def relative_lift(self) -> float:
        return self.treated.rate / self.holdout.rate - 1 if self.holdout.rate else math.nan


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval: stays inside [0, 1] and behaves at small counts, unlike the normal one."""
    if n == 0:
        return (math.nan, math.nan)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def newcombe_interval(x1: int, n1: int, x2: int, n2: int, z: float = Z_95) -> tuple[float, float]:
    """Newcombe's hybrid score interval for p1 - p2 (method 10 of his 1998 paper)."""
    if n1 == 0 or n2 == 0:
        return (math.nan, math.nan)
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson_interval(x1, n1, z)
    l2, u2 = wilson_interval(x2, n2, z)
    d = p1 - p2
    return (d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2))


def measure_uplift(
    graph: Graph,
    *,
    horizon: timedelta,
    outcome: str = "opened",
    policy: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> UpliftReport:
    """Compare accounts that got actions with held-out ones: did an opportunity open (or win) within `horizon`?"""
    if outcome not in OUTCOMES:
        raise InvalidInput(f"outcome {outcome!r}: must be one of {', '.join(OUTCOMES)}")
    if horizon <= timedelta(0):
        raise InvalidInput("horizon must be positive")
    rows = graph.read(q.UPLIFT_UNITS, {
        "kinds": list(q.DISPATCHED_KINDS), "policy": policy, "since": since, "until": until,
        "horizon": horizon, "outcome": outcome,
    })
    groups: dict[str, dict[str, bool]] = {"treated": {}, "holdout": {}}
    for row in rows:
        groups[row["grp"]][row["account_id"]] = row["converted"]
    both = len(groups["treated"].keys() & groups["holdout"].keys())
    if both:
        logger.warning("%s accounts appear in both groups; was the holdout fraction or salt changed?", both)

    def rate(name: str) -> GroupRate:
        return GroupRate(accounts=len(groups[name]), converted=sum(groups[name].values()))

    return UpliftReport(treated=rate("treated"), holdout=rate("holdout"), in_both_groups=both)
