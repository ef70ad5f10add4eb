"""Everything that talks to Neo4j: settings, the driver, errors, schema and all Cypher.

This package imports nothing else of kgcrm's; every other part builds on it.
"""

from kgcrm.graph.driver import Graph, get_graph
from kgcrm.graph.errors import (
    GraphAuthError,
    GraphConfigError,
    GraphError,
    GraphUnavailable,
    KgcrmError,
    QueryError,
)
from kgcrm.graph.settings import Settings, get_settings

__all__ = [
    "Graph",
    "GraphAuthError",
    "GraphConfigError",
    "GraphError",
    "GraphUnavailable",
    "KgcrmError",
    "QueryError",
    "Settings",
    "get_graph",
    "get_settings",
]
