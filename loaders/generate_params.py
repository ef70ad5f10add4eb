"""The knobs of the synthetic CRM world: its size, calendar and the strength of every planted signal."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

from kgcrm.graph.errors import InvalidInput


@dataclass(frozen=True)
class PlantedSignal:
    """How much latent intent each mechanism adds, in intent units (1 unit adds `hazard_per_intent` openings per day).

    The hazard of opening a new opportunity is `base_hazard(size, industry, type) + hazard_per_intent * intent`,
    and intent decays with the world's half-life, so one unit left alone adds about
    `hazard_per_intent * half_life / ln 2` expected openings.
    """

    hazard_per_intent: float = 0.025
    # (a) a buying-committee burst: several contacts of one account engage within ~10 days.
    committee_burst: float = 1.0
    # The control for (a): the same number of engagement activities from a single contact.
    single_contact_burst: float = 0.12
    # (b) a former champion (Champion on a won deal) joins the account.
    champion_arrival: float = 0.9
    # (c) a parent, child or sibling subsidiary closes a deal won.
    family_purchase: float = 0.5
    # Share of the intent that remains after the account opens an opportunity (intent is "spent").
    kept_after_opening: float = 0.3
    # While the account has an open New Business/Expansion deal its hazard is multiplied by this.
    open_deal_damping: float = 0.25


@dataclass(frozen=True)
class WorldParams:
    """Everything that decides a world; the same params always give the same bytes."""

    accounts: int
    seed: int = 0
    start: dt.date = dt.date(2024, 1, 1)
    months: int = 18
    half_life_days: float = 21.0
    # Share of accounts and contacts re-described by a second source (a HubSpot export) for identity resolution.
    duplicates: float = 0.0
    signal: PlantedSignal = field(default_factory=PlantedSignal)

    def __post_init__(self) -> None:
        if self.accounts < 10:
            raise InvalidInput(f"--accounts must be at least 10, got {self.accounts}")
        if self.accounts > 5_000_000:
            raise InvalidInput(f"--accounts must be at most 5,000,000, got {self.accounts}")
        if not 1 <= self.months <= 120:
            raise InvalidInput(f"--months must be from 1 to 120, got {self.months}")
        if not 0.5 <= self.half_life_days <= 3650:
            raise InvalidInput(f"--half-life-days must be from 0.5 to 3650, got {self.half_life_days}")
        if not 0.0 <= self.duplicates <= 0.5:
            raise InvalidInput(f"--duplicates must be from 0 to 0.5, got {self.duplicates}")
        if self.seed < 0:
            raise InvalidInput(f"--seed must be zero or positive, got {self.seed}")

    @property
    def end(self) -> dt.date:
        """The first day after the simulated period."""
        month = self.start.month - 1 + self.months
        year = self.start.year + month // 12
        day = min(self.start.day, 28)
        return dt.date(year, month % 12 + 1, day)

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def daily_decay(self) -> float:
        return 0.5 ** (1.0 / self.half_life_days)

    @property
    def intent_lifetime_days(self) -> float:
        """Mean life of one unit of intent (half-life / ln 2)."""
        return self.half_life_days / math.log(2)
