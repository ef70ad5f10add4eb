"""`kgcrm uplift`: treated against held-out accounts, counted per account, with the right intervals."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kgcrm.actions.holdout import holdout_group
from kgcrm.actions.outbox import ScoreChangeInput, apply_score_changes
from kgcrm.actions.policies import parse_policies
from kgcrm.actions.uplift import measure_uplift, newcombe_interval, wilson_interval
from kgcrm.graph.driver import Graph
from kgcrm.graph.model import Label

KGCRM = str(Path(sys.executable).parent / "kgcrm")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SALT = "uplift-test"


def test_intervals_match_published_values() -> None:
    low, high = wilson_interval(0, 10)
    assert (round(low, 4), round(high, 4)) == (0.0, 0.2775)
    low, high = wilson_interval(5, 10)
    assert (round(low, 4), round(high, 4)) == (0.2366, 0.7634)
    # Newcombe (1998), Statistics in Medicine 17:873, example (a): 56/70 vs 48/80, method 10.
    low, high = newcombe_interval(56, 70, 48, 80)
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)


def test_uplift_counts_accounts_and_conversions_within_the_horizon(graph: Graph, neo4j_server: Any) -> None:
    accounts = [f"u{i}" for i in range(1, 41)]
    graph.write(
        "UNWIND $ids AS id CREATE (a:Account {id: id}) "
        "CREATE (:Contact {id: id + '-c'})-[:WORKS_AT {since: datetime('2020-01-01T00:00:00Z')}]->(a)",
        {"ids": accounts},
    )
    settings = graph.settings.model_copy(update={"holdout_fraction": 0.5, "holdout_salt": SALT})
    policies = parse_policies("policies:\n  - {name: hot, label: Account, enter: 0.8, rearm: 0.6, action: both}\n"
                              "  - {name: warm, label: Contact, enter: 0.8, rearm: 0.6}\n", "test")
    changes = [ScoreChangeInput(a, Label.ACCOUNT, 0.5, 0.9, "mv1", changed_at=T0) for a in accounts]
    changes += [ScoreChangeInput(a + "-c", Label.CONTACT, 0.5, 0.9, "mv1", changed_at=T0 + timedelta(hours=1))
                for a in accounts]
    apply_score_changes(graph, changes, policies, settings)

    held = [a for a in accounts if holdout_group(a, 0.5, SALT) == "holdout"]
    treated = [a for a in accounts if a not in held]
    assert held and treated
    # Every second treated account and every third held-out one opens a deal 5 days later; one
    # more opens 40 days later (outside a 30-day horizon), and one opened before the action.
    converting = treated[::2] + held[::3]
    graph.write(
        "UNWIND $rows AS row MATCH (a:Account {id: row.account}) "
        "CREATE (:Opportunity {id: row.account + '-' + row.days, created_at: $t0 + duration({days: row.days}),"
        " is_won: row.days = 5, closed_at: $t0 + duration({days: row.days + 1})})-[:FOR_ACCOUNT]->(a)",
        {"t0": T0, "rows": [{"account": a, "days": 5} for a in converting]
         + [{"account": treated[1], "days": 40}, {"account": treated[3], "days": -3}]},
    )
    report = measure_uplift(graph, horizon=timedelta(days=30))
    assert (report.treated.accounts, report.holdout.accounts) == (len(treated), len(held))
    assert report.treated.converted == len(treated[::2])
    assert report.holdout.converted == len(held[::3])
    assert report.in_both_groups == 0
    assert report.difference == pytest.approx(len(treated[::2]) / len(treated) - len(held[::3]) / len(held))
    low, high = report.difference_interval
    assert low < report.difference < high
    # A longer horizon counts the late deal too; `won` counts only deals closed won.
    assert measure_uplift(graph, horizon=timedelta(days=60)).treated.converted == len(treated[::2]) + 1
    assert measure_uplift(graph, horizon=timedelta(days=60), outcome="won").treated.converted == len(treated[::2])
    assert measure_uplift(graph, horizon=timedelta(days=30), policy="nope").treated.accounts == 0

    result = subprocess.run([KGCRM, "uplift", "--horizon", "30d"], env=neo4j_server.env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert f"treated  {len(treated):>7} accounts  {len(treated[::2]):>6} converted" in result.stdout
    assert "uplift   " in result.stdout and "95% CI" in result.stdout
    bad = subprocess.run([KGCRM, "uplift", "--horizon", "soon"], env=neo4j_server.env, capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("kgcrm: error: --horizon 'soon':")
