"""A load killed mid-run (SIGKILL, by PID) loses at most its batch in flight; re-running it completes the load.

The finished graph must equal a clean single load of the same export: the same counts, the same
properties (`updated_at` aside: it records when each node was written), and no duplicates.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import wipe

from kgcrm.graph.driver import Graph
from kgcrm.loaders.generate import WorldParams, generate_world
from test_loaders_load import graph_state

KGCRM = str(Path(sys.executable).parent / "kgcrm")
# Small batches make many transactions, so the load runs long enough to be killed in the middle.
BATCH = "40"


def _start_load(world: Path, env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [KGCRM, "load", str(world), "--format", "salesforce", "--quiet", "--batch-size", BATCH],
        env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _kill_when(process: subprocess.Popen[str], graph: Graph, query: str, at_least: int) -> int:
    """SIGKILL the loader as soon as `query` counts at least `at_least`; returns the count seen then."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        seen = graph.read(query)[0]["c"]
        if seen >= at_least:
            os.kill(process.pid, signal.SIGKILL)
            process.communicate(timeout=60)
            return seen
        if process.poll() is not None:
            pytest.fail(f"the load ended (exit {process.returncode}) before it could be killed: {process.stderr.read()}")
        time.sleep(0.05)
    process.kill()
    pytest.fail("the load wrote nothing within 240 s")


def _no_duplicates(graph: Graph) -> None:
    assert graph.read(
        "MATCH (n) WHERE n.id IS NOT NULL AND NOT n:SchemaMigration "
        "WITH labels(n)[0] AS l, n.id AS id, count(*) AS c WHERE c > 1 RETURN count(*) AS dup"
    )[0]["dup"] == 0
    assert graph.read(
        "MATCH (a)-[r]->(b) WITH a, type(r) AS t, b, count(r) AS c WHERE c > 1 RETURN count(*) AS dup"
    )[0]["dup"] == 0


def test_a_load_killed_twice_mid_run_completes_on_rerun_exactly_like_a_clean_load(
    graph: Graph, neo4j_server, tmp_path: Path
) -> None:
    world = tmp_path / "world"
    generate_world(WorldParams(accounts=40, seed=5), world, quiet=True)

    clean = subprocess.run(
        [KGCRM, "load", str(world), "--format", "salesforce", "--quiet"],
        env=neo4j_server.env, cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert clean.returncode == 0, clean.stderr
    expected = graph_state(graph, skip=("updated_at",))
    all_nodes = graph.read("MATCH (n) WHERE NOT n:SchemaMigration RETURN count(n) AS c")[0]["c"]
    wipe(graph)

    # Killed while writing nodes: some activities exist, no relationship yet.
    first = _start_load(world, neo4j_server.env, tmp_path)
    killed_at = _kill_when(first, graph, "MATCH (n:Activity) RETURN count(n) AS c", 1)
    partial_nodes = graph.read("MATCH (n) WHERE NOT n:SchemaMigration RETURN count(n) AS c")[0]["c"]
    assert first.returncode == -signal.SIGKILL
    assert 0 < killed_at <= partial_nodes < all_nodes

    # Killed again while writing relationships.
    second = _start_load(world, neo4j_server.env, tmp_path)
    _kill_when(second, graph, "MATCH (:Activity)-[r:ABOUT]->() RETURN count(r) AS c", 1)
    assert second.returncode == -signal.SIGKILL
    partial = graph_state(graph, skip=("updated_at",))
    assert partial != expected
    _no_duplicates(graph)

    rerun = subprocess.run(
        [KGCRM, "load", str(world), "--format", "salesforce", "--quiet", "--batch-size", BATCH],
        env=neo4j_server.env, cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert graph_state(graph, skip=("updated_at",)) == expected
    _no_duplicates(graph)
