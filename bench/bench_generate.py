"""Benchmark of `kgcrm generate`: wall time and nodes per second for a world of about one million nodes."""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NODE_FILES = ("Account.csv", "Contact.csv", "User.csv", "Opportunity.csv", "Task.csv", "Event.csv", "Product2.csv", "Campaign.csv")


def _count_rows(folder: Path, name: str) -> int:
    with (folder / name).open("rb") as handle:
        return sum(1 for _ in handle) - 1


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _machine() -> str:
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()}-core, {memory_gib:.0f} GiB, CPU ({platform.machine()}, Python {platform.python_version()})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    # KGCRM_BENCH_QUICK=1 (or --accounts/--runs) for a quick run.
    quick = os.environ.get("KGCRM_BENCH_QUICK") == "1"
    parser.add_argument("--accounts", type=int, default=2_000 if quick else 21_000, help="about 48 nodes per account")
    parser.add_argument("--runs", type=int, default=1 if quick else 3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    command = [sys.executable, "-m", "kgcrm", "generate", "--accounts", str(args.accounts), "--seed", str(args.seed), "--quiet"]
    seconds, cpu_seconds = [], []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="kgcrm-bench-generate-") as tmp:
        out = Path(tmp) / "world"
        for run in range(args.runs):
            began, cpu_before = time.perf_counter(), _children_cpu()
            subprocess.run([*command, str(out)], check=True, stdout=subprocess.DEVNULL)
            seconds.append(time.perf_counter() - began)
            cpu_seconds.append(_children_cpu() - cpu_before)
            print(f"run {run + 1}: {seconds[-1]:.1f} s wall, {cpu_seconds[-1]:.1f} s CPU", file=sys.stderr)
        nodes = sum(_count_rows(out, name) for name in NODE_FILES)
        size_mib = sum(path.stat().st_size for path in out.rglob("*") if path.is_file()) / 2**20
    median = statistics.median(seconds)
    shown = " ".join(command[2:]).replace("--quiet", "--quiet OUTDIR")
    cpu = statistics.median(cpu_seconds)
    print("## Generator")
    print(f"- what: `kgcrm generate` end to end (simulate, then write the 12 export files and the ground truth, {size_mib:.0f} MiB)")
    print(f"- command: `{shown}` (bench/bench_generate.py --accounts {args.accounts} --runs {args.runs})")
    print(f"- machine: {_machine()}")
    print(f"- nodes: {nodes:,} ({nodes / args.accounts:.1f} per account)")
    print(f"- median of {args.runs} runs: {median:.1f} s wall (runs: {', '.join(f'{s:.1f}' for s in seconds)} s); "
          f"median CPU time {cpu:.1f} s; load average {load_before:.1f} when it started (the machine is shared)")
    print(f"- nodes/s: {nodes / median:,.0f} (wall), {nodes / cpu:,.0f} (CPU)")


if __name__ == "__main__":
    main()
