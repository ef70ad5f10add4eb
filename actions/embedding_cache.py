"""The production model's inputs and per-layer embeddings of the whole graph, kept between rescoring passes.

Why: an owner, a campaign or a product is a hub. With L layers an event on one account moves every
account of its owner, and rescoring them from scratch reads the whole owner's book (its contacts,
opportunities and their activities) on every pass. A mean aggregation needs only the neighbours'
embeddings of the layer below, so with every node's embedding of every layer held in memory a pass
recomputes the inputs of the touched nodes only (one small export), then the layer-l embeddings of the
nodes within l hops of them, reading the cached embeddings of everything else.

The layer code mirrors `kgcrm.ml.model.HeteroSage` (residual, ReLU, LayerNorm; every relationship type
in both directions summed) and calls the model's own convolution modules. `build` checks the result
against the model's own forward pass on the whole graph and returns None when they differ, so that a
change of the network falls back to the exact subgraph path instead of scoring wrongly.

What it assumes, and where it is approximate: an activity changes the inputs of the nodes it touches
only (true of kgcrm.ml.features), and the rest of the graph is as it was at `cutoff`; recency features
of untouched nodes age until the next rebuild (KGCRM_EVENTS_CACHE_SECONDS), and writes that do not come
as events (loads, API upserts) reach the cache at that rebuild or when an event touches a node it lacks.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import torch
from scipy import sparse
from torch import Tensor

from kgcrm.graph.model import Label
from kgcrm.ml.artifact import ModelArtifact
from kgcrm.ml.export import GraphExport
from kgcrm.ml.features import take_snapshot
from kgcrm.ml.inference import prepare
from kgcrm.ml.model import IntentGNN

logger = logging.getLogger(__name__)

EdgeType = tuple[str, str, str]
# The cache is refused when its scores differ from the model's own forward pass by more than this.
SELF_CHECK_TOLERANCE = 1e-4


@dataclass
class LayerScores:
    """The target rows one update rescored: kgcrm ids, calibrated scores and the events within reach of each."""

    ids: np.ndarray
    neo_ids: np.ndarray
    scores: np.ndarray
    reach: list[list[int]]


class EmbeddingCache:
    """One model's view of the whole graph at one cutoff: inputs, embeddings of every layer, adjacency."""

    def __init__(self, model_id: str, artifact: ModelArtifact, network: IntentGNN, cutoff: float,
                 x: dict[str, Tensor], edges: dict[EdgeType, Tensor], neo_ids: dict[str, np.ndarray],
                 ids: dict[str, np.ndarray]) -> None:
        self.model_id = model_id
        self.artifact = artifact
        self.network = network
        self.cutoff = cutoff
        self.built_at = time.monotonic()
        self.target = artifact.task.target.value
        self.x = x
        self.edges = edges
        self.neo_ids = neo_ids
        self.ids = ids
        self.types = list(x)
        self.offsets: dict[str, int] = {}
        total = 0
        for node_type in self.types:
            self.offsets[node_type] = total
            total += len(x[node_type])
        self.total = total
        self.type_of = np.concatenate([np.full(len(x[t]), k) for k, t in enumerate(self.types)]) \
            if total else np.zeros(0, np.int64)
        self.position = {int(n): self.offsets[t] + row for t in self.types for row, n in enumerate(neo_ids[t].tolist())}
        # Incoming neighbours per relationship type (dst rows x src rows), and the symmetric whole.
        self.incoming = {
            et: sparse.csr_matrix((np.ones(ei.shape[1], np.float32), (ei[1].numpy(), ei[0].numpy())),
                                  shape=(len(x[et[2]]), len(x[et[0]])))
            for et, ei in edges.items()
        }
        # Each destination row's number of incoming edges of each type (a mean's divisor).
        self.in_degree = {et: np.maximum(np.asarray(m.sum(axis=1), dtype=np.float32).reshape(-1), 1.0)
                          for et, m in self.incoming.items()}
        self._fused: dict[tuple[int, str], FusedSage | None] = {}
        src, dst = [], []
        for (s, _, d), ei in edges.items():
            src.append(ei[0].numpy() + self.offsets[s])
            dst.append(ei[1].numpy() + self.offsets[d])
        s_all = np.concatenate(src) if src else np.zeros(0, np.int64)
        d_all = np.concatenate(dst) if dst else np.zeros(0, np.int64)
        self.adjacency = sparse.csr_matrix((np.ones(2 * len(s_all), np.float32),
                                            (np.concatenate([s_all, d_all]), np.concatenate([d_all, s_all]))),
                                           shape=(total, total))
        with torch.no_grad():
            self.h = layer_embeddings(network, x, edges)
            # Each relationship type's edges by source row, to push a changed row's delta to its destinations.
            self.outgoing = {et: m.T.tocsr() for et, m in self.incoming.items()}
            self.preact = self._initial_preact()

    @property
    def layers(self) -> int:
        return len(self.network.gnn.convs)

    def age(self) -> float:
        return time.monotonic() - self.built_at

    def knows(self, neo_id: int) -> bool:
        return int(neo_id) in self.position

    @torch.no_grad()
    def full_scores(self) -> np.ndarray:
        """Every target row's calibrated score from the cached embeddings (the self-check's side)."""
        return self._scores(np.arange(len(self.x[self.target])))

    @torch.no_grad()
    def update(self, inputs: dict[int, Tensor], touched_by_event: list[list[int]]) -> LayerScores:
        """Take new model inputs for some nodes (by internal id), recompute what they reach, score the targets.

        `touched_by_event` lists, per event, the internal ids it touched; the answer says which events
        lie within the model's reach of each rescored target row (lineage).
        """
        for neo_id, row in inputs.items():
            node_type, pos = self._locate(neo_id)
            self.x[node_type][pos] = row
        # Which events (columns; the last stands for inputs moved without an event) reach which rows: the rows
        # as sorted positions, grown by one hop a layer; only rows within reach are ever touched.
        hits = [(self.position[n], k) for k, event in enumerate(touched_by_event) for n in event if n in self.position]
        hits += [(self.position[n], len(touched_by_event)) for n in inputs]
        hit_rows = np.fromiter((h[0] for h in hits), dtype=np.int64, count=len(hits))
        reach_rows = np.unique(hit_rows)
        reached = np.zeros((len(reach_rows), len(touched_by_event) + 1), dtype=bool)
        reached[np.searchsorted(reach_rows, hit_rows), np.fromiter((h[1] for h in hits), dtype=np.int64, count=len(hits))] = True
        dirty = self._rows(np.unique([self.position[n] for n in inputs]) if inputs else np.zeros(0, np.int64))
        # Layer 0 (the encoder) changes where the inputs changed; layer l where layer l-1 changed within one hop.
        changed: dict[str, tuple[np.ndarray, Tensor]] = {}
        for node_type, rows in dirty.items():
            encoded = self.network.encoder({node_type: self.x[node_type][rows]})
            if node_type in encoded:
                changed[node_type] = (rows, encoded[node_type] - self.h[0][node_type][rows])
                self.h[0][node_type][rows] = encoded[node_type]
        for layer in range(self.layers):
            reach_rows, reached = _spread(self.adjacency, reach_rows, reached)
            rows_now = self._rows(reach_rows)
            if self.preact is not None:
                self._push_deltas(layer, changed)
            if layer < self.layers - 1:
                changed = {}
                for node_type, rows in rows_now.items():
                    new = self._layer(layer, node_type, rows)
                    changed[node_type] = (rows, new - self.h[layer + 1][node_type][rows])
                    self.h[layer + 1][node_type][rows] = new
        target_rows = rows_now.get(self.target, np.zeros(0, np.int64))
        scores = self._scores(target_rows)
        # Per target row, the events (columns; the last one stands for inputs moved without an event) within reach.
        found = reached[np.searchsorted(reach_rows, self.offsets[self.target] + target_rows), :len(touched_by_event)]
        which, columns = np.nonzero(found)  # row by row, columns ascending
        starts = np.searchsorted(which, np.arange(len(target_rows) + 1)).tolist()
        columns = columns.tolist()
        return LayerScores(self.ids[self.target][target_rows], self.neo_ids[self.target][target_rows], scores,
                           [columns[a:b] for a, b in zip(starts, starts[1:])])

    def _locate(self, neo_id: int) -> tuple[str, int]:
        position = self.position[int(neo_id)]
        node_type = self.types[int(self.type_of[position])]
        return node_type, position - self.offsets[node_type]

    def _rows(self, positions: np.ndarray) -> dict[str, np.ndarray]:
        out = {}
        for k, node_type in enumerate(self.types):
            chosen = positions[self.type_of[positions] == k] if len(positions) else positions
            if len(chosen):
                out[node_type] = (chosen - self.offsets[node_type]).astype(np.int64)
        return out

    def _layer(self, layer: int, node_type: str, rows: np.ndarray) -> Tensor:
        """Layer `layer`'s output (embedding layer + 1) for some rows of one type, from cached layer `layer`."""
        h = self.h[layer]
        conv, norm = self.network.gnn.convs[layer], self.network.gnn.norms[layer]
        if self.preact is not None:
            kept = self.preact[layer].get(node_type)
            return h[node_type][rows] if kept is None else norm(h[node_type][rows] + torch.relu(kept[rows]))
        fused = self._fused_sage(layer, node_type)
        if fused is not None:
            return norm(h[node_type][rows] + torch.relu(self._fused_messages(fused, h, node_type, rows)))
        parts = []
        for edge_type, module in conv.convs.items():
            if edge_type not in self.edges or edge_type[2] != node_type:
                continue
            block = self.incoming[edge_type][rows]
            dst = np.repeat(np.arange(len(rows)), np.diff(block.indptr))
            local = torch.from_numpy(np.stack([block.indices, dst]).astype(np.int64))
            parts.append(module((h[edge_type[0]], h[node_type][rows]), local))
        if not parts:
            return h[node_type][rows]
        out = torch.stack(parts).sum(dim=0)
        return norm(h[node_type][rows] + torch.relu(out))

    def _initial_preact(self) -> list[dict[str, Tensor]] | None:
        """Each layer's pre-activation (every message into a row, bias and root term included) of every row
        it feeds, so that a pass moves it by the deltas of the rows that changed instead of summing every
        neighbour of every row again (an owner's hundred accounts share one changed neighbour: the owner).
        None when a layer is not plain mean/sum SAGE convolutions (the pass then aggregates in full)."""
        out = []
        for layer in range(self.layers):
            kept: dict[str, Tensor] = {}
            for node_type in [self.target] if layer == self.layers - 1 else self.types:
                fused = self._fused_sage(layer, node_type)
                if fused is not None:
                    kept[node_type] = self._fused_messages(fused, self.h[layer], node_type,
                                                           np.arange(len(self.x[node_type])))
                elif any(et in self.edges and et[2] == node_type for et in self.network.gnn.convs[layer].convs.keys()):
                    return None
            out.append(kept)
        return out

    def _push_deltas(self, layer: int, changed: dict[str, tuple[np.ndarray, Tensor]]) -> None:
        """Move layer `layer`'s pre-activations by the changes of its input embeddings: each changed row's
        delta through each relationship type's lin_l to its destinations (over their degree for a mean),
        and through the summed lin_r to itself. Linear, so equal to summing afresh (to float rounding)."""
        assert self.preact is not None
        for node_type, kept in self.preact[layer].items():
            fused = self._fused_sage(layer, node_type)
            assert fused is not None
            width = fused.w_root.shape[0]
            for k, (edge_type, mean) in enumerate(zip(fused.edge_types, fused.means)):
                if edge_type[0] not in changed:
                    continue
                rows, delta = changed[edge_type[0]]
                outgoing = self.outgoing[edge_type]
                positions, bounds = _gather(outgoing, rows)
                if not len(positions):
                    continue
                destinations = outgoing.indices[positions]
                projected = delta @ fused.w_neighbours[k * width:(k + 1) * width]
                terms = projected[torch.from_numpy(np.repeat(np.arange(len(rows)), np.diff(bounds)))]
                if mean:
                    terms = terms / torch.from_numpy(self.in_degree[edge_type][destinations])[:, None]
                kept.index_add_(0, torch.from_numpy(destinations.astype(np.int64)), terms)
            if node_type in changed:
                rows, delta = changed[node_type]
                kept[torch.from_numpy(rows)] += delta @ fused.w_root

    def _fused_sage(self, layer: int, node_type: str) -> FusedSage | None:
        """The layer's SAGEConvs into `node_type` as two matrices, when every one is a plain mean/sum SAGEConv."""
        key = (layer, node_type)
        if key not in self._fused:
            conv = self.network.gnn.convs[layer]
            edge_types = [et for et in conv.convs.keys() if et in self.edges and et[2] == node_type]
            modules = [conv.convs[et] for et in edge_types]
            self._fused[key] = None
            if modules and all(_plain_sage(m) for m in modules):
                self._fused[key] = FusedSage(
                    edge_types, [m.aggr == "mean" for m in modules],
                    torch.cat([m.lin_l.weight for m in modules], dim=1).detach().T.contiguous(),
                    torch.stack([m.lin_l.bias for m in modules]).sum(dim=0).detach(),
                    torch.stack([m.lin_r.weight for m in modules]).sum(dim=0).detach().T.contiguous(),
                )
        return self._fused[key]

    def _fused_messages(self, fused: FusedSage, h: dict[str, Tensor], node_type: str, rows: np.ndarray) -> Tensor:
        """HeteroConv's sum over the SAGEConvs into `node_type`, for some rows: each relationship type's
        neighbour mean (or sum) by a sparse product, then one matrix product for all their lin_l and one
        for their summed lin_r (PyG's message passing costs more in Python than this arithmetic)."""
        aggregated = []
        for edge_type, mean in zip(fused.edge_types, fused.means):
            part = _row_products(self.incoming[edge_type], rows, h[edge_type[0]].numpy())
            aggregated.append(part / self.in_degree[edge_type][rows, None] if mean else part)
        neighbours = torch.from_numpy(np.concatenate(aggregated, axis=1).astype(np.float32, copy=False))
        return neighbours @ fused.w_neighbours + fused.bias + h[node_type][rows] @ fused.w_root

    def _scores(self, rows: np.ndarray) -> np.ndarray:
        if not len(rows):
            return np.zeros(0)
        final = self._layer(self.layers - 1, self.target, rows) if self.layers else self.h[0][self.target][rows]
        logits = self.network.head(torch.cat([final, self.x[self.target][rows]], dim=1)).squeeze(-1)
        return np.clip(self.artifact.calibrator.apply(logits.double().numpy()), 0.0, 1.0)


# `_row_products` sums gathered entries itself up to FEW_ROWS rows, makes the selected matrix from them up
# to MANY_ROWS, and leaves larger selections to scipy (`python bench/bench_row_products.py`: 0.5x scipy's
# time at 8-16 rows, 0.8x at 64-300; the made matrix was level with scipy at 2,000 rows, 1.1x at 8,000).
FEW_ROWS = 16
MANY_ROWS = 1000


def _row_products(matrix: sparse.csr_matrix, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
    """`matrix[rows] @ values`, where it pays without scipy's row selection (its generic indexing, with its
    checks, costs ~0.1 ms a call whatever the size, and a pass makes one per relationship type and layer)."""
    if len(rows) > MANY_ROWS:
        return matrix[rows] @ values
    positions, bounds = _gather(matrix, rows)
    if len(rows) > FEW_ROWS:
        selected = sparse.csr_matrix((matrix.data[positions], matrix.indices[positions], bounds),
                                     shape=(len(rows), matrix.shape[1]))
        return selected @ values
    out = np.zeros((len(rows), values.shape[1]), dtype=np.result_type(matrix.data, values))
    if not bounds[-1]:
        return out
    terms = values[matrix.indices[positions]] * matrix.data[positions, None]
    filled = bounds[1:] > bounds[:-1]
    out[filled] = np.add.reduceat(terms, bounds[:-1][filled], axis=0)
    return out


def _spread(adjacency: sparse.csr_matrix, rows: np.ndarray, reached: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One hop: the rows within one hop of `rows` (sorted positions), each reached by what reached it or
    any of its neighbours. Works on the reached rows only, not on matrices of the whole graph's size."""
    positions, bounds = _gather(adjacency, rows)
    neighbours = adjacency.indices[positions]
    grown = np.union1d(rows, neighbours)
    out = np.zeros((len(grown), reached.shape[1]), dtype=bool)
    out[np.searchsorted(grown, rows)] = reached
    if len(neighbours):
        into = np.searchsorted(grown, neighbours)
        order = np.argsort(into, kind="stable")
        into = into[order]
        sources = np.repeat(np.arange(len(rows)), np.diff(bounds))[order]
        firsts = np.flatnonzero(np.concatenate([[True], into[1:] != into[:-1]]))
        out[into[firsts]] |= np.logical_or.reduceat(reached[sources], firsts, axis=0)
    return grown, out


def _gather(matrix: sparse.csr_matrix, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The selected rows' entries in order (their positions in `matrix.data`) and where each row's run
    starts among them (CSR bounds: row k's entries are bounds[k]:bounds[k + 1])."""
    starts = matrix.indptr[rows]
    lengths = matrix.indptr[rows + 1] - starts
    bounds = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=bounds[1:])
    return np.arange(bounds[-1]) + np.repeat(starts - bounds[:-1], lengths), bounds


def _plain_sage(module: torch.nn.Module) -> bool:
    """A SAGEConv that aggregates by mean or sum, with a root weight and no projection or normalisation."""
    return (type(module).__name__ == "SAGEConv" and isinstance(module.aggr, str) and module.aggr in ("mean", "sum", "add")
            and module.root_weight and not module.project and not module.normalize)


@dataclass
class FusedSage:
    """A layer's SAGEConvs into one node type: per relationship type mean or sum, and the stacked weights."""

    edge_types: list[EdgeType]
    means: list[bool]
    w_neighbours: Tensor  # (types x hidden) x hidden: every lin_l, side by side
    bias: Tensor  # the lin_l biases summed
    w_root: Tensor  # hidden x hidden: the lin_r weights summed


def layer_embeddings(network: IntentGNN, x: dict[str, Tensor], edges: dict[EdgeType, Tensor]) -> list[dict[str, Tensor]]:
    """Every node's embedding before each message-passing layer (index 0: the encoder's output)."""
    h = network.encoder(x)
    out = [{t: v.clone() for t, v in h.items()}]
    for conv, norm in list(zip(network.gnn.convs, network.gnn.norms))[:-1]:
        present = {et: ei for et, ei in edges.items() if et[0] in h and et[2] in h}
        messages = conv(h, present)
        h = {t: norm(v + torch.relu(messages[t])) if t in messages else v for t, v in h.items()}
        out.append({t: v.clone() for t, v in h.items()})
    return out


def build(model_id: str, artifact: ModelArtifact, network: IntentGNN, export: GraphExport,
          cutoff: float) -> EmbeddingCache | None:
    """The cache of a whole-graph export at `cutoff`, or None when it does not reproduce the model's scores."""
    network.eval()
    snapshot = take_snapshot(export, cutoff)
    prepared = prepare(artifact, snapshot, np.zeros(0, np.int64))
    data = prepared.data
    x = {t: data[t].x.clone() for t in data.node_types if "x" in data[t]}
    edges = {et: ei for et, ei in data.edge_index_dict.items() if et[0] in x and et[2] in x}
    neo_ids, ids = {}, {}
    for node_type in x:
        table = export.nodes[Label(node_type)]
        rows = data[node_type].row.numpy()
        neo_ids[node_type] = table.neo_ids[rows]
        ids[node_type] = table.ids[rows]
    cache = EmbeddingCache(model_id, artifact, network, cutoff, x, edges, neo_ids, ids)
    with torch.no_grad():
        expected = np.clip(artifact.calibrator.apply(network(x, edges).double().numpy()), 0.0, 1.0)
    got = cache.full_scores()
    worst = float(np.max(np.abs(expected - got))) if len(got) else 0.0
    if worst > SELF_CHECK_TOLERANCE:
        logger.warning("embedding cache refused for model %s: it differs from the model by %.2g", model_id, worst)
        return None
    logger.info("embedding cache of model %s built: %s nodes, %s relationships", model_id, cache.total,
                sum(ei.shape[1] for ei in edges.values()))
    return cache
