"""`kgcrm schedule`: run a command on a cron expression, forever (the docker-compose scheduler service)."""

from __future__ import annotations

import logging
import subprocess
import time
from datetime import UTC, datetime

import click

from kgcrm.context import settings_from
from kgcrm.graph.errors import InvalidInput
from kgcrm.schedule import CronSchedule

logger = logging.getLogger(__name__)


@click.command("schedule", context_settings={"ignore_unknown_options": True})
@click.option("--cron", "cron", default=None, help="Five-field cron expression in UTC (default: KGCRM_RETRAIN_CRON).")
@click.option("--once", is_flag=True, help="Wait for the next matching time, run once, and exit.")
@click.argument("command", nargs=-1, type=click.UNPROCESSED, required=True)
@click.pass_context
def schedule(ctx: click.Context, cron: str | None, once: bool, command: tuple[str, ...]) -> None:
    """Run COMMAND each time the cron expression matches, e.g. `kgcrm schedule -- kgcrm retrain`.

    A failed run is logged and the schedule goes on; runs never overlap.
    """
    expression = cron or settings_from(ctx).retrain_cron
    plan = CronSchedule.parse(expression)
    if not command:
        raise InvalidInput("schedule needs a command to run after --")
    while True:
        next_run = plan.next_after(datetime.now(UTC))
        click.echo(f"next run of {' '.join(command)!r} at {next_run.isoformat()} ({expression})")
        time.sleep(max(0.0, (next_run - datetime.now(UTC)).total_seconds()))
        started = time.monotonic()
        result = subprocess.run(list(command))
        click.echo(f"run finished with exit code {result.returncode} after {time.monotonic() - started:.1f}s")
        if once:
            ctx.exit(result.returncode)
