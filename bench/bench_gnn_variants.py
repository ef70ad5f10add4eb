"""GNN training variants against LightGBM own+1hop on one generated world, on the same split.

Generates and bulk-loads a world into a Neo4j of its own, exports it once, then for each variant (a
JSON object of `GnnConfig` fields, plus `step`: days between training cutoffs) trains the GNN and
prints its test AUROC beside LightGBM own+1hop trained on the same rows. For trying what might widen
the margin before changing a default.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from benchkit import KGCRM, bench_settings, kgcrm_env
from kgcrm.graph.driver import Graph
from kgcrm.graph.server import LocalNeo4j
from kgcrm.ml.baselines import train_lightgbm
from kgcrm.ml.candidate import graph_clock, window_cutoffs
from kgcrm.ml.compare import evaluate
from kgcrm.ml.dataset import build_dataset
from kgcrm.ml.export import export_graph
from kgcrm.ml.tasks import load_task
from kgcrm.ml.train import GnnConfig, fit_gnn

DEFAULT_VARIANTS = '[{}, {"seed": 1}, {"step": 7}, {"step": 7, "dropout": 0.4, "weight_decay": 0.001}]'


def _config(variant: dict[str, Any], threads: int) -> GnnConfig:
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in variant.items() if k != "step"}
    return GnnConfig(**{"threads": threads, **fields})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=2200)
    parser.add_argument("--seed", type=int, default=1, help="the world's seed")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--variants", default=DEFAULT_VARIANTS,
                        help='JSON list, e.g. \'[{}, {"step": 7}, {"aggr": ["mean", "max", "sum"]}]\'')
    args = parser.parse_args()
    variants = json.loads(args.variants)
    for variant in variants:
        _config(variant, args.threads)  # a misspelt field fails here, before the world is built

    work = Path(tempfile.mkdtemp(prefix="kgcrm-bench-gnn-"))
    settings = bench_settings("gnn")
    env = kgcrm_env(settings)
    local = LocalNeo4j(settings)
    print(f"## GNN variants\n- command: `python bench/bench_gnn_variants.py --accounts {args.accounts} --seed {args.seed} "
          f"--threads {args.threads} --variants '{args.variants}'`\n")
    print("| variant | training rows | GNN test AUROC [95% CI] | LightGBM own+1hop | margin | best epoch | seconds |")
    print("|---|---|---|---|---|---|---|")
    try:
        world = work / "world"
        subprocess.run([KGCRM, "generate", "--accounts", str(args.accounts), "--seed", str(args.seed), "--quiet",
                        str(world)], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run([KGCRM, "load", str(world), "--format", "salesforce", "--bulk", "--quiet"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run([KGCRM, "schema", "apply"], env=env, check=True, capture_output=True)
        with Graph(settings) as graph:
            export, clock, task = export_graph(graph), graph_clock(graph), load_task("account_intent")
            splits: dict[Any, tuple[Any, Any]] = {}
            for variant in variants:
                step = variant.get("step")
                if step not in splits:
                    cutoffs, val, test = window_cutoffs(clock, task.horizon_days, 12, train_step_days=step)
                    dataset = build_dataset(export, task, cutoffs, graph, val=val, test=test)
                    baseline = evaluate(train_lightgbm(dataset, neighbours=True, seed=0, threads=args.threads), "platt")
                    splits[step] = (dataset, baseline)
                dataset, baseline = splits[step]
                started = time.perf_counter()
                trained = fit_gnn(dataset, _config(variant, args.threads))
                row = evaluate(trained.scores, "platt")
                print(f"| `{json.dumps(variant)}` | {len(dataset.labels('train')):,} "
                      f"| {row.auroc.value:.3f} [{row.auroc.low:.3f}, {row.auroc.high:.3f}] | {baseline.auroc.value:.3f} "
                      f"| {row.auroc.value - baseline.auroc.value:+.3f} | {trained.best_epoch} "
                      f"| {time.perf_counter() - started:.0f} |", flush=True)
    finally:
        local.stop()
        shutil.rmtree(local.instance_dir, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
