"""`kgcrm load --bulk`: the same mapping through neo4j-admin's offline importer into a new database.

A small generated world is bulk-imported into a fresh local instance of its own; the graph must
equal the Bolt load of the same world (counts and properties, `updated_at` aside). The importer
refuses a running server and a database that is not new.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path


from kgcrm.graph.driver import Graph
from kgcrm.graph.server import LocalNeo4j
from kgcrm.graph.settings import Settings
from kgcrm.loaders.generate import WorldParams, generate_world
from test_loaders_load import graph_state, load_dir

KGCRM = str(Path(sys.executable).parent / "kgcrm")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _bulk(world: Path, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [KGCRM, "load", str(world), "--format", "salesforce", "--bulk", "--quiet"],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=600,
    )


def test_bulk_import_into_a_new_instance_equals_the_bolt_load_and_refuses_a_database_that_is_not_new(
    graph: Graph, neo4j_server, tmp_path: Path
) -> None:
    world = tmp_path / "world"
    generate_world(WorldParams(accounts=30, seed=11), world, quiet=True)
    load_dir(graph, "salesforce", world, tmp_path)
    expected = graph_state(graph, skip=("updated_at",))

    if neo4j_server.local is not None:
        running = _bulk(world, neo4j_server.env, tmp_path)
        assert running.returncode == 11
        assert "is running" in running.stderr and running.stderr.startswith("kgcrm: error: ")

    settings = Settings.load(
        NEO4J_URI=f"bolt://127.0.0.1:{_free_port()}", NEO4J_PASSWORD="bulk-test-password",
        KGCRM_HOME=str(neo4j_server.settings.home), KGCRM_NEO4J_INSTANCE=f"{neo4j_server.settings.neo4j_instance}-bulk",
        KGCRM_NEO4J_HEAP="512m", KGCRM_NEO4J_PAGECACHE="256m",
    )
    env = {**neo4j_server.env, "NEO4J_URI": settings.neo4j_uri, "NEO4J_PASSWORD": settings.neo4j_password,
           "KGCRM_NEO4J_INSTANCE": settings.neo4j_instance, "KGCRM_NEO4J_HEAP": "512m", "KGCRM_NEO4J_PAGECACHE": "256m"}
    local = LocalNeo4j(settings)
    shutil.rmtree(local.instance_dir, ignore_errors=True)
    try:
        done = _bulk(world, env, tmp_path)
        assert done.returncode == 0, done.stderr
        assert local.running_pid() is not None  # started again, schema applied
        with Graph(settings) as bulk_graph:
            assert graph_state(bulk_graph, skip=("updated_at",)) == expected
            constraints = {row["name"] for row in bulk_graph.read("SHOW CONSTRAINTS YIELD name RETURN name")}
            assert {"account_id", "activity_id"} <= constraints
            assert bulk_graph.read("MATCH (n:Activity) WHERE n.updated_at IS NULL RETURN count(n) AS c")[0]["c"] == 0

        local.stop()
        again = _bulk(world, env, tmp_path)
        assert again.returncode == 11
        assert "is not new" in again.stderr and "without --bulk" in again.stderr
    finally:
        local.stop()
        shutil.rmtree(local.instance_dir, ignore_errors=True)


def test_bulk_with_prune_is_refused(neo4j_server, tmp_path: Path) -> None:
    out = subprocess.run(
        [KGCRM, "load", str(tmp_path), "--format", "salesforce", "--bulk", "--prune", "--quiet"],
        env={**neo4j_server.env, "KGCRM_NEO4J_INSTANCE": "never-created-bulk"}, cwd=tmp_path,
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 11 and "--prune has nothing to remove" in out.stderr
    assert not (neo4j_server.settings.home / "never-created-bulk").exists()
