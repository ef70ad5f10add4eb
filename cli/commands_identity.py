"""CLI commands of identity resolution: resolve, review, accept, reject, unmerge, evaluate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from kgcrm.context import settings_from
from kgcrm.graph.driver import Graph
from kgcrm.graph.queries.identity import IDENTITY_LABELS
from kgcrm.loaders.identity import (
    Thresholds,
    accept,
    list_pending,
    load_identity_settings,
    parse_label,
    reject,
    resolve,
    unmerge,
)

_LABEL_CHOICE = click.Choice([label.value for label in IDENTITY_LABELS], case_sensitive=False)


@click.group("identity")
def identity_group() -> None:
    """Recognise the same account or contact arriving twice, merge it reversibly, review the doubtful."""


def _thresholds(auto: float | None, review: float | None) -> Thresholds:
    defaults = load_identity_settings()
    return Thresholds(
        auto=defaults.auto_threshold if auto is None else auto,
        review=defaults.review_threshold if review is None else review,
    )


@identity_group.command("resolve")
@click.option("--label", "labels", type=_LABEL_CHOICE, multiple=True, help="Account or Contact (default: both, accounts first).")
@click.option("--auto-threshold", type=float, default=None, help="Merge pairs at or above this confidence (KGCRM_IDENTITY_AUTO_THRESHOLD, 0.95).")
@click.option("--review-threshold", type=float, default=None, help="Queue pairs at or above this for review (KGCRM_IDENTITY_REVIEW_THRESHOLD, 0.80).")
@click.pass_context
def resolve_command(ctx: click.Context, labels: tuple[str, ...], auto_threshold: float | None, review_threshold: float | None) -> None:
    """Match records, merge the sure duplicates, queue the doubtful ones (safe to repeat)."""
    thresholds = _thresholds(auto_threshold, review_threshold)
    # Accounts first: contacts of merged accounts then share one account domain.
    chosen = [parse_label(v) for v in labels] or list(IDENTITY_LABELS)
    chosen.sort(key=lambda label: IDENTITY_LABELS.index(label))
    with Graph(settings_from(ctx)) as graph:
        graph.verify()
        for label in chosen:
            report = resolve(graph, label, thresholds)
            methods = ", ".join(f"{m} {n}" for m, n in sorted(report.by_method.items())) or "none"
            click.echo(
                f"{report.label}: {report.records} records, {report.candidates} candidate pairs, "
                f"{report.auto_merged} merged, {report.pending} queued for review, "
                f"{report.already_decided} already decided, {report.below_floor} below the floor; "
                f"new decisions by method: {methods}"
            )
            if report.rehomed:
                click.echo(f"{report.label}: {report.rehomed} relationships that a re-load gave merged records moved to their canonical records")


def _describe(record: dict[str, Any]) -> str:
    keys = ("name", "email", "domain", "website")
    facts = " | ".join(f"{k}={record[k]}" for k in keys if record.get(k))
    return f"{record['id']} [{record.get('source') or '?'}] {facts}"


@identity_group.command("review")
@click.option("--label", "label", type=_LABEL_CHOICE, default=None, help="Only Account or only Contact.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.pass_context
def review_command(ctx: click.Context, label: str | None, limit: int) -> None:
    """List pending decisions: both records side by side, with method and confidence."""
    labels = [parse_label(label)] if label else list(IDENTITY_LABELS)
    with Graph(settings_from(ctx)) as graph:
        graph.verify()
        rows = list_pending(graph, labels, limit)
    if not rows:
        click.echo("no pending identity decisions")
        return
    for row in rows:
        click.echo(f"{row['id']}  {row['label']}  {row['method']}  confidence {row['confidence']:.3f}")
        click.echo(f"    left:  {_describe(row['left'])}")
        click.echo(f"    right: {_describe(row['right'])}")
    click.echo(f"{len(rows)} pending; decide with `kgcrm identity accept ID` or `kgcrm identity reject ID`")


@identity_group.command("accept")
@click.argument("decision_ids", nargs=-1, required=True)
@click.pass_context
def accept_command(ctx: click.Context, decision_ids: tuple[str, ...]) -> None:
    """Accept pending decisions: merge each pair into one canonical record."""
    with Graph(settings_from(ctx)) as graph:
        graph.verify()
        for decision in decision_ids:
            result = accept(graph, decision)
            click.echo(f"accepted {decision}: {result['duplicate_id']} merged into {result['canonical_id']}")


@identity_group.command("reject")
@click.argument("decision_ids", nargs=-1, required=True)
@click.pass_context
def reject_command(ctx: click.Context, decision_ids: tuple[str, ...]) -> None:
    """Reject pending decisions: the pair is kept apart and not proposed again."""
    with Graph(settings_from(ctx)) as graph:
        graph.verify()
        for decision in decision_ids:
            reject(graph, decision)
            click.echo(f"rejected {decision}")


@identity_group.command("unmerge")
@click.argument("node_ids", nargs=-1, required=True)
@click.pass_context
def unmerge_command(ctx: click.Context, node_ids: tuple[str, ...]) -> None:
    """Undo merges: each merged record gets its relationships back and stays apart from then on."""
    with Graph(settings_from(ctx)) as graph:
        graph.verify()
        for node_id in node_ids:
            result = unmerge(graph, node_id)
            click.echo(
                f"unmerged {result['id']} from {result['canonical_id']}: "
                f"{result['restored']} relationships moved back"
            )


@identity_group.command("evaluate")
@click.option("--seed", type=int, default=7, show_default=True, help="Seed of the labelled population.")
@click.option("--accounts", type=click.IntRange(10, 200_000), default=2000, show_default=True, help="Distinct companies.")
@click.option("--contacts-per-account", type=click.IntRange(1, 20), default=2, show_default=True)
@click.option("--auto-threshold", type=float, default=None, help="As for resolve.")
@click.option("--review-threshold", type=float, default=None, help="As for resolve.")
@click.option("--keep", is_flag=True, help="Leave the evaluation records in the graph (default: delete them).")
@click.option("--world", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="Instead, resolve and score a loaded `kgcrm generate --duplicates` world (its OUTDIR).")
@click.pass_context
def evaluate_command(
    ctx: click.Context, seed: int, accounts: int, contacts_per_account: int,
    auto_threshold: float | None, review_threshold: float | None, keep: bool, world: Path | None,
) -> None:
    """Write a labelled population with injected duplicates, resolve it, print precision and recall."""
    from kgcrm.loaders.identity_eval import EvalConfig, evaluate, evaluate_world, format_report, format_world_report

    thresholds = _thresholds(auto_threshold, review_threshold)
    if world is not None:
        with Graph(settings_from(ctx)) as graph:
            graph.verify()
            click.echo(format_world_report(evaluate_world(graph, world, thresholds)))
        return
    config = EvalConfig(seed=seed, accounts=accounts, contacts_per_account=contacts_per_account)
    with Graph(settings_from(ctx)) as graph:
        graph.verify()
        result = evaluate(graph, config, thresholds, keep=keep)
    click.echo(format_report(result))

