"""The `kgcrm` command line: one clear line and a meaningful exit code for every expected failure."""

from __future__ import annotations

import logging
import sys
from typing import Any

import click

from kgcrm import __version__
from kgcrm.graph.errors import KgcrmError


class KgcrmGroup(click.Group):
    """A command group that turns kgcrm's own errors into `kgcrm: error: ...` and its exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KgcrmError as exc:
            click.echo(f"kgcrm: error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("kgcrm: interrupted", err=True)
            sys.exit(130)


@click.group(cls=KgcrmGroup)
@click.version_option(__version__, prog_name="kgcrm")
@click.option("-v", "--verbose", is_flag=True, help="Log what is being done (to stderr).")
def cli(verbose: bool) -> None:
    """kgcrm: intent scores from a graph neural network over your CRM graph in Neo4j.

    Configuration comes from environment variables (NEO4J_URI, NEO4J_USER, NEO4J_PASSWORD,
    NEO4J_DATABASE, KGCRM_*) or a .env file in the current folder; see the README.
    """
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not verbose:
        # The driver logs every retry and dropped connection itself; kgcrm says the outcome in one line.
        logging.getLogger("neo4j").setLevel(logging.CRITICAL)


def _register_commands() -> None:
    from kgcrm.commands_demo import demo
    from kgcrm.commands_graph import neo4j_group, schema_group, stats
    from kgcrm.commands_serve import apikey_group, graphql_schema, serve
    from kgcrm.commands_load import load_command
    from kgcrm.commands_identity import identity_group
    from kgcrm.commands_schedule import schedule
    from kgcrm.commands_generate import generate

    cli.add_command(neo4j_group)
    cli.add_command(schema_group)
    cli.add_command(stats)
    cli.add_command(demo)
    cli.add_command(serve)
    cli.add_command(apikey_group)
    cli.add_command(graphql_schema)
    cli.add_command(load_command)
    cli.add_command(identity_group)
    cli.add_command(schedule)
    cli.add_command(generate)
    from kgcrm.commands_actions import actions_group, dispatch_command, policies_group, uplift_command, webhook_secret_command
    for command in (dispatch_command, actions_group, policies_group, uplift_command, webhook_secret_command): cli.add_command(command)
    from kgcrm.commands_ml import drift, models, retrain_command, rollback_command, score
    for command in (models, score, retrain_command, rollback_command, drift): cli.add_command(command)
    from kgcrm.commands_events import replay_command, rescore_events_command
    for command in (replay_command, rescore_events_command): cli.add_command(command)


_register_commands()
