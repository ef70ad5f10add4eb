"""CLI commands of the ML part: kgcrm models | score | retrain | rollback | drift."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import click

from kgcrm.context import parse_partition, settings_from
from kgcrm.graph.driver import Graph

TASK_HELP = "account_intent, opportunity_win or custom (with --config)."


def _task(name: str, config: Path | None, horizon_days: float):
    from kgcrm.ml.tasks import load_task

    return load_task(name, horizon_days, config)


def _as_of(value: dt.datetime | None) -> float | None:
    return value.replace(tzinfo=dt.UTC).timestamp() if value is not None else None


_task_options = [
    click.option("--task", "task_name", required=True, help=TASK_HELP),
    click.option("--config", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Custom task file (YAML or JSON)."),
    click.option("--horizon-days", type=float, default=30.0, show_default=True, help="Label horizon H."),
    click.option("--as-of", type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
                 help="Score and train as of this UTC time (default: the graph's newest event)."),
    click.option("--quiet", is_flag=True, help="No progress bars."),
]


def task_options(func):
    for option in reversed(_task_options):
        func = option(func)
    return func


@click.command("models")
@click.option("--task", "task_name", help="Only this task's versions.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per version.")
@click.pass_context
def models(ctx: click.Context, task_name: str | None, as_json: bool) -> None:
    """List model versions: status, test metrics beside the better baseline, gate result."""
    from kgcrm.ml.registry import list_models

    with Graph(settings_from(ctx)) as graph:
        versions = list_models(graph, task_name)
    if as_json:
        for v in versions:
            click.echo(json.dumps({k: str(val) if not isinstance(val, (int, float, str, bool, type(None), list)) else val
                                   for k, val in v.props.items()}))
        return
    if not versions:
        click.echo("no model versions yet: run `kgcrm retrain --task account_intent`")
        return
    click.echo(f"{'id':<26} {'status':<11} {'created (UTC)':<17} {'AUROC':>6} {'ECE':>6} {'baseline':>8}  gate")
    for v in versions:
        baselines = v.get("baseline_metrics") or {}
        best = max((b["auroc"] for b in baselines.values()), default=float("nan"))
        created = v.props.get("created_at")
        created_text = created.to_native().strftime("%Y-%m-%d %H:%M") if created is not None else ""
        click.echo(
            f"{v.id:<26} {v.status:<11} {created_text:<17} {v.props.get('test_auroc', float('nan')):>6.3f} "
            f"{v.props.get('test_ece', float('nan')):>6.3f} {best:>8.3f}  {v.props.get('gate_reason', '')}"
        )


@click.command("score")
@task_options
@click.option("--top", type=int, default=0, help="Print the N highest scores with their drivers.")
@click.option("--partition", default="1/1", show_default=True, metavar="K/N",
              help="Score only partition K of N (1-based, by a hash of the id): N processes together score "
                   "every entity once.")
@click.pass_context
def score(ctx: click.Context, task_name: str, config: Path | None, horizon_days: float, as_of: dt.datetime | None,
          quiet: bool, top: int, partition: str) -> None:
    """Score every entity of the task with its production model and write the changed scores back."""
    from kgcrm.ml.score import score_task

    part = parse_partition(partition)
    task = _task(task_name, config, horizon_days)
    with Graph(settings_from(ctx)) as graph:
        run = score_task(graph, settings_from(ctx), task.name, as_of=_as_of(as_of), quiet=quiet, partition=part)
    _print_run(run, top)


def _print_run(run, top: int) -> None:
    p = run.props
    timings = json.loads(p["timings"])
    click.echo(
        f"score run {p['id']} with {p['model']}: {p['scored']:,} scored, {p['written']:,} written, "
        f"{p['unchanged']:,} unchanged (epsilon {p['epsilon']}); mean {p['score_mean'] or 0:.3f}, "
        f"score PSI {p['score_psi'] if p['score_psi'] is None else round(p['score_psi'], 3)}"
        f"{' DRIFT FLAGGED' if p['drift_flagged'] else ''}; "
        + ", ".join(f"{k[:-2]} {v:.1f} s" for k, v in timings.items())
    )
    for row in run.top(top):
        click.echo(f"  {row['id']:<24} {row['score']:.3f}  " + "; ".join(row["drivers"]))


@click.command("retrain")
@task_options
@click.option("--wait", type=float, default=0.0, show_default=True,
              help="Seconds to wait for another retrain of the task to finish (0: exit at once).")
@click.option("--epochs", type=int, default=None, help="Training epochs (default: the GNN's own).")
@click.pass_context
def retrain_command(ctx: click.Context, task_name: str, config: Path | None, horizon_days: float,
                    as_of: dt.datetime | None, quiet: bool, wait: float, epochs: int | None) -> None:
    """Train a candidate on the latest window; promote it and rescore if it passes the gate."""
    from kgcrm.ml.retrain import gnn_config, retrain

    settings = settings_from(ctx)
    task = _task(task_name, config, horizon_days)
    overrides = {"epochs": epochs} if epochs else {}
    with Graph(settings) as graph:
        result = retrain(graph, settings, task, config=gnn_config(settings, **overrides), wait=wait, quiet=quiet,
                         as_of=_as_of(as_of))
    verdict = "promoted to production" if result.promoted else "stays staged"
    click.echo(f"{result.candidate.id} {verdict}: {result.reason}")
    if result.score_run is not None:
        _print_run(result.score_run, 0)


@click.command("rollback")
@click.option("--task", "task_name", required=True, help=TASK_HELP)
@click.option("--as-of", type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]), help="Rescore as of this UTC time.")
@click.option("--no-refresh", is_flag=True,
              help="Only restore the stored scores; leave the rescoring with the restored model to the next scheduled run.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.pass_context
def rollback_command(ctx: click.Context, task_name: str, as_of: dt.datetime | None, no_refresh: bool, quiet: bool) -> None:
    """Restore the previous production model of the task and its stored scores, then rescore with it."""
    from kgcrm.ml.retrain import rollback

    settings = settings_from(ctx)
    with Graph(settings) as graph:
        result = rollback(graph, settings, task_name, quiet=quiet, as_of=_as_of(as_of), refresh=not no_refresh)
    restore = result.restore
    click.echo(f"rolled back {task_name}: {result.restored.id} is production again, {result.retired_id} retired")
    click.echo(f"restored {restore['written']:,} stored scores of {result.restored.id} in "
               f"{json.loads(restore['timings'])['restore_s']:.1f} s (run {restore['id']}); "
               f"{restore['left_with_retired_model']:,} left with {result.retired_id}"
               + ("" if result.refresh else ", until the next scoring run"))
    if result.refresh is not None:
        _print_run(result.refresh, 0)


@click.command("drift")
@click.option("--task", "task_name", required=True, help=TASK_HELP)
@click.option("--json", "as_json", is_flag=True, help="The drift record as JSON.")
@click.pass_context
def drift(ctx: click.Context, task_name: str, as_json: bool) -> None:
    """Drift of the latest scoring run against the model's training window (PSI; > threshold is flagged)."""
    from kgcrm.graph.errors import ModelError
    from kgcrm.ml.score import latest_run

    with Graph(settings_from(ctx)) as graph:
        run = latest_run(graph, task_name)
    if run is None:
        raise ModelError(f"task {task_name!r} has no scoring run yet: run `kgcrm score --task {task_name}`")
    record = json.loads(run["drift"])
    if as_json:
        click.echo(json.dumps({"run": run["id"], "model": run["model"], **record}))
        return
    threshold = record.get("threshold", 0.25)

    def line(name: str, value: float | None) -> str:
        if value is None:
            return f"  {name:<44} n/a"
        return f"  {name:<44} {value:7.3f}{'  FLAGGED' if value > threshold else ''}"

    click.echo(f"drift of score run {run['id']} (model {run['model']}) against its training window; PSI > {threshold} flagged")
    click.echo(line("score distribution", record.get("score_psi")))
    for name, value in record.get("feature_psi", {}).items():
        click.echo(line(f"feature {name}", value))
    click.echo(line("degree distribution", record.get("degree_psi")))
    click.echo(line("relationship-type mix", record.get("relationship_mix_psi")))
