"""Point-in-time datasets: snapshots at stacked cutoffs, a time split, and their PyG / tabular forms.

The latest cutoffs are held out (validation, then test). A training cutoff's labels come from
(T, T + H], so every training cutoff must satisfy T + H <= the first validation cutoff (and the same
between validation and test): otherwise training would use outcomes from the evaluation period.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import torch
from torch_geometric.data import HeteroData

from kgcrm.graph.driver import Graph
from kgcrm.graph.errors import InvalidInput
from kgcrm.graph.model import Label, RelType
from kgcrm.ml.export import GraphExport
from kgcrm.ml.features import DAY, Snapshot, degree_features, degree_names, neighbour_aggregates, take_snapshot
from kgcrm.ml.tasks import Task, TaskRows, task_rows

logger = logging.getLogger(__name__)
SPLITS = ("train", "val", "test")


@dataclass
class Part:
    """One cutoff of the dataset: the snapshot and the scored rows with their labels."""

    snapshot: Snapshot
    rows: TaskRows


@dataclass
class PointInTimeDataset:
    task: Task
    export: GraphExport
    parts: dict[str, list[Part]]
    # Per node label: mean and standard deviation of the GNN inputs over the training snapshots.
    norm: dict[Label, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def labels(self, split: str) -> np.ndarray:
        return np.concatenate([p.rows.label for p in self.parts[split]]) if self.parts[split] else np.zeros(0)

    def describe(self) -> str:
        return "; ".join(
            f"{split}: {len(self.parts[split])} cutoffs, {len(self.labels(split))} rows, "
            f"{self.labels(split).mean() if len(self.labels(split)) else 0:.3f} positive"
            for split in SPLITS
        )


def split_cutoffs(cutoffs: list[float], horizon_days: float, val: int = 1, test: int = 1) -> dict[str, list[float]]:
    """Later cutoffs for validation and test; refuses splits whose label windows overlap."""
    ordered = sorted(cutoffs)
    if len(ordered) < val + test + 1:
        raise InvalidInput(f"{len(ordered)} cutoffs cannot make train, {val} validation and {test} test cutoffs")
    split = {
        "train": ordered[: len(ordered) - val - test],
        "val": ordered[len(ordered) - val - test : len(ordered) - test],
        "test": ordered[len(ordered) - test :],
    }
    horizon = horizon_days * DAY
    for earlier, later in (("train", "val"), ("val", "test")):
        if max(split[earlier]) + horizon > min(split[later]):
            raise InvalidInput(
                f"the last {earlier} cutoff plus the {horizon_days:g}-day horizon passes the first {later} "
                "cutoff: its labels would come from the evaluation period; space the cutoffs further apart"
            )
    return split


def build_dataset(
    export: GraphExport, task: Task, cutoffs: list[float], graph: Graph | None = None, val: int = 1, test: int = 1
) -> PointInTimeDataset:
    """Snapshots and labels for every cutoff, split by time."""
    if task.target not in export.nodes or len(export.nodes[task.target]) == 0:
        raise InvalidInput(f"the graph has no {task.target.value} nodes to score")
    parts: dict[str, list[Part]] = {}
    for split, times in split_cutoffs(cutoffs, task.horizon_days, val, test).items():
        parts[split] = []
        for cutoff in times:
            rows = task_rows(task, export, cutoff, graph)
            if len(rows.index) == 0:
                logger.warning("cutoff %s has no %s rows; skipped", cutoff, task.target.value)
                continue
            parts[split].append(Part(take_snapshot(export, cutoff), rows))
    dataset = PointInTimeDataset(task, export, parts)
    for split in SPLITS:
        labels = dataset.labels(split)
        if len(np.unique(labels)) < 2:
            raise InvalidInput(
                f"the {split} cutoffs have {len(labels)} rows and only one class: "
                "choose other cutoffs or a longer horizon"
            )
    dataset.norm = _fit_norm(dataset)
    logger.info("dataset %s: %s", task.name, dataset.describe())
    return dataset


def gnn_inputs(snapshot: Snapshot, label: Label) -> np.ndarray:
    """A node's own features plus its degrees: what the GNN starts from."""
    return np.concatenate([snapshot.own[label], degree_features(snapshot, label)], axis=1)


def gnn_input_names(snapshot: Snapshot, label: Label) -> list[str]:
    """The column names of `gnn_inputs`, which a saved model uses to line up a later snapshot's columns."""
    return list(snapshot.own_names[label]) + degree_names(snapshot, label)


def graph_labels(dataset: PointInTimeDataset) -> list[Label]:
    """The node labels the GNN sees: every exported label except Activity (folded into features)."""
    return [label for label, table in dataset.export.nodes.items() if label != Label.ACTIVITY and len(table)]


def _fit_norm(dataset: PointInTimeDataset) -> dict[Label, tuple[np.ndarray, np.ndarray]]:
    norm = {}
    for label in graph_labels(dataset):
        x = np.concatenate([gnn_inputs(p.snapshot, label)[p.snapshot.alive[label]] for p in dataset.parts["train"]])
        std = x.std(axis=0) if len(x) else np.ones(x.shape[1])
        norm[label] = (x.mean(axis=0) if len(x) else np.zeros(x.shape[1]), np.where(std > 1e-6, std, 1.0))
    return norm


def edge_type(key: tuple[Label, object, Label], reverse: bool = False) -> tuple[str, str, str]:
    """PyG's edge type for a relationship; the reverse direction is `rev_<type>`."""
    src, rel, dst = key
    name = str(rel).lower()
    return (dst.value, f"rev_{name}", src.value) if reverse else (src.value, name, dst.value)


def to_hetero_data(dataset: PointInTimeDataset, part: Part) -> HeteroData:
    """The snapshot as a PyG HeteroData with both directions of every relationship.

    The target type carries `seed` (positions of the scored nodes) and `y` (their labels).
    """
    data, new_index = snapshot_data(part.snapshot, graph_labels(dataset), dataset.norm)
    target = dataset.task.target
    data[target.value].seed = torch.from_numpy(new_index[target][part.rows.index])
    data[target.value].y = torch.from_numpy(part.rows.label)
    return data


def snapshot_data(
    snapshot: Snapshot,
    labels: list[Label],
    norm: dict[Label, tuple[np.ndarray, np.ndarray]],
    names: dict[Label, list[str]] | None = None,
) -> tuple[HeteroData, dict[Label, np.ndarray]]:
    """Normalised GNN inputs of the nodes alive in the snapshot and the relationships between them.

    With `names` (a saved model's input columns), columns are matched by name: a column the model
    never saw is dropped, one the snapshot lacks is set to the training mean (0 after normalising).
    Returns the data and, per label, the map from export row to position in the data (-1: not alive).
    """
    data = HeteroData()
    new_index: dict[Label, np.ndarray] = {}
    for label, (x, rows) in snapshot_inputs(snapshot, labels, norm, names).items():
        alive = snapshot.alive[label]
        data[label.value].x = x
        data[label.value].row = rows
        new_index[label] = np.where(alive, np.cumsum(alive) - 1, -1)
    for key, (src, dst) in snapshot.edges.items():
        if key[0] not in new_index or key[2] not in new_index:
            continue
        edge_index = torch.from_numpy(np.stack([new_index[key[0]][src], new_index[key[2]][dst]]).astype(np.int64))
        data[edge_type(key)].edge_index = edge_index
        data[edge_type(key, reverse=True)].edge_index = edge_index.flip(0)
    for name, (src_label, dst_label), (src, dst) in derived_edges(snapshot):
        if src_label not in new_index or dst_label not in new_index:
            continue
        edge_index = torch.from_numpy(np.stack([new_index[src_label][src], new_index[dst_label][dst]]).astype(np.int64))
        data[src_label.value, name, dst_label.value].edge_index = edge_index
        if src_label != dst_label:
            data[dst_label.value, f"rev_{name}", src_label.value].edge_index = edge_index.flip(0)
    return data, new_index


def snapshot_inputs(
    snapshot: Snapshot,
    labels: list[Label],
    norm: dict[Label, tuple[np.ndarray, np.ndarray]],
    names: dict[Label, list[str]] | None = None,
) -> dict[Label, tuple[torch.Tensor, torch.Tensor]]:
    """Per label, the normalised GNN inputs of the nodes alive in the snapshot and their export rows:
    `snapshot_data` without the relationships (the event scorer needs only a few touched nodes' inputs)."""
    out = {}
    for label in labels:
        alive = snapshot.alive[label]
        mean, std = norm[label]
        x = gnn_inputs(snapshot, label)[alive]
        if names is not None:
            x = _align(x, gnn_input_names(snapshot, label), names[label], mean)
        x = (x - mean) / std
        out[label] = (torch.from_numpy(x.astype(np.float32)), torch.from_numpy(np.flatnonzero(alive)))
    return out


# Committee roles that get a relationship type of their own in the GNN's graph.
KEY_ROLES = ("champion",)
# A contact who joined within this many days before the cutoff is also linked by `works_at_recent`.
RECENT_JOIN_DAYS = 90.0


def derived_edges(snapshot: Snapshot) -> list[tuple[str, tuple[Label, Label], tuple[np.ndarray, np.ndarray]]]:
    """Relationships the GNN reads beside the stored ones, derived from the snapshot (so point in time too).

    `role_in_<role>`: a contact's committee seats of a key role, so that "the champion of a won deal" is
    one message away from the contact instead of being averaged with every seat it ever had.
    `works_at_recent`: employments that started within RECENT_JOIN_DAYS, so that the few newcomers (a
    champion arriving from a won customer) are aggregated apart from the whole roster.
    `sibling_of`: accounts under the same parent (both directions), so that a sister's purchase is two
    hops away (sister's deal -> sister -> account) instead of three. Models saved before these existed
    have no layers for them and ignore them.
    """
    out = []
    role_key = (Label.CONTACT, RelType.ROLE_IN, Label.OPPORTUNITY)
    if role_key in snapshot.kinds and role_key in snapshot.edges:
        src, dst = snapshot.edges[role_key]
        kinds = np.asarray(snapshot.kinds[role_key]).astype(str)
        for role in KEY_ROLES:
            chosen = np.char.lower(kinds) == role
            out.append((f"role_in_{role}", (Label.CONTACT, Label.OPPORTUNITY), (src[chosen], dst[chosen])))
    works_key = (Label.CONTACT, RelType.WORKS_AT, Label.ACCOUNT)
    if works_key in snapshot.starts and works_key in snapshot.edges:
        src, dst = snapshot.edges[works_key]
        age = (snapshot.cutoff - snapshot.starts[works_key]) / DAY
        recent = age <= RECENT_JOIN_DAYS  # NaN (unknown start) compares False
        out.append(("works_at_recent", (Label.CONTACT, Label.ACCOUNT), (src[recent], dst[recent])))
    family_key = (Label.ACCOUNT, RelType.SUBSIDIARY_OF, Label.ACCOUNT)
    if family_key in snapshot.edges:
        child, parent = snapshot.edges[family_key]
        order = np.argsort(parent, kind="stable")
        child, parent = child[order], parent[order]
        starts = np.searchsorted(parent, parent, side="left")
        ends = np.searchsorted(parent, parent, side="right")
        sizes = ends - starts
        a = np.repeat(child, sizes)
        b = child[np.concatenate([np.arange(s, e) for s, e in zip(starts, ends)])] if len(child) else child
        keep = a != b
        out.append(("sibling_of", (Label.ACCOUNT, Label.ACCOUNT), (a[keep], b[keep])))
    return out


def _align(x: np.ndarray, have: list[str], want: list[str], fill: np.ndarray) -> np.ndarray:
    position = {name: i for i, name in enumerate(have)}
    out = np.tile(fill.astype(np.float32), (len(x), 1))
    for j, name in enumerate(want):
        if name in position:
            out[:, j] = x[:, position[name]]
    return out


def tabular(dataset: PointInTimeDataset, split: str, neighbours: bool) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Rows of the split as a feature matrix for the flat baselines: own features, optionally one-hop aggregates."""
    xs, ys, names = [], [], []
    target = dataset.task.target
    for part in dataset.parts[split]:
        x = part.snapshot.own[target]
        names = list(part.snapshot.own_names[target])
        if neighbours:
            hop, hop_names = neighbour_aggregates(part.snapshot, target)
            x = np.concatenate([x, hop], axis=1)
            names += hop_names
        xs.append(x[part.rows.index])
        ys.append(part.rows.label)
    return np.concatenate(xs), np.concatenate(ys), names
