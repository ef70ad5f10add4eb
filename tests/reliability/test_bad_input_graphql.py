"""Bad-input corpus for the GraphQL endpoint over real HTTP: malformed bodies, content types, variables and batches.

Each kind must be answered with a 4xx (or a 200 whose errors say what is wrong), never a 5xx, never an
unhandled exception in the server's log, and never a write. The kinds that tests/test_gql_http.py and
tests/test_gql_security.py already cover (plain malformed JSON, a missing query, the body size limit,
injection strings in arguments) are not repeated.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from kgcrm.graph.driver import Graph
from test_gql_world import gid, http, server, world  # noqa: F401 - fixtures

ME = "{ me { role } }"
SEARCH = "query($s: String!) { accounts(first: 5, filter: {search: $s}) { totalCount } }"
UPSERT = "mutation($id: ID!, $name: String) { upsertAccount(input: {id: $id, name: $name}) { __typename } }"


def _nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


@dataclass
class Case:
    kind: str
    body: bytes
    status: int
    fragment: str  # in the response body (an error message or detail)
    content_type: str | None = "application/json"


CASES = [
    Case("deeply nested JSON variables", b'{"query": "' + SEARCH.encode() + b'", "variables": {"s": ' + _nested(10_000).encode() + b"}}",
         400, "nested too deeply"),
    Case("deeply nested JSON body", _nested(10_000).encode(), 400, "nested too deeply"),
    Case("wrong variable type: object for String", _json({"query": SEARCH, "variables": {"s": {"x": 1}}}), 200,
         "Variable '$s' has invalid value: String cannot represent a non string value"),
    Case("wrong variable type: string for Int", _json({"query": "query($n: Int!) { accounts(first: $n) { totalCount } }",
                                                      "variables": {"n": "ten"}}), 200, "Int cannot represent"),
    Case("integer beyond 32 bits for Int", _json({"query": "query($n: Int!) { accounts(first: $n) { totalCount } }",
                                                 "variables": {"n": 2**70}}), 200, "Int cannot represent"),
    Case("NaN and Infinity literals for Float", b'{"query": "query($f: Float!) { accounts(first: 1, filter: '
         b'{minScore: $f}) { totalCount } }", "variables": {"f": NaN}}', 400, "NaN is not a JSON number"),
    Case("missing required variable", _json({"query": SEARCH}), 200, "Variable '$s' has invalid value: Expected a value of non-null type 'String!' to be provided"),
    Case("variables not an object", _json({"query": SEARCH, "variables": ["s"]}), 400, "variables"),
    Case("query not a string", _json({"query": 42}), 400, "query"),
    Case("query is null", _json({"query": None}), 400, "query"),
    Case("body is a JSON string", _json("{ me { role } }"), 400, "must be a JSON object"),
    Case("body is a JSON number", b"12", 400, "must be a JSON object"),
    Case("body is JSON null", b"null", 400, "must be a JSON object"),
    Case("batch of operations (batching is off)", _json([{"query": ME}, {"query": ME}]), 400, "atch"),
    Case("batch of a thousand operations", _json([{"query": ME}] * 1000), 400, "atch"),
    Case("huge string variable under the body limit", _json({"query": SEARCH, "variables": {"s": "x" * 60_000}}), 200,
         "search"),
    Case("invalid UTF-8 in the body", b'{"query": "{ me { role } }", "variables": {"s": "\xff\xfe\xc0"}}', 400, "not valid UTF-8"),
    Case("lone surrogate escape in a variable", b'{"query": "' + UPSERT.encode() + b'", "variables": {"id": "sur\\ud800", "name": "x"}}',
         400, "unpaired surrogate"),
    Case("NUL byte in the query text", _json({"query": "{ me { role } }\u0000"}), 200, "Syntax Error"),
    Case("NUL bytes in a variable (stored verbatim)", _json({"query": UPSERT, "variables": {"id": "nul-key", "name": "a\u0000b"}}),
         200, "Account"),
    Case("unknown operationName", _json({"query": ME, "operationName": "Nope"}), 400, "Nope"),
    # A request error, as the GraphQL-over-HTTP spec asks (gql/guard.py).
    Case("two operations, no operationName", _json({"query": "query A { me { role } } query B { me { role } }"}), 400,
         "operationName"),
    Case("text/plain content type", _json({"query": ME}), 400, "Unsupported content type", "text/plain"),
    Case("form-encoded content type", b"query=%7B+me+%7B+role+%7D+%7D", 400, "Unsupported content type", "application/x-www-form-urlencoded"),
    Case("multipart upload (file uploads are off)", b"--b\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n"
         + _json({"query": ME}) + b"\r\n--b--\r\n", 400, "", "multipart/form-data; boundary=b"),
    Case("no content type", _json({"query": ME}), 400, "Unsupported content type", None),
    Case("empty body", b"", 400, "Unable to parse request body as JSON"),
]


class ErrorLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def error_log() -> Iterator[ErrorLog]:
    handler = ErrorLog()
    logging.getLogger().addHandler(handler)
    yield handler
    logging.getLogger().removeHandler(handler)


def test_the_corpus_has_at_least_twenty_kinds() -> None:
    assert len({case.kind for case in CASES}) == len(CASES) >= 20


@pytest.mark.parametrize("case", CASES, ids=[case.kind for case in CASES])
def test_bad_graphql_input_is_refused_clearly_and_writes_nothing(http: httpx.Client, world: Any, _session_graph: Graph,
                                                                 error_log: ErrorLog, case: Case) -> None:
    headers = {"Authorization": f"Bearer {world.keys['admin']}"}
    if case.content_type:
        headers["content-type"] = case.content_type
    nodes_before = _session_graph.read("MATCH (n) RETURN count(n) AS n")[0]["n"]

    response = http.post("/graphql", content=case.body, headers=headers)

    assert response.status_code == case.status, (response.status_code, response.text[:300])
    assert case.fragment in response.text, response.text[:300]
    assert not error_log.records, [r.getMessage() for r in error_log.records]
    assert "Traceback" not in response.text and "Unexpected error." not in response.text
    writes = 1 if case.kind.startswith("NUL bytes in a variable") else 0
    assert _session_graph.read("MATCH (n) RETURN count(n) AS n")[0]["n"] == nodes_before + writes
    if writes:
        stored = _session_graph.read("MATCH (a:Account {id: 'nul-key'}) RETURN a.name AS name")
        assert stored == [{"name": "a\u0000b"}]
