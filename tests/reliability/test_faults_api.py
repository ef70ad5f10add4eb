"""Faults: the API process (`kgcrm serve`) SIGKILLed while clients stream events into it.

Two clients send events as fast as the API answers: one POSTs NDJSON batches to /events, the other
sends recordActivity mutations. The API is killed mid-stream and started again; each client then
retries what was never acknowledged. Every acknowledged event must be stored exactly once, every
retried one too, and a second retry of everything must store nothing new (idempotent by eventId).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from conftest import KGCRM, free_port, wipe
from kgcrm.graph.driver import Graph
from kgcrm.graph.schema import apply_migrations
from kgcrm.gql.auth import create_api_key

NOW = "2026-01-20T10:00:00Z"
ACCOUNTS = [f"kf-a{i}" for i in range(20)]
SEED = """
UNWIND $ids AS id
CREATE (:Account {id: id, name: 'Account ' + id, created_at: datetime(), updated_at: datetime()})
"""
RECORD = """mutation($input: ActivityInput!) { recordActivity(input: $input) { __typename ... on ActivityRecorded { created } } }"""


def _event(event_id: str, n: int) -> dict[str, str]:
    return {"eventId": event_id, "type": "web_visit", "at": NOW, "accountId": ACCOUNTS[n % len(ACCOUNTS)]}


class Api:
    """`kgcrm serve` as a child process on a free port; SIGKILLed by its PID."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        self.port = free_port()
        self.env = {**env, "KGCRM_API_PORT": str(self.port), "KGCRM_API_WORKERS": "1", "KGCRM_LOG_LEVEL": "WARNING"}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        # Its log goes to a file: a pipe nobody reads would fill up and block the server.
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([KGCRM, "serve"], env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 180
        while True:
            assert self.process.poll() is None, self.log.read_text(errors="replace")[-2000:]
            assert time.monotonic() < deadline, "the API did not become ready"
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)

    def kill9(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill9()


@dataclass
class Stream:
    """What one client sent: ids acknowledged by a 2xx answer, and ids whose request failed or got no answer."""

    acked: set[str] = field(default_factory=set)
    unacked: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)  # refusals the kill cannot explain (4xx, GraphQL errors)
    failures: list[str] = field(default_factory=list)  # no answer or a 5xx: expected while the API is down


def _ndjson_client(url: str, key: str, stream: Stream, stop: threading.Event) -> None:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/x-ndjson"}
    n = 0
    with httpx.Client(base_url=url, timeout=60, headers=headers) as http:
        while not stop.is_set():
            ids = [f"kf-nd-{n + i}" for i in range(10)]
            body = "\n".join(json.dumps(_event(i, n + k)) for k, i in enumerate(ids))
            n += 10
            try:
                response = http.post("/events", content=body.encode())
            except httpx.HTTPError as exc:
                stream.unacked.update(ids)
                stream.failures.append(repr(exc))
                time.sleep(0.05)
                continue
            if response.status_code == 200 and response.json()["created"] + response.json()["duplicates"] == len(ids):
                stream.acked.update(ids)
            else:
                stream.unacked.update(ids)
                problems = stream.errors if response.status_code < 500 else stream.failures
                problems.append(f"{response.status_code} {response.text[:200]}")


def _graphql_client(url: str, key: str, stream: Stream, stop: threading.Event) -> None:
    n = 0
    with httpx.Client(base_url=url, timeout=60, headers={"Authorization": f"Bearer {key}"}) as http:
        while not stop.is_set():
            event_id = f"kf-gq-{n}"
            variables = {"input": {**_event(event_id, n), "type": "WEB_VISIT"}}
            n += 1
            try:
                response = http.post("/graphql", json={"query": RECORD, "variables": variables})
            except httpx.HTTPError as exc:
                stream.unacked.add(event_id)
                stream.failures.append(repr(exc))
                time.sleep(0.05)
                continue
            body = response.json() if response.status_code == 200 else {}
            if body.get("data", {}) and body["data"]["recordActivity"]["__typename"] == "ActivityRecorded":
                stream.acked.add(event_id)
            else:
                stream.unacked.add(event_id)
                problems = stream.errors if response.status_code < 500 else stream.failures
                problems.append(f"{response.status_code} {response.text[:200]}")


def _stored(graph: Graph, prefix: str) -> dict[str, int]:
    rows = graph.read("MATCH (e:Activity) WHERE e.id STARTS WITH $p OPTIONAL MATCH (e)-[r:ABOUT]->(:Account) "
                      "RETURN e.id AS id, count(r) AS about", {"p": prefix})
    return {r["id"]: r["about"] for r in rows}


@pytest.fixture
def api(neo4j_server, graph: Graph, tmp_path: Path) -> Iterator[tuple[Api, str]]:
    wipe(graph)
    apply_migrations(graph)
    graph.write(SEED, {"ids": ACCOUNTS})
    key = create_api_key(graph, role="ingest", name="fault-test").secret_key
    server = Api(neo4j_server.env, tmp_path / "api.log")
    server.start()
    try:
        yield server, key
    finally:
        server.stop()


def test_api_killed_mid_stream_loses_no_acknowledged_event_and_retries_store_each_once(api, graph: Graph) -> None:
    server, key = api
    ndjson, graphql = Stream(), Stream()
    stop = threading.Event()
    clients = [threading.Thread(target=_ndjson_client, args=(server.url, key, ndjson, stop), daemon=True),
               threading.Thread(target=_graphql_client, args=(server.url, key, graphql, stop), daemon=True)]
    for client in clients:
        client.start()
    deadline = time.monotonic() + 240
    while len(ndjson.acked) < 30 or len(graphql.acked) < 3:
        assert time.monotonic() < deadline, (len(ndjson.acked), len(graphql.acked), ndjson.errors, graphql.errors, ndjson.failures[:3], graphql.failures[:3])
        time.sleep(0.05)
    server.kill9()  # mid-stream: both clients have requests in flight or about to be
    time.sleep(1.0)  # requests sent while it is down fail (connection refused) and stay unacknowledged
    stop.set()
    for client in clients:
        client.join(timeout=30)
    assert not ndjson.errors and not graphql.errors, (ndjson.errors[:3], graphql.errors[:3])
    assert ndjson.unacked and graphql.unacked  # the kill really cut requests off

    # Every acknowledged event is stored exactly once, with its relationship.
    stored = first_stored = _stored(graph, "kf-")
    acked = ndjson.acked | graphql.acked
    assert acked <= set(stored), sorted(acked - set(stored))[:10]
    assert all(stored[i] == 1 for i in acked)
    # Nothing is stored half: an unacknowledged event is either absent or whole.
    assert all(about == 1 for about in stored.values())

    # The API comes back; the clients retry what was not acknowledged, then (a careless client) everything.
    server.start()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/x-ndjson"}
    retry = sorted(ndjson.unacked | graphql.unacked)
    everything = sorted(acked | set(retry))
    with httpx.Client(base_url=server.url, timeout=60, headers=headers) as http:
        first = http.post("/events", content="\n".join(json.dumps(_event(i, n)) for n, i in enumerate(retry)).encode())
        assert first.status_code == 200 and not first.json()["rejected"], first.text
        again = http.post("/events", content="\n".join(json.dumps(_event(i, n)) for n, i in enumerate(everything)).encode())
        assert again.status_code == 200 and again.json()["created"] == 0, again.text
        assert again.json()["duplicates"] == len(everything)
    stored = _stored(graph, "kf-")
    assert set(stored) == set(everything) and all(about == 1 for about in stored.values())
    print(f"acknowledged before the kill: {len(ndjson.acked)} NDJSON + {len(graphql.acked)} recordActivity; "
          f"unacknowledged: {len(ndjson.unacked)} + {len(graphql.unacked)}, of which stored before the kill "
          f"{len(set(retry) & set(first_stored))}; after the retries {len(stored)} events, each once")
    dup = graph.read("MATCH (e:Activity) WHERE e.id STARTS WITH 'kf-' WITH e.id AS id, count(*) AS c WHERE c > 1 "
                     "RETURN count(*) AS n")[0]["n"]
    assert dup == 0
    assert graph.read("MATCH (e:Activity) WHERE e.id STARTS WITH 'kf-' AND e.rescore_pending RETURN count(e) AS n"
                      )[0]["n"] == len(everything)  # every stored event is queued for the scorer
