"""CLI of activation: `kgcrm dispatch` (the outbox dispatcher), `kgcrm actions ...` and `kgcrm policies check`."""

from __future__ import annotations

import signal
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from prometheus_client import start_http_server

from kgcrm.actions.dispatch import Dispatcher
from kgcrm.actions.policies import load_policies, parse_duration
from kgcrm.actions.review import count_by_status, decide, list_actions, requeue
from kgcrm.actions.uplift import OUTCOMES, measure_uplift
from kgcrm.actions.webhooks import new_secret
from kgcrm.context import settings_from
from kgcrm.graph.driver import Graph
from kgcrm.graph.errors import InvalidInput
from kgcrm.graph.queries.actions import ACTION_STATUSES


@click.command("dispatch")
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit (retries still in backoff wait for the next run).")
@click.option("--metrics-port", type=click.IntRange(1, 65535), default=None,
              help="Serve Prometheus metrics on this port (kgcrm_dispatch_*).")
@click.pass_context
def dispatch_command(ctx: click.Context, once: bool, metrics_port: int | None) -> None:
    """Deliver the action outbox: signed webhooks (KGCRM_WEBHOOK_URL) and owner Tasks, until stopped.

    SIGTERM or Ctrl-C stops it after the deliveries in flight; a killed dispatcher's claims expire
    after KGCRM_DISPATCH_LEASE seconds and are delivered by the next one.
    """
    settings = settings_from(ctx)
    if metrics_port is not None:
        start_http_server(metrics_port, addr=settings.api_host)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with Graph(settings) as graph, Dispatcher(graph, settings) as dispatcher:
        graph.verify()
        report = dispatcher.run(once=once, stop=stop)
        counts = count_by_status(graph)
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(report.outcomes.items())) or "nothing due"
    click.echo(f"dispatch: {outcomes}; outbox now: " + (", ".join(f"{k} {v}" for k, v in counts.items()) or "empty"))


@click.group("actions")
def actions_group() -> None:
    """The actions trigger policies created: list them, approve or reject, requeue dead letters."""


@actions_group.command("list")
@click.option("--status", type=click.Choice(ACTION_STATUSES), default=None)
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.pass_context
def list_command(ctx: click.Context, status: str | None, limit: int) -> None:
    """The newest actions: id, status, kind, policy, subject, attempts, last error."""
    with Graph(settings_from(ctx)) as graph:
        rows = list_actions(graph, status, limit)
    for row in rows:
        x = row["action"]
        click.echo(
            f"{x['id']}  {x['status']:<16} {x['kind']:<7} {x.get('policy') or '-':<20} {row['subject_id'] or '-'}  "
            f"attempts {x.get('attempts') or 0}" + (f"  last error: {x['last_error']}" if x.get("last_error") else "")
        )
    if not rows:
        click.echo("no actions")


def _decide(ctx: click.Context, action_id: str, approve: bool, reason: str, by: str) -> None:
    with Graph(settings_from(ctx)) as graph:
        status = decide(graph, action_id, approve=approve, reason_code=reason, decided_by=by)
    click.echo(f"{action_id}: {status}")


@actions_group.command("approve")
@click.argument("action_id")
@click.option("--reason", required=True, help="A snake_case reason code (kept as a label for retraining).")
@click.option("--by", default="cli", show_default=True, help="Who decided.")
@click.pass_context
def approve_command(ctx: click.Context, action_id: str, reason: str, by: str) -> None:
    """Approve an action waiting as pending_approval: it becomes due for delivery."""
    _decide(ctx, action_id, True, reason, by)


@actions_group.command("reject")
@click.argument("action_id")
@click.option("--reason", required=True, help="A snake_case reason code (kept as a label for retraining).")
@click.option("--by", default="cli", show_default=True, help="Who decided.")
@click.pass_context
def reject_command(ctx: click.Context, action_id: str, reason: str, by: str) -> None:
    """Reject an action waiting as pending_approval: it is never delivered."""
    _decide(ctx, action_id, False, reason, by)


@actions_group.command("requeue")
@click.argument("action_id")
@click.pass_context
def requeue_command(ctx: click.Context, action_id: str) -> None:
    """Give a dead-lettered action a fresh set of delivery attempts."""
    with Graph(settings_from(ctx)) as graph:
        status = requeue(graph, action_id)
    click.echo(f"{action_id}: {status}")


@click.group("policies")
def policies_group() -> None:
    """Trigger policies (KGCRM_POLICIES_FILE, or the built-in default)."""


@policies_group.command("check")
@click.argument("path", type=click.Path(path_type=Path), required=False)
@click.pass_context
def check_command(ctx: click.Context, path: Path | None) -> None:
    """Validate a policies file (default: KGCRM_POLICIES_FILE) and print what each policy does."""
    policies = load_policies(path if path is not None else settings_from(ctx).policies_file)
    for p in policies:
        cap = p.daily_cap_per_owner if p.daily_cap_per_owner is not None else "none"
        approval = f"; approval above {p.approval.property} {p.approval.above:g}" if p.approval else ""
        click.echo(
            f"{p.name}: {p.label} enters at {p.enter:g}, re-arms at {p.rearm:g}, min delta {p.min_delta:g}, "
            f"cooldown {_duration(p.cooldown)}, daily cap per owner {cap}, action {p.action}{approval}"
        )


def _duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@click.command("webhook-secret")
def webhook_secret_command() -> None:
    """Print a new random webhook secret (whsec_...) to share with the receiver."""
    click.echo(new_secret())


def _horizon(value: str) -> timedelta:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise InvalidInput(f"--horizon {value!r}: {exc}") from None


@click.command("uplift")
@click.option("--horizon", default="30d", show_default=True, help="How long after the first action a conversion counts (e.g. 14d).")
@click.option("--outcome", type=click.Choice(OUTCOMES), default="opened", show_default=True,
              help="opened: an opportunity for the account was opened; won: one closed won.")
@click.option("--policy", default=None, help="Only this policy's actions.")
@click.option("--since", type=click.DateTime(), default=None, help="First action at or after this time (UTC).")
@click.option("--until", type=click.DateTime(), default=None, help="First action before this time (UTC).")
@click.pass_context
def uplift_command(ctx: click.Context, horizon: str, outcome: str, policy: str | None,
                   since: datetime | None, until: datetime | None) -> None:
    """Conversion of accounts acted on against held-out accounts, with 95% confidence intervals."""
    with Graph(settings_from(ctx)) as graph:
        report = measure_uplift(
            graph, horizon=_horizon(horizon), outcome=outcome, policy=policy,
            since=since.replace(tzinfo=UTC) if since else None, until=until.replace(tzinfo=UTC) if until else None,
        )
    for name, group in (("treated", report.treated), ("holdout", report.holdout)):
        low, high = group.interval
        click.echo(f"{name:<8} {group.accounts:>7} accounts  {group.converted:>6} converted  "
                   f"rate {group.rate:.2%}  95% CI [{low:.2%}, {high:.2%}]")
    low, high = report.difference_interval
    click.echo(f"uplift   {report.difference:+.2%} points, 95% CI [{low:+.2%}, {high:+.2%}]; "
               f"relative {report.relative_lift:+.1%}")
    if report.in_both_groups:
        click.echo(f"warning: {report.in_both_groups} accounts are in both groups (holdout fraction or salt changed)", err=True)
