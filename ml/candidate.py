"""Training a candidate model on the latest window: GNN and both baselines on the same cutoffs, calibrated, measured.

The window ends at the graph's clock (its newest event): the test cutoff is one horizon before it, so
its labels are complete; validation and training cutoffs step back one horizon at a time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from kgcrm.graph.driver import Graph
from kgcrm.graph.errors import DatasetError
from kgcrm.graph.queries import ml_registry as q
from kgcrm.graph.settings import Settings
from kgcrm.ml.artifact import ModelArtifact
from kgcrm.ml.baselines import Scores, train_lightgbm
from kgcrm.ml.calibration import Calibrator
from kgcrm.ml.compare import Row, evaluate
from kgcrm.ml.dataset import PointInTimeDataset, build_dataset, gnn_input_names, graph_labels
from kgcrm.ml.drift import build_reference, relationship_counts, target_degrees, top_features
from kgcrm.ml.export import GraphExport, export_graph
from kgcrm.ml.features import DAY
from kgcrm.ml.inference import predict
from kgcrm.ml.tasks import Task
from kgcrm.ml.train import GnnConfig, fit_gnn

logger = logging.getLogger(__name__)
CALIBRATION = "platt"


@dataclass
class Candidate:
    """A trained, calibrated model ready to register, with its test metrics beside the baselines'."""

    artifact: ModelArtifact
    dataset: PointInTimeDataset
    rows: list[Row]
    props: dict[str, Any]

    @property
    def gnn(self) -> Row:
        return self.rows[-1]

    @property
    def best_baseline(self) -> Row:
        return max(self.rows[:-1], key=lambda r: r.auroc.value)


def graph_clock(graph: Graph) -> float:
    """The graph's newest event as epoch seconds (a live graph's is about now), never later than now."""
    rows = graph.read(q.GRAPH_CLOCK)
    now = dt.datetime.now(dt.UTC).timestamp()
    clock = rows[0]["clock"] if rows else None
    if clock is None:
        raise DatasetError("the graph has no activities or opportunities: load data before training or scoring")
    return min(clock.to_native().timestamp(), now)


def window_cutoffs(
    clock: float, horizon_days: float, count: int, train_step_days: float | None = None
) -> tuple[list[float], int, int]:
    """`count` cutoffs one horizon apart, the last one horizon before the clock; and the val/test sizes.

    With `train_step_days`, the training cutoffs cover the same span more densely (one every that many
    days): more training rows from the same history. Their label windows overlap each other, never the
    held-out ones (split_cutoffs checks).
    """
    last = clock - horizon_days * DAY
    cutoffs = [last - i * horizon_days * DAY for i in range(count)][::-1]
    held_out = 2 if count >= 8 else 1
    if train_step_days:
        first, last_train = cutoffs[0], cutoffs[len(cutoffs) - 2 * held_out - 1]
        steps = int((last_train - first) // (train_step_days * DAY))
        train = [last_train - i * train_step_days * DAY for i in range(steps + 1)][::-1]
        cutoffs = train + cutoffs[len(cutoffs) - 2 * held_out:]
    return cutoffs, held_out, held_out


def train_candidate(
    graph: Graph, settings: Settings, task: Task, config: GnnConfig,
    export: GraphExport | None = None, clock: float | None = None,
) -> Candidate:
    """Export, build the latest window, train the baselines and the GNN, calibrate and measure on test."""
    export = export if export is not None else export_graph(graph)
    clock = clock if clock is not None else graph_clock(graph)
    cutoffs, val, test = window_cutoffs(clock, task.horizon_days, settings.ml_cutoffs)
    dataset = build_dataset(export, task, cutoffs, graph, val=val, test=test)

    baselines: list[Scores] = [
        train_lightgbm(dataset, neighbours=False, seed=config.seed, threads=config.threads),
        train_lightgbm(dataset, neighbours=True, seed=config.seed, threads=config.threads),
    ]
    trained = fit_gnn(dataset, config)
    rows = [evaluate(s, CALIBRATION, config.seed) for s in (*baselines, trained.scores)]
    calibrator = Calibrator(CALIBRATION).fit(trained.scores.val_logits, trained.scores.val_y)

    last = dataset.parts["train"][-1].snapshot
    labels = graph_labels(dataset)
    artifact = ModelArtifact(
        task=task, labels=labels, names={label: gnn_input_names(last, label) for label in labels},
        norm=dataset.norm, in_dims=trained.in_dims, edge_types=trained.edge_types,
        hyper={"hidden": config.hidden, "layers": config.layers, "dropout": config.dropout,
               "aggr": list(config.aggr)},
        state_dict=trained.model.state_dict(), calibrator=calibrator,
    )
    artifact.reference = _reference(artifact, dataset)
    props = {
        "cutoff": dt.datetime.fromtimestamp(max(cutoffs), dt.UTC),
        "horizon_days": task.horizon_days,
        "data": _data_summary(dataset, cutoffs),
        "feature_schema": {label.value: names for label, names in artifact.names.items()},
        "hyperparameters": {**{k: v for k, v in vars(config).items() if k not in ("fanouts", "aggr")},
                            "fanouts": list(config.fanouts), "aggr": list(config.aggr), "calibration": CALIBRATION, "best_epoch": trained.best_epoch},
        "metrics": row_metrics(rows[-1]),
        "baseline_metrics": {r.model: row_metrics(r) for r in rows[:-1]},
        "test_auroc": rows[-1].auroc.value,
        "test_ece": rows[-1].ece.value,
        "test_ap": rows[-1].ap.value,
    }
    logger.info("candidate %s: test AUROC %.3f, ECE %.3f", task.name, rows[-1].auroc.value, rows[-1].ece.value)
    return Candidate(artifact, dataset, rows, props)


def row_metrics(row: Row) -> dict[str, float]:
    """A comparison row as plain numbers (for the registry's JSON)."""
    out = {"val_auroc": row.val_auroc, "ece_uncalibrated": row.ece_uncalibrated}
    for name in ("auroc", "ap", "ece"):
        estimate = getattr(row, name)
        out.update({name: estimate.value, f"{name}_low": estimate.low, f"{name}_high": estimate.high})
    return out


def _data_summary(dataset: PointInTimeDataset, cutoffs: list[float]) -> dict[str, Any]:
    digest = hashlib.sha256(dataset.task.name.encode())
    for split in ("train", "val", "test"):
        for part in dataset.parts[split]:
            digest.update(np.float64(part.rows.cutoff).tobytes())
            digest.update("\x1f".join(dataset.export.nodes[dataset.task.target].ids[part.rows.index].tolist()).encode())
            digest.update(part.rows.label.tobytes())
    return {
        "cutoffs": [dt.datetime.fromtimestamp(c, dt.UTC).isoformat() for c in cutoffs],
        "rows": {split: int(len(dataset.labels(split))) for split in ("train", "val", "test")},
        "positives": {split: int(dataset.labels(split).sum()) for split in ("train", "val", "test")},
        "nodes": {label.value: len(table) for label, table in dataset.export.nodes.items()},
        "relationships": int(sum(len(t) for t in dataset.export.edges.values())),
        "hash": digest.hexdigest(),
    }


def _reference(artifact: ModelArtifact, dataset: PointInTimeDataset) -> dict[str, Any]:
    """Distributions of the latest held-out cutoff: the window that scoring runs are compared with."""
    target = artifact.task.target
    part = dataset.parts["test"][-1]
    _, scores = predict(artifact, part.snapshot, part.rows.index)
    own = part.snapshot.own[target][part.rows.index]
    names = part.snapshot.own_names[target]
    x_train = np.concatenate([p.snapshot.own[target][p.rows.index] for p in dataset.parts["train"]])
    watched = top_features(x_train, dataset.labels("train"), names)
    return build_reference(
        scores, {names[i]: own[:, i] for i in watched},
        target_degrees(part.snapshot, target, part.rows.index), relationship_counts(part.snapshot),
    )
