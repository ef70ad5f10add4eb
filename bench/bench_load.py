"""Benchmark of loading a generated world: Bolt (`kgcrm load`) versus the offline importer (`kgcrm load --bulk`).

Both load the same `kgcrm generate` world (Salesforce format) into a fresh local Neo4j instance of
their own; entities = nodes + relationships counted in the graph afterwards. Prints a
`## Loading` section for bench/RESULTS.md. `KGCRM_BENCH_QUICK=1` (or `--accounts 300 --runs 1`)
for a quick run.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kgcrm.graph.driver import Graph
from kgcrm.graph.schema import apply_migrations
from kgcrm.graph.server import LocalNeo4j
from kgcrm.graph.settings import Settings
from benchkit import free_port

KGCRM = str(Path(sys.executable).parent / "kgcrm")


def _machine() -> str:
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()}-core {platform.machine()}, {memory_gib:.0f} GiB, Python {platform.python_version()}"


def _entities(settings: Settings) -> tuple[int, int]:
    with Graph(settings) as graph:
        nodes = graph.read("MATCH (n) WHERE NOT n:SchemaMigration RETURN count(n) AS c")[0]["c"]
        rels = graph.read("MATCH ()-[r]->() RETURN count(r) AS c")[0]["c"]
    return nodes, rels


def _children_cpu() -> float:
    """CPU seconds of the finished child processes so far (a `kgcrm load` and what it waited for)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _csv_rows(world: Path) -> int:
    """Data rows of the generated export (every CSV, headers left out)."""
    total = 0
    for path in world.glob("*.csv"):
        with open(path, "rb") as handle:
            total += sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b"")) - 1
    return total


def _fresh(local: LocalNeo4j) -> None:
    local.stop()
    shutil.rmtree(local.instance_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    quick = os.environ.get("KGCRM_BENCH_QUICK") == "1"
    parser.add_argument("--accounts", type=int, default=300 if quick else 21_000, help="about 48 nodes per account")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--skip-bolt", action="store_true", help="measure the bulk path only")
    args = parser.parse_args()
    settings = Settings.load(
        NEO4J_URI=f"bolt://127.0.0.1:{free_port()}", NEO4J_PASSWORD="bench-load-password",
        KGCRM_NEO4J_INSTANCE=f"bench-load-{os.getpid()}", KGCRM_NEO4J_HEAP="2g", KGCRM_NEO4J_PAGECACHE="2g",
    )
    settings.home = settings.home.resolve()
    env = {**os.environ, "NEO4J_URI": settings.neo4j_uri, "NEO4J_PASSWORD": settings.neo4j_password,
           "KGCRM_NEO4J_INSTANCE": settings.neo4j_instance, "KGCRM_HOME": str(settings.home),
           "KGCRM_NEO4J_HEAP": "2g", "KGCRM_NEO4J_PAGECACHE": "2g"}
    local = LocalNeo4j(settings)
    load_before = os.getloadavg()[0]
    bolt, bulk, importer, bolt_cpu, files_cpu = [], [], [], [], []
    counts = (0, 0)
    with tempfile.TemporaryDirectory(prefix="kgcrm-bench-load-") as tmp:
        world = Path(tmp) / "world"
        subprocess.run([KGCRM, "generate", "--accounts", str(args.accounts), "--seed", "1", "--quiet", str(world)],
                       check=True, stdout=subprocess.DEVNULL)
        rows = _csv_rows(world)
        try:
            for run in range(args.runs):
                _fresh(local)
                cpu_before = _children_cpu()
                out = subprocess.run([KGCRM, "load", str(world), "--format", "salesforce", "--bulk",
                                      "--rejects", str(Path(tmp) / "rejects.csv")],
                                     check=True, env=env, cwd=tmp, capture_output=True, text=True)
                steps = re.search(r"files ([\d.]+) s, neo4j-admin import ([\d.]+) s", out.stdout)
                assert steps, out.stdout
                # kgcrm's own CPU: the whole process (neo4j-admin's CPU is a child of it: subtracted below).
                bulk_process_cpu = _children_cpu() - cpu_before
                bulk.append(float(steps[1]) + float(steps[2]))
                importer.append(float(steps[2]))
                files_cpu.append(bulk_process_cpu)
                counts = _entities(settings)
                print(f"run {run + 1}: bulk {bulk[-1]:.1f} s (importer {importer[-1]:.1f} s) for {sum(counts):,} entities",
                      file=sys.stderr)
                if not args.skip_bolt:
                    _fresh(local)
                    local.start()
                    with Graph(settings) as graph:
                        apply_migrations(graph)  # as a deployed graph has it; not part of the load
                    began = time.perf_counter()
                    cpu_before = _children_cpu()
                    subprocess.run([KGCRM, "load", str(world), "--format", "salesforce", "--quiet",
                                    "--batch-size", str(args.batch_size), "--rejects", str(Path(tmp) / "rejects.csv")],
                                   check=True, env=env, cwd=tmp)
                    bolt.append(time.perf_counter() - began)
                    bolt_cpu.append(_children_cpu() - cpu_before)
                    counts = _entities(settings)
                    print(f"run {run + 1}: Bolt {bolt[-1]:.1f} s for {sum(counts):,} entities "
                          f"(kgcrm CPU {bolt_cpu[-1]:.1f} s)", file=sys.stderr)
        finally:
            _fresh(local)
    entities = sum(counts)
    print("## Loading")
    print(f"- what: a `kgcrm generate --accounts {args.accounts} --seed 1` world ({counts[0]:,} nodes, {counts[1]:,} "
          f"relationships = {entities:,} entities) into a fresh local Neo4j 5.26, through the salesforce mapping")
    print(f"- command: `python bench/bench_load.py --accounts {args.accounts} --runs {args.runs} --batch-size {args.batch_size}`")
    print(f"- machine: {_machine()}; load average {load_before:.1f} when it started, "
          f"{os.getloadavg()[0]:.1f} at the end")
    print(f"- input: {rows:,} CSV rows")
    if bolt:
        rate = entities / statistics.median(bolt)
        print(f"- Bolt (`kgcrm load --batch-size {args.batch_size}`, validation included): median {statistics.median(bolt):.1f} s "
              f"(runs: {', '.join(f'{s:.1f}' for s in bolt)}), {rate:,.0f} entities/s; kgcrm's own CPU "
              f"{statistics.median(bolt_cpu) / rows * 1e6:.0f} us per CSV row (the rest of the time is Neo4j's)")
    bulk_rate = entities / statistics.median(bulk)
    importer_rate = entities / statistics.median(importer)
    print(f"- bulk (`kgcrm load --bulk`: validation and import files, then neo4j-admin import; server start and "
          f"schema excluded): median {statistics.median(bulk):.1f} s, {bulk_rate:,.0f} entities/s; the importer alone "
          f"{statistics.median(importer):.1f} s, {importer_rate:,.0f} entities/s; the kgcrm process with the "
          f"importer it ran used {statistics.median(files_cpu):.1f} s of CPU")
    if bolt:
        print(f"- ratio bulk/Bolt: {bulk_rate / rate:.1f}x end to end, {importer_rate / rate:.1f}x importer alone")


if __name__ == "__main__":
    main()
