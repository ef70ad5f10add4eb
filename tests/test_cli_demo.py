"""`kgcrm demo` as `make demo` runs it: the running server, the schema, a generated world loaded once."""

from pathlib import Path

from kgcrm.graph.driver import Graph
from test_cli_graph import run_cli


def _accounts(graph: Graph) -> int:
    return graph.read("MATCH (a:Account) RETURN count(a) AS n")[0]["n"]


def test_demo_loads_a_generated_world_into_an_empty_graph_and_only_then(graph: Graph, neo4j_server, tmp_path: Path) -> None:
    first = run_cli("demo", "--accounts", "12", "--seed", "3", "--quiet", env=neo4j_server.env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "already running" in first.stdout
    assert _accounts(graph) == 12
    contacts = graph.read("MATCH (c:Contact)-[:WORKS_AT]->(:Account) RETURN count(DISTINCT c) AS n")[0]["n"]
    assert contacts > 0
    account_line = next(line for line in first.stdout.splitlines() if line.strip().startswith("Account "))
    assert account_line.split()[-1] == "12"

    again = run_cli("demo", "--accounts", "12", "--seed", "3", "--quiet", env=neo4j_server.env, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "loading nothing" in again.stdout
    assert _accounts(graph) == 12


def test_demo_with_a_missing_maven_folder_is_one_clear_error(graph: Graph, neo4j_server, tmp_path: Path) -> None:
    result = run_cli("demo", "--maven", str(tmp_path / "nowhere"), env=neo4j_server.env, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("kgcrm: error: --maven: no sales_pipeline.csv")
    assert _accounts(graph) == 0
