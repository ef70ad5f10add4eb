"""How a scorer pass's read of the touched nodes grows with their history (activities already stored).

A pass reads the touched nodes' subgraph (`IncrementalScorer._touched_export`: their columns, every
activity about or performed by them, their relationships) and computes their inputs from it
(`IncrementalScorer._inputs`), because the decayed activity counts are recomputed from every activity at
the pass's cutoff. So the work of a pass grows with how many events the touched accounts and contacts
have had. This benchmark starts its own Neo4j (removed afterwards), generates bench_events.py's book,
then for each history level gives `--events` accounts that many more past activities (spread over the
last year, half by the account's first contact), queues one new event on each and times that pass's read
and inputs: wall, client CPU and Neo4j CPU a read, and client CPU of the inputs; median over rounds,
after `--warmup` seconds of reads (Neo4j's JIT compiler otherwise dominates the first levels).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import torch

from kgcrm.actions.events import ingest_ndjson
from kgcrm.actions.rescore import IncrementalScorer, _touched
from kgcrm.graph.driver import Graph
from kgcrm.graph.queries import events as q
from kgcrm.graph.schema import apply_migrations
from kgcrm.graph.server import LocalNeo4j
from kgcrm.ml.registry import production_model
from bench_events import TYPES, generate, trained_model
from benchkit import bench_settings, cpu_seconds


def add_history(graph: Graph, accounts: list[str], contacts: dict[str, list[str]], per_account: int,
                prefix: str, rng: random.Random) -> None:
    """`per_account` past activities on each account (every other one by its first contact), not queued."""
    now = datetime.now(UTC)
    lines, ids = [], []
    for account in accounts:
        for k in range(per_account):
            event_id = f"{prefix}-{account}-{k}"
            row = {"eventId": event_id, "type": rng.choice(TYPES), "accountId": account,
                   "at": (now - timedelta(days=rng.uniform(1, 365))).isoformat()}
            if k % 2:
                row["contactId"] = contacts[account][0]
            lines.append(json.dumps(row))
            ids.append(event_id)
    for start in range(0, len(lines), 2000):
        report = ingest_ndjson(graph, lines[start:start + 2000])
        if report.rejected:
            raise SystemExit(f"bench_touched_history: events rejected: {report.as_dict()}")
    mark_rescored(graph, ids)


def mark_rescored(graph: Graph, ids: list[str]) -> None:
    """Take events off the scorer's queue, as a pass that rescored them would."""
    for start in range(0, len(ids), 5000):
        graph.execute_write(lambda tx, chunk: tx.run(q.MARK_RESCORED, batch={"ids": chunk},
                                                     note="bench history").consume(), ids[start:start + 5000])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=5000, help="graph size in nodes")
    parser.add_argument("--events", type=int, default=8, help="events in the pass (each on its own account)")
    parser.add_argument("--history", default="0,50,200,800", help="activities added to each account, cumulative")
    parser.add_argument("--calls", type=int, default=50, help="reads a round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=90.0,
                        help="seconds of reads before the first level (Neo4j's JIT compiles the read's code)")
    args = parser.parse_args()
    levels = sorted(int(x) for x in args.history.split(",") if x)
    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix="kgcrm-bench-history-"))
    settings = bench_settings("history", heap="1g", pagecache="512m", KGCRM_MODEL_DIR=str(work / "models"),
                              KGCRM_ML_THREADS="1", KGCRM_EVENTS_CACHE_SECONDS="600")
    home = settings.home
    neo4j = LocalNeo4j(settings)
    rows: list[tuple[int, int, float, float, float, float]] = []
    rng = random.Random(3)
    try:
        neo4j.start()
        server = neo4j.running_pid() or 0
        with Graph(settings) as graph:
            apply_migrations(graph)
            accounts, contacts = generate(graph, args.nodes)
            trained_model(graph, settings, args.nodes, home / "bench-cache", retrain=False)
            chosen, added = accounts[:args.events], 0
            scorer = IncrementalScorer(graph, settings, [])
            artifact, _ = scorer._model(production_model(graph, "account_intent"))
            for level in levels:
                add_history(graph, chosen, contacts, level - added, f"h{level}", rng)
                added = level
                now = datetime.now(UTC).isoformat()
                ingest_ndjson(graph, [json.dumps({"eventId": f"pass{level}-{k}", "type": "meeting", "at": now,
                                                  "accountId": account, "contactId": contacts[account][0]})
                                      for k, account in enumerate(chosen)])
                pending = scorer.pending()
                touched = _touched(pending)
                export = graph.execute_read(scorer._touched_export, touched)
                cutoff = time.time()
                activities = len(export.nodes[next(label for label in export.nodes if label.value == "Activity")])
                warm_until = time.monotonic() + (args.warmup if level == levels[0] else 0.0)
                while time.monotonic() < warm_until:
                    graph.execute_read(scorer._touched_export, touched)
                walls, clients, servers, inputs = [], [], [], []
                for _ in range(args.rounds):
                    wall, cpu, neo = time.perf_counter(), time.process_time(), cpu_seconds(server)
                    for _ in range(args.calls):
                        export = graph.execute_read(scorer._touched_export, touched)
                    walls.append((time.perf_counter() - wall) * 1000 / args.calls)
                    clients.append((time.process_time() - cpu) * 1000 / args.calls)
                    servers.append((cpu_seconds(server) - neo) * 1000 / args.calls)
                    cpu = time.process_time()
                    for _ in range(args.calls):
                        scorer._inputs(artifact, touched, cutoff, export)
                    inputs.append((time.process_time() - cpu) * 1000 / args.calls)
                rows.append((level, activities, *(statistics.median(v) for v in (walls, clients, servers, inputs))))
                mark_rescored(graph, [e.id for e in pending])
    finally:
        neo4j.stop()
        shutil.rmtree(neo4j.instance_dir, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    print(f"## Scorer: the touched read against history\n- command: `python bench/bench_touched_history.py --nodes "
          f"{args.nodes} --events {args.events} --history {args.history} --calls {args.calls} --rounds {args.rounds} "
          f"--warmup {args.warmup:g}`"
          f"\n- one pass of {args.events} events on {args.events} accounts; median of {args.rounds} rounds of "
          f"{args.calls} reads, after {args.warmup:g} s of reads\n")
    print("| activities added an account | activities in the read | read wall ms | read client CPU ms | "
          "read Neo4j CPU ms | inputs CPU ms |\n|---|---|---|---|---|---|")
    for level, activities, wall, client, server_ms, inputs_ms in rows:
        print(f"| {level} | {activities} | {wall:.2f} | {client:.2f} | {server_ms:.2f} | {inputs_ms:.2f} |")


if __name__ == "__main__":
    main()
