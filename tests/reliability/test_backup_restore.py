"""Operations: back up Neo4j with `neo4j-admin database dump`, lose the data, restore with `database load`.

Run on the local server kgcrm installs (a Neo4j of the test's own): the same neo4j-admin that the
official image ships as `neo4j-admin`, called here as `java -cp <lib>/* org.neo4j.cli.AdminTool` with
the instance's NEO4J_HOME and NEO4J_CONF. docs/operations.md gives the commands for docker compose.
Soak-marked: the server is stopped and started twice.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conftest import KGCRM, KillableNeo4j, wipe
from kgcrm.graph.driver import Graph
from kgcrm.graph.schema import apply_migrations
from kgcrm.graph.server import ADMIN_TOOL
from kgcrm.loaders.generate import WorldParams, generate_world
from test_loaders_load import graph_state

pytestmark = [pytest.mark.soak, pytest.mark.timeout(1800)]


def neo4j_admin(server: KillableNeo4j, *args: str) -> subprocess.CompletedProcess[str]:
    local = server.local
    command = ["java", "-cp", f"{local.lib_dir}/*", ADMIN_TOOL, *args]
    return subprocess.run(command, env=local._java_env(), cwd=local.instance_dir, capture_output=True, text=True,
                          timeout=600)


def test_dump_then_load_restores_every_node_relationship_and_property(killable_neo4j: KillableNeo4j, tmp_path: Path) -> None:
    world = tmp_path / "world"
    generate_world(WorldParams(accounts=40, seed=5), world, quiet=True)
    with Graph(killable_neo4j.settings) as graph:
        graph.verify()
        apply_migrations(graph)
        load = subprocess.run([KGCRM, "load", str(world), "--format", "salesforce", "--quiet"], env=killable_neo4j.env,
                              capture_output=True, text=True, timeout=600)
        assert load.returncode == 0, load.stderr
        before = graph_state(graph)
        assert sum(before[0].values()) > 1000
    backups = tmp_path / "backups"
    backups.mkdir()
    # Community edition: dump and load need the database offline, so the server is stopped first.
    killable_neo4j.local.stop()
    dump = neo4j_admin(killable_neo4j, "database", "dump", "neo4j", f"--to-path={backups}")
    assert dump.returncode == 0, dump.stdout + dump.stderr
    assert (backups / "neo4j.dump").stat().st_size > 0
    killable_neo4j.restart()

    with Graph(killable_neo4j.settings) as graph:
        wipe(graph)  # the disaster: everything gone
        assert graph.read("MATCH (n) WHERE NOT n:SchemaMigration RETURN count(n) AS n")[0]["n"] == 0
    killable_neo4j.local.stop()
    refused = neo4j_admin(killable_neo4j, "database", "load", "neo4j", f"--from-path={backups}")
    assert refused.returncode != 0  # never over an existing database without saying so
    restore = neo4j_admin(killable_neo4j, "database", "load", "neo4j", f"--from-path={backups}", "--overwrite-destination=true")
    assert restore.returncode == 0, restore.stdout + restore.stderr
    killable_neo4j.restart()
    with Graph(killable_neo4j.settings) as graph:
        assert graph_state(graph) == before  # counts and a checksum of every property
        constraints = graph.read("SHOW CONSTRAINTS YIELD name RETURN count(*) AS n")[0]["n"]
        assert constraints > 0  # the schema came back with the data
