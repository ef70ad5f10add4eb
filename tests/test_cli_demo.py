"""`kgcrm demo` as `make demo` runs it: the running server, the schema, a generated world loaded once."""

from pathlib import Path

from kgcrm.graph.driver import Graph
from test_cli_graph import run_cli


def _accounts(graph: Graph) -> int:
    return graph.read("MATCH (a:Account) RETURN count(a) AS n")[0]["n"]


def test_demo_loads_a_generated_world_into_an_empty_graph_and_only_then(graph: Graph, neo4j_server, tmp_path: Path) -> None:
    first = run_cli("demo", "--accounts", "12", "--seed", "3", "--quiet", "--no-train", "--no-serve", env=neo4j_server.env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "already running" in first.stdout
    assert _accounts(graph) == 12
    contacts = graph.read("MATCH (c:Contact)-[:WORKS_AT]->(:Account) RETURN count(DISTINCT c) AS n")[0]["n"]
    assert contacts > 0
    account_line = next(line for line in first.stdout.splitlines() if line.strip().startswith("Account "))
    assert account_line.split()[-1] == "12"

    again = run_cli("demo", "--accounts", "12", "--seed", "3", "--quiet", "--no-train", "--no-serve", env=neo4j_server.env, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "loading nothing" in again.stdout
    assert _accounts(graph) == 12


def test_demo_with_a_missing_maven_folder_is_one_clear_error(graph: Graph, neo4j_server, tmp_path: Path) -> None:
    result = run_cli("demo", "--maven", str(tmp_path / "nowhere"), env=neo4j_server.env, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("kgcrm: error: --maven: no sales_pipeline.csv")
    assert _accounts(graph) == 0


def test_demo_trains_scores_every_account_and_prints_the_top_ones(graph: Graph, neo4j_server, tmp_path: Path) -> None:
    result = run_cli("demo", "--accounts", "150", "--seed", "5", "--quiet", "--no-serve", env=neo4j_server.env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.strip().startswith("GNN ") and "test AUROC" in line for line in lines)
    top = lines[lines.index("top accounts by intent:") + 1:]
    scored = [line for line in top if not line.strip().startswith("-")]
    assert len(scored) == 10
    printed = [float(line.split()[0]) for line in scored]
    assert printed == sorted(printed, reverse=True) and all(0.0 <= s <= 1.0 for s in printed)
    rows = graph.read(
        "MATCH (a:Account) OPTIONAL MATCH (m:ModelVersion {id: a.intent_model}) "
        "RETURN count(a) AS accounts, count(a.intent_score) AS scored, count(m) AS traced, "
        "max(a.intent_score) AS best"
    )[0]
    assert rows["accounts"] == 150 and rows["scored"] == 150 and rows["traced"] == 150
    assert abs(rows["best"] - printed[0]) < 1e-3
