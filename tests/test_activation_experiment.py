"""The activation experiment (bench/activation): its counting on hand-made cases, the replayed truth, and one tiny world end to end."""

from __future__ import annotations

import csv
import datetime as dt
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from kgcrm.actions.outbox import ApplyReport
from kgcrm.graph.driver import Graph
from kgcrm.loaders.generate import WorldParams, generate_world
from kgcrm.ml.train import GnnConfig

ACTIVATION = Path(__file__).resolve().parent.parent / "bench" / "activation"
sys.path.insert(0, str(ACTIVATION))

from act_experiment import ExperimentConfig, credit, equal_budget, event_driven, weekly_batch  # noqa: E402
from act_truth import DailyTruth, daily_truth  # noqa: E402


def _run_module():
    spec = importlib.util.spec_from_file_location("activation_run", ACTIVATION / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _truth(intent: np.ndarray, opened: np.ndarray) -> DailyTruth:
    accounts = intent.shape[1]
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC).timestamp()
    return DailyTruth(start, np.array([f"salesforce:a{i}" for i in range(accounts)]), intent, opened)


def test_an_action_is_credited_only_when_intent_was_high_then_and_the_deal_opens_inside_the_window() -> None:
    days, accounts = 40, 4
    intent = np.zeros((days + 1, accounts))
    opened = np.zeros((days, accounts), dtype=bool)
    intent[10, 0] = 0.5  # high at day 10, opens on day 20: credited
    opened[20, 0] = True
    intent[10, 1] = 0.5  # high, but never opens inside the 30-day window (days 10..39)
    intent[10, 2] = 0.1  # low intent, opens on day 12: converted, not credited
    opened[12, 2] = True
    intent[9, 3] = 0.5  # high the day BEFORE the action only; opens on day 15: not credited
    opened[15, 3] = True
    truth = _truth(intent, opened)
    assert credit([(0, 10), (1, 10), (2, 10), (3, 10)], truth, level=0.2, window=30) == (1, 3, 2)
    # The window's last day counts, the day after does not.
    opened[39, 1] = True
    assert credit([(1, 10)], truth, level=0.2, window=30) == (1, 1, 1)
    assert credit([(1, 10)], truth, level=0.2, window=29) == (0, 0, 1)


def test_equal_budget_thins_the_longer_arm_to_the_shorter_ones_length() -> None:
    longer, shorter = [(i, i) for i in range(50)], [(i, 0) for i in range(7)]
    a, b = equal_budget(longer, shorter, seed=1)
    assert len(a) == len(b) == 7 and set(a) <= set(longer) and b == shorter
    assert equal_budget(longer, shorter, seed=1) == (a, b)


def _scores(table: dict[int, list[float]]):
    return lambda day: np.asarray(table[day], dtype=float)


def test_weekly_batch_acts_every_monday_on_everything_above_the_threshold() -> None:
    config = ExperimentConfig(first_day=7, last_day=28, cooldown_days=7)
    table = {7: [0.9, 0.1], 14: [0.95, 0.8], 21: [0.2, 0.85]}
    assert weekly_batch(_scores(table), config, threshold=0.8) == [(0, 7), (0, 14), (1, 14), (1, 21)]


def test_event_driven_fires_on_crossings_with_hysteresis_and_cooldown_through_the_real_policy_code() -> None:
    days = 30
    truth = _truth(np.zeros((days + 1, 1)), np.zeros((days, 1), dtype=bool))
    config = ExperimentConfig(first_day=2, last_day=days, warmup_days=2, rearm_ratio=0.5, min_delta=0.0,
                              cooldown_days=5, epsilon=0.0)
    path = {0: 0.1, 1: 0.1, 2: 0.1, 3: 0.9, 4: 0.95, 5: 0.85,  # crosses on day 3; stays hot: one action
            6: 0.35, 7: 0.9,  # re-armed below 0.4 on day 6, crosses again on day 7: inside the 5-day cooldown
            8: 0.3, 9: 0.3, 10: 0.92,  # re-armed, crosses on day 10, cooldown over: fires
            11: 0.6, 12: 0.91}  # dipped but not below the re-arm level: no second action
    scores = {day: [path.get(day, 0.2)] for day in range(days)}
    every_day = lambda day: np.array([True])  # noqa: E731
    report = ApplyReport()
    actions = event_driven(_scores(scores), every_day, truth, ["owner"], config, threshold=0.8, report=report)
    assert actions == [(0, 3), (0, 10)]
    assert report.suppressed["cooldown"] == 1
    # An account the day's events never reach is never re-evaluated, however its score moved.
    never = lambda day: np.array([False])  # noqa: E731
    assert event_driven(_scores(scores), never, truth, ["owner"], config, threshold=0.8) == []


def test_the_replayed_daily_truth_matches_the_written_ground_truth(tmp_path: Path) -> None:
    params = WorldParams(accounts=60, seed=4, months=4, half_life_days=3)
    generate_world(params, tmp_path, quiet=True)
    truth = daily_truth(params)  # also checks itself against the simulation's weekly intent snapshots
    with (tmp_path / "ground_truth" / "opportunity_events.csv").open() as handle:
        written = sorted(
            ("salesforce:" + row["AccountId"], (dt.date.fromisoformat(row["CreatedDate"][:10]) - params.start).days)
            for row in csv.DictReader(handle)
            if row["Type"] in ("New Business", "Expansion") and row["Cause"] != "history"
        )
    days, accounts = np.nonzero(truth.opened)
    assert sorted(set(zip(truth.account_ids[accounts].tolist(), days.tolist()))) == sorted(set(written))
    assert truth.opened.sum() > 0 and truth.intent.max() > 0
    with (tmp_path / "ground_truth" / "accounts_intent.csv").open() as handle:
        week_one = {row["AccountId"]: float(row["Intent"]) for row in csv.DictReader(handle) if row["Date"] == "2024-01-08"}
    # The file holds day 7 after that day's events: the replayed intent at 00:00 decayed by one day, plus
    # whatever arrived on day 7 (never negative, and nothing for most accounts).
    replayed = dict(zip((i.removeprefix("salesforce:") for i in truth.account_ids), truth.intent[7] * params.daily_decay))
    gaps = np.array([week_one[k] - replayed[k] for k in week_one])
    assert (gaps > -1e-3).all() and (np.abs(gaps) < 1e-3).mean() > 0.8


def test_one_tiny_world_runs_end_to_end_through_the_loader_model_and_policies(graph: Graph, neo4j_server, tmp_path: Path) -> None:
    run = _run_module()
    settings = neo4j_server.settings.model_copy(update={"ml_cutoffs": 4, "ml_threads": 1})
    params = WorldParams(accounts=60, seed=2, months=8, half_life_days=7)
    first, last = run.experiment_days(params, weeks=3, window=30)
    assert first % 7 == 0 and last + 30 <= params.days
    config = ExperimentConfig(first_day=first, last_day=last, window_days=30)
    row = run.one_world(graph, settings, params, config, GnnConfig(epochs=2, patience=2, threads=1), tmp_path)
    loaded = graph.read("MATCH (a:Account) RETURN count(a) AS n")[0]["n"]
    assert loaded == 60 and row["rejected_rows"] == 0
    batch, event = row["batch"], row["event"]
    assert batch["actions"] == event["actions"] == min(batch["raw_actions"], event["raw_actions"])
    assert batch["raw_actions"] > 0
    for arm in (batch, event):
        assert 0 <= arm["credited"] <= min(arm["converted"], arm["high"]) <= arm["actions"]
    table = run.summarise([row], tmp_path / "plot.png")
    assert "| 7 | 1 |" in table
    assert (tmp_path / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
