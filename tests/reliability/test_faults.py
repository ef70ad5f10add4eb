"""Faults: a webhook receiver that is down for a while (across a dispatcher restart), and Neo4j SIGKILLed
in the middle of a `kgcrm load`.

tests/test_actions_dispatch.py covers a receiver that answers 503, a SIGKILLed dispatcher and dead
letters after max attempts with a receiver that refuses; here the receiver's port is closed outright
(connection refused) and comes back on the same port. The Neo4j test uses a Neo4j of its own (never
the session's), so it is soak-marked: it starts a server and restarts it after the kill.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from conftest import KGCRM, KillableNeo4j, free_port, wipe
from kgcrm.actions.dispatch import Dispatcher
from kgcrm.actions.review import requeue
from kgcrm.actions.webhooks import verify
from kgcrm.graph.driver import Graph
from kgcrm.graph.schema import apply_migrations
from kgcrm.loaders.generate import WorldParams, generate_world
from test_actions_dispatch import KEY, SECRET, _outbox, _settings, _statuses
from test_loaders_load import graph_state


class FlakyReceiver:
    """A deduplicating webhook receiver on a fixed loopback port that can be taken down and brought back."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}/hooks"
        self.acted: Counter[str] = Counter()
        self.requests = 0
        self.duplicates = 0
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None

    def up(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                msg_id = self.headers.get("webhook-id", "")
                valid = verify(KEY, msg_id, self.headers.get("webhook-timestamp", "0"), body,
                               self.headers.get("webhook-signature", ""))
                with receiver.lock:
                    receiver.requests += 1
                    if valid and receiver.acted[msg_id]:
                        receiver.duplicates += 1
                    elif valid:
                        receiver.acted[msg_id] += 1
                self.send_response(204 if valid else 401)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def down(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


@pytest.fixture
def flaky_receiver() -> Any:
    receiver = FlakyReceiver(free_port())
    yield receiver
    receiver.down()


def _attempts(graph: Graph) -> dict[str, int]:
    return {r["id"]: r["attempts"] or 0 for r in graph.read("MATCH (x:Action) RETURN x.id AS id, x.attempts AS attempts")}


def test_receiver_outage_across_a_dispatcher_restart_then_recovery_delivers_each_action_exactly_once(
    graph: Graph, flaky_receiver: FlakyReceiver
) -> None:
    # Backoff long enough that a loaded machine's slow dispatch rounds cannot spend all attempts while down.
    settings = _settings(graph, flaky_receiver.url, webhook_max_attempts=100, webhook_backoff_seconds=1.0,
                         webhook_backoff_max_seconds=2.0)
    ids = _outbox(graph, settings, 20)
    # The receiver is down: every attempt is refused; the first dispatcher retries, then "crashes" (is dropped).
    with Dispatcher(graph, settings) as first:
        for _ in range(3):
            first.run(once=True)
            time.sleep(0.7)
    tried = _attempts(graph)
    assert set(_statuses(graph).values()) == {"pending"} and min(tried.values()) >= 1, (tried, _statuses(graph))
    # A second dispatcher starts while the receiver is still down, then the receiver comes back.
    with Dispatcher(graph, settings) as second:
        second.run(once=True)
        flaky_receiver.up()
        deadline = time.monotonic() + 120
        while set(_statuses(graph).values()) != {"delivered"}:
            assert time.monotonic() < deadline, Counter(_statuses(graph).values())
            second.run(once=True)
            time.sleep(0.05)
    assert set(flaky_receiver.acted) == set(ids) and set(flaky_receiver.acted.values()) == {1}
    assert flaky_receiver.duplicates == 0 and flaky_receiver.requests == len(ids)
    assert graph.read("MATCH (x:Action) RETURN count(x) AS n")[0]["n"] == len(ids)  # no duplicate Actions


def test_an_outage_longer_than_the_attempts_dead_letters_and_a_requeue_after_recovery_delivers_once(
    graph: Graph, flaky_receiver: FlakyReceiver
) -> None:
    settings = _settings(graph, flaky_receiver.url, webhook_max_attempts=3, webhook_backoff_seconds=0.02,
                         webhook_backoff_max_seconds=0.05)
    ids = _outbox(graph, settings, 10)
    with Dispatcher(graph, settings) as dispatcher:
        deadline = time.monotonic() + 120
        while set(_statuses(graph).values()) != {"dead_letter"}:
            assert time.monotonic() < deadline, Counter(_statuses(graph).values())
            dispatcher.run(once=True)
            time.sleep(0.06)
    assert set(_attempts(graph).values()) == {3}
    flaky_receiver.up()
    for action_id in ids:
        assert requeue(graph, action_id) == "pending"
    with Dispatcher(graph, settings) as dispatcher:
        deadline = time.monotonic() + 120
        while set(_statuses(graph).values()) != {"delivered"}:
            assert time.monotonic() < deadline, Counter(_statuses(graph).values())
            dispatcher.run(once=True)
            time.sleep(0.05)
    assert set(flaky_receiver.acted) == set(ids) and set(flaky_receiver.acted.values()) == {1}
    assert flaky_receiver.duplicates == 0


def _load(world: Path, env: dict[str, str], cwd: Path, *flags: str) -> subprocess.Popen[str]:
    return subprocess.Popen([KGCRM, "load", str(world), "--format", "salesforce", "--quiet", *flags],
                            env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.soak
@pytest.mark.parametrize("kill_during", ["nodes", "relationships"])
def test_neo4j_killed_mid_load_then_restarted_and_rerun_equals_a_clean_load(
    killable_neo4j: KillableNeo4j, tmp_path: Path, kill_during: str
) -> None:
    world = tmp_path / "world"
    generate_world(WorldParams(accounts=40, seed=9), world, quiet=True)
    # Fail fast when the server is gone, so the re-run (not the driver's retry) is what completes the load.
    env = {**killable_neo4j.env, "KGCRM_NEO4J_MAX_RETRY_SECONDS": "3", "KGCRM_NEO4J_CONNECT_TIMEOUT": "3"}
    with Graph(killable_neo4j.settings) as graph:
        graph.verify()
        apply_migrations(graph)
        clean = _load(world, env, tmp_path)
        assert clean.wait(timeout=600) == 0, clean.stderr.read() if clean.stderr else ""
        expected = graph_state(graph, skip=("updated_at",))
        wipe(graph)
        probe = ("MATCH (n:Activity) RETURN count(n) AS c" if kill_during == "nodes"
                 else "MATCH (:Activity)-[r:ABOUT]->() RETURN count(r) AS c")
        loading = _load(world, env, tmp_path, "--batch-size", "40")
        deadline = time.monotonic() + 300
        while graph.read(probe)[0]["c"] < 1:
            assert loading.poll() is None, f"the load ended before the kill: {loading.communicate()}"
            assert time.monotonic() < deadline, "the load wrote nothing"
            time.sleep(0.05)
    killable_neo4j.kill9()
    _, err = loading.communicate(timeout=300)
    assert loading.returncode == 11, err
    killable_neo4j.restart()
    with Graph(killable_neo4j.settings) as graph:
        graph.verify()
        partial = graph_state(graph, skip=("updated_at",))
        assert partial != expected  # the kill really interrupted the load (committed batches survived the crash)
        rerun = _load(world, env, tmp_path, "--batch-size", "40")
        assert rerun.wait(timeout=600) == 0, rerun.stderr.read() if rerun.stderr else ""
        assert graph_state(graph, skip=("updated_at",)) == expected
        assert graph.read("MATCH (n) WHERE n.id IS NOT NULL AND NOT n:SchemaMigration WITH labels(n)[0] AS l, n.id AS id, "
                          "count(*) AS c WHERE c > 1 RETURN count(*) AS dup")[0]["dup"] == 0
    # The loader failed cleanly: one line that says what happened, no traceback, no driver log lines.
    assert err.startswith("kgcrm: error: cannot reach Neo4j") and err.count("\n") == 1, err
