"""Running a saved model on a snapshot: raw logits and calibrated probabilities for chosen target rows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch_geometric.data import HeteroData

from kgcrm.graph.model import Label
from kgcrm.ml.artifact import ModelArtifact
from kgcrm.ml.dataset import snapshot_data
from kgcrm.ml.features import Snapshot
from kgcrm.ml.model import IntentGNN


@dataclass
class Prepared:
    """A snapshot turned into the model's inputs, with the positions of the rows to score."""

    data: HeteroData
    new_index: dict[Label, np.ndarray]
    positions: torch.Tensor


def prepare(artifact: ModelArtifact, snapshot: Snapshot, index: np.ndarray) -> Prepared:
    """The model's inputs for `snapshot` (columns matched by name) and where the rows `index` sit in them."""
    labels = [label for label in artifact.labels if label in snapshot.alive]
    data, new_index = snapshot_data(snapshot, labels, artifact.norm, artifact.names)
    positions = new_index[artifact.task.target][index]
    return Prepared(data, new_index, torch.from_numpy(positions.astype(np.int64)))


@torch.no_grad()
def logits_of(model: IntentGNN, prepared: Prepared, x_dict=None, edge_index_dict=None) -> np.ndarray:
    """The model's raw logits for the prepared rows; inputs may be swapped (explanations occlude them)."""
    x = prepared.data.x_dict if x_dict is None else x_dict
    edges = prepared.data.edge_index_dict if edge_index_dict is None else edge_index_dict
    return model(x, edges)[prepared.positions].double().numpy()


def predict(artifact: ModelArtifact, snapshot: Snapshot, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(raw logits, calibrated probabilities) of the target rows `index` of the snapshot."""
    logits = logits_of(artifact.network(), prepare(artifact, snapshot, index))
    return logits, artifact.calibrator.apply(logits)
