"""Benchmarks of the ML part on a generated world: export speed, training time and memory, full rescoring
split into its parts, the model-quality table with intervals, and the planted-driver share of explanations.

Generates a world (`kgcrm generate`), bulk-loads it into a fresh local Neo4j instance of its own, then
runs `kgcrm retrain` and `kgcrm score` as child processes (peak memory = the child's max RSS).
Prints a `## ML` section for bench/RESULTS.md. `KGCRM_BENCH_QUICK=1` (or `--accounts 300 --runs 1`)
for a quick run; `--maven DIR` adds the Maven CRM data set (`opportunity_win`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kgcrm.graph.driver import Graph
from kgcrm.graph.model import Label
from kgcrm.graph.queries import ml as q
from kgcrm.graph.server import LocalNeo4j
from kgcrm.graph.settings import Settings
from kgcrm.ml.export import NODE_COLUMNS, REL_SPECS, export_graph
from kgcrm.ml.planted import planted_driver_share
from kgcrm.ml.registry import list_models
from kgcrm.ml.score import score_task

KGCRM = str(Path(sys.executable).parent / "kgcrm")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _machine() -> str:
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{os.cpu_count()}-core {platform.machine()}, {memory_gib:.0f} GiB, Python {platform.python_version()}; "
            f"load average {os.getloadavg()[0]:.1f} at the start")


def _env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ, "NEO4J_URI": settings.neo4j_uri, "NEO4J_PASSWORD": settings.neo4j_password,
        "KGCRM_HOME": str(settings.home), "KGCRM_NEO4J_INSTANCE": settings.neo4j_instance,
        "KGCRM_MODEL_DIR": str(settings.model_dir), "KGCRM_ML_THREADS": str(settings.ml_threads),
    }


def _run(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS of this child in GiB, stdout) of one kgcrm command."""
    started = time.perf_counter()
    done = subprocess.run([KGCRM, *args], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"kgcrm {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20, done.stdout


def _naive_export(graph: Graph) -> tuple[int, float]:
    """The per-record reference: one small record per node and relationship through the same driver."""
    started = time.perf_counter()
    count = 0
    for label in NODE_COLUMNS:
        count += len(graph.read(q.naive_nodes(label, NODE_COLUMNS[label])))
    for src, rel, dst, _, _ in REL_SPECS:
        count += len(graph.read(q.naive_relationships(src, rel, dst)))
    return count, time.perf_counter() - started


def _quality_rows(graph: Graph, task: str) -> list[str]:
    versions = [v for v in list_models(graph, task)]
    if not versions:
        return [f"| {task} | no model | | | |"]
    latest = versions[0]
    rows = []
    for name, m in [*(latest.get("baseline_metrics") or {}).items(), ("GNN (HeteroConv SAGE)", latest.get("metrics"))]:
        rows.append(
            f"| {task} | {name} | {m['auroc']:.3f} [{m['auroc_low']:.3f}, {m['auroc_high']:.3f}] "
            f"| {m['ap']:.3f} [{m['ap_low']:.3f}, {m['ap_high']:.3f}] | {m['ece']:.3f} [{m['ece_low']:.3f}, {m['ece_high']:.3f}] |"
        )
    rows.append(f"| {task} | gate | {latest.status}: {latest.props.get('gate_reason', '')} | | |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    quick = os.environ.get("KGCRM_BENCH_QUICK") == "1"
    parser.add_argument("--accounts", type=int, default=300 if quick else 2200, help="about 45 nodes per account")
    parser.add_argument("--runs", type=int, default=1 if quick else 3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="KGCRM_ML_THREADS for training and scoring")
    parser.add_argument("--maven", type=Path, help="the Maven CRM folder: also train opportunity_win on it")
    parser.add_argument("--keep", action="store_true", help="keep the instance and the world afterwards")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="kgcrm-bench-ml-"))
    print(f"## ML\n- machine: {_machine()}")
    settings = Settings.load(
        NEO4J_URI=f"bolt://127.0.0.1:{_free_port()}", NEO4J_PASSWORD="bench-ml-password",
        KGCRM_NEO4J_INSTANCE=f"bench-ml-{os.getpid()}", KGCRM_NEO4J_HEAP="2g", KGCRM_NEO4J_PAGECACHE="2g",
        KGCRM_MODEL_DIR=str(work / "models"), KGCRM_ML_THREADS=args.threads,
    )
    local = LocalNeo4j(settings)
    env = _env(settings)
    try:
        world = work / "world"
        _run(["generate", "--accounts", str(args.accounts), "--seed", str(args.seed), "--quiet", str(world)], env)
        load_s, _, _ = _run(["load", str(world), "--format", "salesforce", "--bulk", "--quiet"], env)
        graph = Graph(settings)
        _run(["schema", "apply"], env)

        exports = []
        for _ in range(args.runs):
            started = time.perf_counter()
            export = export_graph(graph)
            exports.append(time.perf_counter() - started)
        elements = export.num_elements
        naive_count, naive_s = _naive_export(graph)
        nodes = sum(len(t) for t in export.nodes.values())
        print(f"- world: `kgcrm generate --accounts {args.accounts} --seed {args.seed}`, bulk-loaded in {load_s:.0f} s: "
              f"{nodes:,} nodes, {elements - nodes:,} relationships exported")
        print(f"- export (`ml.export.export_graph`, columnar): median of {args.runs} {statistics.median(exports):.2f} s = "
              f"{elements / statistics.median(exports):,.0f} elements/s (runs: {', '.join(f'{s:.2f}' for s in exports)}); "
              f"per-record reference {naive_count / naive_s:,.0f} elements/s; ratio {naive_s / statistics.median(exports):.1f}x")

        train_s, peak_gib, out = _run(["retrain", "--task", "account_intent", "--quiet"], env)
        print(f"- `kgcrm retrain --task account_intent` (export, 2 LightGBM, GNN, register, gate, rescore): "
              f"{train_s:.0f} s wall, peak RSS {peak_gib:.2f} GiB; {out.strip().splitlines()[0]}")
        opp_s, _, opp_out = _run(["retrain", "--task", "opportunity_win", "--quiet"], env)
        print(f"- `kgcrm retrain --task opportunity_win`: {opp_s:.0f} s; {opp_out.strip().splitlines()[0]}")

        walls, parts = [], []
        for _ in range(args.runs):
            wall, _, _ = _run(["score", "--task", "account_intent", "--quiet"], env)
            walls.append(wall)
            run = graph.read("MATCH (r:ScoreRun {task: 'account_intent'}) RETURN r.timings AS t ORDER BY r.finished_at DESC LIMIT 1")
            parts.append(json.loads(run[0]["t"]))
        median = {k: statistics.median(p[k] for p in parts) for k in parts[0]}
        print(f"- full rescoring `kgcrm score --task account_intent` (process wall incl. imports): median "
              f"{statistics.median(walls):.1f} s; parts (median): " + ", ".join(f"{k[:-2]} {v:.2f} s" for k, v in median.items()))

        result = score_task(graph, settings, "account_intent")
        share = planted_driver_share(result, world)
        print(f"- explanations: planted mechanism among the top 3 drivers for {share['hits']}/{share['accounts']} "
              f"= {share['share']:.0%} of truly high-intent accounts (top 10% true intent, week {share['week']}); "
              f"by mechanism {json.dumps(share['by_mechanism'])}")

        print("\n| task | model | test AUROC [95% CI] | test AP [95% CI] | test ECE [95% CI] |\n|---|---|---|---|---|")
        for task in ("account_intent", "opportunity_win"):
            print("\n".join(_quality_rows(graph, task)))
        graph.close()

        if args.maven:
            maven_settings = settings.model_copy(update={"neo4j_instance": f"bench-ml-maven-{os.getpid()}",
                                                         "neo4j_uri": f"bolt://127.0.0.1:{_free_port()}"})
            local.stop()
            maven_env = _env(maven_settings)
            _run(["neo4j", "start"], maven_env)
            _run(["schema", "apply"], maven_env)
            _run(["load", str(args.maven), "--format", "maven", "--quiet"], maven_env)
            m_s, _, m_out = _run(["retrain", "--task", "opportunity_win", "--quiet"], maven_env)
            with Graph(maven_settings) as maven_graph:
                print("\n".join(row.replace("opportunity_win", "opportunity_win (Maven)") for row in _quality_rows(maven_graph, "opportunity_win")))
            print(f"- Maven `kgcrm retrain --task opportunity_win`: {m_s:.0f} s; {m_out.strip().splitlines()[0]}")
            maven_local = LocalNeo4j(maven_settings)
            if not args.keep:
                maven_local.stop()
                shutil.rmtree(maven_local.instance_dir, ignore_errors=True)
    finally:
        if not args.keep:
            local.stop()
            shutil.rmtree(local.instance_dir, ignore_errors=True)
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
