"""GraphQL fuzzing: queries and mutations generated from the live schema (hypothesis-graphql) under each role,
sent over real HTTP to the API on the fixture world of tests/test_gql_world.py.

Every generated request must answer without a 5xx, without an unhandled exception (nothing masked as
"Unexpected error.", nothing logged at ERROR by the server), and without one id outside the caller's
book: the visible set is computed here by Cypher, independently of the API's own scope fragments.
Afterwards nothing outside the caller's book may have changed.

`make test` runs KGCRM_FUZZ_EXAMPLES (default 20) examples per role and kind; the soak-marked test runs
KGCRM_SOAK_FUZZ_EXAMPLES (default 1000) per role and kind.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
from datetime import UTC
from collections.abc import Iterator
from typing import Any

import graphql
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import mutations, queries

from kgcrm.graph.driver import Graph
from kgcrm.gql.schema import build_schema
from test_gql_world import (  # noqa: F401 - fixtures
    ACCOUNTS,
    CALLERS,
    USERS,
    api_settings,
    gid,
    http,
    server,
    world,
)

QUICK_EXAMPLES = int(os.environ.get("KGCRM_FUZZ_EXAMPLES", "20"))
SOAK_EXAMPLES = int(os.environ.get("KGCRM_SOAK_FUZZ_EXAMPLES", "1000"))
# One caller per role; their books differ (see test_gql_world.VISIBLE).
ROLE_CALLERS = {"ingest": "ingest", "account_manager": "alice", "manager": "mgr", "admin": "admin"}
SCOPED_TYPES = {"Account", "Contact", "Opportunity", "Activity", "Action", "ScoreChange", "User"}
ERROR_TYPES = {"NotFound", "NotAllowed", "InvalidInput", "ActionNotPending", "ScoringUnavailable"}

# IDs and page sizes the generator draws from: real keys and global IDs of both teams' nodes (so that
# scope is really probed), odd strings, and page sizes both valid and out of range.
_KEYS = [a["id"] for a in ACCOUNTS] + [u["id"] for u in USERS] + ["a1-c1", "c1-c1", "a1-o1", "c1-o1", "x-c1", "sc-c1",
                                                                   "act-c1-1", "mv-1", "mv-2", "p1", "missing"]
_GIDS = ([gid("Account", a["id"]) for a in ACCOUNTS] + [gid("User", u["id"]) for u in USERS]
         + [gid(t, k) for t, k in (("Contact", "c1-c1"), ("Contact", "a1-c1"), ("Opportunity", "c1-o1"),
                                    ("Activity", "act-c1-1"), ("Action", "x-c1"), ("Action", "x-a1"),
                                    ("ScoreChange", "sc-c1"), ("ModelVersion", "mv-2"), ("Product", "p1"))])
IDS = st.one_of(st.sampled_from(_KEYS + _GIDS), st.text(max_size=40)).map(lambda v: graphql.StringValueNode(value=v))
INTS = st.one_of(st.integers(1, 5), st.integers(-(2**31), 2**31 - 1)).map(lambda v: graphql.IntValueNode(value=str(v)))
DATETIMES = st.one_of(st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat()),
                      st.text(max_size=30)).map(lambda v: graphql.StringValueNode(value=v))
SCALARS = {"ID": IDS, "Int": INTS, "DateTime": DATETIMES, "Date": DATETIMES}


class _AddTypename(graphql.Visitor):
    def leave_selection_set(self, node: graphql.SelectionSetNode, *_: Any) -> graphql.SelectionSetNode:
        typename = graphql.FieldNode(name=graphql.NameNode(value="__typename"))
        return graphql.SelectionSetNode(selections=(*node.selections, typename))


def _print_with_typename(document: graphql.DocumentNode) -> str:
    """Every selection set also asks for __typename, so each returned object says what it is."""
    return graphql.print_ast(graphql.visit(document, _AddTypename()))


class ErrorLog(logging.Handler):
    """Collects the server's ERROR records (the error masker logs every unexpected exception)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def error_log() -> Iterator[ErrorLog]:
    handler = ErrorLog()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)


@pytest.fixture(scope="module")
def sdl(neo4j_server: Any) -> str:
    return build_schema(api_settings(neo4j_server.settings)).as_str()


def _decode(value: Any) -> tuple[str, str] | None:
    if not isinstance(value, str):
        return None
    try:
        text = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    type_name, sep, key = text.partition(":")
    return (type_name, key) if sep and type_name in SCOPED_TYPES else None


def returned_ids(value: Any, parent: str = "") -> Iterator[tuple[str, str, str]]:
    """(type, key, parent type) of every global ID the response holds, error types' echoes of the input aside."""
    if isinstance(value, list):
        for item in value:
            yield from returned_ids(item, parent)
    elif isinstance(value, dict):
        typename = value.get("__typename", "")
        if typename in ERROR_TYPES:
            return
        for key, item in value.items():
            if key == "id" or key.endswith("Id") or key == "start":
                decoded = _decode(item)
                if decoded:
                    yield (*decoded, parent)
            elif isinstance(item, (dict, list)):
                yield from returned_ids(item, typename)


def visible(graph: Graph, role: str, user_id: str | None) -> set[tuple[str, str]] | None:
    """What the caller may see, by Cypher written for this test (None: everything, for admins)."""
    if role == "admin":
        return None
    if role == "ingest":
        return set()
    owners = [r["id"] for r in graph.read(
        "MATCH (o:User)-[:REPORTS_TO*0..]->(me:User {id: $me}) WHERE $manager OR o = me RETURN DISTINCT o.id AS id",
        {"me": user_id, "manager": role == "manager"})]
    rows = graph.read("""
        MATCH (o:User)-[:OWNS]->(a:Account) WHERE o.id IN $owners
        WITH collect(DISTINCT a) AS accounts
        CALL (accounts) { UNWIND accounts AS a MATCH (c:Contact)-[w:WORKS_AT]->(a) WHERE w.until IS NULL
                          RETURN collect(DISTINCT c) AS contacts }
        CALL (accounts) { UNWIND accounts AS a MATCH (o:Opportunity)-[:FOR_ACCOUNT]->(a) RETURN collect(DISTINCT o) AS deals }
        CALL (accounts, contacts, deals) {
            MATCH (h)-[:ABOUT|PERFORMED_BY]->(t) WHERE (h:Activity OR h:Action OR h:ScoreChange)
              AND (t IN accounts OR t IN contacts OR t IN deals)
            RETURN collect(DISTINCT [labels(h)[0], h.id]) AS hanging }
        RETURN [a IN accounts | ['Account', a.id]] + [c IN contacts | ['Contact', c.id]]
               + [o IN deals | ['Opportunity', o.id]] + hanging AS seen""", {"owners": owners})
    return {tuple(pair) for pair in rows[0]["seen"]} | {("User", owner) for owner in owners}


def outside_checksum(graph: Graph, seen: set[tuple[str, str]] | None, role: str) -> str:
    """A checksum of every node outside the caller's book (model versions included: only admins change them).

    The ingest role records activities about any account, so new Activity nodes are its to make."""
    rows = graph.read("MATCH (n) WHERE n.id IS NOT NULL AND NOT n:SchemaMigration AND NOT n:ApiKey "
                      "RETURN labels(n)[0] AS label, n.id AS id, properties(n) AS p")
    digest = hashlib.sha256()
    for row in sorted(rows, key=lambda r: (r["label"], r["id"])):
        if role == "ingest" and row["label"] == "Activity":
            continue
        if seen is None or (row["label"], row["id"]) not in seen:
            digest.update(repr((row["label"], row["id"], sorted((k, repr(v)) for k, v in row["p"].items()))).encode())
    return digest.hexdigest()


def fuzz(http: httpx.Client, graph: Graph, key: str, role: str, user_id: str | None, strategy: st.SearchStrategy[str],
         examples: int, error_log: ErrorLog, *, writes: bool) -> int:
    """Send `examples` generated requests; returns how many answered with data (not only errors)."""
    seen = visible(graph, role, user_id)
    before_outside = outside_checksum(graph, seen, role)
    answered = 0

    @settings(max_examples=examples, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def one(query: str) -> None:
        nonlocal answered, seen
        error_log.records.clear()
        response = http.post("/graphql", json={"query": query}, headers={"Authorization": f"Bearer {key}"})
        assert response.status_code < 500, (response.status_code, query, response.text[:500])
        body = response.json()
        messages = [e.get("message", "") for e in body.get("errors") or []]
        assert "Unexpected error." not in messages, (query, body)
        assert not error_log.records, (query, [r.getMessage() for r in error_log.records])
        if body.get("data"):
            answered += 1
        if writes:
            seen = visible(graph, role, user_id)  # a write may have grown the book (a new account is the writer's)
        if seen is not None:
            for type_name, node_key, parent in returned_ids(body.get("data")):
                if role == "ingest" and type_name == "Activity" and parent == "ActivityRecorded":
                    continue  # the activity it just recorded
                assert (type_name, node_key) in seen, (f"{role} got {type_name} {node_key!r}", query, body)

    one()
    if seen is not None:
        after = outside_checksum(graph, visible(graph, role, user_id), role)
        assert after == before_outside, f"{role} changed something outside its book"
    return answered


def _run_role(http: httpx.Client, graph: Graph, world: Any, sdl: str, error_log: ErrorLog, role: str,
              examples: int) -> None:
    caller = ROLE_CALLERS[role]
    user_id = CALLERS[caller][1]
    key = world.keys[caller]
    reads = fuzz(http, graph, key, role, user_id,
                 queries(sdl, custom_scalars=SCALARS, print_ast=_print_with_typename), examples, error_log, writes=False)
    fuzz(http, graph, key, role, user_id,
         mutations(sdl, custom_scalars=SCALARS, print_ast=_print_with_typename), examples, error_log, writes=True)
    if role != "ingest":
        assert reads > 0, f"no generated query as {role} got any data: the fuzzer tested nothing"


@pytest.mark.parametrize("role", list(ROLE_CALLERS))
def test_generated_queries_and_mutations_under_each_role(http: httpx.Client, _session_graph: Graph, world: Any,
                                                          sdl: str, error_log: ErrorLog, role: str) -> None:
    _run_role(http, _session_graph, world, sdl, error_log, role, QUICK_EXAMPLES)


@pytest.mark.soak
@pytest.mark.parametrize("role", list(ROLE_CALLERS))
def test_thousands_of_generated_requests_under_each_role(http: httpx.Client, _session_graph: Graph, world: Any,
                                                          sdl: str, error_log: ErrorLog, role: str) -> None:
    _run_role(http, _session_graph, world, sdl, error_log, role, SOAK_EXAMPLES)


def test_the_id_walker_finds_nested_ids_and_skips_echoed_input() -> None:
    body = {"a": {"__typename": "Account", "id": gid("Account", "a1"),
                  "contacts": [{"__typename": "Contact", "id": gid("Contact", "c1-c1")}]},
            "b": {"__typename": "NotFound", "id": gid("Account", "c1")}}
    assert sorted(returned_ids(body)) == [("Account", "a1", ""), ("Contact", "c1-c1", "Account")]
    assert json.dumps(body)  # plain JSON
