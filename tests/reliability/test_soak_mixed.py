"""Soak: ten minutes of mixed load on the real processes, then zero errors, a steady p99 and no memory growth.

`kgcrm serve` (one worker) and `kgcrm rescore-events` run as child processes on a planted world with a
production model. An open-loop generator sends GraphQL queries at KGCRM_SOAK_QPS (100) per second, a
light mix of what a CRM front end asks (the caller's role, a page of accounts with scores, one account
with its contacts), and NDJSON events at KGCRM_SOAK_EPS (100) per second in posts of 10. Afterwards:
no request failed, the p99 of the last two minutes is within 20% of the first two minutes' (counted
after a warm-up of KGCRM_SOAK_WARMUP seconds, 120: the JVM's compiler and the caches settle in the first
~90 s under load; two-minute windows so that one spike does not decide the drift), RSS of the API and
of the scorer grew by less than 10% from the end of the warm-up, every event was stored once and the
scorer drained the queue.

    KGCRM_SOAK_SECONDS=600 KGCRM_RELIABILITY_OUT=soak.json make soak PYTEST_ARGS="-k mixed"
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from conftest import KGCRM, free_port, wipe
from kgcrm.graph.driver import Graph
from kgcrm.graph.schema import apply_migrations
from kgcrm.gql.auth import create_api_key
from kgcrm.ml.score import score_task
from test_events_rescore import random_production_model
from test_ml_pipeline import build_planted_world

pytestmark = [pytest.mark.soak, pytest.mark.timeout(3600)]

SECONDS = float(os.environ.get("KGCRM_SOAK_SECONDS", "600"))
WARMUP = float(os.environ.get("KGCRM_SOAK_WARMUP", "120"))
DRIFT_WINDOW_MINUTES = 2
QPS = float(os.environ.get("KGCRM_SOAK_QPS", "100"))
EPS = float(os.environ.get("KGCRM_SOAK_EPS", "100"))
ACCOUNTS = 300
QUERIES = [
    ("{ me { role } }", {}),
    ("{ accounts(first: 10, orderBy: {field: SCORE, direction: DESC}) { edges { node { id name score { value } } } } }", {}),
    ("query($id: ID!) { account(id: $id) { __typename ... on Account { name score { value } contacts(first: 5) { id } } } }",
     "account"),
]


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def _window_p99_ms(latencies: dict[int, list[float]], minutes: list[int]) -> float | None:
    """The p99 of every latency in some minutes together, in ms."""
    values = [v for m in minutes for v in latencies[m]]
    return round(1000 * _p99(values), 1) if values else None


def _p99(values: list[float]) -> float:
    return float(np.percentile(values, 99)) if values else float("nan")


class Child:
    def __init__(self, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log.open("wb")
        self.process = subprocess.Popen(argv, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


def test_mixed_queries_and_events_for_ten_minutes(neo4j_server, graph: Graph, tmp_path: Path) -> None:
    wipe(graph)
    apply_migrations(graph)
    build_planted_world(graph, -2.0, accounts=ACCOUNTS)
    settings = neo4j_server.settings.model_copy(update={"ml_model_dir": tmp_path / "models", "ml_threads": 1})
    random_production_model(graph, settings)
    score_task(graph, settings, "account_intent")
    api_key = create_api_key(graph, role="admin", name="soak").secret_key
    port = free_port()
    env = {**neo4j_server.env, "KGCRM_MODEL_DIR": str(tmp_path / "models"), "KGCRM_ML_THREADS": "1",
           "KGCRM_API_PORT": str(port), "KGCRM_API_WORKERS": "1", "KGCRM_LOG_LEVEL": "WARNING",
           "KGCRM_HOLDOUT_FRACTION": "0"}
    api = Child([KGCRM, "serve"], env, tmp_path / "api.log")
    scorer = Child([KGCRM, "rescore-events"], env, tmp_path / "scorer.log")
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert api.process.poll() is None, (tmp_path / "api.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the API did not become ready"
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        results = _drive(url, api_key, api.process.pid, scorer.process.pid)
        # Drain: the scorer works through what is still queued.
        drain_deadline = time.monotonic() + 600
        while graph.read("MATCH (e:Activity) WHERE e.rescore_pending RETURN count(e) AS n")[0]["n"]:
            assert scorer.process.poll() is None, (tmp_path / "scorer.log").read_text()[-2000:]
            assert time.monotonic() < drain_deadline, "the scorer did not drain the queue"
            time.sleep(1)
        results["drain_s"] = round(time.monotonic() - drain_deadline + 600, 1)
        stored = graph.read("MATCH (e:Activity) WHERE e.id STARTS WITH 'soak-' RETURN count(e) AS n, "
                            "count(DISTINCT e.id) AS d")[0]
        results["events_stored"] = stored["n"]
    finally:
        api.stop()
        scorer.stop()
    results["load_average"] = os.getloadavg()
    out = os.environ.get("KGCRM_RELIABILITY_OUT")
    if out:
        Path(out).write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    assert results["errors"] == 0, results["error_samples"]
    assert stored["n"] == stored["d"] == results["events_acked"]
    assert results["query_rate"] >= 0.9 * QPS and results["event_rate"] >= 0.9 * EPS, results
    assert results["p99_last_ms"] <= 1.2 * results["p99_first_ms"], results
    for name in ("api", "scorer"):
        assert results[f"rss_{name}_end_kib"] <= 1.1 * results[f"rss_{name}_start_kib"], results


def _drive(url: str, key: str, api_pid: int, scorer_pid: int) -> dict[str, Any]:
    """Open-loop load for WARMUP + SECONDS; latencies by minute, errors, RSS at the end of warm-up and at the end."""
    headers = {"Authorization": f"Bearer {key}"}
    lock = threading.Lock()
    latencies: dict[int, list[float]] = {}
    errors: list[str] = []
    acked = [0]
    answered = [0]
    sent = {"queries": 0, "events": 0}
    rss: dict[str, int] = {}
    client = httpx.Client(base_url=url, headers=headers, timeout=30,
                          limits=httpx.Limits(max_connections=64, max_keepalive_connections=64))
    started = time.monotonic()

    def query(n: int) -> None:
        text, variables = QUERIES[n % len(QUERIES)]
        if variables == "account":
            variables = {"id": f"a{n % ACCOUNTS}"}
        due = started + n / QPS  # latency from when the request was due: queueing counts (no coordinated omission)
        try:
            response = client.post("/graphql", json={"query": text, "variables": variables})
            ok = response.status_code == 200 and "errors" not in response.json()
            problem = "" if ok else f"{response.status_code} {response.text[:200]}"
        except httpx.HTTPError as exc:
            problem = repr(exc)
        elapsed = time.monotonic() - due
        minute = int((due - started - WARMUP) // 60)
        with lock:
            if problem:
                errors.append(problem)
            else:
                answered[0] += 1
                if minute >= 0:
                    latencies.setdefault(minute, []).append(elapsed)

    def events(n: int) -> None:
        body = "\n".join(json.dumps({"eventId": f"soak-{n}-{k}", "type": "web_visit",
                                     "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                     "accountId": f"a{(n * 10 + k) % ACCOUNTS}"}) for k in range(10))
        try:
            response = client.post("/events", content=body.encode(), headers={"Content-Type": "application/x-ndjson"})
            ok = response.status_code == 200 and response.json()["created"] == 10
            problem = "" if ok else f"{response.status_code} {response.text[:200]}"
        except httpx.HTTPError as exc:
            problem = repr(exc)
        with lock:
            if problem:
                errors.append(problem)
            else:
                acked[0] += 10

    total = WARMUP + SECONDS
    with ThreadPoolExecutor(max_workers=48) as pool:
        q = e = 0
        while (now := time.monotonic() - started) < total:
            if "api_start" not in rss and now >= WARMUP:
                rss["api_start"], rss["scorer_start"] = _rss_kib(api_pid), _rss_kib(scorer_pid)
            while q < now * QPS:
                pool.submit(query, q)
                q += 1
            while e < now * EPS / 10:
                pool.submit(events, e)
                e += 1
            time.sleep(0.005)
        sent["queries"], sent["events"] = q, e * 10
    elapsed = time.monotonic() - started  # the pool has drained: every request sent was answered or failed
    rss["api_end"], rss["scorer_end"] = _rss_kib(api_pid), _rss_kib(scorer_pid)
    client.close()
    minutes = sorted(latencies)
    return {
        "seconds": round(elapsed, 1), "warmup_s": WARMUP, "target_qps": QPS, "target_eps": EPS,
        "queries_sent": sent["queries"], "events_sent": sent["events"], "events_acked": acked[0],
        "query_rate": round(answered[0] / elapsed, 1), "event_rate": round(acked[0] / elapsed, 1),
        "errors": len(errors), "error_samples": errors[:5],
        "p50_ms_by_minute": [round(1000 * float(np.median(latencies[m])), 1) for m in minutes],
        "p99_ms_by_minute": [round(1000 * _p99(latencies[m]), 1) for m in minutes],
        "p99_first_ms": _window_p99_ms(latencies, minutes[:DRIFT_WINDOW_MINUTES]),
        "p99_last_ms": _window_p99_ms(latencies, minutes[-DRIFT_WINDOW_MINUTES:]),
        **{f"rss_{k.split('_')[0]}_{k.split('_')[1]}_kib": v for k, v in rss.items()},
    }
