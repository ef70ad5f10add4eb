"""A trained model as one file of tensors and plain values, saved and loaded with `torch.load(weights_only=True)`.

Everything needed to score later travels with the weights: the task, the input columns per node type
(matched by name against a later snapshot), their normalisation, the calibrator and the reference
distributions that drift is measured against. No pickled Python objects: a model file cannot run code.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kgcrm.graph.errors import ModelError
from kgcrm.graph.model import Label
from kgcrm.ml.calibration import Calibrator
from kgcrm.ml.model import IntentGNN
from kgcrm.ml.tasks import Task

FORMAT = 1


@dataclass
class ModelArtifact:
    """The trained network and what it needs to score a new snapshot exactly as it was trained."""

    task: Task
    labels: list[Label]
    names: dict[Label, list[str]]
    norm: dict[Label, tuple[np.ndarray, np.ndarray]]
    in_dims: dict[str, int]
    edge_types: list[tuple[str, str, str]]
    hyper: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    calibrator: Calibrator
    reference: dict[str, Any] = field(default_factory=dict)

    def network(self) -> IntentGNN:
        model = IntentGNN(
            self.in_dims, self.edge_types, self.task.target.value,
            hidden=int(self.hyper["hidden"]), layers=int(self.hyper["layers"]), dropout=float(self.hyper["dropout"]),
            # Models saved before aggregations were configurable used the mean.
            aggr=tuple(self.hyper.get("aggr", ("mean",))),
        )
        model.load_state_dict(self.state_dict)
        return model.eval()

    def to_payload(self) -> dict[str, Any]:
        cal = self.calibrator
        return {
            "format": FORMAT,
            "task": {"name": self.task.name, "target": self.task.target.value, "horizon_days": self.task.horizon_days,
                     "entity_query": self.task.entity_query, "label_query": self.task.label_query},
            "labels": [label.value for label in self.labels],
            "names": {label.value: list(names) for label, names in self.names.items()},
            "norm": {label.value: {"mean": torch.from_numpy(np.asarray(m, np.float64)),
                                   "std": torch.from_numpy(np.asarray(s, np.float64))}
                     for label, (m, s) in self.norm.items()},
            "in_dims": dict(self.in_dims),
            "edge_types": [list(et) for et in self.edge_types],
            "hyper": dict(self.hyper),
            "state_dict": {k: v.detach().cpu() for k, v in self.state_dict.items()},
            "calibration": _calibrator_payload(cal),
            # JSON text: nested reference histograms without any pickled objects.
            "reference": json.dumps(self.reference),
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> ModelArtifact:
        if payload.get("format") != FORMAT:
            raise ModelError(f"model file format {payload.get('format')!r} is not {FORMAT}")
        t = payload["task"]
        task = Task(t["name"], Label(t["target"]), float(t["horizon_days"]), t.get("entity_query"), t.get("label_query"))
        return cls(
            task=task,
            labels=[Label(v) for v in payload["labels"]],
            names={Label(k): list(v) for k, v in payload["names"].items()},
            norm={Label(k): (v["mean"].numpy(), v["std"].numpy()) for k, v in payload["norm"].items()},
            in_dims={k: int(v) for k, v in payload["in_dims"].items()},
            edge_types=[tuple(et) for et in payload["edge_types"]],
            hyper=dict(payload["hyper"]),
            state_dict=dict(payload["state_dict"]),
            calibrator=_calibrator_from(payload["calibration"]),
            reference=json.loads(payload["reference"]),
        )


def _calibrator_payload(cal: Calibrator) -> dict[str, Any]:
    iso = cal._isotonic
    return {
        "method": cal.method,
        "temperature": float(cal.temperature),
        "slope": float(cal.slope),
        "bias": float(cal.bias),
        "x": torch.from_numpy(np.asarray(iso.X_thresholds_, np.float64)) if iso is not None else torch.zeros(0),
        "y": torch.from_numpy(np.asarray(iso.y_thresholds_, np.float64)) if iso is not None else torch.zeros(0),
    }


class _InterpolatedIsotonic:
    """A fitted isotonic map rebuilt from its thresholds (sklearn predicts by linear interpolation, clipped)."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.X_thresholds_ = x
        self.y_thresholds_ = y

    def predict(self, logits: np.ndarray) -> np.ndarray:
        return np.interp(logits, self.X_thresholds_, self.y_thresholds_)


def _calibrator_from(payload: dict[str, Any]) -> Calibrator:
    cal = Calibrator(payload["method"])
    cal.temperature = float(payload["temperature"])
    cal.slope, cal.bias = float(payload.get("slope", 1.0)), float(payload.get("bias", 0.0))
    if cal.method == "isotonic":
        cal._isotonic = _InterpolatedIsotonic(payload["x"].numpy(), payload["y"].numpy())  # type: ignore[assignment]
    return cal


def save_artifact(artifact: ModelArtifact, path: Path) -> str:
    """Write the model file (atomically: a crash leaves no half-written file); returns its SHA-256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".partial")
    torch.save(artifact.to_payload(), partial)
    digest = file_sha256(partial)
    partial.replace(path)
    return digest


def load_artifact(path: Path, sha256: str | None = None) -> ModelArtifact:
    """Read a model file with weights_only=True, checking its SHA-256 against the registry when given."""
    if not path.exists():
        raise ModelError(f"model file {path} is missing (set KGCRM_MODEL_DIR to the folder that holds it)")
    if sha256 and file_sha256(path) != sha256:
        raise ModelError(f"model file {path} does not match the SHA-256 recorded in the registry")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means the same thing to the user
        raise ModelError(f"model file {path} cannot be read safely: {exc}") from None
    return ModelArtifact.from_payload(payload)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
