"""Benchmark of the loader's row spool: validated rows kept in memory versus waiting on disk.

Runs the loader's validation and reference passes (`LoadOptions(dry_run=True)`, no database) over a
`kgcrm generate` world, once with every row in memory and once with `memory_rows=0` (every row
pickled to a temporary file and read back for the later passes), each in a child process of its
own, alternating, and reports the median wall time and the child's peak memory (max RSS). Prints a
`## Loading: memory budget` section for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KGCRM = str(Path(sys.executable).parent / "kgcrm")
CHILD = """
import json, sys, time
from pathlib import Path
from kgcrm.loaders.load import LoadOptions, load
from kgcrm.loaders.mapping import load_mapping
from kgcrm.loaders.spool import RowSpool
spilled = [0]
close = RowSpool.close
def measured_close(self):
    if self._writer is not None:
        self._writer.flush()
        spilled[0] += self._path.stat().st_size
    close(self)
RowSpool.close = measured_close
mapping, _ = load_mapping("salesforce")
began = time.perf_counter()
report = load(None, mapping, Path(sys.argv[1]), LoadOptions(dry_run=True, memory_rows=int(sys.argv[2]),
              rejects_path=Path(sys.argv[3])))
print(json.dumps({"seconds": time.perf_counter() - began, "loaded": sum(f.loaded for f in report.files),
                  "spilled_gib": spilled[0] / 2**30}))
"""


def run_child(world: Path, memory_rows: int, rejects: Path) -> dict[str, float]:
    """One validation pass in a child process: its time, rows and peak memory (GiB)."""
    process = subprocess.Popen([sys.executable, "-c", CHILD, str(world), str(memory_rows), str(rejects)],
                               stdout=subprocess.PIPE, text=True)
    out = process.stdout.read() if process.stdout else ""
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise SystemExit(f"bench_load_spool: the child failed ({status}): {out[-500:]}")
    return {**json.loads(out.strip().splitlines()[-1]), "peak_gib": usage.ru_maxrss / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=5000, help="world size (kgcrm generate --accounts)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each kind, alternated")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kgcrm-bench-spool-") as tmp:
        world = Path(tmp) / "world"
        subprocess.run([KGCRM, "generate", "--accounts", str(args.accounts), "--seed", "1", "--quiet", str(world)],
                       check=True, stdout=subprocess.DEVNULL)
        csv_gib = sum(path.stat().st_size for path in world.glob("*.csv")) / 2**30
        kinds = {"in memory": 1 << 62, "on disk (memory_rows=0)": 0}
        runs: dict[str, list[dict[str, float]]] = {kind: [] for kind in kinds}
        for _ in range(args.runs):
            for kind, rows in kinds.items():
                runs[kind].append(run_child(world, rows, Path(tmp) / "rejects.csv"))
    loaded = runs["in memory"][0]["loaded"]
    base = statistics.median(r["seconds"] for r in runs["in memory"])
    print("## Loading: memory budget")
    print(f"- what: the loader's validation and reference passes (dry run, no database) over a `kgcrm generate "
          f"--accounts {args.accounts} --seed 1` world ({loaded:,.0f} valid rows), with every validated row in "
          "memory versus every row in the temporary file (`--memory-rows 0`)")
    print(f"- command: `python bench/bench_load_spool.py --accounts {args.accounts} --runs {args.runs}`")
    print(f"- machine: {os.cpu_count()}-core; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"\nThe CSV files take {csv_gib:.2f} GiB.\n")
    print("| rows kept | median s | rows/s | peak memory GiB | temporary file GiB | time ratio to in memory |\n"
          "|---|---|---|---|---|---|")
    for kind, rows in runs.items():
        seconds = statistics.median(r["seconds"] for r in rows)
        peak = statistics.median(r["peak_gib"] for r in rows)
        print(f"| {kind} | {seconds:.1f} | {loaded / seconds:,.0f} | {peak:.2f} | {rows[0]['spilled_gib']:.2f} | "
              f"{seconds / base:.2f} |")


if __name__ == "__main__":
    main()
