"""The outbox dispatcher: claims due Actions under a lease, delivers signed webhooks or Tasks, retries, dead-letters.

Delivery is at least once: a dispatcher that dies after a receiver got a request but before it
recorded the success leaves the claim to expire and another delivery follows, with the same
`webhook-id`, so a receiver that deduplicates by it acts exactly once.
"""

from __future__ import annotations

import json
import logging
import os
import random
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from neo4j import ManagedTransaction

from kgcrm.actions import metrics
from kgcrm.actions.group_commit import GroupCommit
from kgcrm.actions.wakeup import WakeListener
from kgcrm.actions.webhooks import headers, secret_key
from kgcrm.graph.driver import Graph
from kgcrm.graph.errors import DispatchConfigError
from kgcrm.graph.queries import actions as q
from kgcrm.graph.settings import Settings

logger = logging.getLogger(__name__)

EVENT_TYPE = "action.triggered"

Outcome = tuple[str, dict[str, Any]]  # a MARK_* statement and its row, recorded in a group (group_commit.py)


@dataclass
class DispatchReport:
    """Outcomes of the deliveries one dispatcher made, by kind of outcome."""

    outcomes: Counter[str] = field(default_factory=Counter)  # delivered, task_created, retry, dead_letter, lost_lease

    @property
    def attempts(self) -> int:
        return sum(self.outcomes.values())


def backoff_seconds(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with jitter: half of the doubled delay fixed, half random, so retries spread out."""
    delay = min(cap, base * 2 ** max(0, attempt - 1))
    return delay / 2 + rng.uniform(0, delay / 2)


def webhook_body(claimed: dict[str, Any]) -> bytes:
    """The request body, built from stored facts only, so every retry sends the same bytes."""
    action, change = claimed["action"], claimed["score_change"] or {}
    data = {
        "action_id": action["id"],
        "policy": action.get("policy"),
        "subject": {"label": claimed["subject_label"], "id": claimed["subject_id"]},
        "account_id": action.get("account_id"),
        "owner_id": action.get("owner_id"),
        "score": {
            "old": change.get("old_score"),
            "new": change.get("new_score", action.get("score_value")),
            "model_version": change.get("model_version", action.get("model_version")),
            "changed_at": iso_of_nanos(change.get("changed_ns")),
        },
        "score_change_id": change.get("id"),
        "cause": change.get("cause"),
        "event_ids": change.get("event_ids") or [],
        "approval": {"decided_by": action.get("decided_by"), "reason_code": action.get("reason_code")}
        if action.get("decision") else None,
    }
    document = {"type": EVENT_TYPE, "timestamp": iso_of_nanos(action.get("created_ns")), "data": data}
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


class Dispatcher:
    """Delivers the outbox; any number may run against one graph (claims are leased and exclusive)."""

    def __init__(self, graph: Graph, settings: Settings, *, worker_id: str | None = None) -> None:
        if not settings.webhook_url:
            raise DispatchConfigError("KGCRM_WEBHOOK_URL is not set: the dispatcher has nowhere to deliver webhooks")
        if not settings.webhook_url.startswith(("http://", "https://")):
            raise DispatchConfigError("KGCRM_WEBHOOK_URL must start with http:// or https://")
        if not settings.webhook_secret:
            raise DispatchConfigError("KGCRM_WEBHOOK_SECRET is not set: webhooks are always signed (whsec_<base64>)")
        if settings.dispatch_lease_seconds <= settings.webhook_timeout_seconds:
            raise DispatchConfigError(
                f"KGCRM_DISPATCH_LEASE ({settings.dispatch_lease_seconds}s) must exceed KGCRM_WEBHOOK_TIMEOUT "
                f"({settings.webhook_timeout_seconds}s), or a slow delivery's claim would expire while it runs"
            )
        self.graph = graph
        self.settings = settings
        self.key = secret_key(settings.webhook_secret)
        self.worker = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.client = httpx.Client(timeout=settings.webhook_timeout_seconds, follow_redirects=False)
        self.rng = random.Random()
        self.report = DispatchReport()
        self._report_lock = threading.Lock()
        self._retries: dict[str, float] = {}  # action id -> when its retry falls due (monotonic): its own failures
        self._retries_lock = threading.Lock()
        self._gauge_read_at = -float("inf")  # when NEXT_DUE last refreshed the outbox gauge (monotonic)
        self.outcomes: GroupCommit[Outcome, str | None] = GroupCommit(self._record_outcomes)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Dispatcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def claim(self, limit: int) -> list[dict[str, Any]]:
        """Lease up to `limit` due actions to this dispatcher (counting an attempt for each)."""
        now = time.monotonic()
        rows = self.graph.write(q.CLAIM_DUE_ACTIONS, {
            "kinds": list(q.DISPATCHED_KINDS), "limit": limit, "worker": self.worker,
            "lease_ms": int(self.settings.dispatch_lease_seconds * 1000), "subject_labels": q.SUBJECT_LABELS,
        })
        # Retries to wait for no more: the ones this claim took, and the ones due by then (taken, another
        # dispatcher's now, or not due yet by Neo4j's clock, which the empty claim's outbox read covers).
        with self._retries_lock:
            for row in rows:
                self._retries.pop(row["action"]["id"], None)
            self._retries = {action: due for action, due in self._retries.items() if due > now}
        return rows

    def deliver(self, claimed: dict[str, Any]) -> str:
        """Carry out one claimed action and record the outcome; returns it."""
        action = claimed["action"]
        if action["kind"] == q.TASK:
            rows = self.graph.write(q.EXECUTE_TASK_ACTION, {"id": action["id"]})
            outcome = "task_created" if rows else "lost_lease"
        else:
            outcome = self._post(claimed)
        with self._report_lock:
            self.report.outcomes[outcome] += 1
        metrics.DELIVERIES.labels(kind=action["kind"], outcome=outcome).inc()
        if outcome in ("delivered", "task_created") and action.get("created_ns") is not None:
            metrics.COMMIT_TO_DELIVERED_SECONDS.observe(max(0.0, time.time() - action["created_ns"] / 1e9))
        return outcome

    def _post(self, claimed: dict[str, Any]) -> str:
        action = claimed["action"]
        attempt = action["attempts"]
        body = webhook_body(claimed)
        started = time.monotonic()
        timestamp = int(time.time())
        status_code: int | None = None
        try:
            response = self.client.post(
                self.settings.webhook_url, content=body, headers=headers(self.key, action["id"], timestamp, body)
            )
            status_code = response.status_code
            error = None if 200 <= status_code < 300 else f"HTTP {status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {str(exc)[:200]}"
        elapsed = time.monotonic() - started
        metrics.ATTEMPT_SECONDS.observe(elapsed)
        elapsed_ms = int(elapsed * 1000)
        log_entry = f"{datetime.now(UTC).isoformat(timespec='milliseconds')} #{attempt} {error or status_code} {elapsed_ms}ms"
        if error is None:
            self.outcomes.submit((q.MARK_DELIVERED, {"id": action["id"], "status_code": status_code,
                                                     "log_entry": log_entry}))
            logger.debug("action %s delivered on attempt %s in %sms", action["id"], attempt, elapsed_ms)
            return "delivered"
        delay = backoff_seconds(
            attempt, self.settings.webhook_backoff_seconds, self.settings.webhook_backoff_max_seconds, self.rng
        )
        status = self.outcomes.submit((q.MARK_FAILED, {
            "id": action["id"], "attempt": attempt, "backoff_ms": int(delay * 1000),
            "status_code": status_code, "error": error, "log_entry": log_entry,
        }))
        if status is None:
            return "lost_lease"
        if status == q.PENDING:
            with self._retries_lock:
                self._retries[action["id"]] = time.monotonic() + delay
        if status == q.DEAD_LETTER:
            logger.warning("action %s dead-lettered after %s attempts (last: %s)", action["id"], attempt, error)
            return "dead_letter"
        logger.info("action %s attempt %s failed (%s); retrying in %.2fs", action["id"], attempt, error, delay)
        return "retry"

    def _record_outcomes(self, outcomes: Sequence[Outcome]) -> list[str | None]:
        """One transaction for the deliveries' outcomes: each action's new status, or None for a lost lease."""
        by_statement: dict[str, list[dict[str, Any]]] = {}
        for statement, row in outcomes:
            by_statement.setdefault(statement, []).append(row)
        extra = {q.MARK_FAILED: {"worker": self.worker, "max_attempts": self.settings.webhook_max_attempts}}

        def record(tx: ManagedTransaction) -> dict[str, str]:
            status: dict[str, str] = {}
            for statement, rows in by_statement.items():
                batch = {"rows": sorted(rows, key=lambda row: row["id"]), **extra.get(statement, {})}
                status.update((r["id"], r["status"]) for r in tx.run(statement, batch=batch))
            return status

        recorded = self.graph.execute_write(record)
        return [recorded.get(row["id"]) for _, row in outcomes]

    def run(self, *, once: bool = False, stop: threading.Event | None = None) -> DispatchReport:
        """Deliver until stopped (or, with `once`, until nothing is due now); in-flight deliveries finish.

        Idle, it polls every KGCRM_DISPATCH_POLL seconds, and at once when a wake-up hint arrives on
        KGCRM_DISPATCH_WAKE (the scorer sends one after committing due actions). With hints, the
        deliveries of a claim are not followed by another claim unless a hint came, the poll interval
        passed or a retry of its own fell due (see `_claim_now`).
        """
        stop = stop or threading.Event()
        concurrency = self.settings.dispatch_concurrency
        poll = self.settings.dispatch_poll_seconds
        in_flight: set[Future[str]] = set()
        listener = None if once else WakeListener.bind(self.settings.dispatch_wake_addresses, 0, "action wake-ups")
        claimed_at, backlog, woken = -float("inf"), True, True
        try:
            with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="kgcrm-dispatch") as pool:
                while not stop.is_set():
                    free = concurrency - len(in_flight)
                    came_back_empty = False
                    if free and (woken or self._claim_now(in_flight, free, backlog, claimed_at, listener)):
                        claimed = self.claim(free)
                        claimed_at, backlog, woken = time.monotonic(), len(claimed) == free, False
                        came_back_empty = not claimed
                        in_flight.update(pool.submit(self.deliver, row) for row in claimed)
                    if not in_flight:
                        if once:
                            break
                        idle = (self._idle_seconds() if came_back_empty or self._gauge_is_old(poll)
                                else self._until_next_claim(claimed_at, poll))
                        if listener is not None:
                            listener.wait(idle, stop)
                        else:
                            stop.wait(idle)
                        woken = True
                        continue
                    done, in_flight = wait(in_flight, timeout=poll, return_when=FIRST_COMPLETED)
                    for future in done:
                        future.result()  # a Neo4j failure while recording stops the dispatcher loudly
                wait(in_flight)
        finally:
            if listener is not None:
                listener.close()
        return self.report

    def _claim_now(self, in_flight: set[Future[str]], free: int, backlog: bool, claimed_at: float,
                   listener: WakeListener | None) -> bool:
        """Whether to claim now, with `free` slots: a claim is a write transaction, so not after every delivery.

        When a wake-up hint came or a poll interval passed since the last claim; while the last claim
        came back full (more is due), once half the slots are free, so that a backlog is claimed in
        batches. When nothing is in flight: always without hints; with them only when a retry of its
        own fell due, since anything else that became due meanwhile either sent a hint (a scorer's
        actions) or waits for the poll interval anyway (another dispatcher's retry, an expired lease).
        """
        now = time.monotonic()
        if now - claimed_at >= self.settings.dispatch_poll_seconds:
            return True
        if listener is not None and listener.pending():
            return True
        if not in_flight:
            return listener is None or backlog or self._retry_due(now)
        return backlog and free >= max(1, self.settings.dispatch_concurrency // 2)

    def _retry_due(self, now: float) -> bool:
        """Whether a retry of this dispatcher's fell due (the next claim takes it, see `claim`)."""
        with self._retries_lock:
            return any(due <= now for due in self._retries.values())

    def _until_next_claim(self, claimed_at: float, poll: float) -> float:
        """Seconds until the poll interval since the last claim ends or a retry of this dispatcher's falls due."""
        with self._retries_lock:
            retry = min(self._retries.values(), default=float("inf"))
        return max(0.0, min(claimed_at + poll, retry) - time.monotonic())

    def _gauge_is_old(self, poll: float) -> bool:
        """Whether the outbox gauge was last refreshed over a poll interval ago (it is, at most, once one)."""
        return time.monotonic() - self._gauge_read_at >= poll

    def _idle_seconds(self) -> float:
        """Sleep until the next pending action falls due, but never longer than the poll interval."""
        row = self.graph.read(q.NEXT_DUE, {"kinds": list(q.DISPATCHED_KINDS)})[0]
        self._gauge_read_at = time.monotonic()
        metrics.OUTBOX_DUE.set(row["pending"])
        poll = self.settings.dispatch_poll_seconds
        if row["due_in_ms"] is None:
            return poll
        # Both times are whole milliseconds: 2 more, or the claim may come a millisecond early and find nothing.
        return min(poll, max(0.01, (row["due_in_ms"] + 2) / 1000))


def iso_of_nanos(nanos: int | None) -> str | None:
    """ISO 8601 in UTC to the nanosecond, as the driver's DateTime.iso_format() writes a stored UTC time."""
    if nanos is None:
        return None
    seconds, fraction = divmod(nanos, 1_000_000_000)
    return f"{datetime.fromtimestamp(seconds, UTC):%Y-%m-%dT%H:%M:%S}.{fraction:09d}+00:00"
