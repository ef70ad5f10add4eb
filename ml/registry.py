"""The model registry: one ModelVersion node per trained model, its weights in the model directory.

A version is `staged` when registered, `production` once promoted (one per task) and `retired` when
another replaces it. The node names its data (cutoff, row counts, hash), features, hyperparameters and
metrics; the file (`<id>.pt` in `Settings.model_dir`) holds the weights and is checked by SHA-256.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from neo4j import ManagedTransaction

from kgcrm.graph.driver import Graph
from kgcrm.graph.errors import ModelError
from kgcrm.graph.queries import ml_registry as q
from kgcrm.graph.settings import Settings
from kgcrm.ml.artifact import ModelArtifact, load_artifact, save_artifact

logger = logging.getLogger(__name__)

# ModelVersion properties that hold JSON text (Neo4j has no map properties).
JSON_PROPERTIES = ("metrics", "baseline_metrics", "hyperparameters", "feature_schema", "data", "production_metrics")


@dataclass(frozen=True)
class ModelVersion:
    """A registry entry as read from the graph (JSON properties decoded)."""

    props: dict[str, Any]

    @property
    def id(self) -> str:
        return self.props["id"]

    @property
    def task(self) -> str:
        return self.props["task"]

    @property
    def version(self) -> int:
        return int(self.props["version"])

    @property
    def status(self) -> str:
        return self.props["status"]

    def get(self, key: str, default: Any = None) -> Any:
        value = self.props.get(key, default)
        if key in JSON_PROPERTIES and isinstance(value, str):
            return json.loads(value)
        return value


def _version(row: dict[str, Any]) -> ModelVersion:
    return ModelVersion(dict(row["model"]))


def register_model(
    graph: Graph, settings: Settings, artifact: ModelArtifact, props: dict[str, Any]
) -> ModelVersion:
    """Create a staged ModelVersion and write its weights file; JSON-encodes nested properties."""
    encoded = {k: json.dumps(v) if k in JSON_PROPERTIES else v for k, v in props.items()}
    version = _version(graph.write(q.CREATE_MODEL_VERSION, {"task": artifact.task.name, "props": encoded})[0])
    path = settings.model_dir / f"{version.id}.pt"
    try:
        digest = save_artifact(artifact, path)
    except OSError as exc:
        raise ModelError(f"cannot write the model file {path}: {exc}") from None
    graph.write(q.SET_WEIGHTS, {"id": version.id, "file": path.name, "sha": digest})
    logger.info("registered %s (staged), weights in %s", version.id, path)
    return get_model(graph, version.id)


def list_models(graph: Graph, task: str | None = None) -> list[ModelVersion]:
    return graph.execute_read(models_in, task)


def models_in(tx: ManagedTransaction, task: str | None = None) -> list[ModelVersion]:
    """The registry read inside a caller's transaction (the event scorer reads its queue and models in one)."""
    return [_version(row) for row in tx.run(q.LIST_MODEL_VERSIONS, task=task).data()]


def production_models_in(tx: ManagedTransaction) -> list[ModelVersion]:
    """Every task's production model, inside a caller's transaction: what the event scorer reads each pass
    (the whole registry grows with every retrain; the production models stay one per task). Only the id,
    task, version, status and weights: enough to load and run the model, not its metrics or schema."""
    return [_version(row) for row in tx.run(q.PRODUCTION_MODEL_REFS, task=None).data()]


def get_model(graph: Graph, model_id: str) -> ModelVersion:
    rows = graph.read(q.GET_MODEL_VERSION, {"id": model_id})
    if not rows:
        raise ModelError(f"no model version {model_id!r} (see `kgcrm models`)")
    return _version(rows[0])


def production_model(graph: Graph, task: str) -> ModelVersion | None:
    rows = graph.read(q.PRODUCTION_MODELS, {"task": task})
    return _version(rows[0]) if rows else None


def require_production(graph: Graph, task: str) -> ModelVersion:
    version = production_model(graph, task)
    if version is None:
        raise ModelError(f"no production model for task {task!r}: run `kgcrm retrain --task {task}` first")
    return version


def load_model(settings: Settings, version: ModelVersion) -> ModelArtifact:
    """The version's weights, read safely (weights only) and checked against the registry's hash."""
    file = version.props.get("weights_file")
    if not file:
        raise ModelError(f"model version {version.id} has no weights file recorded")
    return load_artifact(settings.model_dir / file, version.props.get("weights_sha256"))


def record_gate(graph: Graph, version: ModelVersion, passed: bool, reason: str, production_metrics: dict | None) -> None:
    graph.write(q.SET_GATE_RESULT, {
        "id": version.id, "passed": passed, "reason": reason,
        "production_metrics": json.dumps(production_metrics) if production_metrics is not None else None,
    })


def promote(graph: Graph, model_id: str) -> ModelVersion:
    """Make the version the task's production model, retiring the one before it (one transaction)."""
    rows = graph.write(q.PROMOTE_MODEL_VERSION, {"id": model_id})
    if not rows:
        raise ModelError(f"no model version {model_id!r} to promote")
    logger.info("promoted %s to production", model_id)
    return _version(rows[0])


def roll_back(graph: Graph, task: str) -> tuple[ModelVersion, str]:
    """Restore the task's previous production model; returns it and the id of the one it replaced."""
    current = require_production(graph, task)
    previous = graph.read(q.PREVIOUS_PRODUCTION_MODEL, {"task": task})
    if not previous:
        raise ModelError(f"task {task!r} has no earlier production model to roll back to (production is {current.id})")
    rows = graph.write(q.ROLL_BACK_MODEL_VERSION, {"task": task, "previous_id": previous[0]["model"]["id"]})
    logger.info("rolled %s back from %s to %s", task, rows[0]["retired_id"], rows[0]["model"]["id"])
    return _version(rows[0]), rows[0]["retired_id"]
