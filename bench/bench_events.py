"""Benchmark of real-time events end to end: POST /events -> incremental scorer -> outbox -> signed webhook.

Starts its own Neo4j (removed afterwards), generates a book (accounts with owners, contacts,
opportunities and past activities; `--nodes` sets the size), trains the production GNN on it (hidden
64, 2 layers; cached under KGCRM_HOME/bench-cache: later runs, of any size, reuse it; --retrain), scores every account once as a batch run would, fires a webhook policy at the top decile, and runs
`kgcrm serve`, `kgcrm rescore-events` (`--scorers N`: N partitions) and `kgcrm dispatch` as separate
processes with a loopback webhook receiver in this one. It then replays events at each rate and prints
a RESULTS.md section: per hop and end to end p50/p95/p99, CPU ms per event of each process, and the
highest rate whose p99 to committed stays under 1 s. `--burst N` also posts N events at once and
reports how fast the scorers drain them (throughput).

Before the measured runs it warms up on the other half of the accounts until Neo4j's JIT compiler has
settled (at least --warmup s, at most --warmup-max): on two busy cores the JVM compiles its hot code for
three to four minutes, its compiler threads taking a third of a core meanwhile, and a running service
is past that. The warm-up is reported apart, as the cold start.

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

from kgcrm.graph.driver import Graph
from kgcrm.graph.model import ActivityType
from kgcrm.graph.queries import events as q
from kgcrm.graph.schema import apply_migrations, count_entities
from kgcrm.graph.server import LocalNeo4j
from kgcrm.graph.settings import Settings
from kgcrm.gql.auth import create_api_key
from kgcrm.ml.artifact import load_artifact, save_artifact
from kgcrm.ml.candidate import train_candidate
from kgcrm.ml.registry import promote, register_model
from kgcrm.ml.retrain import gnn_config
from kgcrm.ml.score import score_task
from kgcrm.ml.tasks import load_task
from benchkit import compiler_seconds, free_port, stat_cpu_seconds
from webhook_receiver import Receiver

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "kgcrm-bench-password"
KEY = os.urandom(32)
SECRET = "whsec_" + base64.b64encode(KEY).decode()
DAY = 86_400
# A move into the top decile of the batch scores fires a webhook; re-armed below the 80th percentile.
POLICY_YAML = ("policies:\n  - {{name: bench-hot, label: Account, enter: {enter:.6f}, rearm: {rearm:.6f}, "
               "min_delta: 0.0, action: webhook}}\n")
TYPES = [t.value for t in ActivityType]
IDLE_SECONDS = 10.0
# The warm-up runs at the highest measured rate up to this one (faster rates would start overloaded).
WARM_RATE_CAP = 200.0
# After --warmup seconds the warm-up goes on, WARM_STEP_SECONDS at a time, until Neo4j's JIT compiler threads
# use less than this (ms of CPU a second over the last step), or --warmup-max.
JIT_SETTLED_MS = 50.0
WARM_STEP_SECONDS = 30.0


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan"), "n": 0}

    def pick(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(round(p * (len(ordered) - 1))))]

    return {"p50": pick(0.50), "p95": pick(0.95), "p99": pick(0.99), "n": len(ordered)}


def generate(graph: Graph, nodes: int, seed: int = 5) -> tuple[list[str], dict[str, list[str]]]:
    """About `nodes` nodes: per account 3 contacts, 1 opportunity, 15 past activities; 100 accounts per owner.

    An opportunity opens at a random time in the last year, after a burst of 5 of the account's
    activities in the 10 days before it (the signal a trained model can learn); the other 10 are spread
    over the last 400 days.
    """
    rng = random.Random(seed)
    accounts = max(10, nodes // 20)
    now = time.time()
    contacts: dict[str, list[str]] = {}
    rows = []
    opened = [now - rng.uniform(1, 360) * DAY for _ in range(accounts)]
    for i in range(accounts):
        created = int(now - rng.uniform(420, 900) * DAY)
        people = [f"bc{i}-{k}" for k in range(3)]
        contacts[f"ba{i}"] = people
        rows.append({
            "id": f"ba{i}", "owner": f"bu{i // 100}", "created": created, "employees": rng.randint(10, 5000),
            "industry": rng.choice(["tech", "retail", "health", "finance"]), "region": rng.choice(["EMEA", "NA"]),
            "contacts": [{"id": p, "seniority": rng.choice(["vp", "manager", "individual"])} for p in people],
            "activities": [{"id": f"bx{i}-{k}", "type": rng.choice(TYPES), "contact": rng.randrange(3),
                            "at": int(opened[i] - rng.uniform(0, 10) * DAY if k < 5 else now - rng.uniform(1, 400) * DAY)}
                           for k in range(15)],
        })
    for start in range(0, len(rows), 500):
        graph.write(q.BENCH_CREATE_WORLD, {"rows": rows[start:start + 500]})
    opportunities = [{"id": f"bo{i}", "account": f"ba{i}", "amount": float(rng.randint(1000, 90000)),
                      "created": int(opened[i])} for i in range(accounts)]
    graph.write(q.BENCH_CREATE_OPPORTUNITIES, {"rows": opportunities})
    return [r["id"] for r in rows], contacts


def trained_model(graph: Graph, settings: Settings, nodes: int, cache_dir: Path, retrain: bool) -> tuple[str, str]:
    """Train (or reuse the cached) production GNN of this generator's worlds, register and promote it; (id, how).

    The cache holds one model, trained on the first world it met (any size: the generator's
    distributions do not depend on it), so that a 100k-node run need not train on 100k nodes.
    """
    path, about = cache_dir / "events-model.pt", cache_dir / "events-model.json"
    task = load_task("account_intent")
    if path.exists() and about.exists() and not retrain:
        meta = json.loads(about.read_text())
        artifact, props = load_artifact(path), {"horizon_days": task.horizon_days}
    else:
        began = time.time()
        # A short training (4 monthly cutoffs, 15 epochs): the bench needs trained weights, not the best model.
        quick = settings.model_copy(update={"ml_cutoffs": 4})
        config = gnn_config(quick, hidden=64, layers=2, epochs=15, patience=5, threads=2)
        candidate = train_candidate(graph, quick, task, config)
        artifact, props = candidate.artifact, candidate.props
        cache_dir.mkdir(parents=True, exist_ok=True)
        save_artifact(artifact, path)
        meta = {"nodes": nodes, "seconds": round(time.time() - began), "test_auroc": props.get("test_auroc")}
        about.write_text(json.dumps(meta))
    how = (f"trained on a {meta['nodes']}-node world of this generator in {meta['seconds']} s, test AUROC "
           f"{meta['test_auroc']:.3f}" + (", cached" if meta["nodes"] != nodes or path.stat().st_mtime < time.time() - 3600 else ""))
    version = register_model(graph, settings, artifact, props)
    return promote(graph, version.id).id, how


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    try:
        return stat_cpu_seconds(Path(f"/proc/{pid}/stat").read_text())
    except OSError:
        return float("nan")


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
        time.sleep(2.0)
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


def print_query_stats(rate: float, rows: list[dict], seconds: float, top: int = 15) -> None:
    """The queries Neo4j spent most time on during one rate: calls, compile and execution time."""
    def total(row: dict) -> float:
        summary = row["summary"]
        return summary["invocationCount"] * (summary["compileTimeInUs"]["avg"] + summary["executionTimeInUs"]["avg"])

    print(f"\nNeo4j's time by query at {rate:g} events/s (data collector; ms of Neo4j time per second of the run):\n")
    print("| query | calls/s | compile avg / max ms | execute avg / max ms | ms per s |\n|---|---|---|---|---|")
    for row in sorted(rows, key=total, reverse=True)[:top]:
        summary, text = row["summary"], " ".join(row["query"].split())
        compile_ms, execute_ms = (summary[k] for k in ("compileTimeInUs", "executionTimeInUs"))
        print(f"| `{text[:90]}` | {summary['invocationCount'] / seconds:.1f} | "
              f"{compile_ms['avg'] / 1000:.2f} / {compile_ms['max'] / 1000:.0f} | "
              f"{execute_ms['avg'] / 1000:.2f} / {execute_ms['max'] / 1000:.0f} | {total(row) / 1000 / seconds:.1f} |")


def _log_size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _passes(path: Path, start: int) -> list[dict[str, float]]:
    """The scorer's `pass:` log lines written after byte `start`: events, changes and timings of each pass."""
    if not path.exists():
        return []
    with path.open("rb") as handle:
        handle.seek(start)
        text = handle.read().decode("utf-8", "replace")
    rows = []
    for line in text.splitlines():
        if " pass: " not in line:
            continue
        head, _, tail = line.partition(" pass: ")[2].partition("; ")
        numbers = [int(word) for word in head.replace(",", " ").split() if word.isdigit()]
        row = {"events": numbers[0], "changes": numbers[2]} if len(numbers) >= 3 else {}
        row.update({k: float(v) for k, v in (item.split("=") for item in tail.split() if "=" in item)})
        rows.append(row)
    return rows


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


def burst(url: str, key: str, accounts: list[str], contacts: dict[str, list[str]], graph: Graph, events: int,
          prefix: str, wait: float) -> dict[str, float]:
    """Post `events` events at once (batches of 500), then time how fast the scorers drain them."""
    rng = random.Random(prefix)
    lines = []
    for k in range(events):
        account = rng.choice(accounts)
        lines.append(json.dumps({"eventId": f"{prefix}{k}", "type": rng.choice(TYPES),
                                 "at": datetime.now(UTC).isoformat(), "accountId": account,
                                 "contactId": rng.choice(contacts[account])}))
    began = time.time()
    with httpx.Client(base_url=url, timeout=120.0, headers={"Authorization": f"Bearer {key}"}) as client:
        for start in range(0, events, 500):
            client.post("/events", content="\n".join(lines[start:start + 500]).encode()).raise_for_status()
    posted = time.time()
    deadline = posted + wait
    while time.time() < deadline:
        row = graph.read(q.BENCH_BURST_DONE, {"prefix": prefix})[0]
        if row["done"] == events:
            break
        time.sleep(0.25)
    drained = row["last_ms"] / 1000 if row["last_ms"] else float("nan")
    return {"events": events, "done": row["done"], "post_s": posted - began, "drain_s": drained - began,
            "per_s": row["done"] / max(drained - began, 1e-9)}


def main() -> None:
    quick = os.environ.get("KGCRM_BENCH_QUICK") == "1"
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", default=quick, help="small graph, short runs")
    parser.add_argument("--nodes", type=int, default=None, help="graph size in nodes (default 100000; quick 5000)")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per rate (default 60; quick 10)")
    parser.add_argument("--rates", default="50,200,1000", help="events per second")
    parser.add_argument("--window", type=float, default=0.05, help="the scorer's micro-batch window (s)")
    parser.add_argument("--scorers", type=int, default=1, help="rescore-events processes (partitions K/N)")
    parser.add_argument("--burst", type=int, default=0, help="then post this many events at once: throughput")
    parser.add_argument("--no-cache", action="store_true", help="the exact subgraph path, no embedding cache")
    parser.add_argument("--no-wake", action="store_true",
                        help="no wake-up hints between the processes: each polls (the scorer every --window)")
    parser.add_argument("--retrain", action="store_true", help="train the model again instead of the cached one")
    parser.add_argument("--warmup", type=float, default=None,
                        help="at least this many seconds of events before the measured runs, at the highest "
                             "measured rate up to 200/s, on the other half of the accounts; then on until "
                             "Neo4j's JIT compiler threads settle (--warmup-max); reported apart as the cold "
                             "start (default 90; quick 10)")
    parser.add_argument("--warmup-max", type=float, default=None,
                        help="the warm-up's limit in seconds while Neo4j's JIT compiler is still busy "
                             "(default 600; quick: --warmup)")
    parser.add_argument("--keep-logs", type=Path, default=None, help="copy the services' logs to this folder")
    parser.add_argument("--query-stats", action="store_true",
                        help="print Neo4j's own time per query during each rate (its data collector)")
    args = parser.parse_args()
    nodes = args.nodes or (5000 if args.quick else 100_000)
    seconds = args.seconds or (10 if args.quick else 60)
    args.warmup = args.warmup if args.warmup is not None else (10.0 if args.quick else 90.0)
    args.warmup_max = max(args.warmup, args.warmup_max if args.warmup_max is not None
                          else (args.warmup if args.quick else 600.0))
    rates = [float(r) for r in args.rates.split(",") if r]
    warm_rate = max([r for r in rates if r <= WARM_RATE_CAP] or [min(rates)])

    work = Path(tempfile.mkdtemp(prefix="kgcrm-bench-events-"))
    home = Path(os.environ.get("KGCRM_HOME", str(REPO / ".kgcrm")))
    port = free_port()
    env_settings = {
        "NEO4J_URI": f"bolt://127.0.0.1:{free_port()}", "NEO4J_PASSWORD": PASSWORD,
        "KGCRM_HOME": str(home),
        "KGCRM_NEO4J_INSTANCE": f"bench-events-{os.getpid()}", "KGCRM_NEO4J_HEAP": "1g",
        "KGCRM_NEO4J_PAGECACHE": "1g", "KGCRM_HOLDOUT_FRACTION": "0", "KGCRM_MODEL_DIR": str(work / "models"),
        "KGCRM_POLICIES_FILE": str(work / "policies.yaml"), "KGCRM_WEBHOOK_SECRET": SECRET,
        "KGCRM_EVENTS_WINDOW": str(args.window), "KGCRM_ML_THREADS": "1",
        # With wake-up hints (the default) the API wakes the scorers and the scorer the dispatcher, which then
        # polls once a second; without them the dispatcher polls 50 times a second, for a short dispatch hop.
        "KGCRM_DISPATCH_POLL": "0.02" if args.no_wake else "1.0",
        "KGCRM_EVENTS_WAKE": "" if args.no_wake else ",".join(f"127.0.0.1:{free_port()}" for _ in range(args.scorers)),
        "KGCRM_DISPATCH_WAKE": "" if args.no_wake else f"127.0.0.1:{free_port()}",
        "KGCRM_LOG_LEVEL": "WARNING", "KGCRM_API_KEY_CACHE_SECONDS": "60",
        # The cache is rebuilt (scoring pauses) after this long: longer than a run, so no run sees a rebuild.
        "KGCRM_EVENTS_CACHE_SECONDS": "0" if args.no_cache else "7200",
    }
    settings = Settings.load(**env_settings)
    neo4j = LocalNeo4j(settings)
    receiver = Receiver(KEY, clock=time.time)
    env = {**os.environ, **env_settings, "KGCRM_WEBHOOK_URL": receiver.url}
    processes: dict[str, subprocess.Popen] = {}
    load = [os.getloadavg()[0]]
    results, cpu, bursts, passes, query_stats, idle = {}, {}, {}, {}, {}, {}
    warm_accounts: list[str] = []
    cold: dict[str, object] | None = None
    try:
        neo4j.start()
        with Graph(settings) as graph:
            apply_migrations(graph)
            began = time.time()
            accounts, contacts = generate(graph, nodes)
            counts = count_entities(graph)["nodes"]
            print(f"generated {counts} nodes in {time.time() - began:.0f} s", file=sys.stderr)
            model, how = trained_model(graph, settings, nodes, home / "bench-cache", args.retrain)
            print(f"model {model}: {how}", file=sys.stderr)
            batch = score_task(graph, settings, "account_intent")
            enter, rearm = (float(np.quantile(batch.scores, p)) for p in (0.9, 0.8))
            (work / "policies.yaml").write_text(POLICY_YAML.format(enter=enter, rearm=max(0.0, min(rearm, enter - 1e-6))))
            key = create_api_key(graph, role="ingest", name="bench").secret_key
            log = (work / "services.log").open("w")
            commands = {"serve": ["serve", "--port", str(port)], "dispatch": ["dispatch"]}
            for k in range(args.scorers):
                commands[f"scorer{k + 1}"] = ["rescore-events", "--partition", f"{k + 1}/{args.scorers}"]
            for name, command in commands.items():
                # The scorers log one line per pass with its timings (INFO); parsed below.
                own = {**env, "KGCRM_LOG_LEVEL": "INFO"} if name.startswith("scorer") else env
                out = (work / f"{name}.log").open("w") if name.startswith("scorer") else log
                processes[name] = subprocess.Popen([sys.executable, "-m", "kgcrm", *command], env=own,
                                                   stdout=out, stderr=subprocess.STDOUT)
            pids = {name: p.pid for name, p in processes.items()}
            pids["neo4j"] = neo4j.running_pid() or -1
            pids["client+receiver"] = os.getpid()
            url = f"http://127.0.0.1:{port}"
            _wait_http(url, 120)
            # Warm up: the scorers load the model and build the embedding cache; Neo4j plans the queries of
            # every hop and its JVM compiles the code they run. At 200/s the JVM's compiler threads take 0.9
            # of a core at first and still a third after two to three minutes, and every hop is slower
            # meanwhile: a running service is past that, so the warm-up lasts until they have settled
            # (JIT_SETTLED_MS). It is reported apart, as the cold start.
            # The warm-up's events go to half of the accounts, the measured ones to the other half: minutes
            # of events at 200/s give every account of the warm half a dozen, which settles their scores (a
            # run after it would measure almost no score changes and no actions).
            warm_accounts, accounts = accounts[0::2], accounts[1::2]
            warm_began = time.time()
            warm, jit_ms, step, jit_steps = {}, float("nan"), 0, []
            while True:
                length = args.warmup if step == 0 else WARM_STEP_SECONDS
                compiling = compiler_seconds(pids["neo4j"])
                clock = time.time()
                warm.update(replay(url, key, warm_accounts, contacts, warm_rate, length, f"warm-{step}-"))
                jit_ms = (compiler_seconds(pids["neo4j"]) - compiling) * 1000 / (time.time() - clock)
                jit_steps.append(f"{time.time() - warm_began:.0f} s: {jit_ms:.0f}")
                step += 1
                if not jit_ms > JIT_SETTLED_MS or time.time() - warm_began + WARM_STEP_SECONDS > args.warmup_max:
                    break
            warm_s = time.time() - warm_began
            cold = measure(graph, receiver, warm, "warm-", 900)
            print(f"warm in {time.time() - warm_began:.0f} s (Neo4j's JIT compiler {jit_ms:.0f} ms/s at the end)",
                  file=sys.stderr)
            # What the processes use with no events at all (polls, timers, Neo4j's own background work).
            before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            time.sleep(IDLE_SECONDS)
            idle = {name: (cpu_seconds(pid) - before[name]) * 1000 / IDLE_SECONDS for name, pid in pids.items()}
            for run, rate in enumerate(rates):
                prefix = f"r{run}-"
                before = {name: cpu_seconds(pid) for name, pid in pids.items()}
                marks = {name: _log_size(work / f"{name}.log") for name in commands if name.startswith("scorer")}
                if args.query_stats:
                    graph.read(q.BENCH_QUERY_STATS_START)
                times = replay(url, key, accounts, contacts, rate, seconds, prefix)
                results[rate] = measure(graph, receiver, times, prefix, max(60.0, seconds * 2))
                cpu[rate] = {name: (cpu_seconds(pid) - before[name]) * 1000 / max(1, len(times))
                             for name, pid in pids.items()}
                passes[rate] = [p for name, at in marks.items() for p in _passes(work / f"{name}.log", at)]
                if args.query_stats:
                    query_stats[rate] = graph.read(q.BENCH_QUERY_STATS)
                load.append(os.getloadavg()[0])
                print(f"rate {rate:g}: {json.dumps(results[rate]['hops']['committed'])}", file=sys.stderr)
            if args.burst:
                bursts = burst(url, key, accounts, contacts, graph, args.burst, "burst-", max(120.0, args.burst / 5))
                load.append(os.getloadavg()[0])
                print(f"burst: {json.dumps(bursts)}", file=sys.stderr)
    finally:
        for process in processes.values():
            process.send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
        neo4j.stop()
        if args.keep_logs:
            args.keep_logs.mkdir(parents=True, exist_ok=True)
            for log_file in [*work.glob("*.log"), *(neo4j.instance_dir / "logs").glob("*.log")]:
                shutil.copy(log_file, args.keep_logs / log_file.name)
        shutil.rmtree(neo4j.instance_dir, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)

    ms = lambda s: f"{s * 1000:.0f}"  # noqa: E731
    sustainable = [rate for rate, r in results.items()
                   if r["rescored"] == r["events"] and r["hops"]["committed"]["p99"] < 1.0]
    command = (f"python bench/bench_events.py{' --quick' if args.quick else ''} --nodes {nodes} --seconds {seconds:g} "
               f"--rates {args.rates} --window {args.window:g} --scorers {args.scorers} --warmup {args.warmup:g}"
               f" --warmup-max {args.warmup_max:g}"
               + (f" --burst {args.burst}" if args.burst else "") + (" --no-cache" if args.no_cache else "")
               + (" --no-wake" if args.no_wake else ""))
    print("## Events end to end")
    print(f"- graph: {counts} nodes generated ({len(accounts) + len(warm_accounts)} accounts, 100 per owner, "
          f"3 contacts, 1 opportunity and 15 activities each; the measured events go to half of the accounts, "
          f"the warm-up's to the other half); model: the production GNN trained on it ({model}, hidden 64, "
          f"2 layers; {how}); policy: webhook on entering the top decile of the batch scores ({enter:.3f}, re-armed below {rearm:.3f})")
    print(f"- scorer: {args.scorers} process(es), {'exact subgraph path' if args.no_cache else 'embedding cache'}; "
          + ("no wake-up hints: the scorer polls every window, the dispatcher every 0.02 s" if args.no_wake else
             "wake-up hints (API -> scorer -> dispatcher), fallback polls every 1 s"))
    print(f"- command: `{command}`")
    print(f"- machine: {os.cpu_count()}-core; load average "
          + ", ".join(f"{x:.1f}" for x in load) + " (before, then after each rate)")
    print("\n| events/s | events | rescored | hop | p50 ms | p95 ms | p99 ms |\n|---|---|---|---|---|---|---|")
    for rate, r in results.items():
        for hop in ("ingest", "rescoring", "write", "dispatch", "committed", "received"):
            p = r["hops"][hop]
            name = {"committed": "**accepted -> committed**", "received": "**accepted -> webhook received**"}.get(hop, hop)
            print(f"| {rate:g} | {r['events']} | {r['rescored']} | {name} (n={p['n']}) | {ms(p['p50'])} | "
                  f"{ms(p['p95'])} | {ms(p['p99'])} |")
    if cold is not None:
        p = cold["hops"]["committed"]
        print(f"\nCold start (the warm-up, not in the table: the first {warm_s:.0f} s at {warm_rate:g}/s after "
              f"the services and Neo4j started, on the other half of the accounts, until Neo4j's JIT compiler "
              f"threads used {jit_ms:.0f} ms of CPU a second (settled below {JIT_SETTLED_MS:g}, or --warmup-max); "
              f"their ms a second by the end of each step: {', '.join(jit_steps)}): "
              f"accepted -> committed p50/p95/p99 {ms(p['p50'])}/{ms(p['p95'])}/{ms(p['p99'])} ms, "
              f"{cold['rescored']} of {cold['events']} events rescored")
    if cpu:
        names = list(next(iter(cpu.values())))
        print("\nCPU ms per event, by process:\n\n| events/s | " + " | ".join(names) + " |\n|---|"
              + "---|" * len(names))
        for rate, row in cpu.items():
            print(f"| {rate:g} | " + " | ".join(f"{row[n]:.1f}" for n in names) + " |")
        if idle:
            print(f"\nIdle, no events for {IDLE_SECONDS:g} s after the warm-up (ms of CPU per second): "
                  + ", ".join(f"{n} {idle[n]:.0f}" for n in names))
    if passes:
        keys = sorted({k for rows in passes.values() for p in rows for k in p if k.endswith("_s")})
        print("\nInside the scorer, per pass (median; wall seconds except cpu_s):\n\n| events/s | passes | events/pass | "
              "changes/pass | " + " | ".join(keys) + " |\n|---|---|---|---|" + "---|" * len(keys))
        for rate, rows in passes.items():
            if rows:
                med = {k: float(np.median([p.get(k, 0.0) for p in rows])) for k in ("events", "changes", *keys)}
                print(f"| {rate:g} | {len(rows)} | {med['events']:.0f} | {med['changes']:.0f} | "
                      + " | ".join(f"{med[k]:.3f}" for k in keys) + " |")
        print("\nThe tail: pass time p50 / p95 / p99 / max (s), and the slowest pass's parts:\n")
        for rate, rows in passes.items():
            if rows:
                took = np.asarray([p.get("pass_s", 0.0) for p in rows])
                slowest = max(rows, key=lambda p: p.get("pass_s", 0.0))
                parts = " ".join(f"{k}={v:.3f}" for k, v in sorted(slowest.items()) if v >= 0.01 or k == "events")
                print(f"- {rate:g}/s: " + " / ".join(f"{np.quantile(took, q):.3f}" for q in (0.5, 0.95, 0.99, 1.0))
                      + f"; slowest: {parts}")
    for rate, rows in query_stats.items():
        print_query_stats(rate, rows, seconds)
    if bursts:
        print(f"\nBurst of {bursts['events']} events: posted in {bursts['post_s']:.1f} s, {bursts['done']} rescored "
              f"{bursts['drain_s']:.1f} s after the first was sent: **{bursts['per_s']:.0f} events/s** with "
              f"{args.scorers} scorer(s).")
    print(f"\nHighest rate with p99 accepted -> committed under 1 s: "
          f"{max(sustainable):g} events/s" if sustainable else "\nNo rate kept p99 accepted -> committed under 1 s.")


if __name__ == "__main__":
    main()
