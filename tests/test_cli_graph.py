"""The CLI as a user runs it: one clear line and a non-zero exit for every expected failure."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

KGCRM = str(Path(sys.executable).parent / "kgcrm")


def run_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([KGCRM, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


def assert_one_clear_error(result: subprocess.CompletedProcess[str], *must_contain: str) -> None:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{result.stderr}"
    assert lines[0].startswith("kgcrm: error: ")
    assert "Traceback" not in result.stderr + result.stdout
    for text in must_contain:
        assert text in lines[0]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_stats_prints_counts_from_the_real_server(graph, neo4j_server, tmp_path: Path) -> None:
    graph.write("UNWIND range(1, 3) AS i CREATE (:Account {id: 'a' + i})")
    result = run_cli("stats", env=neo4j_server.env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    account_line = next(line for line in result.stdout.splitlines() if line.strip().startswith("Account"))
    assert account_line.split()[-1] == "3"


def test_wrong_password(neo4j_server, tmp_path: Path) -> None:
    env = {**neo4j_server.env, "NEO4J_PASSWORD": "definitely-wrong"}
    result = run_cli("stats", env=env, cwd=tmp_path)
    assert_one_clear_error(result, neo4j_server.settings.neo4j_uri, "password")
    assert result.returncode == 4


def test_server_down(neo4j_server, tmp_path: Path) -> None:
    uri = f"bolt://127.0.0.1:{_free_port()}"
    result = run_cli("stats", env={**neo4j_server.env, "NEO4J_URI": uri}, cwd=tmp_path)
    assert_one_clear_error(result, uri)
    assert result.returncode == 3


def test_malformed_uri(neo4j_server, tmp_path: Path) -> None:
    uri = "htp:/nowhere"
    result = run_cli("stats", env={**neo4j_server.env, "NEO4J_URI": uri}, cwd=tmp_path)
    assert_one_clear_error(result, "NEO4J_URI", uri)
    assert result.returncode == 2


def test_schema_apply_twice_then_status(neo4j_server, tmp_path: Path) -> None:
    first = run_cli("schema", "apply", env=neo4j_server.env, cwd=tmp_path)
    second = run_cli("schema", "apply", env=neo4j_server.env, cwd=tmp_path)
    status = run_cli("schema", "status", env=neo4j_server.env, cwd=tmp_path)
    assert first.returncode == second.returncode == status.returncode == 0
    assert "already up to date" in second.stdout
    assert "pending: none" in status.stdout


def test_status_of_the_running_server(neo4j_server, tmp_path: Path) -> None:
    if neo4j_server.local is None:
        pytest.skip("needs the test run's own server; NEO4J_URI points at another one")
    result = run_cli("neo4j", "status", env=neo4j_server.env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "running" in result.stdout
    assert neo4j_server.settings.neo4j_version in result.stdout
    assert neo4j_server.settings.neo4j_uri in result.stdout


def test_a_second_start_while_running_does_nothing(neo4j_server, tmp_path: Path) -> None:
    if neo4j_server.local is None:
        pytest.skip("needs the test run's own server; NEO4J_URI points at another one")
    pid_before = neo4j_server.local.running_pid()
    result = run_cli("neo4j", "start", env=neo4j_server.env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "already running" in result.stdout
    assert neo4j_server.local.running_pid() == pid_before


def test_start_on_a_port_in_use_is_a_clear_error(neo4j_server, tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        env = {
            **neo4j_server.env,
            "NEO4J_URI": f"bolt://127.0.0.1:{port}",
            "KGCRM_NEO4J_INSTANCE": f"port-clash-{os.getpid()}",
        }
        result = run_cli("neo4j", "start", env=env, cwd=tmp_path)
    assert_one_clear_error(result, f"port {port}", "already in use")
    assert result.returncode == 6


def test_stop_and_status_of_an_instance_that_is_not_running(neo4j_server, tmp_path: Path) -> None:
    env = {**neo4j_server.env, "KGCRM_NEO4J_INSTANCE": f"never-started-{os.getpid()}"}
    stop = run_cli("neo4j", "stop", env=env, cwd=tmp_path)
    status = run_cli("neo4j", "status", env=env, cwd=tmp_path)
    assert stop.returncode == 0 and "not running" in stop.stdout
    assert status.returncode == 1 and "stopped" in status.stdout


def test_version_and_help(tmp_path: Path) -> None:
    version = run_cli("--version", env=dict(os.environ), cwd=tmp_path)
    assert version.returncode == 0 and "kgcrm" in version.stdout
    help_text = run_cli("--help", env=dict(os.environ), cwd=tmp_path)
    for command in ("neo4j", "schema", "stats", "demo"):
        assert command in help_text.stdout
