"""Run every benchmark one after the other (`make bench`, `make bench-full`) and keep what each printed.

The standard profile finishes in about 17 minutes on a quiet 2-core machine (goal: 30): the peer comparison
at full size, the other benchmarks at sizes that still say something. `--full` runs each at the size
bench/RESULTS.md reports (hours on two cores). Each script's section goes to bench/out/<name>.md.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"

# (script, arguments for the standard profile); `--full` drops the arguments.
STANDARD: list[tuple[str, list[str]]] = [
    ("bench_peers.py", []),
    ("bench_generate.py", ["--accounts", "21000", "--runs", "1"]),
    ("bench_load.py", ["--accounts", "2000", "--runs", "1"]),
    ("bench_load_spool.py", ["--accounts", "5000", "--runs", "1"]),
    ("bench_ml.py", ["--accounts", "300", "--runs", "1"]),
    ("bench_api.py", ["--quick"]),
    ("bench_outbox.py", ["--quick"]),
    ("bench_events.py", ["--quick"]),
    ("bench_row_products.py", ["--repeats", "50", "--rounds", "1"]),
    ("bench_scorer_inputs.py", ["--calls", "100", "--rounds", "3"]),
    ("bench_touched_history.py", []),
    ("bench_rollback.py", ["--accounts", "100000", "--rescore-accounts", "10000"]),
    ("bench_score_scaling.py", ["--accounts", "2000", "--runs", "1"]),
    ("bench_explorer.py", ["--quick"]),
    # Its own output files, so a standard run never overwrites the full run's results and plot.
    ("bench_activation.py", ["--quick", "--out", str(OUT / "activation.jsonl"), "--png", str(OUT / "activation.png")]),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--full", action="store_true", help="every benchmark at its full size (hours)")
    parser.add_argument("--only", help="comma-separated script names to run (e.g. bench_peers.py)")
    args = parser.parse_args()
    wanted = set(args.only.split(",")) if args.only else None
    OUT.mkdir(exist_ok=True)
    (OUT / "activation.jsonl").unlink(missing_ok=True)  # the experiment resumes from its results file
    timings: list[tuple[str, float, int]] = []
    for script, standard_args in STANDARD:
        if wanted is not None and script not in wanted:
            continue
        command = [sys.executable, str(HERE / script), *([] if args.full else standard_args)]
        print(f"==> {' '.join(Path(c).name if i < 2 else c for i, c in enumerate(command))}", file=sys.stderr, flush=True)
        began = time.perf_counter()
        with open(OUT / f"{Path(script).stem}.md", "w") as section:
            code = subprocess.run(command, stdout=section, env=os.environ.copy()).returncode
        timings.append((script, time.perf_counter() - began, code))
        print((OUT / f"{Path(script).stem}.md").read_text())
    print("## Benchmark run")
    for script, seconds, code in timings:
        print(f"- {script}: {seconds / 60:.1f} min" + ("" if code == 0 else f" (exit code {code})"))
    print(f"- total: {sum(s for _, s, _ in timings) / 60:.1f} min; sections in bench/out/")
    return max((code for _, _, code in timings), default=0)


if __name__ == "__main__":
    sys.exit(main())
