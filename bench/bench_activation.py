"""Activation experiment: weekly batch versus event-driven activation of the same model (bench/activation/run.py).

Starts a Neo4j instance of its own, runs every half-life and seed, prints the `## Activation experiment`
table for bench/RESULTS.md and writes bench/activation/activation.png. `KGCRM_BENCH_QUICK=1` (or
`--quick`) for a small run; other flags go to run.py (`--help`).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

RUN = Path(__file__).resolve().parent / "activation" / "run.py"


def main() -> None:
    spec = importlib.util.spec_from_file_location("activation_run", RUN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(sys.argv[1:])


if __name__ == "__main__":
    main()
