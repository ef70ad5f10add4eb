"""A neighbourhood: the nodes around a start node and the relationships between them."""

import strawberry
from strawberry import relay


@strawberry.type(description="A node in a neighbourhood: enough to draw it; fetch details with node(id).")
class GraphNode:
    id: relay.GlobalID
    label: str
    name: str | None
    score: float | None
    depth: int


@strawberry.type(description="A relationship between two nodes of a neighbourhood.")
class GraphEdge:
    source: relay.GlobalID
    target: relay.GlobalID
    type: str


@strawberry.type(description="Nodes within `depth` hops of a start node that you may see, and their relationships.")
class Neighborhood:
    start: relay.GlobalID
    nodes: list[GraphNode]
    edges: list[GraphEdge]
    truncated: bool
