"""The GraphQL tests' fixture world (two teams' books in one graph) and a real uvicorn server on loopback.

Other test_gql_* modules import the helpers from here; the tests in this module check that the world
is what the authorisation tests assume it is.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from strawberry import relay

from conftest import wipe
from kgcrm.graph.driver import Graph
from kgcrm.graph.schema import apply_migrations
from kgcrm.graph.settings import Settings
from kgcrm.gql.app import create_app
from kgcrm.gql.auth import create_api_key, make_jwt

JWT_SECRET = "test-secret-for-hs256-tokens-0123456789"

# Management lines: boss <- mgr <- {alice, bob}; other <- carol.
USERS = [
    {"id": "u-boss", "name": "Boss", "role": "manager", "manager": None},
    {"id": "u-mgr", "name": "Mia Manager", "role": "manager", "manager": "u-boss"},
    {"id": "u-alice", "name": "Alice Rep", "role": "rep", "manager": "u-mgr"},
    {"id": "u-bob", "name": "Bob Rep", "role": "rep", "manager": "u-mgr"},
    {"id": "u-other", "name": "Olga Other", "role": "manager", "manager": None},
    {"id": "u-carol", "name": "Carol Rep", "role": "rep", "manager": "u-other"},
]
ACCOUNTS = [
    {"id": "a1", "name": "Acme Corp", "industry": "Tech", "region": "EMEA", "score": 0.9, "owner": "u-alice",
     "updated": "2026-01-05"},
    {"id": "a2", "name": "Apex Ltd", "industry": "Retail", "region": "NA", "score": 0.4, "owner": "u-alice",
     "updated": "2026-01-01"},
    {"id": "a3", "name": "Aardvark Labs", "industry": "Tech", "region": "NA", "score": None, "owner": "u-alice",
     "updated": "2026-01-03"},
    {"id": "b1", "name": "Bolt Inc", "industry": "Tech", "region": "NA", "score": 0.7, "owner": "u-bob",
     "updated": "2026-01-04"},
    {"id": "m1", "name": "Mango SA", "industry": "Finance", "region": "EMEA", "score": 0.2, "owner": "u-mgr",
     "updated": "2026-01-02"},
    {"id": "c1", "name": "Cobalt GmbH", "industry": "Tech", "region": "EMEA", "score": 0.8, "owner": "u-carol",
     "updated": "2026-01-06"},
]
VISIBLE = {
    "admin": {"a1", "a2", "a3", "b1", "m1", "c1"},
    "boss": {"a1", "a2", "a3", "b1", "m1"},
    "mgr": {"a1", "a2", "a3", "b1", "m1"},
    "alice": {"a1", "a2", "a3"},
    "bob": {"b1"},
    "carol": {"c1"},
}

SEED = """
UNWIND $users AS u
CREATE (:User {id: u.id, name: u.name, role: u.role, email: u.id + '@seller.test', region: 'EMEA',
               source: 'test', source_id: u.id, created_at: datetime(), updated_at: datetime()})
WITH collect(u) AS users
UNWIND [u IN users WHERE u.manager IS NOT NULL] AS u
MATCH (me:User {id: u.id}), (boss:User {id: u.manager})
CREATE (me)-[:REPORTS_TO]->(boss)
WITH count(*) AS done
UNWIND $accounts AS a
MATCH (owner:User {id: a.owner})
CREATE (acc:Account {id: a.id, name: a.name, industry: a.industry, region: a.region, domain: a.id + '.test',
                     intent_score: a.score, intent_model: CASE WHEN a.score IS NULL THEN null ELSE 'mv-1' END,
                     intent_scored_at: CASE WHEN a.score IS NULL THEN null ELSE datetime('2026-01-01T00:00:00Z') END,
                     intent_drivers: CASE WHEN a.score IS NULL THEN null
                       ELSE '[{"feature": "recent_meetings", "contribution": 0.3, "detail": "3 meetings"}]' END,
                     source: 'test', source_id: a.id, created_at: datetime('2025-01-01T00:00:00Z'),
                     updated_at: datetime(a.updated + 'T00:00:00Z')})
CREATE (owner)-[:OWNS]->(acc)
WITH acc, a
UNWIND [1, 2] AS i
CREATE (c:Contact {id: a.id + '-c' + i, name: 'Person ' + i + ' of ' + a.name, email: a.id + i + '@buyer.test',
                   title: 'VP', seniority: 'vp', intent_score: 0.1 * i, source: 'test', source_id: a.id + i,
                   created_at: datetime(), updated_at: datetime()})-[:WORKS_AT {since: datetime('2024-01-01T00:00:00Z')}]->(acc)
CREATE (o:Opportunity {id: a.id + '-o' + i, name: 'Deal ' + i + ' with ' + a.name,
                       stage: CASE i WHEN 1 THEN 'Prospecting' ELSE 'Closed Won' END, amount: 1000.0 * i,
                       is_closed: i = 2, is_won: i = 2, intent_score: 0.5, source: 'test', source_id: a.id + i,
                       created_at: datetime(), updated_at: datetime()})-[:FOR_ACCOUNT]->(acc)
CREATE (c)-[:ROLE_IN {role: 'champion', is_primary: true}]->(o)
CREATE (act:Activity {id: 'act-' + a.id + '-' + i, type: 'meeting', at: datetime('2026-01-1' + i + 'T09:00:00Z'),
                      subject: 'Meeting ' + i, source: 'test', source_id: a.id + i, created_at: datetime(),
                      updated_at: datetime()})-[:ABOUT]->(acc)
CREATE (act)-[:PERFORMED_BY]->(c)
WITH DISTINCT acc, a
CREATE (:ScoreChange {id: 'sc-' + a.id, old_score: 0.1, new_score: coalesce(a.score, 0.0), model_version: 'mv-1',
                      changed_at: datetime('2026-01-02T00:00:00Z'), cause: 'batch'})-[:ABOUT]->(acc)
CREATE (:Action {id: 'x-' + a.id, kind: 'task', status: 'pending_approval', policy: 'hot-account', note: 'score jumped',
                 created_at: datetime('2026-01-03T00:00:00Z'), model_version: 'mv-1'})-[:ABOUT]->(acc)
WITH count(*) AS done
MATCH (a1:Account {id: 'a1'}), (c1:Account {id: 'c1'}), (a1c:Contact {id: 'a1-c1'}), (c1c:Contact {id: 'c1-c1'})
CREATE (a1)-[:SUBSIDIARY_OF]->(c1)
CREATE (a1c)-[:KNOWS {since: datetime()}]->(c1c)
CREATE (p:Product {id: 'p1', name: 'GTX Pro', series: 'GTX', list_price: 100.0})
WITH p
MATCH (o:Opportunity) WHERE o.id IN ['a1-o1', 'c1-o1']
CREATE (o)-[:INCLUDES {quantity: 2, unit_price: 90.0}]->(p)
WITH count(*) AS done
CREATE (:ModelVersion {id: 'mv-0', name: 'first', task: 'account_intent', version: 1, stage: 'retired',
                       status: 'retired', created_at: datetime('2025-06-01T00:00:00Z'),
                       promoted_at: datetime('2025-06-02T00:00:00Z'), retired_at: datetime('2025-12-01T00:00:00Z'),
                       metrics: '{"auc": 0.71}'})
CREATE (:ModelVersion {id: 'mv-1', name: 'second', task: 'account_intent', version: 2, stage: 'production',
                       status: 'production', created_at: datetime('2025-12-01T00:00:00Z'),
                       promoted_at: datetime('2025-12-01T00:00:00Z'), metrics: '{"auc": 0.78}'})
CREATE (:ModelVersion {id: 'mv-2', name: 'third', task: 'account_intent', version: 3, stage: 'staged',
                       status: 'staged', created_at: datetime('2026-01-01T00:00:00Z'), metrics: '{"auc": 0.80}'})
"""

# Roles and users of the keys the tests use; the name is how tests refer to a caller.
CALLERS = {
    "admin": ("admin", None),
    "boss": ("manager", "u-boss"),
    "mgr": ("manager", "u-mgr"),
    "alice": ("account_manager", "u-alice"),
    "bob": ("account_manager", "u-bob"),
    "carol": ("account_manager", "u-carol"),
    "ingest": ("ingest", None),
}


@dataclass
class World:
    keys: dict[str, str]


def seed_world(graph: Graph) -> World:
    """Wipe the graph and create the two teams' books and one API key per caller."""
    wipe(graph)
    apply_migrations(graph)
    graph.write(SEED, {"users": USERS, "accounts": ACCOUNTS})
    keys = {name: create_api_key(graph, role=role, user_id=user).secret_key for name, (role, user) in CALLERS.items()}
    return World(keys=keys)


def gid(type_name: str, key: str) -> str:
    return str(relay.GlobalID(type_name=type_name, node_id=key))


def api_settings(base: Settings, **overrides: Any) -> Settings:
    values = {
        "api_jwt_secret": JWT_SECRET, "api_key_cache_seconds": 0.0, "api_poll_seconds": 0.2,
        **overrides,
    }
    return base.model_copy(update=values)


class ApiServer:
    """A real uvicorn server on a free loopback port, run in a thread of the test process."""

    def __init__(self, settings: Settings, graph: Graph) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.settings = settings
        config = uvicorn.Config(create_app(settings, graph), host="127.0.0.1", port=self.port,
                                log_level="warning", lifespan="on", ws="websockets-sansio")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ApiServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the API server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class Client:
    """An HTTP client that speaks GraphQL for one caller."""

    def __init__(self, http: httpx.Client, key: str | None) -> None:
        self.http = http
        self.key = key

    def post(self, query: str, variables: dict[str, Any] | None = None, **headers: str) -> httpx.Response:
        auth = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        return self.http.post("/graphql", json={"query": query, "variables": variables or {}},
                              headers={**auth, **headers})

    def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The data of a successful response; fails the test on any GraphQL error."""
        response = self.post(query, variables)
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body["errors"]
        return body["data"]


@pytest.fixture(scope="module")
def world(_session_graph: Graph) -> World:
    return seed_world(_session_graph)


@pytest.fixture(scope="module")
def server(neo4j_server: Any, _session_graph: Graph) -> Iterator[ApiServer]:
    with ApiServer(api_settings(neo4j_server.settings), _session_graph) as api:
        yield api


@pytest.fixture(scope="module")
def http(server: ApiServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=120) as client:
        yield client


@pytest.fixture(scope="module")
def as_(http: httpx.Client, world: World):  # noqa: ANN201 - a factory fixture
    """`as_("alice")` is a client that calls as alice."""
    return lambda name: Client(http, world.keys[name] if name else None)


def jwt_for(server: ApiServer, role: str, user_id: str, ttl: int = 600) -> str:
    return make_jwt(server.settings, role=role, user_id=user_id, ttl_seconds=ttl)


ACCOUNT_KEYS = "query { accounts(first: 100) { totalCount edges { node { id name } } } }"


def account_keys(client: Client) -> set[str]:
    edges = client.data(ACCOUNT_KEYS)["accounts"]["edges"]
    return {relay.GlobalID.from_id(e["node"]["id"]).node_id for e in edges}


def test_the_world_has_two_teams_with_separate_books(world: World, _session_graph: Graph) -> None:
    counts = _session_graph.read(
        "MATCH (a:Account) OPTIONAL MATCH (a)<-[:OWNS]-(u:User) RETURN count(a) AS accounts, count(u) AS owned"
    )[0]
    assert counts == {"accounts": 6, "owned": 6}
    assert len(world.keys) == len(CALLERS)


@pytest.mark.parametrize("caller", sorted(VISIBLE))
def test_each_caller_lists_exactly_their_book(as_, caller: str) -> None:
    assert account_keys(as_(caller)) == VISIBLE[caller]
