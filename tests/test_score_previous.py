"""Both score writers keep the outgoing model's score when another model takes a node over (what a rollback restores)."""

from __future__ import annotations

import datetime as dt

import numpy as np

from kgcrm.graph.driver import Graph
from kgcrm.graph.model import Label
from kgcrm.graph.queries.actions import write_score_changes
from kgcrm.graph.score_restore import restore_previous_scores
from kgcrm.graph.settings import Settings
from kgcrm.ml.score import write_scores

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _account(graph: Graph) -> dict:
    return graph.read("MATCH (a:Account {id: 'a1'}) RETURN a {.*} AS a")[0]["a"]


def _event_score(graph: Graph, change_id: str, model: str, score: float, at: dt.datetime) -> None:
    row = {"id": change_id, "node_id": "a1", "old_score": None, "new_score": score,
           "changed_at_us": (at - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1),
           "model_version": model, "cause": "event", "event_ids": []}
    graph.write(write_score_changes(Label.ACCOUNT), {"rows": [row], "write_scores": True})


def test_batch_and_event_writes_keep_the_previous_model_and_a_restore_swaps_it_back(graph: Graph) -> None:
    settings: Settings = graph.settings.model_copy(update={"ml_score_epsilon": 0.0})
    graph.write("CREATE (:Account {id: 'a1', name: 'one'})")

    def batch(model: str, score: float, drivers: list[str]) -> None:
        write_scores(graph, settings, Label.ACCOUNT, model, f"run-{model}-{score}", np.array(["a1"]), np.array([score]),
                     [drivers], [[0.5] * len(drivers)], "test")

    batch("m-A", 0.2, ["calls"])
    assert "intent_previous_model" not in _account(graph), "a first score has nothing to keep"
    batch("m-A", 0.3, ["calls", "visits"])
    assert "intent_previous_model" not in _account(graph), "the same model rescoring keeps nothing"

    # An event scored by a newly promoted model takes the node over: A's values stay beside B's.
    _event_score(graph, "sc-1", "m-B", 0.9, dt.datetime.now(dt.UTC))
    a = _account(graph)
    assert (a["intent_model"], a["intent_score"]) == ("m-B", 0.9)
    assert (a["intent_previous_model"], a["intent_previous_score"], a["intent_previous_drivers"]) == (
        "m-A", 0.3, ["calls", "visits"])
    # B writing again (batch or event) leaves A's values where they are.
    batch("m-B", 0.8, ["web"])
    _event_score(graph, "sc-2", "m-B", 0.85, dt.datetime.now(dt.UTC))
    a = _account(graph)
    assert (a["intent_score"], a["intent_previous_model"], a["intent_previous_score"]) == (0.85, "m-A", 0.3)

    run = restore_previous_scores(graph, "account_intent", "m-B", "m-A")
    a = _account(graph)
    assert (a["intent_model"], a["intent_score"], a["intent_drivers"]) == ("m-A", 0.3, ["calls", "visits"])
    assert a["intent_restored_by"] == run["id"]
    assert (run["written"], run["left_with_retired_model"], run["kind"]) == (1, 0, "restore")
    assert restore_previous_scores(graph, "account_intent", "m-B", "m-A")["written"] == 0, "nothing left to restore"
    # An event of B computed before the rollback arrives late: the node's newer time keeps A's score.
    _event_score(graph, "sc-late", "m-B", 0.99, T0)
    assert _account(graph)["intent_score"] == 0.3
    # The next write clears the restore mark.
    batch("m-A", 0.4, ["calls"])
    assert "intent_restored_by" not in _account(graph)
