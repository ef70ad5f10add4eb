"""Batch scoring with 1 and 2 worker processes (`kgcrm score --partition K/N`), side by side in one run.

Generates a world (`kgcrm generate`), bulk-loads it into a Neo4j of its own, trains and promotes a
model (`kgcrm retrain`, two epochs: the timing does not depend on skill), then alternates: one
`kgcrm score` process, and two processes started together with `--partition 1/2` and `--partition 2/2`.
Before each run every score is removed, so every run writes every score (with its ScoreChange), and
the two-process run is checked to have scored each account exactly once. Reports the wall time of
each configuration (medians over the runs) and the speed-up, for docs/scaling.md.

    python bench/bench_score_scaling.py                  # 8,000 accounts, 2 runs each (docs/scaling.md)
    python bench/bench_score_scaling.py --accounts 500 --runs 1   # quick (also KGCRM_BENCH_QUICK=1)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from benchkit import KGCRM, free_port, kgcrm_env, run_kgcrm
from kgcrm.graph.driver import Graph
from kgcrm.graph.queries import bench_scaling as q
from kgcrm.graph.server import LocalNeo4j
from kgcrm.graph.settings import Settings


def _score(env: dict[str, str], partitions: int) -> float:
    """Wall seconds until all `partitions` scoring processes, started together, have finished."""
    started = time.perf_counter()
    children = [subprocess.Popen([KGCRM, "score", "--task", "account_intent", "--quiet", "--partition",
                                  f"{k}/{partitions}"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True) for k in range(1, partitions + 1)]
    for child in children:
        _, err = child.communicate()
        if child.returncode != 0:
            raise SystemExit(f"kgcrm score failed ({child.returncode}): {err.strip()[-500:]}")
    return time.perf_counter() - started


def main() -> None:
    quick = os.environ.get("KGCRM_BENCH_QUICK") == "1"
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=500 if quick else 8000)
    parser.add_argument("--runs", type=int, default=1 if quick else 2)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kgcrm-bench-scaling-"))
    settings = Settings.load(
        NEO4J_URI=f"bolt://127.0.0.1:{free_port()}", NEO4J_PASSWORD="bench-scaling-password",
        KGCRM_NEO4J_INSTANCE=f"bench-scaling-{os.getpid()}", KGCRM_NEO4J_HEAP="1g", KGCRM_NEO4J_PAGECACHE="1g",
        KGCRM_MODEL_DIR=str(work / "models"), KGCRM_ML_THREADS=1,
    )
    local = LocalNeo4j(settings)
    env = {**kgcrm_env(settings), "KGCRM_GATE_BASELINE_MARGIN": "-1", "KGCRM_SCORE_EPSILON": "0"}
    load_before = os.getloadavg()[0]
    walls: dict[int, list[float]] = {1: [], 2: []}
    parts: dict[tuple[int, str], list[float]] = {}  # seconds of each part of each process's ScoreRun
    try:
        world = work / "world"
        run_kgcrm(["generate", "--accounts", str(args.accounts), "--seed", str(args.seed), "--quiet", str(world)], env)
        run_kgcrm(["load", str(world), "--format", "salesforce", "--bulk", "--quiet"], env)
        run_kgcrm(["schema", "apply"], env)
        run_kgcrm(["retrain", "--task", "account_intent", "--epochs", "2", "--quiet"], env)
        with Graph(settings) as graph:
            accounts = graph.read(q.COUNT_ACCOUNTS)[0]["n"]
            for _ in range(args.runs):
                for processes in (1, 2):
                    graph.write(q.FORGET_SCORES)
                    walls[processes].append(_score(env, processes))
                    counts = graph.read(q.SCORED_ONCE)[0]
                    assert counts["scored"] == counts["changes"] == accounts, (processes, counts, accounts)
                    for timings in graph.read(q.RUN_TIMINGS):
                        for part, seconds in json.loads(timings["timings"]).items():
                            parts.setdefault((processes, part[:-2]), []).append(seconds)
    finally:
        local.stop()
        shutil.rmtree(local.instance_dir, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    one, two = statistics.median(walls[1]), statistics.median(walls[2])
    print("## Scaling: batch scoring with 1 and 2 worker processes\n")
    print(f"- command: `python bench/bench_score_scaling.py --accounts {args.accounts} --runs {args.runs}`")
    print(f"- world: `kgcrm generate --accounts {args.accounts} --seed {args.seed}`, {accounts:,} accounts scored per run, "
          "every score written (scores removed before each run)")
    print(f"- machine: {os.cpu_count()} cores; load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
    print(f"- runs alternate 1 process, 2 processes; median (min-max) of {args.runs}\n")
    print("| processes | wall s | accounts/s | speed-up |")
    print("|---|---|---|---|")
    for processes, median in ((1, one), (2, two)):
        spread = f"{min(walls[processes]):.1f}-{max(walls[processes]):.1f}"
        print(f"| {processes} | {median:.1f} ({spread}) | {accounts / median:,.0f} | {one / median:.2f} |")
    print("\nParts inside each process (median seconds, from its ScoreRun; the rest of the wall time is the")
    print("process's start-up, imports and model load):\n")
    for processes in (1, 2):
        print(f"- {processes} process{'es' if processes > 1 else ''}: " + ", ".join(
            f"{part} {statistics.median(values):.1f}" for (n, part), values in parts.items() if n == processes))


if __name__ == "__main__":
    main()
