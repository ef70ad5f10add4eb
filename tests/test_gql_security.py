"""Security over real HTTP: the authorisation matrix (each role x each entry point, own and other books),
authentication (API keys, JWT, 401/403), every request limit, Cypher injection, and errors that leak nothing."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from kgcrm.graph.driver import Graph
from kgcrm.graph.queries.schema import MIGRATIONS
from kgcrm.gql.auth import create_api_key, make_jwt, revoke_api_key
from test_gql_world import (  # noqa: F401 - fixtures
    ACCOUNTS,
    CALLERS,
    VISIBLE,
    ApiServer,
    as_,
    gid,
    http,
    server,
    world,
)

OWNER = {a["id"]: a["owner"] for a in ACCOUNTS}
NAME = {a["id"]: a["name"] for a in ACCOUNTS}
READERS = [c for c in CALLERS if c != "ingest"]

# Fourteen ways to reach one account or what hangs off it, in one request (under the alias limit).
REACH = """query($acc: ID!, $key: ID!, $contact: ID!, $deal: ID!, $act: ID!, $sc: ID!, $action: ID!, $owner: ID!,
               $name: String!) {
  byNode: node(id: $acc) { id }
  byId: account(id: $key) { __typename }
  byOwner: accounts(first: 100, filter: {ownerId: $owner}) { totalCount edges { node { id } } }
  bySearch: accounts(first: 100, filter: {search: $name}) { edges { node { id } } }
  contactsOf: contacts(first: 100, filter: {accountId: $key}) { totalCount }
  dealsOf: opportunities(first: 100, filter: {accountId: $key}) { totalCount }
  contact: node(id: $contact) { id }
  deal: node(id: $deal) { id }
  activity: node(id: $act) { id }
  change: node(id: $sc) { id }
  action: node(id: $action) { id }
  hood: neighborhood(id: $acc, depth: 1) { __typename }
  why: explain(id: $acc) { __typename }
  history: scoreHistory(id: $acc) { __typename }
  actions(first: 100) { id }
}"""


def reach_variables(key: str) -> dict[str, str]:
    return {"acc": gid("Account", key), "key": key, "contact": gid("Contact", f"{key}-c1"),
            "deal": gid("Opportunity", f"{key}-o1"), "act": gid("Activity", f"act-{key}-1"),
            "sc": gid("ScoreChange", f"sc-{key}"), "action": gid("Action", f"x-{key}"),
            "owner": OWNER[key], "name": NAME[key]}


def reached(data: dict[str, Any], key: str) -> dict[str, bool]:
    """Per entry point: did the response show the account (or its contact, deal, ...)?"""
    account = gid("Account", key)
    return {
        "node": data["byNode"] is not None,
        "account": data["byId"]["__typename"] == "Account",
        "accounts(ownerId)": account in [e["node"]["id"] for e in data["byOwner"]["edges"]],
        "accounts(search)": account in [e["node"]["id"] for e in data["bySearch"]["edges"]],
        "contacts(accountId)": data["contactsOf"]["totalCount"] > 0,
        "opportunities(accountId)": data["dealsOf"]["totalCount"] > 0,
        "node(Contact)": data["contact"] is not None,
        "node(Opportunity)": data["deal"] is not None,
        "node(Activity)": data["activity"] is not None,
        "node(ScoreChange)": data["change"] is not None,
        "node(Action)": data["action"] is not None,
        "neighborhood": data["hood"]["__typename"] == "Neighborhood",
        "explain": data["why"]["__typename"] == "Explanation",
        "scoreHistory": data["history"]["__typename"] == "ScoreHistory",
        "actions": gid("Action", f"x-{key}") in [a["id"] for a in data["actions"]],
    }


# For each reading caller, an account in their book and one outside it (another team's or a peer's).
OWN_AND_OTHER = {"admin": ("c1", "a2"), "boss": ("b1", "c1"), "mgr": ("m1", "c1"), "alice": ("a2", "b1"),
                 "bob": ("b1", "a1"), "carol": ("c1", "m1")}


@pytest.mark.parametrize("caller", READERS)
def test_authorisation_matrix_for_reading_roles(as_, caller: str) -> None:
    client = as_(caller)
    for account in OWN_AND_OTHER[caller]:
        expected = account in VISIBLE[caller]
        seen = reached(client.data(REACH, reach_variables(account)), account)
        assert seen == dict.fromkeys(seen, expected), f"{caller} on {account}: {seen}"
        # What another book holds never shows in counts either.
        if not expected:
            data = client.data(REACH, reach_variables(account))
            assert data["byOwner"]["totalCount"] == 0


def test_neighborhoods_never_cross_into_another_book(as_) -> None:
    query = """query($id: ID!) { neighborhood(id: $id, depth: 3, limit: 200) {
        ... on Neighborhood { nodes { id label } } } }"""
    carol_book = {gid("Account", "c1"), gid("Contact", "c1-c1"), gid("Contact", "c1-c2"), gid("User", "u-carol"),
                  gid("Opportunity", "c1-o1"), gid("Action", "x-c1"), gid("ScoreChange", "sc-c1")}
    # a1 is a subsidiary of c1 and its contact knows c1's contact: the paths exist, alice must not walk them.
    for start in (gid("Account", "a1"), gid("Contact", "a1-c1"), gid("Opportunity", "a1-o1")):
        alice = {n["id"] for n in as_("alice").data(query, {"id": start})["neighborhood"]["nodes"]}
        assert alice and not alice & carol_book, start
    admin = {n["id"] for n in as_("admin").data(query, {"id": gid("Account", "a1")})["neighborhood"]["nodes"]}
    assert {gid("Account", "c1"), gid("Contact", "c1-c1")} <= admin
    # A manager sees the team's reps but not their own manager nor the other team.
    mgr = {n["id"] for n in as_("mgr").data(query, {"id": gid("Account", "m1")})["neighborhood"]["nodes"]}
    assert gid("User", "u-alice") in mgr and gid("User", "u-boss") not in mgr and not mgr & carol_book


INGEST_REFUSED = [
    '{ node(id: "%s") { id } }' % gid("Account", "a1"), '{ account(id: "a1") { __typename } }',
    '{ contact(id: "a1-c1") { __typename } }', '{ opportunity(id: "a1-o1") { __typename } }',
    "{ accounts { totalCount } }", "{ contacts { totalCount } }", "{ opportunities { totalCount } }",
    '{ neighborhood(id: "%s") { __typename } }' % gid("Account", "a1"),
    '{ explain(id: "%s") { __typename } }' % gid("Account", "a1"),
    '{ scoreHistory(id: "%s") { __typename } }' % gid("Account", "a1"),
    "{ models { id } }", "{ actions { id } }",
    'mutation { upsertAccount(input: {id: "a1", name: "x"}) { __typename } }',
    'mutation { upsertContact(input: {id: "q", accountId: "a1"}) { __typename } }',
    'mutation { upsertOpportunity(input: {id: "q", accountId: "a1"}) { __typename } }',
    'mutation { triggerAction(id: "%s", note: "x") { __typename } }' % gid("Account", "a1"),
    'mutation { approveAction(id: "x-a1", reasonCode: "x") { __typename } }',
    'mutation { rejectAction(id: "x-a1", reasonCode: "x") { __typename } }',
    'mutation { promoteModel(id: "mv-2") { __typename } }', "mutation { rollbackModel { __typename } }",
    'mutation { rescore(ids: ["%s"]) { __typename } }' % gid("Account", "a1"),
]


def test_the_ingest_role_may_only_record_activities(as_, _session_graph: Graph) -> None:
    before = _session_graph.read("MATCH (n) RETURN count(n) AS n")[0]["n"]
    for query in INGEST_REFUSED:
        response = as_("ingest").post(query)
        assert response.status_code == 403, query
        assert response.json()["errors"][0]["message"].startswith("forbidden: this field needs the role"), query
    assert _session_graph.read("MATCH (n) RETURN count(n) AS n")[0]["n"] == before
    recorded = as_("ingest").data("""mutation { recordActivity(input: {eventId: "sec-ingest-1", type: EMAIL_OPENED,
        at: "2026-03-01T00:00:00Z", accountId: "c1"}) { __typename } }""")
    assert recorded["recordActivity"]["__typename"] == "ActivityRecorded"


@pytest.mark.parametrize("caller", ["alice", "mgr"])
def test_model_governance_is_for_admins_only(as_, caller: str) -> None:
    for query in ('mutation { promoteModel(id: "mv-2") { __typename } }', "mutation { rollbackModel { __typename } }"):
        response = as_(caller).post(query)
        assert response.status_code == 403
        assert response.json() == {"data": None, "errors": [{
            "message": "forbidden: this field needs the role admin", "locations": [{"line": 1, "column": 12}],
            "path": [query.split()[2].split("(")[0]]}]}


# --- authentication -----------------------------------------------------------------------------------


def test_requests_without_valid_credentials_get_401(http: httpx.Client, world) -> None:
    query = {"query": "{ me { role } }"}
    cases = [
        ({}, "authentication required"),
        ({"Authorization": "Bearer kgcrm_deadbeef_notthesecret"}, "invalid or revoked API key"),
        ({"Authorization": "Bearer " + world.keys["alice"][:-2] + "xx"}, "invalid or revoked API key"),
        ({"Authorization": "Bearer not.a.jwt"}, "invalid token"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "authentication required"),
    ]
    for headers, message in cases:
        response = http.post("/graphql", json=query, headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"] == "Bearer"
        assert message in response.json()["detail"], headers
    assert http.post("/graphql", json=query, headers={"X-API-Key": world.keys["bob"]}).json() == {
        "data": {"me": {"role": "account_manager"}}}


def test_a_revoked_key_stops_working(http: httpx.Client, _session_graph: Graph, world) -> None:
    key = create_api_key(_session_graph, role="account_manager", user_id="u-bob", name="to revoke")
    headers = {"Authorization": f"Bearer {key.secret_key}"}
    assert http.post("/graphql", json={"query": "{ me { userId } }"}, headers=headers).status_code == 200
    stored = _session_graph.read("MATCH (k:ApiKey {id: $id}) RETURN k.hash AS hash", {"id": key.key_id})[0]["hash"]
    assert key.secret_key.split("_")[-1] not in stored and len(stored) == 64
    revoke_api_key(_session_graph, key.secret_key)
    assert http.post("/graphql", json={"query": "{ me { userId } }"}, headers=headers).status_code == 401


def test_jwt_bearer_tokens(http: httpx.Client, server: ApiServer, world) -> None:
    def call(token: str) -> httpx.Response:
        return http.post("/graphql", json={"query": "{ me { role userId } accounts { totalCount } }"},
                         headers={"Authorization": f"Bearer {token}"})

    good = call(make_jwt(server.settings, role="account_manager", user_id="u-bob"))
    assert good.json()["data"] == {"me": {"role": "account_manager", "userId": "u-bob"}, "accounts": {"totalCount": 1}}
    expired = call(make_jwt(server.settings, role="admin", user_id="u-bob", ttl_seconds=-60))
    assert expired.status_code == 401 and expired.json()["detail"] == "invalid token: expired"
    forged = server.settings.model_copy(update={"api_jwt_secret": "someone-elses-secret-0123456789abcdef"})
    assert call(make_jwt(forged, role="admin", user_id="u-bob")).status_code == 401
    other_issuer = server.settings.model_copy(update={"api_jwt_issuer": "elsewhere"})
    assert call(make_jwt(other_issuer, role="admin", user_id="u-bob")).status_code == 401
    bad_role = call(make_jwt(server.settings, role="superuser", user_id="u-bob"))
    assert bad_role.status_code == 401 and "role" in bad_role.json()["detail"]


# --- limits --------------------------------------------------------------------------------------------


def errors_of(response: httpx.Response) -> list[str]:
    return [e["message"] for e in response.json().get("errors", [])]


def test_depth_limit(as_) -> None:
    nested = "name"
    for _ in range(6):
        nested = f"owner {{ accounts(first: 2) {{ {nested} }} }}"
    response = as_("admin").post(f'{{ account(id: "a1") {{ ... on Account {{ {nested} }} }} }}')
    assert any("exceeds maximum operation depth" in m for m in errors_of(response))


def test_alias_limit_counts_aliases_inside_fragments(as_) -> None:
    sixteen = " ".join(f"m{i}: me {{ role }}" for i in range(16))
    assert any("aliases found" in m for m in errors_of(as_("admin").post(f"{{ {sixteen} }}")))
    eight = " ".join(f"m{i}: me {{ role }}" for i in range(8))
    spread_twice = f"query {{ ...Eight ...Again }} fragment Again on Query {{ ...Eight }} fragment Eight on Query {{ {eight} }}"
    assert errors_of(as_("admin").post(spread_twice)) == ["16 aliases found. Allowed: 15"]
    once = f"query {{ ...Eight }} fragment Eight on Query {{ {eight} }}"
    assert as_("admin").data(once)["m7"] == {"role": "admin"}


def test_token_limit(as_) -> None:
    many = " ".join("role" for _ in range(2100))
    assert any("token" in m.lower() for m in errors_of(as_("admin").post(f"{{ me {{ {many} }} }}")))


def test_page_size_limit(as_) -> None:
    for query in ("{ accounts(first: 101) { totalCount } }", "{ accounts(first: 0) { totalCount } }",
                  '{ account(id: "a1") { ... on Account { contacts(first: 500) { name } } } }',
                  "{ models(first: 1000) { id } }"):
        assert any(m.startswith("first: must be between 1 and 100") for m in errors_of(as_("admin").post(query)))


def test_cost_limit(as_) -> None:
    query = """{ accounts(first: 100) { edges { node { contacts(first: 100) { opportunities(first: 100) { name } } } } } }"""
    messages = errors_of(as_("admin").post(query))
    assert len(messages) == 1 and "above the limit of 20000" in messages[0]
    with_variables = as_("admin").post("""query($n: Int!) { accounts(first: $n) { edges { node {
        contacts(first: $n) { opportunities(first: $n) { name } } } } } }""", {"n": 1})
    assert "above the limit" in errors_of(with_variables)[0]


def test_body_size_limit(http: httpx.Client, world) -> None:
    padding = " " * 70_000
    response = http.post("/graphql", content=json.dumps({"query": "{ me { role }" + padding + "}"}),
                         headers={"Authorization": f"Bearer {world.keys['admin']}", "content-type": "application/json"})
    assert response.status_code == 413 and "larger than 65536 bytes" in response.json()["detail"]


# --- injection and error hygiene -------------------------------------------------------------------------

INJECTIONS = [
    "' OR 1=1 //",
    "a1' OR '1'='1",
    '"}) MATCH (n) DETACH DELETE n //',
    "x}) WITH 1 AS x MATCH (n) SET n.pwned = true //",
    "\\' RETURN 1 //",
    "`Account`:User",
    "$user_id",
    "*:* OR name:*",
    'acme" OR name:*',
    "é😀\u0000'\"",
]


def leaked_accounts(body: dict[str, Any]) -> set[str]:
    """Every account global ID anywhere in a response."""
    text = json.dumps(body)
    return {gid("Account", key) for key in OWNER if gid("Account", key) in text}


def total_counts(value: Any) -> list[int]:
    """Every totalCount anywhere in a response's data."""
    if isinstance(value, dict):
        own = [value["totalCount"]] if "totalCount" in value else []
        return own + [n for v in value.values() for n in total_counts(v)]
    if isinstance(value, list):
        return [n for v in value for n in total_counts(v)]
    return []


@pytest.mark.parametrize("payload", INJECTIONS)
def test_injection_strings_in_every_read_argument(as_, _session_graph: Graph, payload: str) -> None:
    client = as_("alice")
    own = {gid("Account", k) for k in VISIBLE["alice"]}
    nodes_before = _session_graph.read("MATCH (n) RETURN count(n) AS n")[0]["n"]
    variables = {"s": payload}
    queries = [
        "query($s: ID!) { node(id: $s) { id } }",
        "query($s: ID!) { account(id: $s) { __typename } contact(id: $s) { __typename } opportunity(id: $s) { __typename } }",
        "query($s: ID!) { neighborhood(id: $s) { __typename } explain(id: $s) { __typename } scoreHistory(id: $s) { __typename } }",
        """query($s: String!) { accounts(filter: {industry: $s, region: $s}) { totalCount }
            opportunities(filter: {stage: $s}) { totalCount } contacts(filter: {seniority: $s}) { totalCount } }""",
        "query($s: ID!) { accounts(filter: {ownerId: $s}) { totalCount } contacts(filter: {accountId: $s}) { totalCount } }",
        "query($s: String!) { accounts(first: 100, filter: {search: $s}) { edges { node { id } } } }",
        "query($s: String!) { models(stage: $s) { id } }",
        "query($s: String!) { actions(status: $s) { id } }",
        "query($s: String!) { accounts(after: $s) { totalCount } }",
    ]
    for query in queries:
        response = client.post(query, variables)
        body = response.json()
        assert response.status_code == 200, (query, body)
        assert leaked_accounts(body) <= own, (query, body)
        for message in errors_of(response):
            assert message != "Unexpected error." and "Neo" not in message and "MATCH" not in message, (query, message)
        assert set(total_counts(body.get("data"))) <= {0}, (query, body)
    assert _session_graph.read("MATCH (n) RETURN count(n) AS n")[0]["n"] == nodes_before
    assert _session_graph.read("MATCH (n) WHERE n.pwned IS NOT NULL RETURN count(n) AS n")[0]["n"] == 0


@pytest.mark.parametrize("payload", INJECTIONS)
def test_injection_strings_in_every_write_argument_are_stored_as_text(as_, _session_graph: Graph,
                                                                      payload: str) -> None:
    client = as_("alice")
    key = f"inj-{INJECTIONS.index(payload)}"
    account = client.data("""mutation($id: ID!, $s: String!) { upsertAccount(input: {id: $id, name: $s, domain: $s,
        industry: $s, region: $s}) { __typename } }""", {"id": key, "s": payload})
    assert account["upsertAccount"]["__typename"] == "Account"
    stored = _session_graph.read("MATCH (a:Account {id: $id}) RETURN a {.name, .domain, .industry, .region} AS a",
                                 {"id": key})
    assert stored == [{"a": dict.fromkeys(("name", "domain", "industry", "region"), payload)}]
    odd_key = client.data("mutation($s: ID!) { upsertAccount(input: {id: $s}) { __typename } }",
                          {"s": payload})["upsertAccount"]["__typename"]
    assert odd_key in ("Account", "NotAllowed")
    contact = client.data("""mutation($id: ID!, $a: ID!, $s: String!) { upsertContact(input: {id: $id, accountId: $a,
        name: $s, title: $s, seniority: $s}) { __typename } }""", {"id": key, "a": key, "s": payload})
    assert contact["upsertContact"]["__typename"] == "Contact"
    deal = client.data("""mutation($id: ID!, $a: ID!, $s: String!) { upsertOpportunity(input: {id: $id, accountId: $a,
        name: $s, stage: $s}) { __typename } }""", {"id": key, "a": key, "s": payload})
    assert deal["upsertOpportunity"]["__typename"] == "Opportunity"
    activity = client.data("""mutation($id: ID!, $a: ID!, $s: String!) { recordActivity(input: {eventId: $id,
        type: CALL, at: "2026-03-01T00:00:00Z", accountId: $a, subject: $s}) { __typename } }""",
                           {"id": key, "a": key, "s": payload})
    assert activity["recordActivity"]["__typename"] == "ActivityRecorded"
    action = client.data("""mutation($id: ID!, $s: String!) { triggerAction(id: $id, note: $s) {
        ... on Action { id } } }""", {"id": gid("Account", key), "s": payload})["triggerAction"]
    decided = client.data("""mutation($id: ID!, $s: String!) { approveAction(id: $id, reasonCode: $s) {
        __typename } }""", {"id": action["id"], "s": payload})
    assert decided["approveAction"]["__typename"] == "InvalidInput"  # reason codes are snake_case tokens
    texts = _session_graph.read("""MATCH (c:Contact {id: $id}), (o:Opportunity {id: $id}), (x:Activity {id: $id}),
        (act:Action)-[:ABOUT]->(:Account {id: $id})
        RETURN [c.name, c.title, c.seniority, o.name, o.stage, x.subject, act.note] AS texts,
               act.status AS status""", {"id": key})
    assert texts == [{"texts": [payload] * 7, "status": "pending_approval"}]
    # Nothing outside alice's book was touched, and no property was smuggled in.
    assert _session_graph.read("MATCH (a:Account {id: 'c1'}) RETURN a.name AS name")[0]["name"] == "Cobalt GmbH"
    assert _session_graph.read("MATCH (n) WHERE n.pwned IS NOT NULL RETURN count(n) AS n")[0]["n"] == 0


def test_unexpected_errors_are_masked_without_cypher_or_traces(as_, _session_graph: Graph) -> None:
    # Break the full-text index that name search needs, so Neo4j itself rejects the query.
    _session_graph.write("DROP INDEX entity_names IF EXISTS")
    try:
        response = as_("alice").post('{ accounts(filter: {search: "acme"}) { totalCount } }')
    finally:
        for statement in next(m for m in MIGRATIONS if m.version == 2).statements:
            _session_graph.write(statement)
        _session_graph.read("CALL db.awaitIndexes(60)")
    body = response.json()
    assert response.status_code == 200
    assert body == {"data": None, "errors": [{"message": "Unexpected error.", "locations": [{"line": 1, "column": 3}],
                                              "path": ["accounts"]}]}
    assert as_("alice").data('{ accounts(filter: {search: "acme corp"}) { totalCount } }')["accounts"]["totalCount"] == 1


def test_validation_errors_name_the_argument_and_hold_no_data(as_) -> None:
    response = as_("alice").post('{ account(id: "c1") { __typename ... on NotFound { message id } } }')
    assert response.json()["data"]["account"] == {"__typename": "NotFound", "id": "c1",
                                                  "message": "id: no Account with this id is visible to you"}
    wrong_type = as_("alice").post("{ accounts(first: \"ten\") { totalCount } }")
    assert "Int cannot represent non-integer value" in errors_of(wrong_type)[0]
