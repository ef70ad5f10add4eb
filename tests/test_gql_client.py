"""The API as a client sees it: the `gql` client library over HTTP and graphql-transport-ws subscriptions,
the N+1 guard, and operations (`kgcrm serve`, JSON logs, /metrics, /healthz, /readyz)."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from gql import Client as GqlClient
from gql import gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.httpx import HTTPXTransport
from gql.transport.websockets import WebsocketsTransport

from kgcrm.graph.driver import Graph
from test_gql_world import ApiServer, api_settings, as_, gid, http, server, world  # noqa: F401 - fixtures

KGCRM = str(Path(sys.executable).parent / "kgcrm")

# 44 more accounts for bob (50 in all with the world's six), each with two contacts, two deals and an owner.
MORE_ACCOUNTS = """
MATCH (bob:User {id: 'u-bob'})
UNWIND range(1, 44) AS i
CREATE (bob)-[:OWNS]->(a:Account {id: 'bulk-' + i, name: 'Bulk ' + i, intent_score: i / 100.0,
                                   created_at: datetime(), updated_at: datetime()})
CREATE (:Contact {id: 'bulk-' + i + '-c1', name: 'Bulk contact ' + i})-[:WORKS_AT {since: datetime()}]->(a)
CREATE (:Contact {id: 'bulk-' + i + '-c2', name: 'Bulk contact ' + i})-[:WORKS_AT {since: datetime()}]->(a)
CREATE (:Opportunity {id: 'bulk-' + i + '-o1', name: 'Bulk deal', amount: 10.0, is_closed: false})-[:FOR_ACCOUNT]->(a)
CREATE (:Opportunity {id: 'bulk-' + i + '-o2', name: 'Bulk deal', amount: 20.0, is_closed: true})-[:FOR_ACCOUNT]->(a)
"""


@pytest.fixture(scope="module")
def bulk_world(world, _session_graph: Graph):  # noqa: ANN201
    _session_graph.write(MORE_ACCOUNTS)
    return world


def auth(world: Any, caller: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.keys[caller]}"}


def test_the_gql_client_library_introspects_and_queries(server: ApiServer, bulk_world) -> None:
    transport = HTTPXTransport(url=f"{server.url}/graphql", headers=auth(bulk_world, "alice"))
    # fetch_schema_from_transport: the client introspects, then validates every query against the schema.
    with GqlClient(transport=transport, fetch_schema_from_transport=True) as session:
        assert session.client.schema is not None
        assert {"Account", "Contact", "Opportunity", "Score", "ModelVersion", "Action", "Node"} <= set(
            session.client.schema.type_map)
        request = gql("""query Top($first: Int!) {
            accounts(first: $first, orderBy: {field: SCORE, direction: DESC}) {
              totalCount edges { node { id name score { value } owner { name } } } } }""")
        request.variable_values = {"first": 2}
        result = session.execute(request)
        assert result["accounts"]["totalCount"] == 3
        assert [e["node"]["name"] for e in result["accounts"]["edges"]] == ["Acme Corp", "Apex Ltd"]
        assert result["accounts"]["edges"][0]["node"]["owner"] == {"name": "Alice Rep"}
        with pytest.raises(Exception, match="Cannot query field 'password'"):
            session.execute(gql("{ accounts { edges { node { password } } } }"))


def test_no_n_plus_one_behind_a_page_of_accounts_with_their_relations(as_, bulk_world) -> None:
    query = """{ accounts(first: 50) { edges { node { name
        contacts { name } opportunities { name amount } owner { name } } } } }"""
    response = as_("admin").post(query)
    edges = response.json()["data"]["accounts"]["edges"]
    assert len(edges) == 50
    assert all(e["node"]["owner"] and len(e["node"]["contacts"]) == 2 and len(e["node"]["opportunities"]) == 2
               for e in edges)
    # One page query, then one batched query per relation, whatever the page size.
    assert int(response.headers["x-kgcrm-cypher-queries"]) <= 4
    deeper = as_("admin").post("""{ accounts(first: 50) { totalCount edges { node {
        contacts(first: 5) { account { name } opportunities(first: 5) { name } }
        opportunities(first: 5) { committee(first: 5) { role } account { name } }
        owner { name accounts(first: 3) { name } } score { value } } } } }""")
    assert "errors" not in deeper.json()
    assert int(deeper.headers["x-kgcrm-cypher-queries"]) <= 10


async def _collect(url: str, key: str, query: str, count: int, after_subscribed: Any) -> list[dict[str, Any]]:
    """Subscribe, run `after_subscribed` once the subscription is live, and return `count` events."""
    transport = WebsocketsTransport(url=url.replace("http", "ws") + "/graphql",
                                    subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
                                    init_payload={"Authorization": f"Bearer {key}"})
    events: list[dict[str, Any]] = []
    async with GqlClient(transport=transport, fetch_schema_from_transport=False) as session:

        async def consume() -> None:
            async for result in session.subscribe(gql(query)):
                events.append(result)
                if len(events) >= count:
                    return

        task = asyncio.create_task(consume())
        await asyncio.sleep(1.0)
        await asyncio.to_thread(after_subscribed)
        await asyncio.wait_for(task, timeout=20)
    return events


SCORE_CHANGE = """
MATCH (n {id: $key}) WHERE n:Account OR n:Contact OR n:Opportunity
CREATE (:ScoreChange {id: $id, old_score: 0.2, new_score: $score, model: 'mv-1', changed_at: datetime(),
                      reason: 'event'})-[:ABOUT]->(n)
"""


def test_score_changed_delivers_only_visible_changes_above_the_threshold(server: ApiServer, bulk_world,
                                                                         _session_graph: Graph) -> None:
    def write_changes() -> None:
        # Written straight to the graph, as scoring does: the subscription must find them by polling.
        for key, change_id, score in [("c1", "s-other", 0.99), ("a2", "s-low", 0.3), ("a1-c1", "s-contact", 0.6),
                                      ("a1", "s-high", 0.95)]:
            _session_graph.write(SCORE_CHANGE, {"key": key, "id": change_id, "score": score})
            time.sleep(0.05)

    events = asyncio.run(_collect(server.url, bulk_world.keys["alice"],
                                  "subscription { scoreChanged(minScore: 0.5) { id newScore oldScore model subjectId } }",
                                  2, write_changes))
    assert [e["scoreChanged"] for e in events] == [
        {"id": gid("ScoreChange", "s-contact"), "newScore": 0.6, "oldScore": 0.2, "model": "mv-1",
         "subjectId": gid("Contact", "a1-c1")},
        {"id": gid("ScoreChange", "s-high"), "newScore": 0.95, "oldScore": 0.2, "model": "mv-1",
         "subjectId": gid("Account", "a1")},
    ]


def test_action_created_follows_mutations_in_the_callers_book(server: ApiServer, bulk_world) -> None:
    trigger = 'mutation { triggerAction(id: "%s", note: "%s") { __typename } }'

    def trigger_actions() -> None:
        with httpx.Client(base_url=server.url) as client:
            for caller, key, note in [("admin", "c1", "other team"), ("bob", "b1", "for bob"),
                                      ("admin", "a1", "for alice")]:
                body = {"query": trigger % (gid("Account", key), note)}
                assert client.post("/graphql", json=body, headers=auth(bulk_world, caller)).status_code == 200

    events = asyncio.run(_collect(server.url, bulk_world.keys["alice"],
                                  "subscription { actionCreated { note kind status subjectId } }", 1, trigger_actions))
    assert [e["actionCreated"] for e in events] == [
        {"note": "for alice", "kind": "manual", "status": "pending_approval", "subjectId": gid("Account", "a1")}]


def test_subscriptions_need_credentials_and_a_reading_role(server: ApiServer, bulk_world) -> None:
    async def subscribe(payload: dict[str, str]) -> None:
        transport = WebsocketsTransport(url=server.url.replace("http", "ws") + "/graphql",
                                        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
                                        init_payload=payload)
        async with GqlClient(transport=transport, fetch_schema_from_transport=False) as session:
            async for _ in session.subscribe(gql("subscription { actionCreated { id } }")):
                break

    with pytest.raises(Exception) as no_key:
        asyncio.run(subscribe({}))
    assert not isinstance(no_key.value, TransportQueryError)
    with pytest.raises(Exception):
        asyncio.run(subscribe({"Authorization": "Bearer kgcrm_0000_wrong"}))
    with pytest.raises(TransportQueryError, match="forbidden"):
        asyncio.run(subscribe(auth(bulk_world, "ingest")))


def test_health_readiness_and_metrics(http: httpx.Client, as_, neo4j_server) -> None:
    assert http.get("/healthz").json() == {"status": "ok"}
    assert http.get("/readyz").json() == {"status": "ok", "neo4j": "reachable"}
    as_("admin").post("query TopAccounts { accounts(first: 3) { edges { node { name } } } }")
    as_("admin").post("{ accounts(first: 1000) { totalCount } }")
    metrics = http.get("/metrics")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert 'kgcrm_api_operation_seconds_count{operation="TopAccounts",type="query"}' in text
    assert 'kgcrm_api_cypher_seconds_count{query="list_account"}' in text
    assert 'kgcrm_api_graphql_errors_total{kind="public"}' in text
    assert 'kgcrm_api_http_requests_total{path="/graphql",status="200"}' in text


def test_readyz_says_when_neo4j_is_unreachable(neo4j_server) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]
    settings = api_settings(neo4j_server.settings, neo4j_uri=f"bolt://127.0.0.1:{dead_port}",
                            max_retry_seconds=0.5, connect_timeout_seconds=0.5)
    dead = Graph(settings)
    try:
        with ApiServer(settings, dead) as api, httpx.Client(base_url=api.url, timeout=30) as client:
            ready = client.get("/readyz")
            assert ready.status_code == 503 and ready.json() == {"status": "unavailable", "neo4j": "unreachable"}
            assert client.get("/healthz").status_code == 200
    finally:
        dead.close()


def test_kgcrm_serve_prints_an_admin_key_answers_and_logs_json(neo4j_server, bulk_world) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**neo4j_server.env, "KGCRM_API_PRODUCTION": "true", "KGCRM_LOG_LEVEL": "INFO"}
    process = subprocess.Popen([KGCRM, "serve", "--port", str(port), "--print-admin-key"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        banner = [process.stdout.readline() for _ in range(3)]
        assert banner[0].startswith(f"GraphQL API at http://127.0.0.1:{port}/graphql")
        admin_key = banner[1].split(": ")[1].strip()
        deadline = time.monotonic() + 60
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            while True:
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline and process.poll() is None, "kgcrm serve did not start"
                time.sleep(0.2)
            body = client.post("/graphql", json={"query": "{ me { role } }"}, headers=auth(bulk_world, "mgr")).json()
            assert body == {"data": {"me": {"role": "manager"}}}
            admin = client.get("/graphql", params={"query": "{ me { role } }"},
                               headers={"Authorization": f"Bearer {admin_key}"})
            assert admin.json() == {"data": {"me": {"role": "admin"}}}
            assert client.post("/graphql", json={"query": "{ me { role } }"}).status_code == 401
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=20)
    entries = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    requests = [e for e in entries if e.get("path") == "/graphql"]
    assert [(e["method"], e["status"]) for e in requests] == [("POST", 200), ("GET", 200), ("POST", 401)]
    assert all({"time", "level", "logger", "message", "duration_ms"} <= set(e) for e in requests)
    assert not any("Traceback" in line for line in stderr.splitlines()), stderr
