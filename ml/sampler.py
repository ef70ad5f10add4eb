"""Mini-batches for graphs too large for one full-batch pass: a small heterogeneous neighbour sampler.

PyG's NeighborLoader needs pyg-lib or torch-sparse, which this environment does not have, so the
sampling is done here in numpy: for each hop and relationship type, up to `fanout` incoming
neighbours of every frontier node (all of them when fewer, a uniform draw with replacement otherwise).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

import numpy as np
import torch
from torch_geometric.data import HeteroData

EdgeType = tuple[str, str, str]


class NeighbourSampler:
    """Samples the `len(fanouts)`-hop neighbourhood of seed nodes of one type into a smaller HeteroData."""

    def __init__(self, data: HeteroData, fanouts: list[int], seed: int = 0) -> None:
        self.data = data
        self.fanouts = fanouts
        self.rng = np.random.default_rng(seed)
        # Incoming adjacency per edge type, sorted by target: indptr over targets, sources in order.
        self.csc: dict[EdgeType, tuple[np.ndarray, np.ndarray]] = {}
        for et in data.edge_types:
            src, dst = data[et].edge_index.numpy()
            order = np.argsort(dst, kind="stable")
            indptr = np.zeros(data[et[2]].num_nodes + 1, dtype=np.int64)
            np.cumsum(np.bincount(dst, minlength=data[et[2]].num_nodes), out=indptr[1:])
            self.csc[et] = (indptr, src[order])

    def batches(self, target: str, seeds: np.ndarray, batch_size: int, shuffle: bool) -> Iterator[tuple[HeteroData, np.ndarray]]:
        """(subgraph, positions of its seeds in `seeds`) for consecutive batches of seeds."""
        order = self.rng.permutation(len(seeds)) if shuffle else np.arange(len(seeds))
        for start in range(0, len(seeds), batch_size):
            picked = order[start : start + batch_size]
            yield self.sample(target, seeds[picked]), picked

    def sample(self, target: str, seeds: np.ndarray) -> HeteroData:
        nodes: dict[str, list[np.ndarray]] = defaultdict(list)
        nodes[target].append(seeds)
        edges: dict[EdgeType, list[tuple[np.ndarray, np.ndarray]]] = defaultdict(list)
        frontier = {target: np.unique(seeds)}
        for fanout in self.fanouts:
            reached: dict[str, list[np.ndarray]] = defaultdict(list)
            for et, (indptr, sources) in self.csc.items():
                if et[2] not in frontier:
                    continue
                dst_nodes = frontier[et[2]]
                start, degree = indptr[dst_nodes], indptr[dst_nodes + 1] - indptr[dst_nodes]
                take = np.minimum(degree, fanout)
                owner = np.repeat(np.arange(len(dst_nodes)), take)
                within = np.arange(take.sum()) - np.repeat(np.cumsum(take) - take, take)
                drawn = np.floor(self.rng.random(len(owner)) * degree[owner]).astype(np.int64)
                offset = np.where(degree[owner] <= fanout, within, drawn)
                src_nodes = sources[start[owner] + offset]
                edges[et].append((src_nodes, dst_nodes[owner]))
                reached[et[0]].append(src_nodes)
            frontier = {t: np.unique(np.concatenate(parts)) for t, parts in reached.items()}
            for t, found in frontier.items():
                nodes[t].append(found)

        sub = HeteroData()
        keep = {t: np.unique(np.concatenate(parts)) for t, parts in nodes.items()}
        for t in self.data.node_types:
            chosen = keep.get(t, np.zeros(0, dtype=np.int64))
            sub[t].x = self.data[t].x[torch.from_numpy(chosen)]
        for et, pairs in edges.items():
            src = np.concatenate([s for s, _ in pairs])
            dst = np.concatenate([d for _, d in pairs])
            pair = np.unique(np.stack([src, dst]), axis=1)
            sub[et].edge_index = torch.from_numpy(
                np.stack([np.searchsorted(keep[et[0]], pair[0]), np.searchsorted(keep[et[2]], pair[1])])
            )
        sub[target].seed = torch.from_numpy(np.searchsorted(keep[target], seeds))
        return sub
