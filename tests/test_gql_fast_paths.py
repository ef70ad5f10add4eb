"""The API's fast paths give the same answers as the general ones: a page that shows owners fetches them
in its own query, and temporal properties travel as strings and come back as the same instants."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from kgcrm.graph.driver import Graph
from kgcrm.gql.types.convert import parse_temporal
from test_gql_world import ACCOUNTS, USERS, as_, gid, http, server, world  # noqa: F401 - fixtures

TOP = """query($first: Int!) { accounts(first: $first, orderBy: {field: SCORE, direction: DESC}) {
  edges { node { id owner { id name } } } } }"""
THROUGH_FRAGMENT = """{ accounts(first: 10) { edges { ...E } } }
fragment E on AccountEdge { node { ... on Account { id ...O } } } fragment O on Account { owner { id name } }"""
OWNER_BY_ID = "query($id: ID!) { account(id: $id) { ... on Account { owner { id name } } } }"
OWNER_NAMES = {u["id"]: u["name"] for u in USERS}
OWNER_OF = {a["id"]: a["owner"] for a in ACCOUNTS}


@pytest.mark.parametrize("caller", ["admin", "boss", "alice", "carol"])
def test_a_page_that_shows_owners_is_one_query_with_the_owners_the_loader_gives(as_, caller: str) -> None:
    client = as_(caller)
    response = client.post(TOP, {"first": 10})
    assert response.status_code == 200 and "errors" not in response.json(), response.text
    assert response.headers["x-kgcrm-cypher-queries"] == "1"
    edges = response.json()["data"]["accounts"]["edges"]
    assert edges
    for edge in edges:
        key = edge["node"]["id"]
        owner = OWNER_OF[client_key(key)]
        assert edge["node"]["owner"] == {"id": gid("User", owner), "name": OWNER_NAMES[owner]}
        # the same owner through the DataLoader path (a query per relation)
        assert client.data(OWNER_BY_ID, {"id": key})["account"]["owner"] == edge["node"]["owner"]


def client_key(global_id: str) -> str:
    from strawberry import relay

    return relay.GlobalID.from_id(global_id).node_id


def test_owners_selected_through_fragments_are_fetched_with_the_page(as_) -> None:
    response = as_("admin").post(THROUGH_FRAGMENT)
    edges = response.json()["data"]["accounts"]["edges"]
    assert len(edges) == len(ACCOUNTS)
    assert all(e["node"]["owner"]["name"] == OWNER_NAMES[OWNER_OF[client_key(e["node"]["id"])]] for e in edges)
    assert response.headers["x-kgcrm-cypher-queries"] == "1"


def test_a_page_without_owners_does_not_fetch_them(as_) -> None:
    response = as_("admin").post("{ opportunities(first: 5) { edges { node { name owner { id } } } } }")
    assert [e["node"]["owner"] for e in response.json()["data"]["opportunities"]["edges"]] == [None] * 5
    assert response.headers["x-kgcrm-cypher-queries"] == "1"


def test_temporal_properties_come_back_as_the_stored_instants(as_, _session_graph: Graph) -> None:
    _session_graph.write("""
MATCH (a:Account {id: 'a1'}) SET a.created_at = datetime('2025-03-01T10:00:00.123456789+01:00[Europe/Paris]')
WITH a MATCH (o:Opportunity {id: 'a1-o2'}) SET o.close_date = date('2026-02-03'),
     o.closed_at = datetime('2026-02-03T17:30:00Z')""")
    data = as_("admin").data("""{ account(id: "a1") { ... on Account { createdAt updatedAt score { scoredAt } } }
      opportunity(id: "a1-o2") { ... on Opportunity { closeDate closedAt } } }""")
    assert data["account"] == {"createdAt": "2025-03-01T10:00:00.123456+01:00", "updatedAt": "2026-01-05T00:00:00+00:00",
                               "score": {"scoredAt": "2026-01-01T00:00:00+00:00"}}
    assert data["opportunity"] == {"closeDate": "2026-02-03", "closedAt": "2026-02-03T17:30:00+00:00"}


@pytest.mark.parametrize("text, value", [
    ("2026-11-23T21:11:57.941Z", datetime(2026, 11, 23, 21, 11, 57, 941000, tzinfo=timezone.utc)),
    ("2026-11-23T21:11:57.123456789Z", datetime(2026, 11, 23, 21, 11, 57, 123456, tzinfo=timezone.utc)),
    ("2026-01-01T00:00:00+01:00[Europe/Paris]", datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=1)))),
    ("2026-01-01T10:00:00.5", datetime(2026, 1, 1, 10, 0, 0, 500000)),
    ("2026-02-03", date(2026, 2, 3)),
    ("not a time", None),
])
def test_cypher_temporal_strings_parse_back(text: str, value: object) -> None:
    assert parse_temporal(text) == value


ACCOUNT_FIELDS = """id name contacts(first: 1) { id name } opportunities(first: 2, open: true) { id stage }
  also: opportunities(first: 1) { id }"""


@pytest.mark.parametrize("caller, account", [("admin", "a1"), ("alice", "a2"), ("bob", "b1"), ("bob", "a1")])
def test_an_account_by_id_brings_its_lists_in_one_query_with_the_loaders_answers(as_, caller: str,
                                                                                account: str) -> None:
    client = as_(caller)
    fast = client.post(f'{{ account(id: "{account}") {{ ... on Account {{ {ACCOUNT_FIELDS} }} ... on NotFound {{ missing: id }} }} }}')
    general = client.post(f'{{ node(id: "{gid("Account", account)}") {{ ... on Account {{ {ACCOUNT_FIELDS} }} }} }}')
    assert "errors" not in fast.json() and "errors" not in general.json(), (fast.text, general.text)
    if caller == "bob" and account == "a1":  # another rep's account: not found, in one query
        assert fast.json()["data"]["account"] == {"missing": "a1"} and general.json()["data"]["node"] is None
    else:
        assert fast.json()["data"]["account"] == general.json()["data"]["node"]
        assert fast.json()["data"]["account"]["contacts"]
    # node + contacts + the first `opportunities` in one query; the aliased second list loads on its own
    assert fast.headers["x-kgcrm-cypher-queries"] == ("1" if account == "a1" and caller == "bob" else "2")
    assert general.headers["x-kgcrm-cypher-queries"] == ("1" if account == "a1" and caller == "bob" else "4")
