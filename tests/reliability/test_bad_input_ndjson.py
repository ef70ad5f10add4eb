"""Bad-input corpus for event ingestion: NDJSON through POST /events and through `kgcrm replay FILE`.

Every kind is sent with a good line before and after it (where the kind is one line): the good lines
must be stored, the bad one rejected with its line number, field and reason, and nothing of it written
(no Activity, no relationship), asserted by Cypher after each request. `?atomic=true` must store all
or nothing. tests/test_events_api.py and tests/test_events_cli.py cover the ordinary rejections
(malformed JSON, unknown type, missing time zone, a missing account); they are not repeated here.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from conftest import KGCRM
from kgcrm.graph.driver import Graph
from test_gql_world import http, server, world  # noqa: F401 - fixtures

NOW = "2026-01-20T10:00:00Z"
DEEP = "[" * 10_000 + "]" * 10_000


def good(event_id: str, **fields: object) -> str:
    return json.dumps({"eventId": event_id, "type": "web_visit", "at": NOW, "accountId": "a2", **fields})


def good_utf8(event_id: str, **fields: object) -> str:
    """A good line with its non-ASCII characters as raw UTF-8, not as escapes."""
    return json.dumps({"eventId": event_id, "type": "web_visit", "at": NOW, "accountId": "a2", **fields}, ensure_ascii=False)


def raw(event_id: str, **fields: object) -> str:
    """An event line with exactly these fields (no defaults)."""
    return json.dumps({"eventId": event_id, **fields})


def lines(*parts: str | bytes) -> bytes:
    return b"\n".join(p.encode() if isinstance(p, str) else p for p in parts)


@dataclass
class Case:
    kind: str
    body: bytes
    stored: set[str]  # the event ids that must exist afterwards (among the ids starting with `prefix`)
    rejected: list[tuple[int, str, str]] = field(default_factory=list)  # (line, field, reason fragment)
    prefix: str = ""


def _case(kind: str, prefix: str, body: bytes, stored: set[str], *rejected: tuple[int, str, str]) -> Case:
    return Case(kind, body, stored, list(rejected), prefix)


CASES = [
    _case("UTF-8 byte order mark before the first line", "bom-",
          b"\xef\xbb\xbf" + lines(good("bom-1"), good("bom-2")), {"bom-1", "bom-2"}),
    _case("UTF-16 LE with BOM", "u16-", "\n".join([good("u16-1"), good("u16-2")]).encode("utf-16"), set(),
          (1, "-", ""), (2, "-", "")),
    _case("blank, whitespace-only and CRLF lines (numbering stays right)", "blank-",
          lines("", good("blank-1") + "\r", "   ", "\t", good("blank-2"), "{oops", ""), {"blank-1", "blank-2"},
          (6, "-", "not JSON")),
    _case("truncated last line", "trunc-", lines(good("trunc-1"), good("trunc-2"), good("trunc-3")[:30]),
          {"trunc-1", "trunc-2"}, (3, "-", "not JSON")),
    _case("lines that are not objects", "nonobj-",
          lines(good("nonobj-1"), "[]", '"an event"', "42", "null", "true", good("nonobj-2")), {"nonobj-1", "nonobj-2"},
          *[(n, "-", "one JSON object") for n in range(2, 7)]),
    _case("wrong types", "type-",
          lines(good("type-0"), raw("type-1", type="meeting", at=NOW, accountId=5),
                json.dumps({"eventId": 7, "type": "meeting", "at": NOW, "accountId": "a2"}),
                raw("type-3", type=3, at=NOW, accountId="a2"), raw("type-4", type="meeting", at=1768903200, accountId="a2"),
                good("type-5", weight="heavy"), good("type-6", weight=True), good("type-7", subject=["x"]),
                good("type-8", at="yesterday"), good("type-9", at="2026-01-20T10:00:00"), json.dumps({"eventId": None, "type": "web_visit", "at": NOW, "accountId": "a2"})),
          {"type-0"}, (2, "accountId", "string"), (3, "eventId", "string"), (4, "type", "not one of"),
          (5, "at", "ISO 8601"), (6, "weight", "number"), (7, "weight", "number"), (8, "subject", "string"),
          (9, "at", "not an ISO 8601"), (10, "at", "time zone"), (11, "eventId", "non-blank")),
    _case("unknown and misspelt fields", "unk-",
          lines(good("unk-1"), good("unk-2", accountID="a2"), good("unk-3", __proto__={"x": 1}), good("unk-4")),
          {"unk-1", "unk-4"}, (2, "accountID", "unknown field"), (3, "__proto__", "unknown field")),
    _case("overlong fields", "long-",
          lines(good("long-1"), good("long-2", subject="s" * 501), good("long-" + "3" * 300), good("long-4", accountId="a" * 201)),
          {"long-1"}, (2, "subject", "at most 500"), (3, "eventId", "at most 200"), (4, "accountId", "at most 200")),
    _case("duplicate event ids in one body (the first copy wins)", "dup-",
          lines(good("dup-1", subject="first"), good("dup-1", subject="second"), good("dup-2"), good("dup-1", subject="third")),
          {"dup-1", "dup-2"}),
    _case("dangling references", "dang-",
          lines(good("dang-1"), good("dang-2", accountId="no-such-account"), good("dang-3", contactId="nobody"),
                good("dang-4", opportunityId="no-deal"), good("dang-5", performedByUserId="ghost"),
                raw("dang-6", type="meeting", at=NOW), good("dang-7", contactId="a2-c1")),
          {"dang-1", "dang-7"}, (2, "accountId", "no such node"), (3, "contactId", "no such node"),
          (4, "opportunityId", "no such node"), (5, "performedByUserId", "no such node"), (6, "accountId", "at least one")),
    _case("injection strings", "inj-",
          lines(good("inj-1' }) MATCH (n) DETACH DELETE n //", subject="<script>alert(1)</script>"),
                good("inj-2", accountId="a2' OR 1=1 //"), good("inj-3", subject="=HYPERLINK(\"http://x\")"),
                good("inj-4", subject="${jndi:ldap://x/a}")),
          {"inj-1' }) MATCH (n) DETACH DELETE n //", "inj-3", "inj-4"}, (2, "accountId", "no such node")),
    _case("NUL bytes: raw (rejected) and escaped (stored verbatim)", "nul-",
          lines(good("nul-1", subject="a\u0000b"), b'{"eventId": "nul-2\x00", "type": "web_visit"}', good("nul-3")),
          {"nul-1", "nul-3"}, (2, "-", "not JSON")),
    _case("JSON nested 10,000 deep", "deep-",
          lines(good("deep-1"), DEEP, '{"eventId": ' + DEEP + "}", good("deep-2", subject=None)),
          {"deep-1", "deep-2"}, (2, "-", "nested too deeply"), (3, "-", "nested too deeply")),
    _case("numbers: NaN, Infinity, 5,000-digit integer", "num-",
          lines(good("num-1", weight=2.5), good("num-2").replace("}", ', "weight": NaN}'),
                good("num-3").replace("}", ', "weight": Infinity}'), good("num-4").replace("}", ', "weight": 1' + "0" * 5000 + "}")),
          {"num-1"}, (2, "weight", "finite"), (3, "weight", "finite"), (4, "-", "JSON")),
    _case("invalid UTF-8 and lone surrogate escapes", "enc-",
          lines(good("enc-1"), b'{"eventId": "enc-2\xff\xfe", "type": "web_visit"}', good("enc-3", subject="\ud800x"),
                good_utf8("enc-4", subject="caf\u00e9 \u2028 \U0001f600")),
          {"enc-1", "enc-4"}, (2, "-", "not UTF-8"), (3, "subject", "Unicode")),
    _case("times out of range", "time-",
          lines(good("time-1", at="99999-01-01T00:00:00Z"), good("time-2", at="2026-02-30T00:00:00Z"),
                good("time-3", at="2026-01-20T10:00:00+25:00"), good("time-4", at="0001-01-01T00:00:00+14:00"),
                good("time-5", at="2026-01-20T10:00:00.123456-09:30")),
          {"time-5"}, (1, "at", "ISO 8601"), (2, "at", "ISO 8601"), (3, "at", "ISO 8601"), (4, "at", "out of range")),
]


def _post(http: httpx.Client, key: str, body: bytes, **params: str) -> httpx.Response:
    return http.post("/events", content=body, params=params,
                     headers={"Authorization": f"Bearer {key}", "Content-Type": "application/x-ndjson"})


def _stored(graph: Graph, prefix: str) -> set[str]:
    rows = graph.read("MATCH (e:Activity) WHERE e.id STARTS WITH $p RETURN e.id AS id", {"p": prefix})
    return {r["id"] for r in rows}


def _orphans(graph: Graph) -> int:
    """Activities hanging on nothing (an event stored without its relationships would be one)."""
    return graph.read("MATCH (e:Activity) WHERE NOT (e)-[:ABOUT|PERFORMED_BY]->() RETURN count(e) AS n")[0]["n"]


def _census(graph: Graph) -> dict[str, int]:
    rows = graph.read("MATCH (n) WHERE NOT n:Activity AND NOT n:SchemaMigration AND NOT n:ApiKey "
                      "RETURN labels(n)[0] AS l, count(*) AS c")
    return {r["l"]: r["c"] for r in rows}


@pytest.mark.parametrize("case", CASES, ids=[c.kind for c in CASES])
def test_each_kind_of_bad_ndjson_is_rejected_by_line_and_field_and_good_lines_are_stored(
    http: httpx.Client, world, _session_graph: Graph, case: Case
) -> None:
    before, orphans = _census(_session_graph), _orphans(_session_graph)
    response = _post(http, world.keys["ingest"], case.body)
    assert response.status_code == 200, response.text
    report = response.json()
    got = [(r["line"], r["field"], r["reason"]) for r in report["rejected"]]
    assert [(line, fld) for line, fld, _ in got] == [(line, fld) for line, fld, _ in case.rejected], got
    for (_, _, reason), (_, _, fragment) in zip(got, case.rejected):
        assert fragment in reason, (reason, fragment)
    assert _stored(_session_graph, case.prefix) == case.stored
    assert report["created"] == len(case.stored) and report["stored"] is True
    assert _orphans(_session_graph) == orphans  # nothing half-written: every stored event hangs on its nodes
    assert _census(_session_graph) == before  # no other node created or removed
    # Sent again: every good line is recognised by its id, nothing is stored twice.
    again = _post(http, world.keys["ingest"], case.body).json()
    assert again["created"] == 0 and again["duplicates"] == len(case.stored)
    assert _stored(_session_graph, case.prefix) == case.stored


def test_values_are_stored_verbatim(http: httpx.Client, world, _session_graph: Graph) -> None:
    """The first copy of a duplicated id wins; NUL and line-separator characters inside strings survive."""
    rows = _session_graph.read("MATCH (e:Activity) WHERE e.id IN ['dup-1', 'nul-1', 'enc-4'] RETURN e.id AS id, e.subject AS s")
    subjects = {r["id"]: r["s"] for r in rows}
    if len(subjects) < 3:  # run alone: store them first
        for case in CASES:
            if case.prefix in ("dup-", "nul-", "enc-"):
                _post(http, world.keys["ingest"], case.body)
        rows = _session_graph.read("MATCH (e:Activity) WHERE e.id IN ['dup-1', 'nul-1', 'enc-4'] RETURN e.id AS id, e.subject AS s")
        subjects = {r["id"]: r["s"] for r in rows}
    assert subjects == {"dup-1": "first", "nul-1": "a\u0000b", "enc-4": "caf\u00e9 \u2028 \U0001f600"}


def test_atomic_batches_store_all_or_nothing(http: httpx.Client, world, _session_graph: Graph) -> None:
    key = world.keys["ingest"]
    for n, bad in enumerate([DEEP, good("atom-x", accountId="nope"), good("atom-x", weight="heavy"), "{truncated"]):
        body = lines(good(f"atom-{n}-1"), bad, good(f"atom-{n}-2"))
        response = _post(http, key, body, atomic="true")
        assert response.status_code == 422 and response.json()["stored"] is False, response.text
        assert [r["line"] for r in response.json()["rejected"]] == [2]
    assert _stored(_session_graph, "atom-") == set()
    response = _post(http, key, lines(good("atom-ok-1"), "", good("atom-ok-2")), atomic="true")
    assert response.status_code == 200 and response.json()["created"] == 2
    assert _stored(_session_graph, "atom-") == {"atom-ok-1", "atom-ok-2"}


def test_a_body_over_the_limit_is_refused_whole(http: httpx.Client, world, server, _session_graph: Graph) -> None:
    limit = server.settings.events_max_body_bytes
    body = lines(good("huge-1"), good("huge-2", subject="x" * 400), *(["x" * 1000] * (limit // 1000 + 1)))
    response = _post(http, world.keys["ingest"], body)
    assert response.status_code == 413
    assert _stored(_session_graph, "huge-") == set()
    # A huge line under the body limit is one rejected line, not a failed request.
    response = _post(http, world.keys["ingest"], lines(good("huge-3"), "{" + "x" * 1_000_000, good("huge-4")))
    assert response.status_code == 200 and [r["line"] for r in response.json()["rejected"]] == [2]
    assert _stored(_session_graph, "huge-") == {"huge-3", "huge-4"}


def test_replay_of_a_bad_file_names_lines_and_stores_the_good_ones(world, neo4j_server, tmp_path: Path,
                                                                   _session_graph: Graph) -> None:
    stream = tmp_path / "events.ndjson"
    stream.write_bytes(b"\xef\xbb\xbf" + lines(good("rf-1"), good_utf8("rf-2", subject="line\u2028separator"), "", DEEP,
                                                good("rf-3", accountId="nope"), good("rf-4"), good("rf-5")[:25]))
    result = subprocess.run([KGCRM, "replay", str(stream), "--rate", "0", "--quiet"], env=neo4j_server.env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr
    assert "3 new, 0 already stored, 3 rejected" in result.stdout, result.stdout
    assert "line 4, field -: JSON nested too deeply" in result.stderr
    assert "line 5, field accountId: no such node in the graph" in result.stderr
    assert "line 7, field -: not JSON" in result.stderr and "Traceback" not in result.stderr
    assert _stored(_session_graph, "rf-") == {"rf-1", "rf-2", "rf-4"}

    utf16 = tmp_path / "utf16.ndjson"
    utf16.write_text(good("rf16-1") + "\n", encoding="utf-16")
    result = subprocess.run([KGCRM, "replay", str(utf16), "--rate", "0", "--quiet"], env=neo4j_server.env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode != 0 and result.stderr.startswith("kgcrm: error: ") and result.stderr.count("\n") == 1
    assert "UTF-8" in result.stderr and _stored(_session_graph, "rf16-") == set()
