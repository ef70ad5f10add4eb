"""The generator's ground truth per day: each account's latent intent at every midnight and the days it opened a deal.

The written ground truth has intent per week only, so the world's simulation is run again from the same
seed (it is deterministic) and its intent is replayed day by day from the simulation's own impulses,
mechanism events and openings. The replay is checked against the simulation's weekly snapshots.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kgcrm.loaders.generate_csv import ids
from kgcrm.loaders.generate_entities import make_static_world
from kgcrm.loaders.generate_export import PREFIXES
from kgcrm.loaders.generate_params import WorldParams
from kgcrm.loaders.generate_simulate import (
    CHAMPION, COMPONENTS, FAMILY, TYPE_EXPANSION, TYPE_NEW, Simulation, simulate,
)

ID_PREFIX = "salesforce:"
# Largest difference allowed between the replayed intent and the simulation's weekly float32 snapshots.
REPLAY_TOLERANCE = 1e-3


@dataclass
class DailyTruth:
    """Ground truth by day index (day 0 = the world's start date), accounts in generator order."""

    start_epoch: float
    account_ids: np.ndarray  # graph ids, "salesforce:001..."
    intent: np.ndarray  # (days + 1, accounts): intent at 00:00 of day d, before anything happens that day
    opened: np.ndarray  # (days, accounts) bool: a New Business or Expansion deal opened on day d

    @property
    def days(self) -> int:
        return self.opened.shape[0]


def daily_truth(params: WorldParams) -> DailyTruth:
    """Re-run the simulation of `params` and replay its latent intent day by day."""
    rng = np.random.default_rng(params.seed)
    world = make_static_world(rng, params)
    bursts, outcome = simulate(rng, params, world, quiet=True)
    n_accounts, days = world.accounts.count, params.days
    # The engagement impulses exactly as the simulation computes them (its constructor draws nothing).
    sim = Simulation(np.random.default_rng(0), params, world, bursts)

    opened = np.zeros((days, n_accounts), dtype=bool)
    created = np.asarray(outcome.opp_created, dtype=np.int64)
    kinds = np.asarray(outcome.opp_type)
    account = np.asarray(outcome.opp_account, dtype=np.int64)
    simulated = (created >= 0) & (created < days) & np.isin(kinds, (TYPE_NEW, TYPE_EXPANSION))
    opened[created[simulated], account[simulated]] = True

    added = np.zeros((days, n_accounts))
    event_day = np.asarray(outcome.event_day, dtype=np.int64)
    mechanism = np.asarray(outcome.event_mechanism)
    amount = np.asarray(outcome.event_amount)
    jumps = np.isin(mechanism, (COMPONENTS[CHAMPION], COMPONENTS[FAMILY]))
    np.add.at(added, (event_day[jumps], np.asarray(outcome.event_account, dtype=np.int64)[jumps]), amount[jumps])
    inside = sim.impulse_day < days
    np.add.at(added, (sim.impulse_day[inside], sim.impulse_account[inside]), sim.impulse_amount[inside])

    decay, kept = params.daily_decay, params.signal.kept_after_opening
    intent = np.zeros((days + 1, n_accounts))
    level = np.zeros(n_accounts)
    for day in range(days):
        level = level * decay + added[day]  # what the simulation sees on day d when it draws the openings
        if day % 7 == 0:
            weekly = outcome.intent_weeks[day // 7].sum(axis=0)
            gap = float(np.abs(weekly - level).max())
            if gap > REPLAY_TOLERANCE * max(1.0, float(level.max())):
                raise AssertionError(f"replayed intent differs from the simulation's on day {day} by {gap:.4g}")
        level = np.where(opened[day], level * kept, level)
        intent[day + 1] = level
    start = np.datetime64(params.start.isoformat()).astype("datetime64[s]").astype(np.int64)
    return DailyTruth(float(start), np.char.add(ID_PREFIX, ids(PREFIXES["Account"], n_accounts)), intent, opened)
