"""Batch scoring: the production model over the whole graph, explained, written back, recorded as a ScoreRun.

Export -> snapshot at the graph's clock -> inference -> calibrated probabilities -> drivers ->
UNWIND batches that rewrite only scores that moved by more than KGCRM_SCORE_EPSILON (or whose model
changed) -> one ScoreRun node with the counts, the score distribution, drift and the time of each part.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from kgcrm.graph.driver import Graph
from kgcrm.graph.queries import ml_registry as q
from kgcrm.graph.score_restore import restore_previous_scores
from kgcrm.graph.settings import Settings
from kgcrm.ml.candidate import graph_clock
from kgcrm.ml.drift import measure_drift, relationship_counts, target_degrees
from kgcrm.ml.explain import explain_rows
from kgcrm.ml.export import GraphExport, export_graph
from kgcrm.ml.features import take_snapshot
from kgcrm.ml.inference import logits_of, prepare
from kgcrm.ml.registry import ModelVersion, load_model, require_production
from kgcrm.ml.tasks import scoring_index

logger = logging.getLogger(__name__)
HISTOGRAM_BINS = 10


@dataclass
class ScoreRun:
    """What one scoring run did; `props` is what the ScoreRun node holds."""

    props: dict[str, Any]
    ids: np.ndarray = field(repr=False)
    scores: np.ndarray = field(repr=False)
    drivers: list[list[str]] = field(repr=False)
    driver_groups: list[list[str]] = field(repr=False)

    def top(self, n: int) -> list[dict[str, Any]]:
        """The n highest scores with their drivers."""
        order = np.argsort(-self.scores, kind="stable")[:n]
        return [{"id": str(self.ids[i]), "score": float(self.scores[i]), "drivers": self.drivers[i]} for i in order]


def score_task(
    graph: Graph, settings: Settings, task: str, *, version: ModelVersion | None = None,
    as_of: float | None = None, export: GraphExport | None = None, quiet: bool = True, reason: str = "batch rescoring",
    partition: tuple[int, int] = (0, 1),
) -> ScoreRun:
    """Score every entity of the task with the production model (or `version`) and write what changed.

    `partition` (k, n) scores only the entities whose id hashes to k of n, so n processes together
    score each entity once (`kgcrm score --partition K/N`); each still exports the whole graph, which
    the GNN needs for the neighbours.
    """
    torch.set_num_threads(settings.ml_threads)
    part, parts = partition
    version = version or require_production(graph, task)
    if version.props.get("restore_pending_from") and part == 0:  # a rollback's restore was interrupted
        restore_previous_scores(graph, task, version.props["restore_pending_from"], version.id)
    artifact = load_model(settings, version)
    started_at = dt.datetime.now(dt.UTC)
    timings: dict[str, float] = {}

    clock = time.perf_counter()
    export = export if export is not None else export_graph(graph)
    timings["export_s"] = time.perf_counter() - clock

    clock = time.perf_counter()
    cutoff = as_of if as_of is not None else graph_clock(graph)
    snapshot = take_snapshot(export, cutoff)
    index = scoring_index(artifact.task, export, cutoff, graph)
    if parts > 1:
        index = index[in_partition(export.nodes[artifact.task.target].ids[index], part, parts)]
    prepared = prepare(artifact, snapshot, index)
    model = artifact.network()
    logits = logits_of(model, prepared)
    scores = artifact.calibrator.apply(logits)
    timings["inference_s"] = time.perf_counter() - clock

    clock = time.perf_counter()
    drivers, weights, groups = explain_rows(artifact, model, prepared, logits, export, snapshot, index)
    timings["explain_s"] = time.perf_counter() - clock

    run_id = f"{task}-{started_at.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
    ids = export.nodes[artifact.task.target].ids[index]
    clock = time.perf_counter()
    written = write_scores(graph, settings, artifact.task.target, version.id, run_id, ids, scores, drivers, weights,
                           reason, quiet)
    timings["write_s"] = time.perf_counter() - clock

    target = artifact.task.target
    feature_values = {
        name: snapshot.own[target][index, snapshot.own_names[target].index(name)]
        for name in artifact.reference.get("features", {}) if name in snapshot.own_names[target]
    }
    drift = measure_drift(
        artifact.reference, scores, feature_values, target_degrees(snapshot, target, index),
        relationship_counts(snapshot), settings.ml_drift_psi_threshold,
    )
    props = {
        "id": run_id, "task": task, "model": version.id, "reason": reason,
        "started_at": started_at, "as_of": dt.datetime.fromtimestamp(cutoff, dt.UTC),
        "scored": int(len(ids)), "written": int(written), "unchanged": int(len(ids) - written),
        "epsilon": settings.ml_score_epsilon,
        **distribution(scores),
        "drift": json.dumps(drift), "score_psi": drift["score_psi"], "drift_flagged": bool(drift["flagged"]),
        "timings": json.dumps({k: round(v, 3) for k, v in timings.items()}),
        "elements": export.num_elements, "partition": f"{part + 1}/{parts}",
    }
    graph.write(q.CREATE_SCORE_RUN, {"props": props})
    logger.info("score run %s: %s scored, %s written", run_id, len(ids), written)
    return ScoreRun(props, ids, scores, drivers, groups)


def in_partition(ids: np.ndarray, part: int, parts: int) -> np.ndarray:
    """Which ids fall in partition `part` of `parts`: CRC-32 of the id, stable across processes and runs."""
    return np.fromiter((zlib.crc32(str(i).encode()) % parts == part for i in ids), dtype=bool, count=len(ids))


def distribution(scores: np.ndarray) -> dict[str, Any]:
    """Summary of a score distribution for the ScoreRun node (the histogram as JSON shares of ten bins)."""
    if not len(scores):
        return {"score_mean": None, "score_p10": None, "score_p50": None, "score_p90": None, "score_histogram": "[]"}
    shares = np.bincount(np.clip((scores * HISTOGRAM_BINS).astype(int), 0, HISTOGRAM_BINS - 1),
                         minlength=HISTOGRAM_BINS) / len(scores)
    p10, p50, p90 = np.quantile(scores, [0.1, 0.5, 0.9])
    return {"score_mean": float(scores.mean()), "score_p10": float(p10), "score_p50": float(p50),
            "score_p90": float(p90), "score_histogram": json.dumps([round(float(s), 5) for s in shares])}


def write_scores(
    graph: Graph, settings: Settings, label, model_id: str, run_id: str, ids: np.ndarray, scores: np.ndarray,
    drivers: list[list[str]], weights: list[list[float]], reason: str, quiet: bool = True,
) -> int:
    """UNWIND batches of scores; only those that moved by more than epsilon are written. Returns how many."""
    query = q.write_scores(label)
    scored_at = dt.datetime.now(dt.UTC)
    written = 0
    with tqdm(total=len(ids), desc="writing scores", unit="node", disable=quiet) as bar:
        for start in range(0, len(ids), settings.batch_size):
            stop = start + settings.batch_size
            rows = [
                {"id": str(node_id), "score": float(score), "drivers": drv, "weights": w}
                for node_id, score, drv, w in zip(ids[start:stop], scores[start:stop], drivers[start:stop], weights[start:stop])
            ]
            written += graph.write(query, {
                "rows": rows, "epsilon": settings.ml_score_epsilon, "model": model_id, "scored_at": scored_at,
                "run_id": run_id, "reason": reason,
            })[0]["written"]
            bar.update(len(rows))
    return written


def latest_run(graph: Graph, task: str) -> dict[str, Any] | None:
    rows = graph.read(q.LATEST_SCORE_RUN, {"task": task})
    return rows[0]["run"] if rows else None
