"""The document guard: abusive GraphQL documents are refused before graphql-core parses or validates them
(counted by patching the parser and the quadratic validation rule), and an ambiguous request is a 400."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from graphql import GraphQLSyntaxError, parse
from graphql.language.parser import Parser
from graphql.validation.rules.overlapping_fields_can_be_merged import OverlappingFieldsCanBeMergedRule
from prometheus_client import REGISTRY

from kgcrm.gql.guard import (
    MAX_FIELDS_PER_SELECTION,
    MAX_NAMES_PER_SELECTION,
    MAX_NESTING,
    lexical_problem,
    widest_selection,
)
from test_gql_world import as_, gid, http, server, world  # noqa: F401 - fixtures

MAX_TOKENS = 2000  # the test server's KGCRM_API_MAX_TOKENS (the default)


class Calls:
    """How often graphql-core's parser and its overlapping-fields rule ran while the test did its request."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.parses = 0
        self.overlap_checks = 0
        parse_document, enter_selection_set = Parser.parse_document, OverlappingFieldsCanBeMergedRule.enter_selection_set

        def counted_parse(parser: Parser) -> Any:
            self.parses += 1
            return parse_document(parser)

        def counted_enter(rule: Any, *args: Any) -> Any:
            self.overlap_checks += 1
            return enter_selection_set(rule, *args)

        monkeypatch.setattr(Parser, "parse_document", counted_parse)
        monkeypatch.setattr(OverlappingFieldsCanBeMergedRule, "enter_selection_set", counted_enter)


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[Calls]:
    yield Calls(monkeypatch)


def refusals(reason: str) -> float:
    return REGISTRY.get_sample_value("kgcrm_api_documents_refused_total", {"reason": reason}) or 0.0


def errors_of(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body.get("data") is None, body
    return [e["message"] for e in body["errors"]]


def test_duplicate_fields_beyond_the_cap_are_refused_before_validation(as_, calls: Calls) -> None:
    before = refusals("selection_width")
    messages = errors_of(as_("admin").post("{ me { " + "role " * 150 + "} }"))
    assert messages == [f"a selection set holds 150 fields, above the limit of {MAX_FIELDS_PER_SELECTION}: "
                        "ask for each field once"]
    assert calls.parses == 1 and calls.overlap_checks == 0
    assert refusals("selection_width") == before + 1


def test_a_selection_far_beyond_the_cap_is_refused_before_the_parser_runs(as_, calls: Calls) -> None:
    before = refusals("names")
    messages = errors_of(as_("admin").post("{ me { " + "role " * 1900 + "} }"))
    assert messages == [f"a selection set holds more than {MAX_NAMES_PER_SELECTION} names (fields, aliases, "
                        "directives): ask for each field once. Parsing aborted."]
    assert calls.parses == 0 and calls.overlap_checks == 0
    assert refusals("names") == before + 1


def test_fields_brought_in_by_fragments_count_towards_the_cap(as_, calls: Calls) -> None:
    half = "role " * 60
    query = f"{{ me {{ ...A ... on Me {{ {half} }} }} }} fragment A on Me {{ {half} }}"
    assert "holds 120 fields" in errors_of(as_("admin").post(query))[0]
    assert calls.overlap_checks == 0


def test_a_selection_at_the_cap_is_answered(as_) -> None:
    assert as_("admin").data("{ me { " + "role " * MAX_FIELDS_PER_SELECTION + "} }") == {"me": {"role": "admin"}}


@pytest.mark.parametrize("query, reason, message", [
    ("{ " + " ".join(f"a{i}: me {{ role }}" for i in range(1000)) + " }", "tokens",
     f"Document contains more than {MAX_TOKENS} tokens. Parsing aborted."),
    ("{ me " + "@include(if: true) " * 400 + "{ role } }", "tokens", "more than 2000 tokens"),
    ("{ me { role } } # " + "\n# x" * 2100, "tokens", "more than 2000 tokens"),
    ("{ " + "me { " * 200 + "role" + " }" * 201, "nesting", "nested too deeply"),
], ids=["1000 aliases", "400 directives", "2000 comments", "200 levels"])
def test_parse_bombs_are_refused_before_the_parser_runs(as_, calls: Calls, query: str, reason: str,
                                                        message: str) -> None:
    before = refusals(reason)
    messages = errors_of(as_("admin").post(query))
    assert len(messages) == 1 and message in messages[0]
    assert calls.parses == 0
    assert refusals(reason) == before + 1


def test_a_fragment_bomb_is_refused_before_validation(as_, calls: Calls) -> None:
    spreads = " ".join(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(40))
    query = f"query {{ ...F0 }} {spreads} fragment F40 on Query {{ me {{ role }} }}"
    assert "fields through its fragments, above the limit" in errors_of(as_("admin").post(query))[0]
    assert calls.overlap_checks == 0


def test_two_operations_without_an_operation_name_are_a_request_error(as_) -> None:
    client = as_("admin")
    query = "query A { me { role } } query B { me { userId } }"
    refused = client.post(query)
    assert refused.status_code == 400
    assert "2 operations (A, B)" in refused.text and "operationName" in refused.text
    chosen = client.http.post("/graphql", json={"query": query, "operationName": "B"},
                              headers={"Authorization": f"Bearer {client.key}"})
    assert chosen.status_code == 200 and chosen.json() == {"data": {"me": {"userId": None}}}


def test_normal_queries_still_answer_after_the_guard(as_) -> None:
    data = as_("admin").data("query($id: ID!) { node(id: $id) { id } }", {"id": gid("Account", "a1")})
    assert data == {"node": {"id": gid("Account", "a1")}}


# The lexical pre-scan must never refuse what graphql-core would parse: its token count is exact.
DOCUMENTS = [
    "{ me { role } }",
    'query Q($id: ID! = "a{b}c", $n: Int = -12, $f: Float = 1.5e3) { account(id: $id) { ... on Account { name } } }',
    '{ accounts(filter: {search: "\\"quoted\\" { [ ( #"}) { edges { node { id } } } }',
    '{ me { role } } # a comment with { brackets [ and (\n',
    'query { ...F } fragment F on Query { me @include(if: true) { role, userId } }',
    '{ accounts(filter: {search: """block "string" with { and \\""" inside"""}) { totalCount } }',
    "mutation M { upsertAccount(input: {id: \"x\", name: \"y\"}) { __typename } }",
]


def _graphql_core_token_count(document: str) -> int:
    """The smallest max_tokens under which graphql-core parses `document`."""
    low, high = 1, 10_000
    while low < high:
        middle = (low + high) // 2
        try:
            parse(document, max_tokens=middle)
            high = middle
        except GraphQLSyntaxError:
            low = middle + 1
    return low


@pytest.mark.parametrize("document", DOCUMENTS)
def test_the_token_count_agrees_with_graphql_core(document: str) -> None:
    tokens = _graphql_core_token_count(document)
    padded = document + " " * MAX_NESTING  # long enough that the scan runs
    assert lexical_problem(padded, tokens) is None
    assert "more than" in (lexical_problem(padded, tokens - 1) or "")


def test_widest_selection_counts_through_fragments_once() -> None:
    document = parse("{ me { ...A ...A role } } fragment A on Me { role userId }")
    assert widest_selection(document) == 5
