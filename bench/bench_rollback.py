"""Benchmark of a model rollback's write side at 1M scores: what `kgcrm rollback` rewrites, against a restore.

`kgcrm rollback` (ml/retrain.py) swaps the production flag back in one transaction, then runs a full
`score_task` with the restored model: export, GNN inference, explanations and the write of every score
that moved, each with a ScoreChange. The export, inference and explanation parts are measured by
bench/bench_ml.py; this script measures the write part at a size bench_ml cannot reach on this
machine, with the production write path itself (`ml.score.write_scores`): N bare accounts are scored
by model A, then by model B (every score moves), then A's scores are written back (the rollback's
write: every score moves again) and timed. For comparison it times a rollback that restores stored
scores (`graph/queries/bench_rollback.py`: the previous score kept beside the current one, batched
SETs of 10,000) on the same nodes. Starts its own Neo4j, removed afterwards.

    python bench/bench_rollback.py                 # 1,000,000 accounts
    python bench/bench_rollback.py --accounts 50000   # quick (also KGCRM_BENCH_QUICK=1)
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import time
from pathlib import Path

import numpy as np

from benchkit import free_port
from kgcrm.graph.driver import Graph
from kgcrm.graph.model import Label
from kgcrm.graph.queries import bench_rollback as q
from kgcrm.graph.schema import apply_migrations
from kgcrm.graph.server import LocalNeo4j
from kgcrm.graph.settings import Settings
from kgcrm.ml.score import write_scores

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    quick = os.environ.get("KGCRM_BENCH_QUICK") == "1"
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=50_000 if quick else 1_000_000)
    parser.add_argument("--heap", default="2g")
    args = parser.parse_args()
    n = args.accounts
    settings = Settings.load(
        NEO4J_URI=f"bolt://127.0.0.1:{free_port()}", NEO4J_PASSWORD="bench-rollback-password",
        KGCRM_HOME=os.environ.get("KGCRM_HOME", str(REPO / ".kgcrm")), KGCRM_NEO4J_INSTANCE=f"bench-rollback-{os.getpid()}",
        KGCRM_NEO4J_HEAP=args.heap, KGCRM_NEO4J_PAGECACHE="2g", KGCRM_SCORE_EPSILON="0.0", KGCRM_BATCH_SIZE="1000",
    )
    neo4j = LocalNeo4j(settings)
    neo4j.start()
    figures: dict[str, float] = {}
    try:
        with Graph(settings) as graph:
            apply_migrations(graph)
            ids = np.array([f"rb{i}" for i in range(n)])
            clock = time.perf_counter()
            for start in range(0, n, 10_000):
                graph.write(q.CREATE_ACCOUNTS, {"ids": ids[start:start + 10_000].tolist()})
            figures["create_s"] = time.perf_counter() - clock
            rng = np.random.default_rng(1)
            scores_a, scores_b = rng.random(n), rng.random(n)
            drivers = [["web_visit_count_30d", "owner_win_rate", "contacts"]] * n
            weights = [[0.3, 0.2, 0.1]] * n
            for model, scores in (("model-A", scores_a), ("model-B", scores_b)):
                clock = time.perf_counter()
                written = write_scores(graph, settings, Label.ACCOUNT, model, f"run-{model}", ids, scores, drivers, weights,
                                       f"scoring with {model}", quiet=True)
                figures[f"write_{model}_s"] = time.perf_counter() - clock
                assert written == n, (model, written)
            # The rollback's write: A's scores again, every one moved, each with its ScoreChange.
            clock = time.perf_counter()
            written = write_scores(graph, settings, Label.ACCOUNT, "model-A", "run-rollback", ids, scores_a, drivers,
                                   weights, "rollback from model-B", quiet=True)
            figures["rollback_write_s"] = time.perf_counter() - clock
            assert written == n
            # The restore design: B's scores with A's kept beside them, then batched SETs back to A.
            write_scores(graph, settings, Label.ACCOUNT, "model-B", "run-B2", ids, scores_b, drivers, weights, "again", quiet=True)
            for start in range(0, n, 10_000):
                rows = [{"id": i, "score": float(s)} for i, s in zip(ids[start:start + 10_000], scores_a[start:start + 10_000])]
                graph.write(q.STORE_PREVIOUS, {"rows": rows, "model": "model-A"})
            clock = time.perf_counter()
            restored, now = 0, dt.datetime.now(dt.UTC)
            for start in range(0, n, 10_000):
                restored += graph.write(q.RESTORE_PREVIOUS, {"ids": ids[start:start + 10_000].tolist(), "retired": "model-B",
                                                             "restored": "model-A", "now": now})[0]["restored"]
            figures["restore_s"] = time.perf_counter() - clock
            assert restored == n, restored
            counts = {r["model"]: r["n"] for r in graph.read(q.COUNT_BY_MODEL)}
            assert counts == {"model-A": n}, counts
    finally:
        neo4j.stop()
        shutil.rmtree(neo4j.instance_dir, ignore_errors=True)
    load = os.getloadavg()
    print(f"## Rollback at {n:,} scores\n")
    print(f"- machine: {os.cpu_count()} cores, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at the end")
    print(f"- create {n:,} accounts: {figures['create_s']:.1f} s")
    for key in ("write_model-A_s", "write_model-B_s", "rollback_write_s"):
        print(f"- {key[:-2]}: {figures[key]:.1f} s ({n / figures[key]:,.0f} scores/s)")
    print(f"- restore of stored previous scores: {figures['restore_s']:.1f} s ({n / figures['restore_s']:,.0f} scores/s)")
    print(f"- goal: rollback of 1M scores within 60 s; write part alone at 1M: "
          f"{figures['rollback_write_s'] * 1_000_000 / n:.0f} s (linear), restore: {figures['restore_s'] * 1_000_000 / n:.0f} s")


if __name__ == "__main__":
    main()
