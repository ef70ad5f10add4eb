"""Measures how strong the planted signal of a generated world is, from its files alone (export plus ground truth).

For every mechanism it asks: of the times it fired at an account, how often did that account open a New
Business or Expansion deal within the next N days, against the same rate on ordinary account-days. The
windows show the intent decaying with the half-life. Own-feature signal is shown as the opening rate per
account-year by company size and customer status, the columns an account's own row carries.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kgcrm.graph.errors import InvalidInput
from kgcrm.loaders.generate_truth import GROUND_TRUTH_DIR

# Windows after an event, in days: (first day, last day), both inclusive.
WINDOWS: tuple[tuple[int, int], ...] = ((1, 30), (31, 60), (61, 120))
MECHANISMS: tuple[str, ...] = ("committee_engagement", "single_contact_engagement", "champion_arrival",
                               "non_champion_arrival", "family_purchase")
_OPENING_TYPES = {"New Business", "Expansion"}
_BASELINE_STRIDE_DAYS = 7


@dataclass
class MechanismRate:
    mechanism: str
    events: int
    rates: list[float]  # share of events followed by an opening, per window
    lifts: list[float]  # rate / baseline rate of the same window


@dataclass
class SignalReport:
    accounts: int
    days: int
    openings: int
    baseline: list[float]
    family_baseline: list[float]  # account-days of accounts in a subsidiary tree (the fair control of family_purchase)
    mechanisms: list[MechanismRate]
    causes: dict[str, int]
    by_size: list[tuple[str, int, float]]  # (size quartile, accounts, openings per account-year)
    by_type: list[tuple[str, int, float]]


def _read(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise InvalidInput(f"{path}: missing; is this a folder written by `kgcrm generate`?")
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _day(value: str, start: dt.date) -> int:
    return (dt.date.fromisoformat(value[:10]) - start).days


class _Openings:
    """Opening days per account, searchable for 'an opening in (day + lo - 1, day + hi]'."""

    def __init__(self, account: np.ndarray, day: np.ndarray, span: int) -> None:
        self.span = span
        self.keys = np.sort(account.astype(np.int64) * span + day)

    def share_followed(self, account: np.ndarray, day: np.ndarray, lo: int, hi: int) -> float:
        if not len(account):
            return float("nan")
        base = account.astype(np.int64) * self.span + day
        before = np.searchsorted(self.keys, base + lo - 1, side="right")
        until = np.searchsorted(self.keys, base + hi, side="right")
        return float(np.mean(until > before))


def measure_signal(folder: Path) -> SignalReport:
    """Read `folder` (an OUTDIR of `kgcrm generate`) and measure each planted mechanism's effect."""
    truth = folder / GROUND_TRUTH_DIR
    accounts = _read(folder / "Account.csv")
    opportunities = _read(truth / "opportunity_events.csv")
    events = _read(truth / "mechanism_events.csv")
    intent = _read_first_and_last_dates(truth / "accounts_intent.csv")
    start, last_week = intent
    index = {row["Id"]: i for i, row in enumerate(accounts)}
    # The period ends a week or less after the last weekly snapshot.
    days = (last_week - start).days + 7
    span = days + 400

    opened = [o for o in opportunities if o["Type"] in _OPENING_TYPES and o["Cause"] != "history"]
    open_account = np.array([index[o["AccountId"]] for o in opened], dtype=np.int64)
    open_day = np.array([_day(o["CreatedDate"], start) for o in opened], dtype=np.int64)
    openings = _Openings(open_account, open_day, span)
    horizon = WINDOWS[-1][1]
    observable = days - horizon

    grid_account, grid_day = np.meshgrid(np.arange(len(accounts)), np.arange(0, observable, _BASELINE_STRIDE_DAYS))
    grid_account, grid_day = grid_account.ravel(), grid_day.ravel()
    baseline = [openings.share_followed(grid_account, grid_day, lo, hi) for lo, hi in WINDOWS]
    parent_ids = {row["ParentId"] for row in accounts if row["ParentId"]}
    in_tree = np.array([bool(row["ParentId"]) or row["Id"] in parent_ids for row in accounts])
    tree_rows = in_tree[grid_account]
    family_baseline = [openings.share_followed(grid_account[tree_rows], grid_day[tree_rows], lo, hi) for lo, hi in WINDOWS]

    rates = []
    for mechanism in MECHANISMS:
        fired = [(index[e["AccountId"]], _day(e["Date"], start)) for e in events if e["Mechanism"] == mechanism]
        fired = [(a, d) for a, d in fired if 0 <= d < observable]
        account = np.array([a for a, _ in fired], dtype=np.int64)
        day = np.array([d for _, d in fired], dtype=np.int64)
        shares = [openings.share_followed(account, day, lo, hi) for lo, hi in WINDOWS]
        # Subsidiary trees hold the bigger companies, so a family purchase is compared with their own days.
        control = family_baseline if mechanism == "family_purchase" else baseline
        rates.append(MechanismRate(mechanism, len(fired), shares, [s / b if b else float("nan") for s, b in zip(shares, control)]))

    causes = Counter(o["Cause"] for o in opened)
    per_account = np.bincount(open_account, minlength=len(accounts))
    years = days / 365.0
    employees = np.array([int(row["NumberOfEmployees"] or 0) for row in accounts])
    quartile = np.searchsorted(np.quantile(employees, [0.25, 0.5, 0.75]), employees, side="right")
    by_size = []
    for q, name in enumerate(("smallest quarter", "second quarter", "third quarter", "largest quarter")):
        chosen = quartile == q
        if not chosen.any():
            continue
        by_size.append((f"{name} (employees {employees[chosen].min():,}-{employees[chosen].max():,})",
                        int(chosen.sum()), float(per_account[chosen].mean() / years)))
    kinds = np.array([row["Type"] for row in accounts])
    by_type = [(kind, int((kinds == kind).sum()), float(per_account[kinds == kind].mean() / years))
               for kind in sorted(set(kinds.tolist()))]
    return SignalReport(len(accounts), days, len(opened), baseline, family_baseline, rates, dict(causes.most_common()), by_size, by_type)


def _read_first_and_last_dates(path: Path) -> tuple[dt.date, dt.date]:
    """The first and last weekly snapshot dates, read without loading the whole (big) file."""
    if not path.is_file():
        raise InvalidInput(f"{path}: missing; is this a folder written by `kgcrm generate`?")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        date_column = next(reader).index("Date")
        first = last = next(reader)[date_column]
        for row in reader:
            last = row[date_column]
    return dt.date.fromisoformat(first), dt.date.fromisoformat(last)


def format_signal_report(report: SignalReport) -> str:
    """The report as Markdown tables (the form docs/generator.md quotes)."""
    heads = " | ".join(f"opened within days {lo}-{hi}" for lo, hi in WINDOWS)
    lines = [
        f"{report.accounts:,} accounts, {report.days} days, {report.openings:,} New Business/Expansion openings; "
        "(xN): the rate over the baseline of the same window (family_purchase: over accounts in a subsidiary tree)",
        "" if report.days > WINDOWS[-1][1] else f"(the period is too short: the windows need more than {WINDOWS[-1][1]} days)",
        f"| after | events | {heads} |",
        "|---|---|" + "---|" * len(WINDOWS),
        "| any account-day (baseline) | - | " + " | ".join(f"{rate:.1%}" for rate in report.baseline) + " |",
        "| any day of an account in a subsidiary tree | - | " + " | ".join(f"{rate:.1%}" for rate in report.family_baseline) + " |",
    ]
    for m in report.mechanisms:
        cells = " | ".join(f"{rate:.1%} (x{lift:.1f})" for rate, lift in zip(m.rates, m.lifts))
        lines.append(f"| {m.mechanism} | {m.events:,} | {cells} |")
    lines += ["", "| cause of the opening (ground truth) | openings | share |", "|---|---|---|"]
    for cause, count in report.causes.items():
        lines.append(f"| {cause} | {count:,} | {count / max(report.openings, 1):.1%} |")
    lines += ["", "| own feature | accounts | openings per account-year |", "|---|---|---|"]
    for name, count, rate in report.by_size + [(f"Type = {k}", n, r) for k, n, r in report.by_type]:
        lines.append(f"| {name} | {count:,} | {rate:.3f} |")
    return "\n".join(lines)
