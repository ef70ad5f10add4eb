"""CLI commands for the local Neo4j server, the schema and the graph's counts."""

from __future__ import annotations

import click

from kgcrm.graph.driver import Graph
from kgcrm.graph.schema import apply_migrations, count_entities, get_schema_status
from kgcrm.graph.server import LocalNeo4j
from kgcrm.context import settings_from


@click.group("neo4j")
def neo4j_group() -> None:
    """Install and run a local Neo4j Community server (no Docker needed)."""


@neo4j_group.command("install")
@click.pass_context
def neo4j_install(ctx: click.Context) -> None:
    """Resolve Neo4j Community from Maven Central into KGCRM_HOME, once."""
    server = LocalNeo4j(settings_from(ctx))
    if server.install():
        click.echo(f"installed Neo4j {server.settings.neo4j_version} in {server.install_dir}")
    else:
        click.echo(f"Neo4j {server.settings.neo4j_version} already installed in {server.install_dir}")


@neo4j_group.command("start")
@click.pass_context
def neo4j_start(ctx: click.Context) -> None:
    """Start the local server in the background (installing it first if needed); print its URI."""
    server = LocalNeo4j(settings_from(ctx))
    if server.start():
        click.echo(f"started Neo4j (pid {server.running_pid()}) at {server.settings.neo4j_uri}")
    else:
        click.echo(f"Neo4j already running (pid {server.running_pid()}) at {server.settings.neo4j_uri}")


@neo4j_group.command("stop")
@click.pass_context
def neo4j_stop(ctx: click.Context) -> None:
    """Stop the local server by its PID."""
    server = LocalNeo4j(settings_from(ctx))
    click.echo("stopped Neo4j" if server.stop() else "Neo4j was not running")


@neo4j_group.command("status")
@click.pass_context
def neo4j_status(ctx: click.Context) -> None:
    """Print running/stopped, version and URI; exit 1 when stopped."""
    status = LocalNeo4j(settings_from(ctx)).status()
    click.echo(status.describe())
    ctx.exit(0 if status.running else 1)


@click.group("schema")
def schema_group() -> None:
    """Create constraints and indexes, and show which schema version the graph has."""


@schema_group.command("apply")
@click.pass_context
def schema_apply(ctx: click.Context) -> None:
    """Apply pending schema migrations (safe to repeat)."""
    with Graph(settings_from(ctx)) as graph:
        graph.verify()
        applied = apply_migrations(graph)
        status = get_schema_status(graph)
    done = f"applied migrations {', '.join(map(str, applied))}" if applied else "schema already up to date"
    click.echo(f"{done}; schema version {status.current}")


@schema_group.command("status")
@click.pass_context
def schema_status(ctx: click.Context) -> None:
    """Print the applied and pending schema versions."""
    with Graph(settings_from(ctx)) as graph:
        graph.verify()
        status = get_schema_status(graph)
    pending = ", ".join(map(str, status.pending)) or "none"
    click.echo(f"schema version {status.current} of {status.latest}; pending: {pending}")


@click.command("stats")
@click.pass_context
def stats(ctx: click.Context) -> None:
    """Print the number of nodes per label and of relationships."""
    with Graph(settings_from(ctx)) as graph:
        graph.verify()
        print_counts(count_entities(graph))


def print_counts(counts: dict[str, int]) -> None:
    width = max(len(name) for name in counts)
    for name, count in counts.items():
        click.echo(f"  {name:<{width}}  {count:>10,}")
