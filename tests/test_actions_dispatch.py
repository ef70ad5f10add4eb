"""The dispatcher against the real server and a real HTTP receiver on loopback.

The receiver verifies every Standard Webhooks signature, records every request, acts once per
`webhook-id` (as a deduplicating receiver should) and can fail the first N requests or answer slowly.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from kgcrm.actions.dispatch import Dispatcher
from kgcrm.actions.lineage import explain_action
from kgcrm.actions.outbox import ScoreChangeInput, apply_score_changes
from kgcrm.actions.policies import parse_policies
from kgcrm.actions.review import decide, requeue
from kgcrm.actions.wakeup import WakeSender
from kgcrm.actions.webhooks import verify
from kgcrm.graph.driver import Graph
from kgcrm.graph.errors import DispatchConfigError
from kgcrm.graph.model import Label
from kgcrm.graph.settings import Settings

KGCRM = str(Path(sys.executable).parent / "kgcrm")
KEY = bytes(range(7, 39))
SECRET = "whsec_" + base64.b64encode(KEY).decode()
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Receiver:
    """A webhook endpoint on a loopback port: verifies, records, deduplicates by webhook-id."""

    def __init__(self, *, fail_first: int = 0, delay: float = 0.0) -> None:
        self.fail_remaining = fail_first
        self.delay = delay
        self.requests: list[dict[str, Any]] = []
        self.acted: Counter[str] = Counter()  # webhook-id -> times acted on (1 for a deduplicating receiver)
        self.duplicates = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                msg_id = self.headers.get("webhook-id", "")
                timestamp = self.headers.get("webhook-timestamp", "0")
                valid = verify(KEY, msg_id, timestamp, body, self.headers.get("webhook-signature", "")) and \
                    abs(time.time() - int(timestamp)) < 300
                with receiver.lock:
                    receiver.requests.append({"id": msg_id, "timestamp": timestamp, "valid": valid, "body": body})
                    failing = valid and receiver.fail_remaining > 0
                    if failing:
                        receiver.fail_remaining -= 1
                    elif valid:
                        # Act on receipt (then answer): a sender that dies before reading the answer
                        # will send again, and the duplicate is recognised by its webhook-id.
                        if receiver.acted[msg_id]:
                            receiver.duplicates += 1
                        else:
                            receiver.acted[msg_id] += 1
                if receiver.delay and valid and not failing:
                    time.sleep(receiver.delay)
                self.send_response(401 if not valid else 503 if failing else 204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Any:
    made: list[Receiver] = []

    def make(**kwargs: Any) -> Receiver:
        made.append(Receiver(**kwargs))
        return made[-1]

    yield make
    for r in made:
        r.close()


def _settings(graph: Graph, url: str, **extra: Any) -> Settings:
    values = {
        "webhook_url": url, "webhook_secret": SECRET, "webhook_max_attempts": 4, "webhook_timeout_seconds": 2.0,
        "webhook_backoff_seconds": 0.05, "webhook_backoff_max_seconds": 0.2, "dispatch_lease_seconds": 30.0,
        "dispatch_poll_seconds": 0.05, "dispatch_concurrency": 4, "holdout_fraction": 0.0,
    }
    return graph.settings.model_copy(update={**values, **extra})


def _outbox(graph: Graph, settings: Settings, accounts: int, action: str = "webhook", **policy: Any) -> list[str]:
    """Accounts a1..aN owned by u1, each crossing the policy once; returns the action ids."""
    graph.write(
        "CREATE (u:User {id: 'u1'}) WITH u UNWIND range(1, $n) AS i "
        "CREATE (u)-[:OWNS]->(:Account {id: 'a' + i, name: 'Account ' + i, annual_revenue: i * 1000.0})",
        {"n": accounts},
    )
    extra = "".join(f", {k}: {v}" for k, v in policy.items())
    policies = parse_policies(
        f"policies:\n  - {{name: hot, label: Account, enter: 0.8, rearm: 0.6, action: {action}{extra}}}\n", "test"
    )
    changes = [ScoreChangeInput(f"a{i}", Label.ACCOUNT, 0.5, 0.9, "mv1", changed_at=T0) for i in range(1, accounts + 1)]
    return apply_score_changes(graph, changes, policies, settings).action_ids


def _statuses(graph: Graph) -> dict[str, str]:
    return {r["id"]: r["status"] for r in graph.read("MATCH (x:Action) RETURN x.id AS id, x.status AS status")}


def _drain(graph: Graph, settings: Settings, rounds: int = 200) -> Dispatcher:
    """Run the dispatcher until no action is pending (retries included), as `kgcrm dispatch` would."""
    with Dispatcher(graph, settings) as dispatcher:
        for _ in range(rounds):
            dispatcher.run(once=True)
            if "pending" not in _statuses(graph).values():
                return dispatcher
            time.sleep(0.05)
    raise AssertionError(f"actions still pending after {rounds} rounds: {Counter(_statuses(graph).values())}")


def test_delivers_signed_webhooks_and_creates_owner_tasks(graph: Graph, receiver: Any) -> None:
    r = receiver()
    settings = _settings(graph, r.url)
    ids = _outbox(graph, settings, 2, action="both")
    sample = "kgcrm_dispatch_deliveries_total"
    before = REGISTRY.get_sample_value(sample, {"kind": "webhook", "outcome": "delivered"}) or 0.0
    with Dispatcher(graph, settings) as dispatcher:
        report = dispatcher.run(once=True)
    assert report.outcomes == {"delivered": 2, "task_created": 2}
    assert REGISTRY.get_sample_value(sample, {"kind": "webhook", "outcome": "delivered"}) == before + 2
    assert REGISTRY.get_sample_value(sample, {"kind": "task", "outcome": "task_created"}) >= 2
    assert set(_statuses(graph).values()) == {"delivered"}
    webhook_ids = {r["id"] for r in graph.read("MATCH (x:Action {kind: 'webhook'}) RETURN x.id AS id")}
    assert webhook_ids <= set(ids) and len(webhook_ids) == 2
    assert [req["valid"] for req in r.requests] == [True, True]
    assert {req["id"] for req in r.requests} == webhook_ids
    body = json.loads(r.requests[0]["body"])
    assert body["type"] == "action.triggered"
    assert body["data"]["action_id"] == r.requests[0]["id"]
    assert body["data"]["subject"]["label"] == "Account" and body["data"]["owner_id"] == "u1"
    assert body["data"]["score"]["new"] == 0.9 and body["data"]["score"]["model_version"] == "mv1"
    # The body's times are the stored DateTimes' ISO form to the nanosecond (read as numbers, not decoded).
    stored = graph.read("MATCH (x:Action {id: $id})-[:CAUSED_BY]->(sc:ScoreChange) "
                        "RETURN x.created_at AS created, sc.changed_at AS changed", {"id": body["data"]["action_id"]})[0]
    assert body["timestamp"] == stored["created"].iso_format() and body["timestamp"].endswith("+00:00")
    assert body["data"]["score"]["changed_at"] == stored["changed"].iso_format() == "2026-03-02T09:00:00.000000000+00:00"
    tasks = graph.read(
        "MATCH (t:Task)-[:ASSIGNED_TO]->(:User {id: 'u1'}) MATCH (t)-[:ABOUT]->(a:Account) "
        "RETURN a.id AS account, t.status AS status, t.title AS title ORDER BY account"
    )
    assert [(t["account"], t["status"]) for t in tasks] == [("a1", "open"), ("a2", "open")]
    assert tasks[0]["title"] == "Follow up: Account 1 (hot)"
    task_action = next(i for i in ids if i not in webhook_ids)
    assert explain_action(graph, task_action)["task"]["status"] == "open"
    # Nothing is due any more: a second run sends nothing.
    with Dispatcher(graph, settings) as dispatcher:
        assert dispatcher.run(once=True).attempts == 0
    assert len(r.requests) == 2


def test_retries_with_backoff_then_delivers_with_the_same_webhook_id(graph: Graph, receiver: Any) -> None:
    r = receiver(fail_first=2)
    settings = _settings(graph, r.url)
    (action_id,) = _outbox(graph, settings, 1)
    dispatcher = _drain(graph, settings)
    assert dispatcher.report.outcomes == {"retry": 2, "delivered": 1}
    assert [req["id"] for req in r.requests] == [action_id] * 3
    assert all(req["valid"] for req in r.requests)
    assert len({req["body"] for req in r.requests}) == 1  # the same bytes on every attempt
    row = graph.read(
        "MATCH (x:Action {id: $id}) RETURN x.status AS status, x.attempts AS attempts, x.attempt_log AS log, "
        "x.last_status_code AS code, x.lease_owner AS lease", {"id": action_id}
    )[0]
    assert (row["status"], row["attempts"], row["code"], row["lease"]) == ("delivered", 3, 204, None)
    assert [entry.split()[1:3] for entry in row["log"]] == [["#1", "HTTP"], ["#2", "HTTP"], ["#3", "204"]]
    assert r.acted == {action_id: 1}


def test_deliveries_finishing_together_are_recorded_together_and_each_once(
    graph: Graph, receiver: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = receiver(delay=0.3, fail_first=2)  # eight deliveries in flight answer within moments of each other
    settings = _settings(graph, r.url, dispatch_concurrency=8, webhook_backoff_seconds=0.01,
                         webhook_backoff_max_seconds=0.02)
    ids = _outbox(graph, settings, 16)
    with Dispatcher(graph, settings) as dispatcher:
        record = dispatcher.graph.execute_write
        transactions: list[int] = []

        def counted(work: Any, *args: Any, **kwargs: Any) -> Any:
            transactions.append(1)
            return record(work, *args, **kwargs)

        monkeypatch.setattr(dispatcher.graph, "execute_write", counted)
        for _ in range(100):
            dispatcher.run(once=True)
            if "pending" not in _statuses(graph).values():
                break
            time.sleep(0.05)
    assert dispatcher.report.outcomes == {"delivered": 16, "retry": 2}
    assert set(_statuses(graph).values()) == {"delivered"} and r.acted == dict.fromkeys(ids, 1)
    # 18 outcomes, recorded in fewer transactions: the ones that finished while another committed went together.
    assert len(transactions) < 18, len(transactions)


def test_a_backlog_is_claimed_in_batches_not_a_claim_a_delivery(
    graph: Graph, receiver: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = receiver(delay=0.02)
    settings = _settings(graph, r.url, dispatch_concurrency=8, dispatch_poll_seconds=5.0)
    ids = _outbox(graph, settings, 40)
    with Dispatcher(graph, settings) as dispatcher:
        claim, sizes = dispatcher.claim, []

        def counted(limit: int) -> list[dict[str, Any]]:
            sizes.append(limit)
            return claim(limit)

        monkeypatch.setattr(dispatcher, "claim", counted)
        assert dispatcher.run(once=True).outcomes == {"delivered": 40}
    assert set(_statuses(graph).values()) == {"delivered"} and r.acted == dict.fromkeys(ids, 1)
    # Every claim asks for at least half the slots (a claim after each delivery: 33 claims of 1): the first
    # 8, at most 32 / 4 more while claims come back full, then one that comes back empty at half the slots
    # free and the last when nothing is in flight.
    assert min(sizes) >= 4 and len(sizes) <= 1 + 32 // 4 + 2, sizes


def test_with_wake_up_hints_deliveries_are_not_followed_by_an_empty_claim_and_retries_still_come(
    graph: Graph, receiver: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = receiver(fail_first=1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        wake = f"127.0.0.1:{probe.getsockname()[1]}"
    # Hints on, a poll of 30 s: whatever happens within the test is due to a hint or to a known retry.
    settings = _settings(graph, r.url, dispatch_poll_seconds=30.0, dispatch_wake=wake,
                         webhook_backoff_seconds=0.3, webhook_backoff_max_seconds=0.3)
    ids = _outbox(graph, settings, 3)
    stop = threading.Event()
    with Dispatcher(graph, settings) as dispatcher:
        claim, read, claims, reads = dispatcher.claim, dispatcher.graph.read, [], []

        def counted_claim(limit: int) -> list[dict[str, Any]]:
            claims.append(time.monotonic())
            return claim(limit)

        def counted_read(query: str, *args: Any, **kwargs: Any) -> Any:
            if "next_due" in query:  # the dispatcher's outbox read (not this test's own)
                reads.append(time.monotonic())
            return read(query, *args, **kwargs)

        monkeypatch.setattr(dispatcher, "claim", counted_claim)
        monkeypatch.setattr(dispatcher.graph, "read", counted_read)
        thread = threading.Thread(target=dispatcher.run, kwargs={"stop": stop}, daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 10
            while set(_statuses(graph).values()) != {"delivered"} and time.monotonic() < deadline:
                time.sleep(0.05)
            # One claim took all three; the failed one came back on its own backoff (0.15-0.3 s), not on the
            # 30 s poll; and no claim followed either batch's last delivery.
            assert set(_statuses(graph).values()) == {"delivered"} and r.acted == dict.fromkeys(ids, 1)
            assert len(claims) == 2 and claims[1] - claims[0] >= 0.15, claims
            time.sleep(0.5)
            assert len(claims) == 2 and len(reads) <= 1, (claims, reads)  # at most the outbox gauge's first read
            WakeSender([("127.0.0.1", int(wake.rsplit(":", 1)[1]))]).send()
            deadline = time.monotonic() + 5
            while len(claims) == 2 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert len(claims) == 3  # a hint still claims at once
        finally:
            stop.set()
            thread.join(timeout=30)


def test_dead_letters_after_the_configured_attempts_and_requeues(graph: Graph, receiver: Any) -> None:
    with socket.socket() as sock:  # a port where nothing listens: the receiver is down
        sock.bind(("127.0.0.1", 0))
        down_url = f"http://127.0.0.1:{sock.getsockname()[1]}/hooks"
    settings = _settings(graph, down_url, webhook_max_attempts=3)
    (action_id,) = _outbox(graph, settings, 1)
    dispatcher = _drain(graph, settings)
    assert dispatcher.report.outcomes == {"retry": 2, "dead_letter": 1}
    row = graph.read(
        "MATCH (x:Action {id: $id}) RETURN x.status AS status, x.attempts AS attempts, x.last_error AS error, "
        "x.dead_lettered_at IS NOT NULL AS stamped, x.next_attempt_at AS next", {"id": action_id}
    )[0]
    assert (row["status"], row["attempts"], row["stamped"], row["next"]) == ("dead_letter", 3, True, None)
    assert row["error"].startswith("ConnectError")
    # The receiver is back: requeue the dead letter and it is delivered.
    r = receiver()
    assert requeue(graph, action_id) == "pending"
    _drain(graph, _settings(graph, r.url))
    assert _statuses(graph) == {action_id: "delivered"} and r.acted == {action_id: 1}


def test_holdouts_and_actions_awaiting_approval_are_not_sent(graph: Graph, receiver: Any) -> None:
    r = receiver()
    settings = _settings(graph, r.url)
    ids = _outbox(graph, settings, 4, approval="{property: annual_revenue, above: 2500}")
    assert sorted(_statuses(graph).values()) == ["pending", "pending", "pending_approval", "pending_approval"]
    held = _settings(graph, r.url, holdout_fraction=0.999999)
    graph.write("CREATE (:Account {id: 'b1'})")
    policies = parse_policies("policies:\n  - {name: other, label: Account, enter: 0.8, rearm: 0.6}\n", "t")
    held_ids = apply_score_changes(graph, [ScoreChangeInput("b1", Label.ACCOUNT, 0.1, 0.9, "mv1")], policies, held).action_ids
    assert _statuses(graph)[held_ids[0]] == "holdout"
    _drain(graph, settings)
    assert len(r.requests) == 2
    waiting = [i for i in ids if _statuses(graph)[i] == "pending_approval"]
    decide(graph, waiting[0], approve=True, reason_code="good_fit", decided_by="u1")
    decide(graph, waiting[1], approve=False, reason_code="not_now", decided_by="u1")
    _drain(graph, settings)
    assert len(r.requests) == 3 and r.requests[-1]["id"] == waiting[0]
    assert json.loads(r.requests[-1]["body"])["data"]["approval"] == {"decided_by": "u1", "reason_code": "good_fit"}
    assert Counter(_statuses(graph).values()) == {"delivered": 3, "rejected": 1, "holdout": 1}


def test_dispatcher_refuses_to_run_unconfigured(graph: Graph) -> None:
    with pytest.raises(DispatchConfigError, match="KGCRM_WEBHOOK_URL is not set"):
        Dispatcher(graph, _settings(graph, ""))
    with pytest.raises(DispatchConfigError, match="must exceed KGCRM_WEBHOOK_TIMEOUT"):
        Dispatcher(graph, _settings(graph, "http://127.0.0.1:9/x", dispatch_lease_seconds=1.0))
    result = subprocess.run([KGCRM, "dispatch", "--once"], capture_output=True, text=True,
                            env={**os.environ, "KGCRM_WEBHOOK_URL": "", "KGCRM_WEBHOOK_SECRET": ""})
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "kgcrm: error: KGCRM_WEBHOOK_URL is not set: the dispatcher has nowhere to deliver webhooks"
    )


def test_a_killed_dispatcher_loses_nothing_and_the_receiver_acts_once(
    graph: Graph, receiver: Any, neo4j_server: Any, tmp_path: Path
) -> None:
    r = receiver(delay=0.5)
    settings = _settings(graph, r.url)
    ids = _outbox(graph, settings, 30)
    env = {
        **neo4j_server.env, "KGCRM_WEBHOOK_URL": r.url, "KGCRM_WEBHOOK_SECRET": SECRET,
        "KGCRM_WEBHOOK_TIMEOUT": "3", "KGCRM_DISPATCH_LEASE": "5", "KGCRM_DISPATCH_POLL": "0.05",
        "KGCRM_DISPATCH_CONCURRENCY": "4", "KGCRM_WEBHOOK_BACKOFF": "0.05",
    }
    first = subprocess.Popen([KGCRM, "dispatch"], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while len(r.requests) < 8:
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the dispatcher sent nothing"
            time.sleep(0.02)
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    finally:
        if first.poll() is None:
            os.kill(first.pid, signal.SIGKILL)
            first.wait()
    # Claimed and not finished when it died: these must not be lost.
    in_flight = graph.read(
        "MATCH (x:Action) WHERE x.status = 'pending' AND x.lease_owner IS NOT NULL RETURN count(x) AS n"
    )[0]["n"]
    assert in_flight >= 1

    second = subprocess.Popen([KGCRM, "dispatch"], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    try:
        deadline = time.monotonic() + 180
        while set(_statuses(graph).values()) != {"delivered"}:
            assert second.poll() is None, second.communicate()
            assert time.monotonic() < deadline, f"not all delivered: {Counter(_statuses(graph).values())}"
            time.sleep(0.1)
    finally:
        second.send_signal(signal.SIGTERM)
        out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    assert "outbox now: delivered 30" in out
    assert set(r.acted) == set(ids) and set(r.acted.values()) == {1}
    assert all(req["valid"] for req in r.requests)
    # The receiver had acted on the requests in flight when the first dispatcher died; they came again.
    assert r.duplicates >= 1


def test_two_dispatchers_never_claim_the_same_action(graph: Graph, receiver: Any) -> None:
    r = receiver(delay=0.05)
    settings = _settings(graph, r.url, dispatch_concurrency=3)
    ids = _outbox(graph, settings, 24)
    dispatchers = [Dispatcher(graph, settings) for _ in range(2)]
    threads = [threading.Thread(target=d.run, kwargs={"once": True}) for d in dispatchers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert set(_statuses(graph).values()) == {"delivered"}
    assert sorted(req["id"] for req in r.requests) == sorted(ids)  # each exactly once: claims are exclusive
    assert r.duplicates == 0
    assert sum(d.report.outcomes["delivered"] for d in dispatchers) == 24
    for d in dispatchers:
        d.close()
