"""Shared fixtures: a real Neo4j for the whole test run, and a clean graph for each test.

The run starts its own server (a fresh instance on a free loopback port, removed afterwards) unless
NEO4J_URI is set, in which case that server is used as it is. Tests wipe the database they use:
never point NEO4J_URI at data you want to keep.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from kgcrm.graph.driver import Graph
from kgcrm.graph.schema import apply_migrations
from kgcrm.graph.server import LocalNeo4j
from kgcrm.graph.settings import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
TEST_PASSWORD = "kgcrm-test-password"

# Delete in chunks so a large test graph never needs one huge transaction; the migration log stays,
# so the schema is not re-applied before every test.
_WIPE_CHUNK = (
    "MATCH (n) WHERE NOT n:SchemaMigration WITH n LIMIT 10000 DETACH DELETE n RETURN count(*) AS deleted"
)


def _free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TestServer:
    """The test run's Neo4j: its settings, and the local server when the run started it itself."""

    def __init__(self, settings: Settings, local: LocalNeo4j | None) -> None:
        self.settings = settings
        self.local = local

    @property
    def env(self) -> dict[str, str]:
        """Environment variables that point a child process (the CLI) at this server."""
        return {
            **os.environ,
            "NEO4J_URI": self.settings.neo4j_uri,
            "NEO4J_USER": self.settings.neo4j_user,
            "NEO4J_PASSWORD": self.settings.neo4j_password,
            "NEO4J_DATABASE": self.settings.neo4j_database,
            "KGCRM_HOME": str(self.settings.home),
            "KGCRM_NEO4J_INSTANCE": self.settings.neo4j_instance,
        }


@pytest.fixture(scope="session")
def neo4j_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestServer]:
    if os.environ.get("NEO4J_URI"):
        yield TestServer(Settings.load(), local=None)
        return
    port = _free_loopback_port()
    settings = Settings.load(
        NEO4J_URI=f"bolt://127.0.0.1:{port}",
        NEO4J_PASSWORD=TEST_PASSWORD,
        # The jars are shared with `make demo`; the instance (data, logs) is this run's own.
        KGCRM_HOME=os.environ.get("KGCRM_HOME", str(REPO_ROOT / ".kgcrm")),
        KGCRM_NEO4J_INSTANCE=f"test-neo4j-{os.getpid()}",
        KGCRM_NEO4J_HEAP="1g",
        KGCRM_NEO4J_PAGECACHE="512m",
    )
    local = LocalNeo4j(settings)
    local.start()
    try:
        yield TestServer(settings, local)
    finally:
        local.stop()
        shutil.rmtree(local.instance_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def _session_graph(neo4j_server: TestServer) -> Iterator[Graph]:
    graph = Graph(neo4j_server.settings)
    graph.verify()
    apply_migrations(graph)
    yield graph
    graph.close()


def wipe(graph: Graph) -> None:
    """Delete every node and relationship except the migration log (the schema stays)."""
    while graph.write(_WIPE_CHUNK)[0]["deleted"]:
        pass


@pytest.fixture
def graph(_session_graph: Graph) -> Graph:
    """A Graph on an empty database with the current schema applied."""
    wipe(_session_graph)
    apply_migrations(_session_graph)
    return _session_graph


@pytest.fixture
def maven_crm_dir() -> Path:
    """The Maven Analytics CRM data set in ../shared, or a skip that says why."""
    path = SHARED_DATA / "maven_crm"
    if not (path / "sales_pipeline.csv").exists():
        pytest.skip(f"the Maven CRM data set is not at {path}: clone the project with ../shared beside it")
    return path
