"""Sanity of the peer benchmark's inputs: the peer's GraphQL model follows the graph model, the mixes match."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from kgcrm.graph.model import Label, RelType

BENCH = Path(__file__).resolve().parent.parent / "bench"
TYPE_DEFS = (BENCH / "peers" / "neo4j-graphql" / "typeDefs.graphql").read_text()


def test_the_peers_node_types_and_relationships_are_those_of_the_graph_model() -> None:
    node_types = re.findall(r"^type (\w+) @node", TYPE_DEFS, flags=re.MULTILINE)
    rel_types = re.findall(r'@relationship\(type: "(\w+)"', TYPE_DEFS)
    assert {"Account", "Contact", "Opportunity", "Activity", "User"} <= set(node_types)
    assert set(node_types) <= {label.value for label in Label}
    assert rel_types and set(rel_types) <= {rel.value for rel in RelType}


def test_the_peer_answers_the_same_four_requests_as_the_api_benchmark() -> None:
    sys.path.insert(0, str(BENCH))
    try:
        import bench_api
        from peers import graphql_peer
    finally:
        sys.path.remove(str(BENCH))
    book = ["acc-000001", "acc-000002"]
    ours = bench_api.request_mix({"rep": "k", "manager": "k", "ingest": "k"}, book)
    theirs = graphql_peer.peer_mix(book)
    assert list(theirs) == list(ours)
    assert theirs["recordActivity"]["unique"] == ours["recordActivity"]["unique"] == "eventId"
    assert theirs["account by id"]["pick"]["values"] == book
