"""CLI commands for the GraphQL API: serve it, manage API keys, export its schema."""

from __future__ import annotations

from pathlib import Path

import click

from kgcrm.context import settings_from
from kgcrm.graph.driver import Graph
from kgcrm.graph.settings import Settings


def serve_api(settings: Settings, *, host: str | None = None, port: int | None = None,
              workers: int | None = None) -> None:
    """Run the API under uvicorn until interrupted (each worker builds its app from the environment)."""
    import uvicorn

    from kgcrm.gql.logs import configure_json_logging
    from kgcrm.gql.slow_clients import DeadlineHttpToolsProtocol

    configure_json_logging(settings.log_level)
    uvicorn.run(
        "kgcrm.gql.app:create_app", factory=True, http=DeadlineHttpToolsProtocol,
        host=host or settings.api_host, port=port if port is not None else settings.api_port,
        workers=workers or settings.api_workers, log_config=None, access_log=False,
    )


def demo_banner(settings: Settings, *, key: str, host: str | None = None, port: int | None = None) -> str:
    """What `make demo` prints before serving: where the API is, an admin key and a query to try."""
    url = f"http://{host or settings.api_host}:{port if port is not None else settings.api_port}/graphql"
    query = '{"query": "{ accounts(first: 5, orderBy: {field: SCORE, direction: DESC}) { totalCount edges { node { name score { value } owner { name } } } } }"}'
    return (
        f"GraphQL API at {url} (GraphiQL in a browser; docs/api.md)\n"
        f"admin API key (shown once): {key}\n"
        f"try:\n  curl -s {url} -H 'Authorization: Bearer {key}' -H 'content-type: application/json' \\\n"
        f"    -d '{query}'"
    )


def serve_with_admin_key(settings: Settings, *, host: str | None = None, port: int | None = None,
                         workers: int | None = None) -> None:
    """Create an admin API key, print it with an example query, then serve (the end of `make demo`)."""
    from kgcrm.gql.auth import create_api_key

    with Graph(settings) as graph:
        key = create_api_key(graph, role="admin", name="demo")
    click.echo(demo_banner(settings, key=key.secret_key, host=host, port=port))
    serve_api(settings, host=host, port=port, workers=workers)


@click.command("serve")
@click.option("--host", default=None, help="Interface to listen on (KGCRM_API_HOST, default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port to listen on (KGCRM_API_PORT, default 8000).")
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="Worker processes (KGCRM_API_WORKERS).")
@click.option("--print-admin-key", is_flag=True, help="Create an admin API key and print it with an example query first.")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, workers: int | None, print_admin_key: bool) -> None:
    """Serve the GraphQL API (GraphiQL at /graphql when enabled; /metrics, /healthz, /readyz)."""
    if print_admin_key:
        serve_with_admin_key(settings_from(ctx), host=host, port=port, workers=workers)
    else:
        serve_api(settings_from(ctx), host=host, port=port, workers=workers)


@click.group("apikey")
def apikey_group() -> None:
    """Create and revoke API keys (stored hashed in the graph)."""


@apikey_group.command("create")
@click.option("--role", required=True, type=click.Choice(["admin", "manager", "account_manager", "ingest"]))
@click.option("--user", "user_id", default=None, help="User id whose book the key sees (manager, account_manager).")
@click.option("--name", default="", help="A note to tell keys apart.")
@click.pass_context
def apikey_create(ctx: click.Context, role: str, user_id: str | None, name: str) -> None:
    """Create a key and print it once; only its hash is kept."""
    from kgcrm.gql.auth import create_api_key

    with Graph(settings_from(ctx)) as graph:
        key = create_api_key(graph, role=role, user_id=user_id, name=name)
    click.echo(key.secret_key)
    click.echo(f"key id {key.key_id}: store the key now, it cannot be shown again", err=True)


@apikey_group.command("revoke")
@click.argument("key_or_id")
@click.pass_context
def apikey_revoke(ctx: click.Context, key_or_id: str) -> None:
    """Revoke a key by its id (or the whole key)."""
    from kgcrm.gql.auth import revoke_api_key

    with Graph(settings_from(ctx)) as graph:
        key_id = revoke_api_key(graph, key_or_id)
    click.echo(f"revoked API key {key_id}")


def schema_file() -> Path:
    """Where the exported SDL lives (beside the schema's code)."""
    import kgcrm.gql

    return Path(kgcrm.gql.__file__).resolve().parent / "schema.graphql"


@click.command("graphql-schema")
@click.option("--check", is_flag=True, help="Exit 1 if the file differs from the code instead of writing it.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write here instead of gql/schema.graphql.")
def graphql_schema(check: bool, output: Path | None) -> None:
    """Export the GraphQL schema's SDL to gql/schema.graphql (or check that it is current)."""
    from kgcrm.gql.schema import schema_sdl

    target = output or schema_file()
    sdl = schema_sdl()
    if check:
        current = target.read_text() if target.exists() else ""
        if current != sdl:
            raise click.ClickException(f"{target} is out of date: run `kgcrm graphql-schema`")
        click.echo(f"{target} is up to date")
        return
    target.write_text(sdl)
    click.echo(f"wrote {target}")
