"""The retraining job: a lock per task, a candidate on the latest window, a gate, promotion and rescoring.

The gate compares the candidate and the production model on the SAME latest holdout (the candidate's
test cutoffs): the candidate is promoted only if its AUROC is not worse than production's by more than
KGCRM_GATE_AUROC_TOLERANCE, its calibration error not worse by more than KGCRM_GATE_ECE_TOLERANCE, and
its AUROC beats the better LightGBM baseline by KGCRM_GATE_BASELINE_MARGIN. Otherwise it stays staged
with the reason recorded. The lock is a lease in the graph: a crashed job's lease simply expires.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from kgcrm.graph.driver import Graph
from kgcrm.graph.errors import ModelError, RetrainLocked
from kgcrm.graph.queries import ml_registry as q
from kgcrm.graph.score_restore import restore_previous_scores
from kgcrm.graph.settings import Settings
from kgcrm.ml.candidate import Candidate, train_candidate
from kgcrm.ml.export import export_graph
from kgcrm.ml.inference import predict
from kgcrm.ml.metrics import auroc, ece
from kgcrm.ml.registry import (
    ModelVersion,
    load_model,
    production_model,
    promote,
    record_gate,
    register_model,
    roll_back,
)
from kgcrm.ml.score import ScoreRun, score_task
from kgcrm.ml.tasks import Task
from kgcrm.ml.train import GnnConfig

logger = logging.getLogger(__name__)


@dataclass
class RetrainResult:
    candidate: ModelVersion
    promoted: bool
    reason: str
    production_before: str | None
    score_run: ScoreRun | None


# --- the lock -------------------------------------------------------------------------------------


def _try_lock(graph: Graph, task: str, holder: str, lease: float) -> tuple[bool, Any]:
    def work(tx: Any) -> tuple[bool, Any]:
        tx.run(q.TOUCH_RETRAIN_LOCK, task=task).consume()
        row = tx.run(q.READ_RETRAIN_LOCK, task=task).single()
        if row["holder"] is not None and row["holder"] != holder and not row["expired"]:
            return False, (row["holder"], row["expires_at"])
        tx.run(q.TAKE_RETRAIN_LOCK, task=task, holder=holder, lease=lease).consume()
        return True, None

    return graph.execute_write(work)


@contextmanager
def retrain_lock(graph: Graph, task: str, lease: float, wait: float = 0.0, poll: float = 2.0) -> Iterator[str]:
    """Hold the task's retrain lock, renewing its lease while held; waits up to `wait` seconds for it.

    Raises RetrainLocked when another holder keeps it longer. A process that dies stops renewing, so
    its lease runs out and the next job takes the lock.
    """
    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    deadline = time.monotonic() + wait
    while True:
        taken, other = _try_lock(graph, task, holder, lease)
        if taken:
            break
        if time.monotonic() >= deadline:
            raise RetrainLocked(
                f"another retrain of {task!r} holds the lock ({other[0]}, lease until {other[1]}); "
                "it was not started (use --wait SECONDS to wait for it)"
            )
        time.sleep(min(poll, max(deadline - time.monotonic(), 0.05)))
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(lease / 3):
            try:
                graph.write(q.RENEW_RETRAIN_LOCK, {"task": task, "holder": holder, "lease": lease})
            except Exception as exc:  # noqa: BLE001 - a missed renewal only shortens the lease; log and keep going
                # One line, no traceback: when Neo4j is gone the job itself fails with its own error line.
                logger.warning("could not renew the retrain lock of %s: %s", task, exc)

    renewer = threading.Thread(target=renew, name=f"retrain-lock-{task}", daemon=True)
    renewer.start()
    try:
        yield holder
    finally:
        stop.set()
        renewer.join(timeout=5)
        graph.write(q.RELEASE_RETRAIN_LOCK, {"task": task, "holder": holder})


# --- the gate -------------------------------------------------------------------------------------


def production_on_holdout(settings: Settings, version: ModelVersion, candidate: Candidate) -> dict[str, float]:
    """The production model's AUROC and ECE on the candidate's test cutoffs."""
    artifact = load_model(settings, version)
    if artifact.task.target != candidate.artifact.task.target:
        raise ModelError(f"production model {version.id} scores {artifact.task.target}, not {candidate.artifact.task.target}")
    logits, probs, ys = [], [], []
    for part in candidate.dataset.parts["test"]:
        raw, calibrated = predict(artifact, part.snapshot, part.rows.index)
        logits.append(raw)
        probs.append(calibrated)
        ys.append(part.rows.label)
    y, raw, p = np.concatenate(ys), np.concatenate(logits), np.concatenate(probs)
    return {"auroc": auroc(y, raw), "ece": ece(y, p)}


def gate(settings: Settings, candidate: Candidate, production: dict[str, float] | None) -> tuple[bool, str]:
    """(passes, reason): the candidate against the better baseline and, if any, the production model."""
    gnn, base = candidate.gnn, candidate.best_baseline
    problems = []
    needed = base.auroc.value + settings.ml_gate_baseline_margin
    if gnn.auroc.value < needed:
        problems.append(
            f"test AUROC {gnn.auroc.value:.3f} is below the better baseline ({base.model} {base.auroc.value:.3f}"
            f"{settings.ml_gate_baseline_margin:+.3f})"
        )
    if production is not None:
        if gnn.auroc.value < production["auroc"] - settings.ml_gate_auroc_tolerance:
            problems.append(
                f"test AUROC {gnn.auroc.value:.3f} is worse than production's {production['auroc']:.3f} "
                f"by more than {settings.ml_gate_auroc_tolerance:.3f}"
            )
        if gnn.ece.value > production["ece"] + settings.ml_gate_ece_tolerance:
            problems.append(
                f"test ECE {gnn.ece.value:.3f} is worse than production's {production['ece']:.3f} "
                f"by more than {settings.ml_gate_ece_tolerance:.3f}"
            )
    if problems:
        return False, "; ".join(problems)
    against = f"production ({production['auroc']:.3f})" if production is not None else "no production model yet"
    return True, f"test AUROC {gnn.auroc.value:.3f}, ECE {gnn.ece.value:.3f}; beats {base.model} ({base.auroc.value:.3f}); {against}"


# --- the job --------------------------------------------------------------------------------------


def gnn_config(settings: Settings, **overrides: Any) -> GnnConfig:
    """The GNN's hyperparameters with the thread count and full-batch size from the settings."""
    base = {"threads": settings.ml_threads, "full_batch_max_nodes": settings.ml_full_batch_max_nodes}
    return GnnConfig(**{**base, **overrides})


def retrain(
    graph: Graph, settings: Settings, task: Task, *, config: GnnConfig | None = None,
    wait: float = 0.0, quiet: bool = True, as_of: float | None = None,
) -> RetrainResult:
    """Train a candidate, gate it against production and the baselines, promote and rescore if it passes."""
    config = config or gnn_config(settings)
    torch.set_num_threads(config.threads)
    with retrain_lock(graph, task.name, settings.ml_lock_lease_seconds, wait=wait):
        export = export_graph(graph)
        candidate = train_candidate(graph, settings, task, config, export=export, clock=as_of)
        version = register_model(graph, settings, candidate.artifact, candidate.props)
        current = production_model(graph, task.name)
        production = production_on_holdout(settings, current, candidate) if current is not None else None
        passed, reason = gate(settings, candidate, production)
        record_gate(graph, version, passed, reason, production)
        if not passed:
            logger.info("candidate %s stays staged: %s", version.id, reason)
            return RetrainResult(version, False, reason, current.id if current else None, None)
        promote(graph, version.id)
        run = score_task(graph, settings, task.name, export=export, as_of=as_of, quiet=quiet,
                         reason=f"promotion of {version.id}")
        return RetrainResult(version, True, reason, current.id if current else None, run)


@dataclass
class RollbackResult:
    restored: ModelVersion
    retired_id: str
    restore: dict[str, Any]  # the in-database restore's ScoreRun props
    refresh: ScoreRun | None  # the rescoring with the restored model that followed, unless skipped


def rollback(graph: Graph, settings: Settings, task: str, *, quiet: bool = True, as_of: float | None = None,
             refresh: bool = True) -> RollbackResult:
    """Restore the previous production model and its stored scores, then rescore with it, under the retrain lock.

    The stored scores are back in seconds (graph/score_restore.py); the rescoring that follows brings in what
    happened since they were written and covers nodes the retired model alone had scored.
    """
    with retrain_lock(graph, task, settings.ml_lock_lease_seconds):
        restored, retired_id = roll_back(graph, task)
        restore = restore_previous_scores(graph, task, retired_id, restored.id)
        restored.props.pop("restore_pending_from", None)
        run = None
        if refresh:
            run = score_task(graph, settings, task, version=restored, as_of=as_of, quiet=quiet,
                             reason=f"rescoring after the rollback from {retired_id}")
        return RollbackResult(restored, retired_id, restore, run)
