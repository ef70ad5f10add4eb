"""One call for `kgcrm demo`: train (or reuse) the account_intent model, score the graph, return the top accounts."""

from __future__ import annotations

import logging
from typing import Any

from kgcrm.graph.driver import Graph
from kgcrm.graph.queries import ml_registry as q
from kgcrm.graph.settings import Settings
from kgcrm.ml.registry import production_model
from kgcrm.ml.retrain import gnn_config, retrain
from kgcrm.ml.score import score_task
from kgcrm.ml.tasks import load_task

logger = logging.getLogger(__name__)

# Small and quick: a demo world trains in well under two minutes on two cores.
DEMO_GNN = {"hidden": 32, "epochs": 25, "patience": 8}


def train_and_score(graph: Graph, settings: Settings, top: int = 10, retrain_model: bool = True) -> dict[str, Any]:
    """Retrain account_intent (promoted if it passes the gate), score every account, return the top ones.

    Returns {"model": id, "promoted": bool, "reason": str, "metrics": {...}, "run": ScoreRun props,
    "top": [{"id", "name", "score", "drivers"}, ...]}.
    """
    task = load_task("account_intent")
    result = None
    if retrain_model or production_model(graph, task.name) is None:
        result = retrain(graph, settings, task, config=gnn_config(settings, **DEMO_GNN))
    production = production_model(graph, task.name)
    if result is not None and result.score_run is not None:
        run = result.score_run
    elif production is not None:
        run = score_task(graph, settings, task.name)
    else:
        # Nothing passed the gate: the demo shows what the staged candidate says, without promoting it.
        assert result is not None
        logger.warning("the demo candidate stays staged (%s); scoring with it without promotion", result.reason)
        production = result.candidate
        run = score_task(graph, settings, task.name, version=result.candidate, reason="demo of a staged candidate")
    rows = run.top(top)
    names = {r["id"]: r["name"] for r in graph.read(q.ACCOUNT_NAMES, {"ids": [r["id"] for r in rows]})}
    return {
        "model": production.id,
        "promoted": bool(result and result.promoted),
        "reason": result.reason if result else "reused the production model",
        "metrics": production.get("metrics"),
        "baseline_metrics": production.get("baseline_metrics"),
        "run": run.props,
        "top": [{**r, "name": names.get(r["id"])} for r in rows],
    }
