"""`kgcrm score --partition K/N`: N processes together score every entity once, as one full run would."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kgcrm.graph.driver import Graph
from kgcrm.ml.score import in_partition, score_task

from test_events_rescore import AS_OF, random_production_model
from test_ml_pipeline import build_planted_world


def _scores(graph: Graph) -> dict[str, tuple[float, tuple[str, ...]]]:
    rows = graph.read("MATCH (a:Account) RETURN a.id AS id, a.intent_score AS s, a.intent_drivers AS d")
    return {r["id"]: (r["s"], tuple(r["d"] or ())) for r in rows}


def test_two_partitions_score_each_account_once_and_equal_a_full_run(graph: Graph, tmp_path: Path) -> None:
    build_planted_world(graph, -2.0, accounts=80)
    settings = graph.settings.model_copy(update={
        "ml_model_dir": tmp_path / "models", "ml_threads": 1, "holdout_fraction": 0.0, "ml_score_epsilon": 0.0})
    random_production_model(graph, settings)
    full = score_task(graph, settings, "account_intent", as_of=AS_OF)
    expected = _scores(graph)
    graph.write("MATCH (n) WHERE n:ScoreChange OR n:ScoreRun DETACH DELETE n")
    graph.write("MATCH (a:Account) REMOVE a.intent_score, a.intent_model, a.intent_drivers")

    runs = [score_task(graph, settings, "account_intent", as_of=AS_OF, partition=(k, 2)) for k in (0, 1)]
    first, second = (set(map(str, run.ids)) for run in runs)
    assert first and second and not first & second and first | second == set(map(str, full.ids))
    assert [run.props["partition"] for run in runs] == ["1/2", "2/2"]
    got = _scores(graph)
    assert got.keys() == expected.keys()
    assert all(abs(got[k][0] - expected[k][0]) < 1e-6 and got[k][1] == expected[k][1] for k in expected)
    assert graph.read("MATCH (c:ScoreChange) RETURN count(c) AS n")[0]["n"] == len(expected)


def test_partition_membership_is_stable_and_covers_every_id_once() -> None:
    ids = np.array([f"acc-{i}" for i in range(1000)])
    parts = [in_partition(ids, k, 3) for k in range(3)]
    assert (sum(p.astype(int) for p in parts) == 1).all()
    assert all(250 < p.sum() < 420 for p in parts)
    assert (in_partition(ids, 1, 3) == parts[1]).all()
