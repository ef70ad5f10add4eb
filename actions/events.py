"""Event ingestion: NDJSON lines checked field by field, then stored idempotently by event id in one transaction.

An event is an Activity (docs/graph-model.md) that arrives as it happens. Each line is one JSON object
with the fields of GraphQL's `recordActivity` input (`eventId`, `type`, `at`, `accountId`, ...). A line
is either stored whole (node and relationships) or rejected with its line number, field and reason;
a replayed event id is recognised and changes nothing. Stored events wait, flagged `rescore_pending`,
for the incremental scorer (actions/rescore.py).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from kgcrm.graph.driver import Graph
from kgcrm.graph.model import ActivityType
from kgcrm.graph.queries import events as q

logger = logging.getLogger(__name__)

MAX_ID = 200
MAX_TEXT = 500
REFERENCES = {"accountId": "account_id", "opportunityId": "opportunity_id", "contactId": "contact_id",
              "performedByUserId": "performer_id"}
FIELDS = {"eventId", "type", "at", "subject", "weight", *REFERENCES}
TYPES = tuple(t.value for t in ActivityType)


@dataclass(frozen=True)
class Rejection:
    """One line that was not stored: where, which field and why."""

    line: int
    field: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "reason": self.reason}

    def __str__(self) -> str:
        return f"line {self.line}, field {self.field}: {self.reason}"


@dataclass
class IngestReport:
    """What one batch of lines did: new events stored, replays recognised, lines rejected."""

    received: int = 0
    created: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    created_ids: list[str] = field(default_factory=list)

    def add(self, other: IngestReport) -> None:
        self.received += other.received
        self.created += other.created
        self.duplicates += other.duplicates
        self.rejected.extend(other.rejected)
        self.created_ids.extend(other.created_ids)

    def as_dict(self) -> dict[str, Any]:
        return {"received": self.received, "created": self.created, "duplicates": self.duplicates,
                "rejected": [r.as_dict() for r in self.rejected]}


def parse_event(raw: Any, line: int) -> dict[str, Any] | Rejection:
    """One event as an ingestion row, or the first problem with it (the field names are camelCase)."""
    if not isinstance(raw, dict):
        return Rejection(line, "-", "a line must be one JSON object")
    unknown = sorted(set(raw) - FIELDS)
    if unknown:
        return Rejection(line, unknown[0], f"unknown field (expected {', '.join(sorted(FIELDS))})")
    for name, value in raw.items():
        if isinstance(value, str) and not _encodable(value):
            return Rejection(line, name, "not valid Unicode (an unpaired surrogate escape)")
    event_id = raw.get("eventId")
    if not isinstance(event_id, str) or not event_id.strip():
        return Rejection(line, "eventId", "a non-blank string is required")
    if len(event_id) > MAX_ID:
        return Rejection(line, "eventId", f"at most {MAX_ID} characters")
    kind = raw.get("type")
    if kind not in TYPES:
        return Rejection(line, "type", f"{kind!r} is not one of {', '.join(TYPES)}")
    at = _timestamp(raw.get("at"))
    if isinstance(at, str):
        return Rejection(line, "at", at)
    props: dict[str, Any] = {"type": kind, "at": at}
    subject = raw.get("subject")
    if subject is not None:
        if not isinstance(subject, str) or len(subject) > MAX_TEXT:
            return Rejection(line, "subject", f"a string of at most {MAX_TEXT} characters")
        props["subject"] = subject
    weight = raw.get("weight")
    if weight is not None:
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight):
            return Rejection(line, "weight", "a finite number is required")
        props["weight"] = float(weight)
    row: dict[str, Any] = {"line": line, "id": event_id, "props": props}
    for name, key in REFERENCES.items():
        value = raw.get(name)
        if value is not None and (not isinstance(value, str) or not value.strip() or len(value) > MAX_ID):
            return Rejection(line, name, f"a non-blank string of at most {MAX_ID} characters")
        row[key] = value
    if not any(row[k] for k in ("account_id", "opportunity_id", "contact_id")):
        return Rejection(line, "accountId", "name at least one of accountId, opportunityId or contactId")
    return row


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _timestamp(value: Any) -> datetime | str:
    if not isinstance(value, str):
        return "an ISO 8601 time with a time zone is required (e.g. 2026-01-31T09:00:00Z)"
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        return f"{value!r} is not an ISO 8601 time"
    if at.tzinfo is None:
        return f"{value!r} needs a time zone (e.g. 2026-01-31T09:00:00Z)"
    try:
        at.astimezone(timezone.utc)  # the driver sends UTC: year 1 at +14:00 would be year 0
    except OverflowError:
        return f"{value!r} is out of range in UTC"
    return at


def parse_ndjson(lines: Iterable[str | bytes], first_line: int = 1) -> tuple[list[dict[str, Any]], list[Rejection]]:
    """Rows for the lines that are valid on their own, and a rejection for each other line; blank lines skipped.

    A repeated event id inside the batch is kept once (the later copies are replays, not errors).
    """
    rows: list[dict[str, Any]] = []
    rejected: list[Rejection] = []
    seen: set[str] = set()
    for number, text in enumerate(lines, start=first_line):
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError:
                rejected.append(Rejection(number, "-", "not UTF-8"))
                continue
        if number == 1:
            text = text.removeprefix("\ufeff")  # a UTF-8 byte order mark before the first line
        if not text.strip():
            continue
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            rejected.append(Rejection(number, "-", f"not JSON ({exc.msg} at column {exc.colno})"))
            continue
        except ValueError as exc:  # e.g. an integer of more digits than Python converts
            rejected.append(Rejection(number, "-", f"not acceptable JSON ({exc})"))
            continue
        except RecursionError:
            rejected.append(Rejection(number, "-", "JSON nested too deeply"))
            continue
        parsed = parse_event(raw, number)
        if isinstance(parsed, Rejection):
            rejected.append(parsed)
        elif parsed["id"] not in seen:
            seen.add(parsed["id"])
            rows.append(parsed)
    return rows, rejected


def ingest_rows(graph: Graph, rows: list[dict[str, Any]], *, all_or_nothing: bool = False) -> IngestReport:
    """Store parsed rows in one transaction; rows naming missing nodes are rejected (all of them with
    `all_or_nothing`, when any is: the transaction is then rolled back)."""
    report = IngestReport(received=len(rows))
    if not rows:
        return report

    def work(tx: Any) -> list[dict[str, Any]]:
        result = tx.run(q.INGEST_EVENTS, batch={"rows": rows}).data()
        if all_or_nothing and any(r["missing"] for r in result):
            # Raising rolls the transaction back; the caller reports the lines instead of writing any.
            raise _MissingReferences(result)
        return result

    by_line = {row["line"]: row for row in rows}
    try:
        result = graph.execute_write(work)
    except _MissingReferences as missing:
        report.rejected = [Rejection(r["line"], r["missing"], "no such node in the graph")
                           for r in missing.rows if r["missing"]]
        return report
    for row in result:
        if row["missing"]:
            report.rejected.append(Rejection(row["line"], row["missing"], "no such node in the graph"))
        elif row["created"]:
            report.created += 1
            report.created_ids.append(by_line[row["line"]]["id"])
        else:
            report.duplicates += 1
    logger.info("ingested %s events: %s new, %s replays, %s rejected",
                report.received, report.created, report.duplicates, len(report.rejected))
    return report


class _MissingReferences(Exception):
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        super().__init__("missing references")
        self.rows = rows


def ingest_ndjson(graph: Graph, lines: Iterable[str | bytes], *, all_or_nothing: bool = False) -> IngestReport:
    """Parse and store one NDJSON batch; with `all_or_nothing`, any rejected line means nothing is stored."""
    rows, rejected = parse_ndjson(lines)
    if rejected and all_or_nothing:
        report = IngestReport(received=len(rows) + len(rejected))
        report.rejected = rejected
        return report
    report = ingest_rows(graph, rows, all_or_nothing=all_or_nothing)
    report.received += len(rejected)
    report.rejected = sorted([*rejected, *report.rejected], key=lambda r: r.line)
    return report


def queue_event(graph: Graph, event_id: str) -> None:
    """Queue an activity stored by another path (GraphQL recordActivity) for incremental rescoring."""
    graph.write(q.QUEUE_EVENT, {"id": event_id})


def pending_count(graph: Graph) -> int:
    """Events stored and not yet rescored."""
    return int(graph.read(q.PENDING_COUNT)[0]["pending"])
