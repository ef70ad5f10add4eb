"""Benchmark of real-time events end to end: POST /events -> incremental scorer -> outbox -> signed webhook.

Starts its own Neo4j (removed afterwards), generates a book (accounts with owners, contacts,
opportunities and past activities; `--nodes` sets the size), registers an untrained GNN of the
production shape (hidden 64, 2 layers: latency does not depend on the weights) as the production
model, and runs `kgcrm serve`, `kgcrm rescore-events` and `kgcrm dispatch` as separate processes with a
loopback webhook receiver in this one. It then replays events at each rate and prints a RESULTS.md
section: per hop and end to end p50/p95/p99, and the highest rate whose p99 to committed stays under 1 s.

Hops (wall clock, one machine): ingest = request sent -> POST /events answered (the event is stored);
rescoring = stored -> the score-change transaction starts (window wait, neighbourhood, subgraph,
inference); write = that transaction -> the event marked rescored after the commit; dispatch =
committed -> the receiver has the webhook.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import torch

from kgcrm.graph.driver import Graph
from kgcrm.graph.model import ActivityType, Label
from kgcrm.graph.queries import events as q
from kgcrm.graph.schema import apply_migrations, count_entities
from kgcrm.graph.server import LocalNeo4j
from kgcrm.graph.settings import Settings
from kgcrm.gql.auth import create_api_key
from kgcrm.ml.artifact import ModelArtifact
from kgcrm.ml.calibration import Calibrator
from kgcrm.ml.dataset import gnn_input_names, gnn_inputs, snapshot_data
from kgcrm.ml.export import export_graph
from kgcrm.ml.features import take_snapshot
from kgcrm.ml.model import IntentGNN
from kgcrm.ml.registry import promote, register_model
from kgcrm.ml.tasks import load_task
from benchkit import free_port
from webhook_receiver import Receiver

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "kgcrm-bench-password"
KEY = os.urandom(32)
SECRET = "whsec_" + base64.b64encode(KEY).decode()
DAY = 86_400
# Every move of at least 0.02 up to a score of 0.5 or more fires; re-armed below 0.45.
POLICIES_YAML = ("policies:\n  - {name: bench-hot, label: Account, enter: 0.5, rearm: 0.45, min_delta: 0.0, "
                 "action: webhook}\n")
TYPES = [t.value for t in ActivityType]


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan"), "n": 0}

    def pick(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(round(p * (len(ordered) - 1))))]

    return {"p50": pick(0.50), "p95": pick(0.95), "p99": pick(0.99), "n": len(ordered)}


def generate(graph: Graph, nodes: int, seed: int = 5) -> tuple[list[str], dict[str, list[str]]]:
    """About `nodes` nodes: per account 3 contacts, 1 opportunity, 15 past activities; 100 accounts per owner."""
    rng = random.Random(seed)
    accounts = max(10, nodes // 20)
    now = time.time()
    contacts: dict[str, list[str]] = {}
    rows = []
    for i in range(accounts):
        created = int(now - rng.uniform(200, 900) * DAY)
        people = [f"bc{i}-{k}" for k in range(3)]
        contacts[f"ba{i}"] = people
        rows.append({
            "id": f"ba{i}", "owner": f"bu{i // 100}", "created": created, "employees": rng.randint(10, 5000),
            "industry": rng.choice(["tech", "retail", "health", "finance"]), "region": rng.choice(["EMEA", "NA"]),
            "contacts": [{"id": p, "seniority": rng.choice(["vp", "manager", "individual"])} for p in people],
            "activities": [{"id": f"bx{i}-{k}", "type": rng.choice(TYPES), "contact": rng.randrange(3),
                            "at": int(now - rng.uniform(1, 180) * DAY)} for k in range(15)],
        })
    for start in range(0, len(rows), 500):
        graph.write(q.BENCH_CREATE_WORLD, {"rows": rows[start:start + 500]})
    opportunities = [{"id": f"bo{i}", "account": f"ba{i}", "amount": float(rng.randint(1000, 90000)),
                      "created": int(now - rng.uniform(1, 120) * DAY)} for i in range(accounts)]
    graph.write(q.BENCH_CREATE_OPPORTUNITIES, {"rows": opportunities})
    return [r["id"] for r in rows], contacts


def untrained_model(graph: Graph, settings: Settings, seed: int = 0) -> str:
    """Register and promote a randomly initialised GNN of the production shape; returns its id."""
    task = load_task("account_intent")
    snapshot = take_snapshot(export_graph(graph), time.time())
    labels = [label for label in snapshot.own if len(snapshot.own[label])]
    names = {label: gnn_input_names(snapshot, label) for label in labels}
    norm = {}
    for label in labels:
        x = gnn_inputs(snapshot, label)
        std = x.std(axis=0)
        norm[label] = (x.mean(axis=0), np.where(std > 1e-6, std, 1.0))
    data, _ = snapshot_data(snapshot, labels, norm)
    in_dims = {label.value: len(names[label]) for label in labels}
    torch.manual_seed(seed)
    network = IntentGNN(in_dims, list(data.edge_types), task.target.value, hidden=64, layers=2, dropout=0.0)
    artifact = ModelArtifact(task, labels, names, norm, in_dims, list(data.edge_types),
                             {"hidden": 64, "layers": 2, "dropout": 0.0}, network.state_dict(), Calibrator("platt"))
    version = register_model(graph, settings, artifact, {"horizon_days": 30.0})
    return promote(graph, version.id).id


def replay(url: str, key: str, accounts: list[str], contacts: dict[str, list[str]], rate: float, seconds: float,
           prefix: str, tick: float = 0.02) -> dict[str, tuple[float, float]]:
    """POST events at `rate` per second for `seconds`, one NDJSON request per tick; event id -> (sent, answered)."""
    rng = random.Random(prefix)
    times: dict[str, tuple[float, float]] = {}
    began, sent = time.time(), 0
    with httpx.Client(base_url=url, timeout=60.0, headers={"Authorization": f"Bearer {key}"}) as client:
        while time.time() - began < seconds:
            due = int((time.time() - began) * rate) + 1
            batch = []
            while sent < due:
                account = rng.choice(accounts)
                batch.append({"eventId": f"{prefix}{sent}", "type": rng.choice(TYPES),
                              "at": datetime.now(UTC).isoformat(), "accountId": account,
                              "contactId": rng.choice(contacts[account])})
                sent += 1
            if batch:
                start = time.time()
                response = client.post("/events", content="\n".join(json.dumps(b) for b in batch).encode())
                done = time.time()
                if response.status_code != 200 or response.json()["created"] != len(batch):
                    raise SystemExit(f"bench_events: POST /events answered {response.status_code}: {response.text[:300]}")
                times.update({b["eventId"]: (start, done) for b in batch})
            time.sleep(max(0.0, min(tick, began + (sent + 1) / rate - time.time())))
    return times


def measure(graph: Graph, receiver: Receiver, times: dict[str, tuple[float, float]], prefix: str,
            wait: float) -> dict[str, object]:
    """Per hop and end-to-end latencies of the events of one run, once the scorer and dispatcher caught up."""
    deadline = time.time() + wait
    while True:
        rows = graph.read(q.BENCH_EVENT_TIMES, {"prefix": prefix})
        done = [r for r in rows if r["rescored_ms"] is not None]
        actions = {x for r in done for x in r["actions"]}
        if (len(done) == len(times) and actions <= set(receiver.first_seen)) or time.time() > deadline:
            break
        time.sleep(0.5)
    hops: dict[str, list[float]] = {k: [] for k in ("ingest", "rescoring", "write", "dispatch", "committed", "received")}
    for r in done:
        sent, answered = times[r["id"]]
        committed = r["rescored_ms"] / 1000
        hops["ingest"].append(answered - sent)
        hops["committed"].append(committed - answered)
        if r["scored_ms"] is not None:
            hops["rescoring"].append(r["scored_ms"] / 1000 - answered)
            hops["write"].append(committed - r["scored_ms"] / 1000)
        received = [receiver.first_seen[x] for x in r["actions"] if x in receiver.first_seen]
        if received:
            hops["dispatch"].append(min(received) - committed)
            hops["received"].append(min(received) - answered)
    return {"hops": {k: percentiles(v) for k, v in hops.items()}, "events": len(times), "rescored": len(done),
            "with_actions": sum(1 for r in done if r["actions"]),
            "actions": len(actions), "received": len(actions & set(receiver.first_seen))}


def _wait_http(url: str, seconds: float) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit("bench_events: the API did not start")


def main() -> None:
    quick = os.environ.get("KGCRM_BENCH_QUICK") == "1"
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", default=quick, help="small graph, short runs")
    parser.add_argument("--nodes", type=int, default=None, help="graph size in nodes (default 100000; quick 5000)")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per rate (default 60; quick 10)")
    parser.add_argument("--rates", default="50,200,1000", help="events per second")
    parser.add_argument("--window", type=float, default=0.05, help="the scorer's micro-batch window (s)")
    args = parser.parse_args()
    nodes = args.nodes or (5000 if args.quick else 100_000)
    seconds = args.seconds or (10 if args.quick else 60)
    rates = [float(r) for r in args.rates.split(",")]

    work = Path(tempfile.mkdtemp(prefix="kgcrm-bench-events-"))
    port = free_port()
    env_settings = {
        "NEO4J_URI": f"bolt://127.0.0.1:{free_port()}", "NEO4J_PASSWORD": PASSWORD,
        "KGCRM_HOME": os.environ.get("KGCRM_HOME", str(REPO / ".kgcrm")),
        "KGCRM_NEO4J_INSTANCE": f"bench-events-{os.getpid()}", "KGCRM_NEO4J_HEAP": "1g",
        "KGCRM_NEO4J_PAGECACHE": "1g", "KGCRM_HOLDOUT_FRACTION": "0", "KGCRM_MODEL_DIR": str(work / "models"),
        "KGCRM_POLICIES_FILE": str(work / "policies.yaml"), "KGCRM_WEBHOOK_SECRET": SECRET,
        "KGCRM_EVENTS_WINDOW": str(args.window), "KGCRM_DISPATCH_POLL": "0.02", "KGCRM_ML_THREADS": "1",
        "KGCRM_LOG_LEVEL": "WARNING", "KGCRM_API_KEY_CACHE_SECONDS": "60",
    }
    (work / "policies.yaml").write_text(POLICIES_YAML)
    settings = Settings.load(**env_settings)
    neo4j = LocalNeo4j(settings)
    receiver = Receiver(KEY, clock=time.time)
    env = {**os.environ, **env_settings, "KGCRM_WEBHOOK_URL": receiver.url}
    processes: list[subprocess.Popen] = []
    load = [os.getloadavg()[0]]
    results = {}
    try:
        neo4j.start()
        with Graph(settings) as graph:
            apply_migrations(graph)
            began = time.time()
            accounts, contacts = generate(graph, nodes)
            counts = count_entities(graph)["nodes"]
            print(f"generated {counts} nodes in {time.time() - began:.0f} s", file=sys.stderr)
            model = untrained_model(graph, settings)
            key = create_api_key(graph, role="ingest", name="bench").secret_key
            log = (work / "services.log").open("w")
            for command in (["serve", "--port", str(port)], ["rescore-events"], ["dispatch"]):
                processes.append(subprocess.Popen([sys.executable, "-m", "kgcrm", *command], env=env,
                                                  stdout=log, stderr=subprocess.STDOUT))
            url = f"http://127.0.0.1:{port}"
            _wait_http(url, 120)
            # Warm up: the scorer loads the model and compiles its query plans.
            warm = replay(url, key, accounts, contacts, 5, 3, "warm-")
            measure(graph, receiver, warm, "warm-", 120)
            for run, rate in enumerate(rates):
                prefix = f"r{run}-"
                times = replay(url, key, accounts, contacts, rate, seconds, prefix)
                results[rate] = measure(graph, receiver, times, prefix, max(60.0, seconds * 2))
                load.append(os.getloadavg()[0])
                print(f"rate {rate:g}: {json.dumps(results[rate]['hops']['committed'])}", file=sys.stderr)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
        neo4j.stop()
        shutil.rmtree(neo4j.instance_dir, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)

    ms = lambda s: f"{s * 1000:.0f}"  # noqa: E731
    sustainable = [rate for rate, r in results.items()
                   if r["rescored"] == r["events"] and r["hops"]["committed"]["p99"] < 1.0]
    print("## Events end to end")
    print("- what: events POSTed as NDJSON to `kgcrm serve` at a fixed rate; `kgcrm rescore-events` rescores each "
          "micro-batch's receptive field with the production GNN and commits ScoreChange + Action; `kgcrm dispatch` "
          "delivers signed webhooks to a loopback receiver. Hops: ingest = sent -> answered (stored); rescoring = "
          "stored -> score-change transaction; write = transaction -> committed; dispatch = committed -> webhook "
          "received. End to end from the event accepted (answered).")
    print(f"- graph: {counts} nodes generated ({len(accounts)} accounts, 100 per owner, 3 contacts, 1 opportunity and "
          f"15 activities each); model: untrained GNN of the production shape ({model}, hidden 64, 2 layers)")
    print(f"- command: `python bench/bench_events.py{' --quick' if args.quick else ''} --nodes {nodes} "
          f"--seconds {seconds:g} --rates {args.rates} --window {args.window:g}`")
    print(f"- machine: {os.cpu_count()}-core, shared with other work; load average "
          + ", ".join(f"{x:.1f}" for x in load) + " (before, then after each rate)")
    print("\n| events/s | events | rescored | hop | p50 ms | p95 ms | p99 ms |\n|---|---|---|---|---|---|---|")
    for rate, r in results.items():
        for hop in ("ingest", "rescoring", "write", "dispatch", "committed", "received"):
            p = r["hops"][hop]
            name = {"committed": "**accepted -> committed**", "received": "**accepted -> webhook received**"}.get(hop, hop)
            print(f"| {rate:g} | {r['events']} | {r['rescored']} | {name} (n={p['n']}) | {ms(p['p50'])} | "
                  f"{ms(p['p95'])} | {ms(p['p99'])} |")
    print(f"\nHighest rate with p99 accepted -> committed under 1 s: "
          f"{max(sustainable):g} events/s" if sustainable else "\nNo rate kept p99 accepted -> committed under 1 s.")


if __name__ == "__main__":
    main()
