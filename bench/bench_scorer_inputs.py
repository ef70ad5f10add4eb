"""Benchmark of one part of an incremental scorer's pass: the touched nodes' model inputs.

Starts its own Neo4j (removed afterwards), generates bench_events.py's book (`--nodes`), takes its cached
production GNN (trained on first use), queues `--events` events on distinct accounts and reads their touched
subgraph once, as a pass does. Then, in alternating rounds, it computes the touched nodes' inputs two ways:
the scorer's (`IncrementalScorer._inputs`: features, then the inputs alone via `snapshot_inputs`) and, as
the peer, through `prepare`, which also builds the subgraph's relationships (what the scorer did before).
Prints CPU ms a call, median over rounds, and the ratio; checks both give the same inputs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from kgcrm.actions.events import ingest_ndjson
from kgcrm.actions.rescore import IncrementalScorer, _touched
from kgcrm.graph.driver import Graph
from kgcrm.graph.model import Label
from kgcrm.graph.schema import apply_migrations
from kgcrm.graph.server import LocalNeo4j
from kgcrm.ml.features import take_snapshot
from kgcrm.ml.inference import prepare
from kgcrm.ml.registry import production_model
from bench_events import generate, trained_model
from benchkit import bench_settings


def inputs_through_prepare(scorer: IncrementalScorer, artifact, touched: dict[int, str], cutoff: float,
                           export) -> dict[int, torch.Tensor]:
    """The peer: the touched nodes' inputs picked out of `prepare`'s whole HeteroData (relationships built)."""
    snapshot = take_snapshot(export, cutoff)
    scorer._use_global_vocabulary(snapshot, export)
    data = prepare(artifact, snapshot, np.zeros(0, np.int64)).data
    inputs = {}
    for node_type in data.node_types:
        neo_ids = export.nodes[Label(node_type)].neo_ids[data[node_type].row.numpy()]
        for position, neo_id in enumerate(neo_ids.tolist()):
            if neo_id in touched:
                inputs[int(neo_id)] = data[node_type].x[position]
    return inputs


def cpu_ms(work, calls: int) -> float:
    began = time.process_time()
    for _ in range(calls):
        work()
    return (time.process_time() - began) / calls * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=5000, help="graph size in nodes")
    parser.add_argument("--events", type=int, default=8, help="events in the pass (each on its own account)")
    parser.add_argument("--calls", type=int, default=300, help="calls a round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each, alternating")
    args = parser.parse_args()
    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix="kgcrm-bench-inputs-"))
    settings = bench_settings("inputs", heap="1g", pagecache="512m", KGCRM_MODEL_DIR=str(work / "models"),
                              KGCRM_ML_THREADS="1", KGCRM_EVENTS_CACHE_SECONDS="600")
    home = settings.home
    neo4j = LocalNeo4j(settings)
    try:
        neo4j.start()
        with Graph(settings) as graph:
            apply_migrations(graph)
            accounts, contacts = generate(graph, args.nodes)
            trained_model(graph, settings, args.nodes, home / "bench-cache", retrain=False)
            now = datetime.now(UTC).isoformat()
            lines = [json.dumps({"eventId": f"in{k}", "type": "meeting", "at": now, "accountId": account,
                                 "contactId": contacts[account][0]}) for k, account in enumerate(accounts[:args.events])]
            ingest_ndjson(graph, lines)
            scorer = IncrementalScorer(graph, settings, [])
            touched = _touched(scorer.pending())
            version = production_model(graph, "account_intent")
            artifact, _ = scorer._model(version)
            export = graph.execute_read(scorer._touched_export, touched)
            cutoff = time.time()
            ours = scorer._inputs(artifact, touched, cutoff, export)
            peer = inputs_through_prepare(scorer, artifact, touched, cutoff, export)
            if ours.keys() != peer.keys() or any(not torch.equal(ours[k], peer[k]) for k in ours):
                raise SystemExit("bench_scorer_inputs: the two ways gave different inputs")
            timings: dict[str, list[float]] = {"kgcrm": [], "peer": []}
            for _ in range(args.rounds):
                timings["kgcrm"].append(cpu_ms(lambda: scorer._inputs(artifact, touched, cutoff, export), args.calls))
                timings["peer"].append(cpu_ms(lambda: inputs_through_prepare(scorer, artifact, touched, cutoff, export),
                                              args.calls))
    finally:
        neo4j.stop()
        shutil.rmtree(neo4j.instance_dir, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    ours_ms, peer_ms = (float(np.median(timings[k])) for k in ("kgcrm", "peer"))
    print(f"## Scorer: the touched nodes' inputs\n- command: `python bench/bench_scorer_inputs.py --nodes {args.nodes} "
          f"--events {args.events} --calls {args.calls} --rounds {args.rounds}`\n- {len(touched)} touched nodes, "
          f"{len(ours)} with inputs; CPU ms a call, median of {args.rounds} rounds of {args.calls} calls\n")
    print("| way | CPU ms a call (median) | rounds |\n|---|---|---|")
    for name, ms in (("kgcrm (`snapshot_inputs`)", ours_ms), ("peer (`prepare`, relationships built)", peer_ms)):
        key = "kgcrm" if name.startswith("kgcrm") else "peer"
        print(f"| {name} | {ms:.2f} | {', '.join(f'{v:.2f}' for v in timings[key])} |")
    print(f"\nratio kgcrm / peer: {ours_ms / peer_ms:.2f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
