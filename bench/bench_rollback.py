"""Benchmark of a model rollback at 1M scores: the in-database restore against rescoring's write.

`kgcrm rollback` (ml/retrain.py) flips the production flag back, restores the restored model's stored
scores in the database (graph/score_restore.py: one batched Cypher copy, no export, inference or explanation),
then rescores with it in the background of normal operation. This script measures the restore at N
accounts with the production code: N bare accounts are scored by model A, then by model B (every score
moves, so A's are kept beside B's), and the restore back to A is timed. Side by side in the same run,
the write that a rollback by rescoring needs (every score rewritten through `ml.score.write_scores`,
one ScoreChange each) is timed on the first M accounts and extrapolated linearly to N; that write
alone is a lower bound for the old design, before its export, inference and explanations. Starts its
own Neo4j, removed afterwards.

    python bench/bench_rollback.py                      # 1,000,000 accounts, rescoring's write on 50,000
    python bench/bench_rollback.py --accounts 50000     # quick (also KGCRM_BENCH_QUICK=1)
"""

from __future__ import annotations

import argparse
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
from kgcrm.graph.score_restore import restore_previous_scores
from kgcrm.ml.score import write_scores

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    quick = os.environ.get("KGCRM_BENCH_QUICK") == "1"
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=50_000 if quick else 1_000_000)
    parser.add_argument("--rescore-accounts", type=int, default=None,
                        help="accounts whose rescoring write is timed for comparison (default min(N, 50,000))")
    parser.add_argument("--heap", default="2g")
    args = parser.parse_args()
    n = args.accounts
    m = min(n, args.rescore_accounts or 50_000)
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
            scores = {"model-A": rng.random(n), "model-B": rng.random(n)}
            drivers = [["web_visit_count_30d", "owner_win_rate", "contacts"]] * n
            weights = [[0.3, 0.2, 0.1]] * n

            def write(model: str, count: int, reason: str) -> float:
                clock = time.perf_counter()
                written = write_scores(graph, settings, Label.ACCOUNT, model, f"run-{model}-{reason}", ids[:count],
                                       scores[model][:count], drivers[:count], weights[:count], reason, quiet=True)
                assert written == count, (model, written)
                return time.perf_counter() - clock

            figures["write_A_s"] = write("model-A", n, "first")
            figures["write_B_s"] = write("model-B", n, "promotion")
            # Rollback by rescoring: A's scores rewritten over B's on the first m accounts, then B again.
            figures["rescore_write_s"] = write("model-A", m, "rollback") * n / m
            write("model-B", m, "again")
            clock = time.perf_counter()
            restore = restore_previous_scores(graph, "bench", "model-B", "model-A")
            figures["restore_s"] = time.perf_counter() - clock
            assert (restore["written"], restore["left_with_retired_model"]) == (n, 0), restore
            counts = {r["model"]: r["n"] for r in graph.read(q.COUNT_BY_MODEL)}
            assert counts == {"model-A": n}, counts
            sample = graph.read(q.SAMPLE_SCORES, {"ids": ids[::max(1, n // 1000)].tolist()})
            assert all(abs(r["score"] - scores["model-A"][int(r["id"][2:])]) < 1e-12 for r in sample)
    finally:
        neo4j.stop()
        shutil.rmtree(neo4j.instance_dir, ignore_errors=True)
    load = os.getloadavg()
    print(f"## Rollback at {n:,} scores\n")
    print(f"- machine: {os.cpu_count()} cores, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at the end")
    print(f"- create {n:,} accounts: {figures['create_s']:.1f} s")
    for key in ("write_A_s", "write_B_s"):
        print(f"- {key[:-2]} (every score written, one ScoreChange each): {figures[key]:.1f} s "
              f"({n / figures[key]:,.0f} scores/s)")
    print(f"- rollback's in-database restore of {n:,} stored scores: {figures['restore_s']:.1f} s "
          f"({n / figures['restore_s']:,.0f} scores/s)")
    print(f"- rollback by rescoring, its write alone (measured on {m:,}, linear to {n:,}): "
          f"{figures['rescore_write_s']:.1f} s; ratio to the restore {figures['rescore_write_s'] / figures['restore_s']:.1f}x")
    print(f"- goal: rollback of 1M scores within 60 s; restore at 1M (linear from {n:,}): "
          f"{figures['restore_s'] * 1_000_000 / n:.0f} s")


if __name__ == "__main__":
    main()
