"""Reliability tests' shared helpers: the CLI in-process, graph counts, and a Neo4j of their own to kill.

pytest imports every folder's conftest.py under the one module name `conftest`, and test modules do
`from conftest import wipe`; this module therefore re-exports the root conftest's helpers unchanged.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kgcrm.graph.driver import Graph
from kgcrm.graph.server import LocalNeo4j
from kgcrm.graph.settings import Settings

_ROOT_SPEC = importlib.util.spec_from_file_location("kgcrm_tests_root_conftest", Path(__file__).parent.parent / "conftest.py")
assert _ROOT_SPEC is not None and _ROOT_SPEC.loader is not None
_root = importlib.util.module_from_spec(_ROOT_SPEC)
_ROOT_SPEC.loader.exec_module(_root)
wipe = _root.wipe
REPO_ROOT = _root.REPO_ROOT
TEST_PASSWORD = _root.TEST_PASSWORD

KGCRM = str(Path(sys.executable).parent / "kgcrm")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def node_count(graph: Graph) -> int:
    return graph.read("MATCH (n) WHERE NOT n:SchemaMigration RETURN count(n) AS c")[0]["c"]


class KillableNeo4j:
    """A Neo4j of one test's own (never the session's), which the test may SIGKILL and start again."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.local = LocalNeo4j(settings)

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "NEO4J_URI": self.settings.neo4j_uri, "NEO4J_USER": self.settings.neo4j_user,
                "NEO4J_PASSWORD": self.settings.neo4j_password, "NEO4J_DATABASE": self.settings.neo4j_database,
                "KGCRM_HOME": str(self.settings.home), "KGCRM_NEO4J_INSTANCE": self.settings.neo4j_instance}

    def kill9(self) -> None:
        """SIGKILL the server by its PID (LocalNeo4j.kill waits until the process is gone)."""
        assert self.local.kill(), "the dedicated Neo4j was not running"

    def restart(self) -> None:
        self.local.start()


@pytest.fixture
def killable_neo4j() -> Iterator[KillableNeo4j]:
    """A fresh Neo4j instance on a free port for a test that kills it; stopped and removed afterwards."""
    settings = Settings.load(
        NEO4J_URI=f"bolt://127.0.0.1:{free_port()}",
        NEO4J_PASSWORD=TEST_PASSWORD,
        KGCRM_HOME=os.environ.get("KGCRM_HOME", str(REPO_ROOT / ".kgcrm")),
        KGCRM_NEO4J_INSTANCE=f"test-killable-{os.getpid()}",
        KGCRM_NEO4J_HEAP="512m",
        KGCRM_NEO4J_PAGECACHE="256m",
    )
    server = KillableNeo4j(settings)
    server.local.start()
    try:
        yield server
    finally:
        server.local.stop()
        shutil.rmtree(server.local.instance_dir, ignore_errors=True)
