"""Benchmark of the action outbox: commit latency of apply_score_changes, and commit -> webhook received.

Starts its own Neo4j (removed afterwards), a loopback webhook receiver that verifies signatures,
and `kgcrm dispatch` as a separate process, then prints a RESULTS.md section.
"""

from __future__ import annotations

import argparse
import base64
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kgcrm.actions.outbox import ScoreChangeInput, apply_score_changes
from kgcrm.actions.policies import parse_policies
from kgcrm.graph.driver import Graph
from kgcrm.graph.model import Label
from kgcrm.graph.queries import actions as q
from kgcrm.graph.schema import apply_migrations
from kgcrm.graph.server import LocalNeo4j
from kgcrm.graph.settings import Settings
from benchkit import free_port
from webhook_receiver import Receiver

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "kgcrm-bench-password"
KEY = os.urandom(32)
SECRET = "whsec_" + base64.b64encode(KEY).decode()
POLICIES = parse_policies(
    "policies:\n  - {name: hot, label: Account, enter: 0.8, rearm: 0.6, min_delta: 0.05, action: webhook}\n", "bench"
)


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan"), "max": float("nan")}

    def pick(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(round(p * (len(ordered) - 1))))]

    return {"p50": pick(0.50), "p95": pick(0.95), "p99": pick(0.99), "max": ordered[-1]}


def crossing_changes(accounts: list[str], round_no: int, at: datetime) -> list[ScoreChangeInput]:
    """Even rounds rise through the threshold (fire), odd rounds fall below re-arm."""
    old, new = (0.5, 0.9) if round_no % 2 == 0 else (0.9, 0.5)
    return [ScoreChangeInput(a, Label.ACCOUNT, old, new + (round_no // 2) * 1e-6, "bench-model", changed_at=at)
            for a in accounts]


def bench_commit(graph: Graph, settings: Settings, accounts: list[str], batch_sizes: list[int], repeats: int) -> dict:
    """Median-able commit latency of one apply_score_changes call per batch size (half of them fire)."""
    out = {}
    round_no = 0
    for _ in range(10):  # warm up: query plans are compiled on first use
        for phase in range(2):
            apply_score_changes(graph, crossing_changes(accounts[:10], round_no + phase, datetime(2025, 1, 1, tzinfo=UTC)),
                                POLICIES, settings)
        round_no += 2
    for size in batch_sizes:
        latencies = []
        for rep in range(repeats):
            chunk = accounts[(rep * size) % len(accounts):][:size] or accounts[:size]
            at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=round_no)
            for phase in range(2):  # fire, then re-arm, so the next repetition fires again
                began = time.perf_counter()
                apply_score_changes(graph, crossing_changes(chunk, round_no + phase, at), POLICIES, settings)
                if phase == 0:
                    latencies.append(time.perf_counter() - began)
            round_no += 2
        out[size] = percentiles(latencies) | {"changes_per_s": size / statistics.median(latencies)}
    return out


def bench_delivery(graph: Graph, settings: Settings, accounts: list[str], rate: float, seconds: float,
                   poll: float, receiver: Receiver, warm_account: str, run_no: int) -> dict:
    """Actions committed at `rate` per second; latency from commit to the receiver's first receipt."""
    env = {**os.environ, "NEO4J_URI": settings.neo4j_uri, "NEO4J_PASSWORD": PASSWORD,
           "KGCRM_WEBHOOK_URL": receiver.url, "KGCRM_WEBHOOK_SECRET": SECRET, "KGCRM_DISPATCH_POLL": str(poll),
           "KGCRM_DISPATCH_CONCURRENCY": "8", "KGCRM_HOLDOUT_FRACTION": "0"}
    dispatcher = subprocess.Popen([sys.executable, "-m", "kgcrm", "dispatch"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    committed: dict[str, float] = {}
    try:
        deadline = time.monotonic() + 300  # wait until the dispatcher delivers a first (warm-up) action
        warm = apply_score_changes(graph, crossing_changes([warm_account], 0, datetime(2028, 1, 1, tzinfo=UTC)),
                                   POLICIES, settings).action_ids
        while not set(warm) <= set(receiver.first_seen):
            if time.monotonic() > deadline or dispatcher.poll() is not None:
                raise SystemExit("bench_outbox: the dispatcher did not deliver the warm-up action")
            time.sleep(0.05)
        interval, began, i = 1.0 / rate, time.monotonic(), 0
        while time.monotonic() - began < seconds:
            account = accounts[i % len(accounts)]
            # Each run has its own times, so its score changes are new (ids derive from them).
            at = datetime(2027, 1, 1, tzinfo=UTC) + timedelta(days=run_no, seconds=i)
            for phase in range(2):
                report = apply_score_changes(graph, crossing_changes([account], 2 * (i // len(accounts)) + phase, at),
                                             POLICIES, settings)
                if phase == 0:
                    done = time.monotonic()
                    committed.update({x: done for x in report.action_ids})
            i += 1
            time.sleep(max(0.0, began + i * interval - time.monotonic()))
        achieved = i / (time.monotonic() - began)
        deadline = time.monotonic() + 60
        while not set(committed) <= set(receiver.first_seen) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        dispatcher.send_signal(signal.SIGTERM)
        dispatcher.wait(timeout=60)
    latencies = [receiver.first_seen[x] - t for x, t in committed.items() if x in receiver.first_seen]
    return percentiles(latencies) | {"actions": len(committed), "received": len(latencies), "rate": achieved,
                                     "invalid": receiver.invalid}


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bench_drain(graph: Graph, settings: Settings, accounts: list[str], receiver: Receiver, rounds: int) -> dict:
    """`kgcrm dispatch --once` draining one pending webhook per account: its CPU a delivery (less the
    CPU of starting up, measured on an empty outbox) and deliveries a second, median over `rounds`."""
    env = {**os.environ, "NEO4J_URI": settings.neo4j_uri, "NEO4J_PASSWORD": PASSWORD,
           "KGCRM_WEBHOOK_URL": receiver.url, "KGCRM_WEBHOOK_SECRET": SECRET,
           "KGCRM_DISPATCH_CONCURRENCY": "8", "KGCRM_HOLDOUT_FRACTION": "0"}
    command = [sys.executable, "-m", "kgcrm", "dispatch", "--once"]
    before = children_cpu_seconds()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    startup = children_cpu_seconds() - before
    cpu_ms, rates = [], []
    for round_no in range(rounds):
        at = datetime(2029, 1, 1, tzinfo=UTC) + timedelta(days=round_no)
        for phase in range(2):  # fire (queues the webhooks), then re-arm for the next round
            changes = crossing_changes(accounts, 2 * round_no + phase, at)
            for start in range(0, len(changes), 1000):
                apply_score_changes(graph, changes[start:start + 1000], POLICIES, settings)
            if phase == 0:
                began, before = time.perf_counter(), children_cpu_seconds()
                subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                cpu_ms.append((children_cpu_seconds() - before - startup) * 1000 / len(accounts))
                rates.append(len(accounts) / (time.perf_counter() - began))
    return {"webhooks": len(accounts), "startup_s": startup, "cpu_ms": statistics.median(cpu_ms),
            "cpu_ms_all": cpu_ms, "per_s": statistics.median(rates)}


def main() -> None:
    quick = os.environ.get("KGCRM_BENCH_QUICK") == "1"
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", default=quick, help="small sizes, short runs")
    parser.add_argument("--accounts", type=int, default=None, help="accounts in the graph (default 20000)")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per delivery run (default 20)")
    parser.add_argument("--rates", default="10,50", help="actions per second for the delivery runs")
    parser.add_argument("--drain", type=int, default=None, help="webhooks per drain round (default 3000)")
    args = parser.parse_args()
    accounts_n = args.accounts or (2000 if args.quick else 20000)
    seconds = args.seconds or (5 if args.quick else 20)
    repeats = 10 if args.quick else 40
    drain_n = args.drain or (500 if args.quick else 3000)

    settings = Settings.load(
        NEO4J_URI=f"bolt://127.0.0.1:{free_port()}", NEO4J_PASSWORD=PASSWORD,
        KGCRM_HOME=os.environ.get("KGCRM_HOME", str(REPO / ".kgcrm")), KGCRM_NEO4J_INSTANCE=f"bench-outbox-{os.getpid()}",
        KGCRM_NEO4J_HEAP="1g", KGCRM_NEO4J_PAGECACHE="512m", KGCRM_HOLDOUT_FRACTION="0",
    )
    neo4j = LocalNeo4j(settings)
    load_before = os.getloadavg()
    try:
        neo4j.start()
        with Graph(settings) as graph:
            apply_migrations(graph)
            accounts = [f"bench-a{i}" for i in range(accounts_n)]
            for start in range(0, accounts_n, 5000):
                graph.write(q.BENCH_CREATE_ACCOUNTS, {"rows": [
                    {"id": a, "name": f"Account {a}", "owner_id": f"bench-u{i % 50}"}
                    for i, a in enumerate(accounts[start:start + 5000], start)]})
            commit = bench_commit(graph, settings, accounts, [1, 10, 100], repeats)
            receiver = Receiver(KEY)
            delivery = {}
            for rate in (float(r) for r in args.rates.split(",")):
                for poll in (0.2, 0.02):
                    delivery[(rate, poll)] = bench_delivery(graph, settings, accounts[1000:-10], rate, seconds, poll,
                                                            receiver, warm_account=accounts[-1 - len(delivery)],
                                                            run_no=len(delivery))
            drain = bench_drain(graph, settings, accounts[:drain_n], receiver, rounds=3)
    finally:
        neo4j.stop()
        shutil.rmtree(neo4j.instance_dir, ignore_errors=True)
    load_after = os.getloadavg()

    ms = lambda s: f"{s * 1000:.1f}"  # noqa: E731
    print("## Action outbox and webhook dispatch")
    print("- what: (1) commit latency of `apply_score_changes` (ScoreChange + trigger state + Action in one "
          "transaction; every change in the batch fires the policy); (2) from that commit to the first receipt "
          "of the signed webhook by a loopback receiver, with `kgcrm dispatch` as a separate process")
    print(f"- command: `python bench/bench_outbox.py{' --quick' if args.quick else ''} --accounts {accounts_n} "
          f"--seconds {seconds:g} --rates {args.rates}`")
    print(f"- machine: {os.cpu_count()}-core, shared; load average {load_before[0]:.1f} before, {load_after[0]:.1f} after")
    print("\n| batch of changes | p50 ms | p95 ms | p99 ms | changes/s (median) |\n|---|---|---|---|---|")
    for size, r in commit.items():
        print(f"| {size} | {ms(r['p50'])} | {ms(r['p95'])} | {ms(r['p99'])} | {r['changes_per_s']:.0f} |")
    print(f"\nDraining {drain['webhooks']} pending webhooks with `kgcrm dispatch --once` (concurrency 8, a "
          f"keep-alive receiver), three rounds: **{drain['cpu_ms']:.2f} ms of the dispatcher's CPU a delivery** "
          f"(median; rounds {', '.join(f'{c:.2f}' for c in drain['cpu_ms_all'])}; less {drain['startup_s']:.1f} s "
          f"of start-up), {drain['per_s']:.0f} deliveries/s")
    print("\n| offered actions/s | achieved | dispatcher poll s | actions | received | p50 ms | p95 ms | p99 ms | max ms |"
          "\n|---|---|---|---|---|---|---|---|---|")
    for (rate, poll), r in delivery.items():
        print(f"| {rate:g} | {r['rate']:.1f} | {poll:g} | {r['actions']} | {r['received']} | {ms(r['p50'])} | "
              f"{ms(r['p95'])} | {ms(r['p99'])} | {ms(r['max'])} |")


if __name__ == "__main__":
    main()
