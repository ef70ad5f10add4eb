"""CLI command `kgcrm generate`: write a synthetic CRM world with planted intent as a Salesforce export."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from kgcrm.loaders.generate import GROUND_TRUTH_DIR, SECOND_SOURCE_DIR, WorldParams, generate_world
from kgcrm.loaders.generate_report import format_signal_report, measure_signal


@click.command("generate")
@click.option("--accounts", "n_accounts", type=int, required=True, help="Number of accounts (about 48 nodes each; 21,000 give ~1M nodes).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed; the same seed writes the same bytes.")
@click.option("--start", type=click.DateTime(formats=["%Y-%m-%d"]), default="2024-01-01", show_default=True, help="First day of the simulated period.")
@click.option("--months", type=int, default=18, show_default=True, help="Length of the simulated period.")
@click.option("--half-life-days", type=float, default=21.0, show_default=True, help="Half-life of latent account intent.")
@click.option("--duplicates", type=float, default=0.0, show_default=True,
              help="Also write OUTDIR/hubspot/, a second source re-describing this share of accounts and contacts with "
                   "typos and variants (docs/identity.md); which record each duplicates goes to the ground truth.")
@click.option("--report", is_flag=True, help="Then measure the planted signal from the files written and print it (docs/generator.md).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.argument("outdir", type=click.Path(file_okay=False, path_type=Path))
def generate(n_accounts: int, seed: int, start: dt.datetime, months: int, half_life_days: float, duplicates: float, report: bool,
             quiet: bool, outdir: Path) -> None:
    """Write a synthetic Salesforce export to OUTDIR and its ground truth to OUTDIR/ground_truth.

    Load it with `kgcrm load OUTDIR --format salesforce`; the loader never reads ground_truth/.
    """
    params = WorldParams(accounts=n_accounts, seed=seed, start=start.date(), months=months, half_life_days=half_life_days,
                         duplicates=duplicates)
    world = generate_world(params, outdir, quiet=quiet)
    click.echo(
        f"wrote {world.nodes:,} nodes and {world.relationship_rows:,} relationship rows "
        f"({n_accounts:,} accounts, seed {seed}) to {outdir} in {world.seconds:.1f} s; "
        f"ground truth in {outdir / GROUND_TRUTH_DIR}"
    )
    if world.second_source_rows:
        click.echo(
            f"second source: {world.second_source_rows['companies.csv']:,} companies and "
            f"{world.second_source_rows['contacts.csv']:,} contacts in {outdir / SECOND_SOURCE_DIR} "
            f"(load with --format hubspot)"
        )
    if report:
        click.echo(format_signal_report(measure_signal(outdir)))
