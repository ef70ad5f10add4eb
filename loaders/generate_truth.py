"""Writes the ground truth of a synthetic world (latent intent, causes of openings, mechanism events) apart from the export."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kgcrm.loaders.generate_csv import booleans, dates, decimals, write_csv
from kgcrm.loaders.generate_export import ExportIds
from kgcrm.loaders.generate_params import WorldParams
from kgcrm.loaders.generate_simulate import (
    BURST_WINDOW_DAYS,
    CAUSE_SHARE,
    CHAMPION_MOVE_PROBABILITY,
    COMMITTEE_BURSTS_PER_YEAR,
    COMPONENTS,
    RANDOM_MOVE_SHARE,
    SINGLE_BURSTS_PER_YEAR,
    Outcome,
)

GROUND_TRUTH_DIR = "ground_truth"


def write_intent(folder: Path, params: WorldParams, outcome: Outcome, export_ids: ExportIds, quiet: bool) -> int:
    """One row per account and week: total latent intent and its four components."""
    weeks = outcome.intent_weeks  # (weeks, components, accounts)
    n_weeks, _, n_accounts = weeks.shape
    account = np.tile(np.arange(n_accounts), n_weeks)
    day = np.repeat(np.arange(n_weeks) * 7, n_accounts)
    components = weeks.transpose(1, 0, 2).reshape(len(COMPONENTS), -1)
    columns = {
        "AccountId": export_ids.account[account],
        "Date": dates(params.start, day),
        "Intent": decimals(components.sum(axis=0)),
    }
    for name, values in zip(COMPONENTS, components):
        columns[name] = decimals(values)
    return write_csv(folder / "accounts_intent.csv", columns, quiet=quiet)


def write_opportunity_events(folder: Path, params: WorldParams, outcome: Outcome, export_ids: ExportIds, quiet: bool) -> int:
    return write_csv(folder / "opportunity_events.csv", {
        "OpportunityId": export_ids.opportunity,
        "AccountId": export_ids.account[np.array(outcome.opp_account, dtype=np.int64)],
        "CreatedDate": dates(params.start, np.array(outcome.opp_created, dtype=np.int64)),
        "Type": outcome.opp_type,
        "Cause": outcome.opp_cause,
        "IntentAtCreation": decimals(np.array(outcome.opp_intent)),
        "IsWon": booleans(np.array(outcome.opp_won, dtype=bool)),
    }, quiet=quiet)


def write_mechanism_events(folder: Path, params: WorldParams, outcome: Outcome, export_ids: ExportIds, quiet: bool) -> int:
    order = np.lexsort((np.array(outcome.event_account), np.array(outcome.event_day)))
    return write_csv(folder / "mechanism_events.csv", {
        "AccountId": export_ids.account[np.array(outcome.event_account, dtype=np.int64)[order]],
        "Date": dates(params.start, np.array(outcome.event_day, dtype=np.int64)[order]),
        "Mechanism": np.array(outcome.event_mechanism)[order],
        "IntentAdded": decimals(np.array(outcome.event_amount)[order]),
    }, quiet=quiet)


def write_readme(folder: Path, params: WorldParams) -> None:
    signal = params.signal
    per_unit = signal.hazard_per_intent * params.intent_lifetime_days
    text = f"""Ground truth of a synthetic kgcrm world (never loaded into the graph).

World: {params.accounts} accounts, seed {params.seed}, {params.days} days from {params.start} ({params.months} months),
intent half-life {params.half_life_days} days.

Model. Each account has a latent intent made of four components that decay with the half-life.
Each day the hazard of opening a New Business (prospect) or Expansion (customer) opportunity is
    (base_hazard(size, industry, customer) + {signal.hazard_per_intent} * intent) * weekday_factor
and is multiplied by {signal.open_deal_damping} while the account has such a deal open. Opening keeps
{signal.kept_after_opening} of the intent. One unit of intent left to decay adds about {per_unit:.2f} expected openings.
base_hazard is visible in the account's own row (NumberOfEmployees, Industry, Type); a hidden
lognormal factor (sd 0.3) is not. Renewals are scheduled yearly for initial customers (cause renewal_schedule).

Planted mechanisms (intent added per event):
  committee_engagement       {signal.committee_burst}: 2-5 contacts of the account engage (email opened/replied,
                             web visit, content download, webinar) within {BURST_WINDOW_DAYS} days;
                             {COMMITTEE_BURSTS_PER_YEAR} bursts per account-year; the intent arrives with each activity.
  single_contact_engagement  {signal.single_contact_burst}: the control: the same number of activities from ONE contact;
                             {SINGLE_BURSTS_PER_YEAR} per account-year. Counts alone cannot tell the two apart.
  champion_arrival           {signal.champion_arrival}: a Champion of a won deal moves to this account
                             (probability {CHAMPION_MOVE_PROBABILITY} per won deal with a champion). Invisible in the account's own rows.
  family_purchase            {signal.family_purchase}: a parent, child or sibling subsidiary closes a deal won
                             (New Business or Expansion). Invisible in the account's own rows.
  non_champion_arrival       0 (control): a random {RANDOM_MOVE_SHARE:.0%} of contacts change company; no intent.
Every mover (champion or not) does 1-3 engagements at the new company within 14 days.
Background activity (all Task types and meetings) is heavy-tailed per account and carries no intent.

Files:
  accounts_intent.csv     AccountId, Date (weekly from the start), Intent (the total), and the four components.
  opportunity_events.csv  OpportunityId, AccountId, CreatedDate, Type, Cause, IntentAtCreation, IsWon.
                          Cause: the mechanisms carrying >= {CAUSE_SHARE:.0%} of the hazard on the opening day,
                          joined with '+'; 'baseline' if none; 'history' for deals before the period;
                          'renewal_schedule' for renewals.
  mechanism_events.csv    AccountId, Date, Mechanism, IntentAdded: every event above (and the controls).
"""
    (folder / "README.txt").write_text(text, encoding="utf-8")


def write_ground_truth(outdir: Path, params: WorldParams, outcome: Outcome, export_ids: ExportIds, quiet: bool) -> dict[str, int]:
    folder = outdir / GROUND_TRUTH_DIR
    folder.mkdir(parents=True, exist_ok=True)
    rows = {
        "accounts_intent.csv": write_intent(folder, params, outcome, export_ids, quiet),
        "opportunity_events.csv": write_opportunity_events(folder, params, outcome, export_ids, quiet),
        "mechanism_events.csv": write_mechanism_events(folder, params, outcome, export_ids, quiet),
    }
    write_readme(folder, params)
    return rows
