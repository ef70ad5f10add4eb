"""The heterogeneous GNN: a linear encoder per node type, HeteroConv(SAGEConv) layers, a head on the target type."""

from __future__ import annotations

from collections.abc import Collection

import torch
from torch import Tensor, nn
from torch_geometric.nn import HeteroConv, SAGEConv

EdgeType = tuple[str, str, str]


class Encoder(nn.Module):
    """Projects each node type's own features into the shared hidden width."""

    def __init__(self, in_dims: dict[str, int], hidden: int) -> None:
        super().__init__()
        self.lins = nn.ModuleDict({node_type: nn.Linear(dim, hidden) for node_type, dim in in_dims.items()})

    def forward(self, x_dict: dict[str, Tensor]) -> dict[str, Tensor]:
        return {t: torch.relu(self.lins[t](x)) for t, x in x_dict.items() if t in self.lins}


class HeteroSage(nn.Module):
    """Message passing over every relationship type in both directions, with residual connections.

    The residual keeps node types that receive no messages in a snapshot (HeteroConv drops them).
    """

    def __init__(
        self, edge_types: list[EdgeType], hidden: int, layers: int, dropout: float, aggr: tuple[str, ...] = ("mean",)
    ) -> None:
        super().__init__()
        # Several neighbour aggregations side by side: "sum" counts (how many contacts engaged), "max" finds
        # the one neighbour that stands out (a champion, a recent win), "mean" describes the typical one.
        neighbours = aggr[0] if len(aggr) == 1 else list(aggr)
        self.convs = nn.ModuleList(
            HeteroConv({et: SAGEConv((hidden, hidden), hidden, aggr=neighbours) for et in edge_types}, aggr="sum")
            for _ in range(layers)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(layers))
        self.dropout = dropout

    def forward(
        self, x_dict: dict[str, Tensor], edge_index_dict: dict[EdgeType, Tensor], wanted: set[str] | None = None
    ) -> dict[str, Tensor]:
        """Embeddings after the last layer: of every node type, or only of the `wanted` ones.

        With `wanted`, each layer computes only what a later layer reads (its receptive field): the last
        layer updates the wanted types alone, the one before it those and their neighbours' types. The
        result for the wanted types is the same, and the largest types (activities) skip the last layer.
        """
        edges = {et: ei for et, ei in edge_index_dict.items() if et[0] in x_dict and et[2] in x_dict}
        for conv, norm, keep in zip(self.convs, self.norms, self.layer_outputs(edges, set(x_dict), wanted)):
            out = conv(x_dict, {et: ei for et, ei in edges.items() if et[2] in keep})
            x_dict = {
                t: norm(x + torch.nn.functional.dropout(torch.relu(out[t]), self.dropout, self.training))
                if t in out else x
                for t, x in x_dict.items() if t in keep
            }
        return x_dict

    def layer_outputs(self, edges: Collection[EdgeType], types: set[str], wanted: set[str] | None) -> list[set[str]]:
        """Per layer, the node types whose output a later layer (or the caller) reads."""
        keep = set(types) if wanted is None else set(wanted) & types
        plan = []
        for _ in self.convs:
            plan.append(keep)
            keep = keep | {src for src, _, dst in edges if dst in keep}
        return plan[::-1]

    def input_types(self, edges: Collection[EdgeType], types: set[str], wanted: set[str] | None) -> set[str]:
        """The node types whose encoded inputs the first layer reads."""
        first = self.layer_outputs(edges, types, wanted)[0] if len(self.convs) else set(wanted or types)
        return first | {src for src, _, dst in edges if dst in first}


class IntentGNN(nn.Module):
    """encoder -> gnn -> head: one logit per node of the target type."""

    def __init__(
        self, in_dims: dict[str, int], edge_types: list[EdgeType], target: str,
        hidden: int = 64, layers: int = 2, dropout: float = 0.2, aggr: tuple[str, ...] = ("mean",),
    ) -> None:
        super().__init__()
        self.target = target
        self.encoder = Encoder(in_dims, hidden)
        self.gnn = HeteroSage(edge_types, hidden, layers, dropout, aggr)
        # The head also sees the target's raw inputs: own features should never be washed out.
        self.head = nn.Sequential(
            nn.Linear(hidden + in_dims[target], hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 1)
        )

    def forward(self, x_dict: dict[str, Tensor], edge_index_dict: dict[EdgeType, Tensor]) -> Tensor:
        # Only the target's embedding is read: the encoder and each layer compute what leads to it.
        edges = [et for et in edge_index_dict if et[0] in x_dict and et[2] in x_dict]
        inputs = self.gnn.input_types(edges, set(x_dict), {self.target})
        encoded = self.encoder({t: x for t, x in x_dict.items() if t in inputs})
        h = self.gnn(encoded, edge_index_dict, {self.target})[self.target]
        return self.head(torch.cat([h, x_dict[self.target]], dim=1)).squeeze(-1)
