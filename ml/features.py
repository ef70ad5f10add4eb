"""The graph as it was at a cutoff T, and the features of its nodes, computed in numpy from one export.

Point-in-time rules (docs/ml.md): a node exists at T when its created_at (an activity: its `at`) is
before T or unknown; a relationship exists when both ends exist, its start (`since`, `joined_at`) is
before T or unknown and its end (`until`) is unknown or after T. An opportunity's outcome (is_won) and amount are
visible only once its closed_at is before T. Activities are folded into recency-weighted counts on the
nodes they touch rather than kept as graph nodes: the events matter, not the event nodes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from kgcrm.graph.model import ActivityType, Label, RelType
from kgcrm.ml.export import EdgeKey, GraphExport

DAY = 86_400.0
# Recency weighting: an activity counts exp(-age / tau) for each of these time constants (days).
DECAY_DAYS = (7.0, 30.0)
RECENT_DAYS = 90.0
ACTIVITY_TYPES = tuple(t.value for t in ActivityType)
TOP_CATEGORIES = 8


@dataclass
class Snapshot:
    """The graph at one cutoff: which rows exist, their own features, and the relationships alive."""

    cutoff: float
    alive: dict[Label, np.ndarray]
    own: dict[Label, np.ndarray]
    own_names: dict[Label, list[str]]
    edges: dict[EdgeKey, tuple[np.ndarray, np.ndarray]]
    # Per relationship alive in `edges`, its kind where the export has one (a committee role).
    kinds: dict[EdgeKey, np.ndarray] = field(default_factory=dict)
    # Per relationship alive in `edges`, when it started (epoch s, NaN unknown).
    starts: dict[EdgeKey, np.ndarray] = field(default_factory=dict)


def node_times(export: GraphExport, label: Label) -> np.ndarray:
    """When each node of `label` came to exist (epoch s, NaN unknown); an activity exists from its `at`."""
    table = export.nodes[label]
    if label == Label.ACTIVITY:
        at = table.numbers["at"]
        return np.where(np.isnan(at), table.created_at, at)
    return table.created_at


def take_snapshot(export: GraphExport, cutoff: float) -> Snapshot:
    """Everything the model may know at `cutoff`, and nothing it may not."""
    alive = {}
    for label in export.nodes:
        created = node_times(export, label)
        alive[label] = np.isnan(created) | (created < cutoff)
    edges, kinds, starts = {}, {}, {}
    for key, table in export.edges.items():
        src_label, _, dst_label = key
        ok = alive[src_label][table.src] & alive[dst_label][table.dst]
        ok &= np.isnan(table.start) | (table.start < cutoff)
        ok &= np.isnan(table.end) | (table.end > cutoff)
        edges[key] = (table.src[ok], table.dst[ok])
        starts[key] = table.start[ok]
        if getattr(table, "kind", None) is not None:
            kinds[key] = table.kind[ok]
    own, names = {}, {}
    for label in export.nodes:
        if label == Label.ACTIVITY:
            continue
        own[label], names[label] = _own_features(export, label, cutoff, edges)
    return Snapshot(cutoff, alive, own, names, edges, kinds, starts)


def _own_features(
    export: GraphExport, label: Label, cutoff: float, edges: dict[EdgeKey, tuple[np.ndarray, np.ndarray]]
) -> tuple[np.ndarray, list[str]]:
    table = export.nodes[label]
    n = len(table)
    cols: list[np.ndarray] = []
    names: list[str] = []

    created = table.created_at
    age_days = (cutoff - created) / DAY
    cols += [np.where(np.isnan(age_days), 0.0, np.log1p(np.clip(age_days, 0, None))), np.isnan(created).astype(float)]
    names += ["log_age_days", "age_unknown"]

    for prop, values in table.numbers.items():
        if label == Label.OPPORTUNITY and prop in ("closed_at", "is_won"):
            continue
        if label == Label.OPPORTUNITY and prop == "amount":
            # An export holds a deal's final amount, which some CRMs set only on a win (Maven's close_value
            # is 0 unless won): before the close it would leak the outcome, so it is read only after it.
            values = np.where(table.numbers["closed_at"] < cutoff, values, np.nan)
        cols += [np.where(np.isnan(values), 0.0, np.sign(values) * np.log1p(np.abs(values))), np.isnan(values).astype(float)]
        names += [f"log_{prop}", f"{prop}_unknown"]

    for prop, values in table.strings.items():
        onehot, vocab = _one_hot(values)
        cols += list(onehot.T)
        names += [f"{prop}={v}" for v in vocab]

    if label == Label.OPPORTUNITY:
        closed_at = table.numbers["closed_at"]
        closed = closed_at < cutoff  # NaN compares False: still open
        won = closed & (table.numbers["is_won"] == 1.0)
        days_open = np.where(closed, (closed_at - created) / DAY, age_days)
        # How long ago it closed: a deal won last week says more about the accounts around it than one won years ago.
        days_closed = np.where(closed, (cutoff - closed_at) / DAY, 3650.0)
        cols += [closed.astype(float), won.astype(float), (closed & ~won).astype(float),
                 np.where(np.isnan(days_open), 0.0, np.log1p(np.clip(days_open, 0, None))),
                 np.log1p(np.clip(days_closed, 0, None))]
        names += ["closed", "won", "lost", "log_days_open", "log_days_since_closed"]

    if label == Label.CONTACT:
        tenure_cols, tenure_names = _tenure_features(export, n, cutoff)
        cols += tenure_cols
        names += tenure_names

    act_cols, act_names = _activity_features(export, label, n, cutoff, edges)
    cols += act_cols
    names += act_names
    features = np.stack(cols, axis=1).astype(np.float32) if cols else np.zeros((n, 0), np.float32)
    return features, names


def _tenure_features(export: GraphExport, n: int, cutoff: float) -> tuple[list[np.ndarray], list[str]]:
    """How long ago a contact joined its current employer, and how many employers it has left.

    A person who just changed company is a fact about the person at T, read from WORKS_AT's since/until.
    """
    table = export.edges.get((Label.CONTACT, RelType.WORKS_AT, Label.ACCOUNT))
    if table is None:
        return [], []
    started = np.isnan(table.start) | (table.start < cutoff)
    current = started & (np.isnan(table.end) | (table.end > cutoff))
    left = started & (table.end <= cutoff)
    latest = np.full(n, -np.inf)
    np.maximum.at(latest, table.src[current], np.where(np.isnan(table.start[current]), -np.inf, table.start[current]))
    days = np.where(np.isinf(latest), 3650.0, np.clip((cutoff - latest) / DAY, 0, None))
    past = np.bincount(table.src[left], minlength=n).astype(float)
    return [np.log1p(days), np.log1p(past)], ["log_days_in_current_job", "log_past_employers"]


def _one_hot(values: np.ndarray) -> tuple[np.ndarray, list[str]]:
    present = values[values != ""]
    if len(present) == 0:
        return np.zeros((len(values), 0)), []
    vocab, counts = np.unique(present, return_counts=True)
    vocab = [str(v) for v in vocab[np.argsort(-counts, kind="stable")][:TOP_CATEGORIES]]
    onehot = np.stack([values == v for v in vocab] + [(values != "") & ~np.isin(values, vocab)], axis=1)
    return onehot.astype(float), vocab + ["other"]


def _activity_features(
    export: GraphExport, label: Label, n: int, cutoff: float, edges: dict[EdgeKey, tuple[np.ndarray, np.ndarray]]
) -> tuple[list[np.ndarray], list[str]]:
    """Recency-weighted counts per activity type, recent count and days since the last activity."""
    links = [pair for key, pair in edges.items() if key[0] == Label.ACTIVITY and key[2] == label]
    if not links:
        return [], []
    acts = export.nodes[Label.ACTIVITY]
    act_rows = np.concatenate([src for src, _ in links])
    node_rows = np.concatenate([dst for _, dst in links])
    age = (cutoff - node_times(export, Label.ACTIVITY)[act_rows]) / DAY
    age = np.where(np.isnan(age), 365.0, age)
    # searchsorted needs a sorted haystack: search the sorted type names and map back to ACTIVITY_TYPES
    # order (on the unsorted tuple a code depended on the other activities in the export).
    order = np.argsort(np.asarray(ACTIVITY_TYPES))
    found = np.searchsorted(np.asarray(ACTIVITY_TYPES)[order], acts.strings["type"][act_rows].astype(str))
    type_code = order[np.clip(found, 0, len(ACTIVITY_TYPES) - 1)]
    known = np.isin(acts.strings["type"][act_rows], ACTIVITY_TYPES)
    type_code = np.where(known, type_code, len(ACTIVITY_TYPES))
    n_types = len(ACTIVITY_TYPES) + 1
    cols, names = [], []
    for tau in DECAY_DAYS:
        flat = np.bincount(node_rows * n_types + type_code, weights=np.exp(-age / tau), minlength=n * n_types)
        per_type = flat.reshape(n, n_types)
        cols += list(np.log1p(per_type).T)
        names += [f"act_{t}_decay{int(tau)}d" for t in (*ACTIVITY_TYPES, "other")]
    recent = np.bincount(node_rows, weights=(age <= RECENT_DAYS).astype(float), minlength=n)
    last = np.full(n, np.inf)
    np.minimum.at(last, node_rows, age)
    cols += [np.log1p(recent), np.where(np.isinf(last), np.log1p(3650.0), np.log1p(np.clip(last, 0, None)))]
    names += [f"act_count_{int(RECENT_DAYS)}d", "log_days_since_last_activity"]
    return cols, names


def neighbour_aggregates(snapshot: Snapshot, label: Label) -> tuple[np.ndarray, list[str]]:
    """Engineered one-hop features of `label`'s nodes: per relationship, count and neighbours' mean features."""
    n = len(snapshot.own[label])
    cols: list[np.ndarray] = []
    names: list[str] = []
    for (src_label, rel, dst_label), (src, dst) in snapshot.edges.items():
        for me, other, mine, theirs, arrow in (
            (dst_label, src_label, dst, src, "in"),
            (src_label, dst_label, src, dst, "out"),
        ):
            if me != label or other == Label.ACTIVITY:
                continue
            prefix = f"{arrow}_{rel.value.lower()}_{other.value.lower()}"
            count = np.bincount(mine, minlength=n).astype(float)
            # A sparse (node x neighbour) matrix sums neighbour rows far faster than np.add.at.
            adjacency = sparse.csr_matrix(
                (np.ones(len(mine)), (mine, theirs)), shape=(n, len(snapshot.own[other]))
            )
            means = np.asarray(adjacency @ snapshot.own[other]) / np.maximum(count, 1.0)[:, None]
            cols += [np.log1p(count)[:, None], means]
            names += [f"{prefix}_count"] + [f"{prefix}_mean_{name}" for name in snapshot.own_names[other]]
    if not cols:
        return np.zeros((n, 0), np.float32), []
    return np.concatenate(cols, axis=1).astype(np.float32), names


def degree_names(snapshot: Snapshot, label: Label) -> list[str]:
    """The names of `degree_features` columns, in the same order."""
    names = []
    for (src_label, rel, dst_label), _ in sorted(snapshot.edges.items()):
        if Label.ACTIVITY in (src_label, dst_label):
            continue
        if dst_label == label:
            names.append(f"degree_in_{rel.value.lower()}_{src_label.value.lower()}")
        if src_label == label:
            names.append(f"degree_out_{rel.value.lower()}_{dst_label.value.lower()}")
    return names


def degree_features(snapshot: Snapshot, label: Label) -> np.ndarray:
    """log(1 + degree) per relationship type and direction, so that the GNN's mean aggregation keeps counts."""
    n = len(snapshot.own[label])
    cols = []
    for (src_label, _, dst_label), (src, dst) in sorted(snapshot.edges.items()):
        if Label.ACTIVITY in (src_label, dst_label):
            continue
        if dst_label == label:
            cols.append(np.log1p(np.bincount(dst, minlength=n)))
        if src_label == label:
            cols.append(np.log1p(np.bincount(src, minlength=n)))
    return np.stack(cols, axis=1).astype(np.float32) if cols else np.zeros((n, 0), np.float32)
