"""Events over HTTP end to end: POST /events (NDJSON) -> incremental scorer -> subscriptions, and explainAction."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
from gql import Client as GqlClient
from gql import gql
from gql.transport.websockets import WebsocketsTransport

from kgcrm.actions.events import pending_count
from kgcrm.actions.rescore import IncrementalScorer
from kgcrm.graph.driver import Graph
from kgcrm.graph.settings import Settings
from test_events_rescore import POLICIES, random_production_model
from test_gql_client import auth
from test_gql_world import ApiServer, as_, gid, http, server, world  # noqa: F401 - fixtures

KGCRM = str(Path(sys.executable).parent / "kgcrm")
NOW = "2026-01-20T10:00:00Z"


def _line(event_id: str, **fields: object) -> str:
    return json.dumps({"eventId": event_id, "type": "web_visit", "at": NOW, **fields})


def _post(http: httpx.Client, world, caller: str | None, body: str, **params: str) -> httpx.Response:
    headers = {"Content-Type": "application/x-ndjson", **(auth(world, caller) if caller else {})}
    return http.post("/events", content=body.encode(), headers=headers, params=params)


def _subscriber(server: ApiServer, key: str) -> GqlClient:
    transport = WebsocketsTransport(url=server.url.replace("http", "ws") + "/graphql",
                                    subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
                                    init_payload={"Authorization": f"Bearer {key}"})
    return GqlClient(transport=transport, fetch_schema_from_transport=False)


def _stored(graph: Graph, *ids: str) -> int:
    return graph.read("MATCH (e:Activity) WHERE e.id IN $ids RETURN count(e) AS n", {"ids": list(ids)})[0]["n"]


def test_ndjson_events_are_stored_once_with_errors_per_line(http: httpx.Client, world, _session_graph: Graph) -> None:
    body = "\n".join([
        _line("n-1", accountId="a2", contactId="a2-c1"),
        "{not json",
        _line("n-2", accountId="a2", type="teleport"),
        "",
        _line("n-3", accountId="nope"),
        _line("n-4", contactId="a2-c2", weight=3),
        _line("n-5", accountId="a2", at="2026-01-20T10:00:00"),
    ])
    response = _post(http, world, "ingest", body)
    assert response.status_code == 200
    report = response.json()
    assert (report["received"], report["created"], report["duplicates"]) == (6, 2, 0)
    assert [(r["line"], r["field"]) for r in report["rejected"]] == [
        (2, "-"), (3, "type"), (5, "accountId"), (7, "at")]
    assert "teleport" in report["rejected"][1]["reason"] and "time zone" in report["rejected"][3]["reason"]
    assert _stored(_session_graph, "n-1", "n-2", "n-3", "n-4", "n-5") == 2
    # Stored with their relationships and queued for rescoring.
    rows = _session_graph.read("MATCH (e:Activity {id: 'n-1'})-[r]->(n) RETURN type(r) AS t, n.id AS id, "
                               "e.rescore_pending AS pending ORDER BY t")
    assert [(r["t"], r["id"], r["pending"]) for r in rows] == [("ABOUT", "a2", True), ("PERFORMED_BY", "a2-c1", True)]

    # A replay changes nothing: the same ids are recognised, nothing new is stored or queued.
    again = _post(http, world, "ingest", body).json()
    assert (again["created"], again["duplicates"]) == (0, 2)
    assert _stored(_session_graph, "n-1", "n-4") == 2

    # atomic=true: one bad line and nothing of the batch is stored.
    atomic = _post(http, world, "admin", "\n".join([_line("n-6", accountId="a2"), _line("n-7", accountId="nope")]),
                   atomic="true")
    assert atomic.status_code == 422 and atomic.json()["stored"] is False
    assert [(r["line"], r["field"]) for r in atomic.json()["rejected"]] == [(2, "accountId")]
    assert _stored(_session_graph, "n-6", "n-7") == 0


def test_events_need_the_ingest_or_admin_role(http: httpx.Client, world) -> None:
    body = _line("r-1", accountId="a2")
    assert _post(http, world, None, body).status_code == 401
    assert _post(http, world, "alice", body).status_code == 403


def test_an_event_reaches_subscribers_as_a_score_change_and_an_action_explained_by_its_lineage(
    server: ApiServer, http: httpx.Client, world, as_, _session_graph: Graph, neo4j_server, tmp_path: Path
) -> None:
    settings: Settings = neo4j_server.settings.model_copy(update={
        "ml_model_dir": tmp_path / "models", "ml_threads": 1, "holdout_fraction": 0.0, "ml_score_epsilon": 0.0})
    model = random_production_model(_session_graph, settings, as_of=time.time())
    scorer = IncrementalScorer(_session_graph, settings, POLICIES)
    while scorer.run_once() is not None:  # what the other tests queued
        pass

    # m1 (mia's, more than two hops from what the other tests touched) starts unscored, so the policy fires.
    _session_graph.write("MATCH (a:Account {id: 'm1'}) REMOVE a.intent_score, a.intent_model, a.intent_scored_at")

    def event_in() -> None:
        # m1 gets a visit; the scorer picks it up as `kgcrm rescore-events` would.
        assert _post(http, world, "ingest", _line("live-1", accountId="m1", contactId="m1-c1")).json()["created"] == 1
        assert pending_count(_session_graph) == 1
        assert scorer.run_once() is not None

    async def first_message(session, query: str, field: str) -> dict:
        # Subscriptions look back a few seconds, so the other tests' changes may come first: skip them.
        async for result in session.subscribe(gql(query)):
            if result[field]["subjectId"] == gid("Account", "m1"):
                return result
        raise AssertionError("the subscription ended without a message")

    async def both() -> tuple[dict, dict]:
        async with _subscriber(server, world.keys["mgr"]) as changes_session, \
                _subscriber(server, world.keys["mgr"]) as actions_session:
            changes = asyncio.create_task(first_message(
                changes_session, "subscription { scoreChanged { id newScore model subjectId } }", "scoreChanged"))
            actions = asyncio.create_task(first_message(
                actions_session, "subscription { actionCreated { id kind status subjectId scoreChangeId } }", "actionCreated"))
            await asyncio.sleep(1.0)  # both subscriptions are live
            await asyncio.to_thread(event_in)
            # Generous: the shared test machine may be slow; the subscriptions poll every second.
            return await asyncio.wait_for(changes, 120), await asyncio.wait_for(actions, 120)

    changes, actions = asyncio.run(both())
    change = changes["scoreChanged"]
    assert change["model"] == model.id and 0.0 <= change["newScore"] <= 1.0
    action = actions["actionCreated"]
    assert (action["kind"], action["status"]) == ("webhook", "pending")
    assert action["subjectId"] == gid("Account", "m1")

    query = """query($id: ID!) { explainAction(id: $id) { __typename
        ... on ActionExplanation { action { id policy } scoreChange { oldScore newScore model subjectId }
                                   model { id task status } events { eventId type acceptedAt } task { id } }
        ... on NotFound { message } } }"""
    explained = as_("mgr").data(query, {"id": action["id"]})["explainAction"]
    assert explained["__typename"] == "ActionExplanation"
    assert explained["action"] == {"id": action["id"], "policy": "any-move"}
    assert explained["scoreChange"]["oldScore"] is None and explained["scoreChange"]["model"] == model.id
    assert explained["scoreChange"]["subjectId"] == gid("Account", "m1")
    assert explained["model"] == {"id": model.id, "task": "account_intent", "status": "production"}
    assert [(e["eventId"], e["type"]) for e in explained["events"]] == [("live-1", "web_visit")]
    assert explained["events"][0]["acceptedAt"] is not None and explained["task"] is None
    # Scoped in the query: another team's account manager cannot see it, an unknown id is not found.
    assert as_("carol").data(query, {"id": action["id"]})["explainAction"]["__typename"] == "NotFound"
    assert as_("admin").data(query, {"id": gid("Action", "nope")})["explainAction"]["__typename"] == "NotFound"


def test_record_activity_queues_the_event_once(as_, world, _session_graph: Graph) -> None:
    mutation = """mutation { recordActivity(input: {eventId: "gql-1", type: MEETING, at: "2026-01-20T10:00:00Z",
        accountId: "a1"}) { __typename ... on ActivityRecorded { created } } }"""
    assert as_("ingest").data(mutation)["recordActivity"]["created"] is True
    assert as_("ingest").data(mutation)["recordActivity"]["created"] is False
    rows = _session_graph.read("MATCH (e:Activity {id: 'gql-1'})-[:ABOUT]->(a:Account {id: 'a1'}) "
                               "RETURN e.rescore_pending AS pending, e.rescore_route = id(a) AS routed, count(*) AS n")
    # Queued by the transaction that stored it (the route to its account's scorer partition is set there).
    assert rows == [{"pending": True, "routed": True, "n": 1}]


def test_replay_posts_a_file_through_the_api(server: ApiServer, world, neo4j_server, tmp_path: Path,
                                             _session_graph: Graph) -> None:
    stream = tmp_path / "events.ndjson"
    stream.write_text("\n".join([_line("rp-1", accountId="b1"), _line("rp-2", accountId="zz"),
                                 _line("rp-3", contactId="b1-c1")]) + "\n")
    command = [KGCRM, "replay", str(stream), "--url", server.url, "--key", world.keys["ingest"], "--rate", "0",
               "--batch-size", "2", "--quiet"]
    result = subprocess.run(command, env=neo4j_server.env, capture_output=True, text=True)
    assert result.returncode == 2 and "2 new, 0 already stored, 1 rejected" in result.stdout
    assert "line 2, field accountId: no such node in the graph" in result.stderr
    assert _stored(_session_graph, "rp-1", "rp-2", "rp-3") == 2
