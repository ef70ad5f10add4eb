"""Explanation sanity on a generated world: do the planted mechanisms show up among an account's top drivers?

`kgcrm generate` writes each account's latent intent per week and its four components to
ground_truth/accounts_intent.csv. Accounts whose true intent at the scoring time is in the top share
are "truly high-intent"; the planted component that carries most of it names the driver group that
should explain the score: committee engagement -> engagement ("4 contacts engaged ..."), a champion's arrival -> a
new contact's history, a family purchase -> related accounts.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np

from kgcrm.ml.score import ScoreRun

EXPECTED_GROUP = {
    "committee_engagement": "engagement",
    "champion_arrival": "contact_history",
    "family_purchase": "related_accounts",
}
ID_PREFIX = "salesforce:"


def planted_driver_share(run: ScoreRun, world_dir: Path, top_share: float = 0.1, k: int = 3) -> dict[str, Any]:
    """Share of truly high-intent accounts whose dominant planted mechanism is among their top k drivers."""
    as_of = run.props["as_of"]
    as_of_day = (as_of.to_native() if hasattr(as_of, "to_native") else as_of).date()
    rows = _week_before(Path(world_dir) / "ground_truth" / "accounts_intent.csv", as_of_day)
    groups = {str(node_id).removeprefix(ID_PREFIX): g for node_id, g in zip(run.ids, run.driver_groups)}
    planted = [r for r in rows if r["AccountId"] in groups]
    planted_intent = np.array([sum(float(r[c]) for c in EXPECTED_GROUP) for r in planted])
    if not len(planted) or planted_intent.max() <= 0:
        return {"accounts": 0, "hits": 0, "share": float("nan"), "by_mechanism": {}}
    threshold = np.quantile(planted_intent, 1 - top_share)
    hits, total, by_mechanism = 0, 0, {}
    for row, intent in zip(planted, planted_intent):
        if intent <= 0 or intent < threshold:
            continue
        mechanism = max(EXPECTED_GROUP, key=lambda c: float(row[c]))
        hit = EXPECTED_GROUP[mechanism] in groups[row["AccountId"]][:k]
        seen = by_mechanism.setdefault(mechanism, [0, 0])
        seen[0] += int(hit)
        seen[1] += 1
        hits += int(hit)
        total += 1
    return {
        "accounts": total, "hits": hits, "share": hits / total if total else float("nan"),
        "by_mechanism": {m: {"hits": h, "accounts": n} for m, (h, n) in by_mechanism.items()},
        "week": rows[0]["Date"] if rows else None,
    }


def _week_before(path: Path, day: dt.date) -> list[dict[str, str]]:
    """The rows of the latest weekly snapshot on or before `day`."""
    best: str | None = None
    kept: list[dict[str, str]] = []
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            date = row["Date"]
            if date > day.isoformat():
                continue
            if best is None or date > best:
                best, kept = date, [row]
            elif date == best:
                kept.append(row)
    return kept
