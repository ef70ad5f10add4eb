"""`kgcrm load`: load a folder of CRM exports through a built-in format or a mapping file."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from kgcrm.context import settings_from
from kgcrm.graph.driver import Graph
from kgcrm.graph.errors import KgcrmError, LoadFailed, MappingError, RowsRejected
from kgcrm.graph.schema import apply_migrations
from kgcrm.loaders.bulk_import import bulk_load
from kgcrm.loaders.load import DEFAULT_MAX_FIELD_LENGTH, DEFAULT_MEMORY_ROWS, LoadOptions, LoadReport, load
from kgcrm.loaders.mapping import BUILTIN_FORMATS, load_mapping

EXIT_HELP = f"""
\b
Exit codes:
  0   every row loaded
  {RowsRejected.exit_code}  the load finished but some rows were rejected (see the rejects file)
  {LoadFailed.exit_code}  fatal: nothing more was written (bad mapping, missing file or column,
      Neo4j unreachable); fix the cause and re-run the same command to complete the load
"""


@click.command("load", epilog=EXIT_HELP)
@click.argument("source", type=click.Path(path_type=Path))
@click.option(
    "--format", "format_", required=True, metavar="|".join(BUILTIN_FORMATS) + "|MAPPING.yml",
    help="A built-in format or the path of your own mapping file (docs/loading.md).",
)
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=None,
              help="Rows per transaction (default: KGCRM_BATCH_SIZE, 1000).")
@click.option("--prune", is_flag=True,
              help="Delete this source's nodes that are absent from the input (for labels whose files are all present).")
@click.option("--rejects", "rejects_path", type=click.Path(path_type=Path), default=None,
              help="Where rejected rows go (default: ./<source>-rejects.csv, written only when rows are rejected).")
@click.option("--max-field-length", type=click.IntRange(1), default=DEFAULT_MAX_FIELD_LENGTH, show_default=True,
              envvar="KGCRM_MAX_FIELD_LENGTH", help="Longest value accepted in a mapped column (characters).")
@click.option("--memory-rows", type=click.IntRange(0), default=DEFAULT_MEMORY_ROWS, show_default=True,
              envvar="KGCRM_LOAD_MEMORY_ROWS",
              help="Validated rows kept in memory (about 1.4 KB each); the rest wait in a temporary file.")
@click.option("--dry-run", is_flag=True, help="Validate everything and write the rejects file, but write nothing to Neo4j.")
@click.option("--bulk", is_flag=True,
              help="Initial load into a NEW local database through neo4j-admin's offline importer "
                   "(the local server must be stopped; it is started afterwards).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars and no summary table (for scripts).")
@click.pass_context
def load_command(
    ctx: click.Context, source: Path, format_: str, batch_size: int | None, prune: bool, rejects_path: Path | None,
    max_field_length: int, memory_rows: int, dry_run: bool, bulk: bool, quiet: bool,
) -> None:
    """Load the CSV exports in SOURCE (a folder) into the graph.

    Rows that fail validation go to a rejects CSV (file, row, column, value, reason); the valid rows
    load. Loading the same input again changes nothing; changed input updates the graph in place.
    """
    settings = settings_from(ctx)
    try:
        mapping, _ = load_mapping(format_)
        options = LoadOptions(
            batch_size=batch_size or settings.batch_size, max_field_length=max_field_length, prune=prune,
            dry_run=dry_run, progress=not quiet and sys.stderr.isatty(), rejects_path=rejects_path,
            memory_rows=memory_rows,
        )
        if bulk:
            report, timings = bulk_load(settings, mapping, source, options)
        else:
            with Graph(settings) as graph:
                graph.verify()
                apply_migrations(graph)
                report = load(graph, mapping, source, options)
    except (LoadFailed, RowsRejected):
        raise
    except MappingError as exc:
        raise LoadFailed(f"invalid mapping:\n{exc}") from None
    except KgcrmError as exc:
        raise LoadFailed(str(exc)) from None
    if not quiet:
        click.echo(format_report(report))
        if bulk and not dry_run:
            click.echo(
                f"bulk import: {timings.entities:,} nodes and relationships; validating and writing the import files "
                f"{timings.validate_and_write_files:.1f} s, neo4j-admin import {timings.importer:.1f} s, "
                f"starting Neo4j and applying the schema {timings.start_and_schema:.1f} s"
            )
    if report.rejected_rows:
        click.echo(
            f"kgcrm: {report.rejected_rows:,} row(s) rejected; see {report.rejects_path}", err=True
        )
        ctx.exit(RowsRejected.exit_code)


def format_report(report: LoadReport) -> str:
    """The summary table: one line per file, then the totals and what was pruned."""
    header = ("file", "label", "read", "loaded", "rejected", "skipped", "nodes+", "nodes~", "rels+", "rels~", "rels-")
    lines = []
    for stats in [*report.files, report.totals]:
        if not stats.present:
            lines.append((stats.file, stats.label, "absent", *[""] * (len(header) - 3)))
            continue
        lines.append((stats.file, stats.label, *(f"{n:,}" for n in (
            stats.rows_read, stats.loaded, stats.rejected, stats.skipped, stats.nodes_created, stats.nodes_updated,
            stats.rels_created, stats.rels_updated, stats.rels_deleted))))
    widths = [max(len(str(row[i])) for row in [header, *lines]) for i in range(len(header))]
    out = [
        "  ".join(str(cell).ljust(w) if i < 2 else str(cell).rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
        for row in [header, *lines]
    ]
    out.insert(1, "  ".join("-" * w for w in widths))
    out.insert(len(out) - 1, "  ".join("-" * w for w in widths))
    title = f"{'dry run (nothing written)' if report.dry_run else 'loaded'} source {report.source!r}"
    footer = [
        "skipped: rows with a blank optional key; nodes+/~: created/updated; rels+/~/-: created/updated/removed",
    ]
    if report.pruned:
        footer.append("pruned: " + ", ".join(f"{n:,} {label}" for label, n in report.pruned.items()))
    return "\n".join([title, *out, *footer])
