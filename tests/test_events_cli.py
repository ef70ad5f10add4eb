"""`kgcrm replay` and `kgcrm rescore-events` as an operator runs them, against a real Neo4j."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from kgcrm.actions.events import pending_count
from kgcrm.graph.driver import Graph

KGCRM = str(Path(sys.executable).parent / "kgcrm")
SEED = """
CREATE (a:Account {id: 'acc-1', name: 'Acme', created_at: datetime('2025-01-01T00:00:00Z')})
CREATE (:Contact {id: 'con-1', created_at: datetime('2025-01-01T00:00:00Z')})-[:WORKS_AT]->(a)
"""


def _line(event_id: str, **fields: object) -> str:
    return json.dumps({"eventId": event_id, "type": "call", "at": "2026-02-01T10:00:00+01:00", **fields})


def test_replay_stores_each_event_once_and_names_rejected_lines(graph: Graph, neo4j_server, tmp_path: Path) -> None:
    graph.write(SEED)
    stream = tmp_path / "events.ndjson"
    stream.write_text("\n".join([
        _line("ev-1", accountId="acc-1", contactId="con-1"),
        _line("ev-2", accountId="acc-1", type="fax"),
        _line("ev-3", contactId="con-1", weight=2.5),
        _line("ev-4", accountId="acc-404"),
    ]) + "\n")
    first = subprocess.run([KGCRM, "replay", str(stream), "--rate", "50", "--batch-size", "2", "--quiet"],
                           env=neo4j_server.env, capture_output=True, text=True)
    assert first.returncode == 2, first.stderr
    assert "4 events" in first.stdout and "2 new, 0 already stored, 2 rejected" in first.stdout
    assert "line 2, field type: 'fax' is not one of" in first.stderr
    assert "line 4, field accountId: no such node in the graph" in first.stderr
    assert "Traceback" not in first.stderr
    assert sorted(graph.read("MATCH (e:Activity) RETURN collect(e.id) AS ids")[0]["ids"]) == ["ev-1", "ev-3"]
    assert pending_count(graph) == 2

    again = subprocess.run([KGCRM, "replay", str(stream), "--rate", "0", "--quiet"],
                           env=neo4j_server.env, capture_output=True, text=True)
    assert "0 new, 2 already stored, 2 rejected" in again.stdout
    assert graph.read("MATCH (e:Activity) RETURN count(e) AS n")[0]["n"] == 2

    # Without a production model the scorer marks the events done and says why.
    scored = subprocess.run([KGCRM, "rescore-events", "--once"], env=neo4j_server.env, capture_output=True, text=True)
    assert scored.returncode == 0, scored.stderr
    assert "rescore-events: 2 events, 0 score changes" in scored.stdout
    assert pending_count(graph) == 0
    notes = graph.read("MATCH (e:Activity) RETURN collect(DISTINCT e.rescore_note) AS notes")[0]["notes"]
    assert notes == ["no production model"]


def test_replay_refuses_a_url_without_a_key(neo4j_server, tmp_path: Path) -> None:
    stream = tmp_path / "events.ndjson"
    stream.write_text(_line("ev-1", accountId="acc-1") + "\n")
    env = {k: v for k, v in neo4j_server.env.items() if k != "KGCRM_INGEST_KEY"}
    result = subprocess.run([KGCRM, "replay", str(stream), "--url", "http://127.0.0.1:9"], env=env,
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("kgcrm: error: --key")


def test_rescore_events_and_score_refuse_a_partition_they_cannot_take(neo4j_server) -> None:
    for command, bad in [(["rescore-events", "--once"], "3/2"), (["rescore-events", "--once"], "0/2"),
                         (["rescore-events", "--once"], "half"), (["score", "--task", "account_intent"], "2/1")]:
        result = subprocess.run([KGCRM, *command, "--partition", bad], env=neo4j_server.env,
                                capture_output=True, text=True)
        assert result.returncode == 2 and result.stderr.strip().startswith("kgcrm: error: --partition"), result.stderr
        assert "Traceback" not in result.stderr
