"""The activation experiment (issue 6 item 9): weekly batch versus event-driven activation on generated worlds.

For every half-life and seed: `kgcrm generate` a world, load it into Neo4j through the real Salesforce
loader, export it once, train the account_intent model on the history before the experiment (the real
`train_candidate`: GNN + Platt calibration), then run both arms in memory on point-in-time snapshots of
that export (act_experiment.py). One JSON line per world goes to --out (a rerun skips worlds already
there); the table and the PNG plot are made from that file.

    python bench/activation/run.py                       # 5 half-lives x 10 seeds, 200 accounts
    python bench/activation/run.py --quick               # 2 half-lives x 2 seeds, small worlds
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import socket
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from act_experiment import ExperimentConfig, run_world  # noqa: E402
from act_png import lift_plot  # noqa: E402
from act_truth import daily_truth  # noqa: E402

from kgcrm.graph.driver import Graph  # noqa: E402
from kgcrm.graph.schema import apply_migrations  # noqa: E402
from kgcrm.graph.server import LocalNeo4j  # noqa: E402
from kgcrm.graph.settings import Settings  # noqa: E402
from kgcrm.loaders.generate import WorldParams, generate_world  # noqa: E402
from kgcrm.loaders.load import LoadOptions, load  # noqa: E402
from kgcrm.loaders.mapping import load_mapping  # noqa: E402
from kgcrm.ml.candidate import train_candidate  # noqa: E402
from kgcrm.ml.export import export_graph  # noqa: E402
from kgcrm.ml.features import DAY  # noqa: E402
from kgcrm.ml.tasks import load_task  # noqa: E402
from kgcrm.ml.train import GnnConfig  # noqa: E402

logger = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
_WIPE = "MATCH (n) WHERE NOT n:SchemaMigration WITH n LIMIT 10000 DETACH DELETE n RETURN count(*) AS deleted"


def experiment_days(params: WorldParams, weeks: int, window: int) -> tuple[int, int]:
    """(first, last) action days: the last `weeks` Mondays whose conversion window fits in the world."""
    if params.start.weekday() != 0:
        raise ValueError("the world must start on a Monday")
    last = (params.days - window) // 7 * 7
    return last - 7 * weeks, last


def one_world(graph: Graph, settings: Settings, params: WorldParams, config: ExperimentConfig,
              gnn: GnnConfig, workdir: Path) -> dict:
    """Generate, load, export, train before the window, run both arms; a JSON-able summary."""
    timings, clock = {}, time.perf_counter()
    folder = workdir / f"world-{params.half_life_days:g}-{params.seed}"
    generate_world(params, folder, quiet=True)
    truth = daily_truth(params)
    timings["generate_s"], clock = time.perf_counter() - clock, time.perf_counter()
    while graph.write(_WIPE)[0]["deleted"]:
        pass
    apply_migrations(graph)
    mapping, _ = load_mapping("salesforce")
    report = load(graph, mapping, folder, LoadOptions(batch_size=settings.batch_size))
    export = export_graph(graph)
    timings["load_export_s"], clock = time.perf_counter() - clock, time.perf_counter()
    train_until = truth.start_epoch + (config.first_day - config.warmup_days) * DAY
    candidate = train_candidate(graph, settings, load_task("account_intent"), gnn, export=export, clock=train_until)
    timings["train_s"], clock = time.perf_counter() - clock, time.perf_counter()
    result = run_world(export, candidate.artifact, truth, config, params.seed)
    timings["experiment_s"] = time.perf_counter() - clock
    shutil.rmtree(folder, ignore_errors=True)
    return {
        "half_life": params.half_life_days, "seed": params.seed, "accounts": params.accounts,
        "rejected_rows": report.rejected_rows, "test_auroc": candidate.gnn.auroc.value,
        "threshold": result.threshold, "batch": asdict(result.batch), "event": asdict(result.event),
        "suppressed": result.suppressed, "timings": {k: round(v, 1) for k, v in timings.items()},
    }


def pooled(rows: list[dict]) -> tuple[float, float, float]:
    """(weekly per 1,000, event per 1,000, lift) pooled over worlds: credited / actions summed."""
    actions_b = sum(r["batch"]["actions"] for r in rows)
    actions_e = sum(r["event"]["actions"] for r in rows)
    rate_b = 1000 * sum(r["batch"]["credited"] for r in rows) / actions_b if actions_b else float("nan")
    rate_e = 1000 * sum(r["event"]["credited"] for r in rows) / actions_e if actions_e else float("nan")
    if rate_b > 0:
        lift = rate_e / rate_b - 1
    else:  # nothing credited to the weekly arm: the lift is unbounded if the event arm has any, else undefined
        lift = float("inf") if rate_e > 0 else float("nan")
    return rate_b, rate_e, lift


def bootstrap(rows: list[dict], draws: int = 2000, seed: int = 0) -> tuple[float, float, float, float]:
    """95% intervals of the pooled lift and of the difference per 1,000 actions, resampling worlds (seeds).

    Resamples where neither arm has a credited conversion have no lift and are left out of its interval.
    """
    rng = np.random.default_rng(seed)
    lifts, diffs = [], []
    for _ in range(draws):
        rate_b, rate_e, lift = pooled([rows[i] for i in rng.integers(0, len(rows), len(rows))])
        if not np.isnan(lift):
            lifts.append(lift)
        if np.isfinite(rate_b) and np.isfinite(rate_e):
            diffs.append(rate_e - rate_b)
    def interval(values: list[float]) -> tuple[float, float]:
        if not values:
            return float("nan"), float("nan")
        ordered = np.sort(np.asarray(values))
        return float(ordered[int(0.025 * (len(ordered) - 1))]), float(ordered[int(np.ceil(0.975 * (len(ordered) - 1)))])
    return (*interval(lifts), *interval(diffs))


def _pct(value: float) -> str:
    if np.isnan(value):
        return "n/a"
    return "unbounded" if np.isinf(value) else f"{value:+.0%}"


def summarise(rows: list[dict], png: Path | None) -> str:
    """The markdown table (one row per half-life) and, with `png`, the plot."""
    half_lives = sorted({r["half_life"] for r in rows})
    lines = ["| half-life (days) | worlds | actions per arm (total) | weekly: credited per 1,000 | event-driven: credited per 1,000 "
             "| lift [95% CI] | difference per 1,000 [95% CI] | converted per 1,000 weekly / event | intent high at action, weekly / event "
             "| all actions, unthinned: credited per 1,000 weekly / event | test AUROC (median) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    plot = {k: [] for k in ("lift", "low", "high", "rb", "re")}
    for hl in half_lives:
        group = [r for r in rows if r["half_life"] == hl]
        rate_b, rate_e, lift = pooled(group)
        low, high, diff_low, diff_high = bootstrap(group)
        actions = sum(r["batch"]["actions"] for r in group)
        conv_b = 1000 * sum(r["batch"]["converted"] for r in group) / max(actions, 1)
        conv_e = 1000 * sum(r["event"]["converted"] for r in group) / max(actions, 1)
        high_b = sum(r["batch"]["high"] for r in group) / max(actions, 1)
        high_e = sum(r["event"]["high"] for r in group) / max(actions, 1)
        auroc = float(np.median([r["test_auroc"] for r in group]))
        raw_b = 1000 * sum(r["batch"]["raw_credited"] for r in group) / max(sum(r["batch"]["raw_actions"] for r in group), 1)
        raw_e = 1000 * sum(r["event"]["raw_credited"] for r in group) / max(sum(r["event"]["raw_actions"] for r in group), 1)
        lines.append(f"| {hl:g} | {len(group)} | {actions:,} | {rate_b:.0f} | {rate_e:.0f} | {_pct(lift)} [{_pct(low)}, {_pct(high)}] "
                     f"| {rate_e - rate_b:+.0f} [{diff_low:+.0f}, {diff_high:+.0f}] "
                     f"| {conv_b:.0f} / {conv_e:.0f} | {high_b:.0%} / {high_e:.0%} | {raw_b:.0f} / {raw_e:.0f} | {auroc:.3f} |")
        for key, value in zip(("lift", "low", "high", "rb", "re"), (lift, low, high, rate_b, rate_e)):
            plot[key].append(100 * value if key in ("lift", "low", "high") else value)
    if png is not None and half_lives:
        lift_plot(png, half_lives, plot["lift"], plot["low"], plot["high"], plot["rb"], plot["re"],
                  "ACTIVATION EXPERIMENT: EVENT-DRIVEN VS WEEKLY BATCH, SAME MODEL, THRESHOLD AND BUDGET")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", default=os.environ.get("KGCRM_BENCH_QUICK") == "1",
                        help="2 half-lives x 2 seeds of 120-account worlds, 9 months, 6 weeks")
    parser.add_argument("--accounts", type=int)
    parser.add_argument("--seeds", type=int)
    parser.add_argument("--half-lives", default=None, help="comma-separated days (default 1,3,7,14,30)")
    parser.add_argument("--months", type=int)
    parser.add_argument("--weeks", type=int, help="length of the experiment window in weeks")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--level", type=float, default=0.2, help="true intent counted as high (intent units)")
    parser.add_argument("--window", type=int, default=30, help="days after an action in which a conversion counts")
    parser.add_argument("--quantile", type=float, default=0.9, help="threshold = this quantile of scores before the window")
    parser.add_argument("--out", type=Path, default=HERE / "results.jsonl")
    parser.add_argument("--png", type=Path, default=HERE / "activation.png")
    parser.add_argument("--use-env-neo4j", action="store_true",
                        help="use the Neo4j of NEO4J_URI etc. (its database is WIPED) instead of starting one")
    args = parser.parse_args(argv)
    accounts = args.accounts or (120 if args.quick else 200)
    seeds = args.seeds or (2 if args.quick else 10)
    half_lives = [float(v) for v in (args.half_lives or ("3,14" if args.quick else "1,3,7,14,30")).split(",")]
    months = args.months or (9 if args.quick else 12)
    weeks = args.weeks or (6 if args.quick else 14)
    gnn = GnnConfig(epochs=args.epochs or (8 if args.quick else 20), patience=6, threads=1)
    logging.basicConfig(level=logging.WARNING)

    done = []
    if args.out.exists():
        done = [json.loads(line) for line in args.out.read_text().splitlines() if line.strip()]
    have = {(r["half_life"], r["seed"], r["accounts"]) for r in done}
    local, workdir = None, Path(tempfile.mkdtemp(prefix="kgcrm-activation-"))
    if args.use_env_neo4j:
        settings = Settings.load(KGCRM_ML_CUTOFFS=6, KGCRM_ML_THREADS=1)
    else:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        settings = Settings.load(NEO4J_URI=f"bolt://127.0.0.1:{port}", NEO4J_PASSWORD="bench-activation-pw",
                                 KGCRM_NEO4J_INSTANCE=f"bench-activation-{os.getpid()}", KGCRM_NEO4J_HEAP="1g",
                                 KGCRM_NEO4J_PAGECACHE="512m", KGCRM_ML_CUTOFFS=6, KGCRM_ML_THREADS=1)
        local = LocalNeo4j(settings)
        local.start()
    try:
        with Graph(settings) as graph:
            # Seeds outermost: a run cut short still has the same worlds for every half-life.
            for seed in range(seeds):
                for half_life in half_lives:
                    if (half_life, seed, accounts) in have:
                        continue
                    params = WorldParams(accounts=accounts, seed=seed, months=months, half_life_days=half_life)
                    first, last = experiment_days(params, weeks, args.window)
                    config = ExperimentConfig(first_day=first, last_day=last, threshold_quantile=args.quantile,
                                              level=args.level, window_days=args.window)
                    row = one_world(graph, settings, params, config, gnn, workdir)
                    row["config"] = asdict(config)
                    done.append(row)
                    with args.out.open("a") as handle:
                        handle.write(json.dumps(row) + "\n")
                    print(f"half-life {half_life:g} seed {seed}: weekly {row['batch']} event {row['event']} "
                          f"AUROC {row['test_auroc']:.3f} {row['timings']}", flush=True)
    finally:
        if local is not None:
            local.stop()
            shutil.rmtree(local.instance_dir, ignore_errors=True)
        shutil.rmtree(workdir, ignore_errors=True)
    rows = [r for r in done if r["accounts"] == accounts and r["half_life"] in half_lives]
    print(f"\n## Activation experiment ({accounts} accounts, {months} months, {weeks}-week window, "
          f"load average {os.getloadavg()[0]:.1f} at the end)\n")
    print(summarise(rows, args.png))


if __name__ == "__main__":
    main()
