"""`kgcrm demo`: the main job end to end on a small world, the way `make demo` shows it to a new user."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import click

from kgcrm.commands_graph import print_counts
from kgcrm.context import settings_from
from kgcrm.graph.driver import Graph
from kgcrm.graph.errors import InvalidInput
from kgcrm.graph.model import Label
from kgcrm.graph.schema import apply_migrations, count_entities, get_schema_status
from kgcrm.graph.server import LocalNeo4j
from kgcrm.graph.settings import Settings

# The Maven Analytics data set lies beside a checkout that has ../shared (never inside the project).
MAVEN_DIR = Path("..") / "shared" / "data" / "maven_crm"


@click.command("demo")
@click.option("--accounts", type=click.IntRange(10, 100_000), default=1500, show_default=True,
              help="Size of the generated world when the graph is empty.")
@click.option("--seed", type=int, default=7, show_default=True, help="Seed of the generated world.")
@click.option("--maven", "maven_dir", is_flag=False, flag_value=str(MAVEN_DIR), default=None,
              type=click.Path(file_okay=False, path_type=Path),
              help=f"Load the Maven CRM data set (default {MAVEN_DIR}) instead of generating a world.")
@click.option("--train/--no-train", default=True, show_default=True,
              help="Train the account_intent model (once; reused while one is in production) and score every account.")
@click.option("--serve/--no-serve", default=True, show_default=True,
              help="End by serving the GraphQL API with a new admin key (Ctrl-C stops it).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
@click.pass_context
def demo(ctx: click.Context, accounts: int, seed: int, maven_dir: Path | None, train: bool, serve: bool, quiet: bool) -> None:
    """Start Neo4j, load a world when the graph is empty, train, score, print the top accounts, serve the API."""
    settings = settings_from(ctx)
    server = LocalNeo4j(settings)
    if server.start():
        click.echo(f"started Neo4j at {settings.neo4j_uri}")
    else:
        click.echo(f"Neo4j already running at {settings.neo4j_uri}")
    with Graph(settings) as graph:
        click.echo(f"connected to {graph.verify()} at {settings.neo4j_uri}, database {settings.neo4j_database!r}")
        apply_migrations(graph)
        click.echo(f"schema version {get_schema_status(graph).current}")
        counts = count_entities(graph)
        if counts[Label.ACCOUNT.value]:
            click.echo(f"the graph already holds {counts[Label.ACCOUNT.value]:,} accounts; loading nothing "
                       "(`kgcrm load` adds more)")
        else:
            _load_world(graph, settings, accounts, seed, maven_dir, quiet)
            counts = count_entities(graph)
        print_counts(counts)
        if train:
            if maven_dir is not None:
                click.echo("the Maven data set has no activities for account_intent; see docs/ml.md for opportunity_win")
            else:
                _train_and_score(graph, settings)
    if serve:
        from kgcrm.commands_serve import serve_with_admin_key

        _print_explorer_sign_in(settings)
        serve_with_admin_key(settings)


def _print_explorer_sign_in(settings: Settings) -> None:
    """The explorer's URL with a new key for the owner of the hottest account (an account manager)."""
    from kgcrm.gql.explorer import create_demo_sign_in

    with Graph(settings) as graph:
        sign_in = create_demo_sign_in(graph, settings)
    who = sign_in.user_name or sign_in.user_id
    click.echo(f"explorer, signed in as account manager {who} ({sign_in.accounts} accounts): {sign_in.url}")


def _train_and_score(graph: Graph, settings: Settings) -> None:
    from kgcrm.ml.demo import train_and_score

    click.echo("training the account_intent model (reused while one is in production) and scoring every account")
    result = train_and_score(graph, settings, retrain_model=False)
    click.echo(f"model {result['model']}: {result['reason']}")
    models = {"GNN": result["metrics"] or {}, **(result["baseline_metrics"] or {})}
    for name, metrics in models.items():
        if metrics:
            click.echo(f"  {name:<22} test AUROC {metrics['auroc']:.3f} "
                       f"[{metrics['auroc_low']:.3f}, {metrics['auroc_high']:.3f}], ECE {metrics['ece']:.3f}")
    click.echo("top accounts by intent:")
    for row in result["top"]:
        click.echo(f"  {row['score']:.3f}  {row['name'] or row['id']}")
        for driver in (row.get("drivers") or [])[:3]:
            click.echo(f"           - {driver}")


def _load_world(graph: Graph, settings: Settings, accounts: int, seed: int, maven_dir: Path | None, quiet: bool) -> None:
    from kgcrm.commands_load import format_report
    from kgcrm.loaders.load import LoadOptions, load
    from kgcrm.loaders.mapping import load_mapping

    if maven_dir is not None:
        if not (maven_dir / "sales_pipeline.csv").exists():
            raise InvalidInput(f"--maven: no sales_pipeline.csv in {maven_dir}; give the folder of the Maven CRM data set")
        source, format_ = maven_dir, "maven"
    else:
        source, format_ = _generated_world(settings, accounts, seed, quiet), "salesforce"
    click.echo(f"loading {source} ({format_} format)")
    mapping, _ = load_mapping(format_)
    options = LoadOptions(batch_size=settings.batch_size, progress=not quiet and sys.stderr.isatty())
    click.echo(format_report(load(graph, mapping, source, options)))


def _generated_world(settings: Settings, accounts: int, seed: int, quiet: bool) -> Path:
    """A generated Salesforce export under KGCRM_HOME, written once per size and seed."""
    from kgcrm.loaders.generate import WorldParams, generate_world

    outdir = Path(settings.home) / "demo-worlds" / f"accounts-{accounts}-seed-{seed}"
    done = outdir / ".complete"
    if not done.exists():
        click.echo(f"generating a world of {accounts:,} accounts (seed {seed}) in {outdir}")
        if outdir.exists():
            shutil.rmtree(outdir)  # an interrupted earlier run
        generate_world(WorldParams(accounts=accounts, seed=seed), outdir, quiet=quiet)
        done.touch()
    return outdir
