"""CLI of real-time events: `kgcrm replay FILE --rate R` and `kgcrm rescore-events` (the incremental scorer)."""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from pathlib import Path

import click
import httpx
from tqdm import tqdm

from kgcrm.actions.events import IngestReport, Rejection, ingest_rows, parse_ndjson
from kgcrm.actions.wakeup import WakeSender
from kgcrm.context import parse_partition, settings_from
from kgcrm.graph.driver import Graph
from kgcrm.graph.errors import GraphUnavailable, InvalidInput


@click.command("replay")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--rate", type=click.FloatRange(min=0), default=100.0, show_default=True,
              help="Events per second (0: as fast as possible).")
@click.option("--url", default=None, help="POST to this API's /events (e.g. http://127.0.0.1:8000); default: straight to Neo4j.")
@click.option("--key", envvar="KGCRM_INGEST_KEY", default=None, help="API key of the ingest role (or KGCRM_INGEST_KEY).")
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=500, show_default=True,
              help="Most events sent in one request or transaction.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.pass_context
def replay_command(ctx: click.Context, file: Path, rate: float, url: str | None, key: str | None,
                   batch_size: int, quiet: bool) -> None:
    """Replay an NDJSON event stream (one recordActivity input per line) at --rate events per second.

    Events are idempotent by eventId, so a replay of events already stored changes nothing. Rejected
    lines are listed (line, field, reason) and make the command exit with status 2 at the end.
    """
    if url and not key:
        raise InvalidInput("--key (or KGCRM_INGEST_KEY) is needed with --url: an API key of the ingest role")
    try:
        # Lines end at \n (and \r\n) only: str.splitlines would also split inside a JSON string at U+2028 etc.
        lines = file.read_text(encoding="utf-8").split("\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{file}: cannot be read as UTF-8 NDJSON ({exc})") from None
    if lines and not lines[-1].strip():
        lines.pop()
    settings = settings_from(ctx)
    total = IngestReport()
    started = time.monotonic()
    with tqdm(total=len(lines), desc="replaying", unit="event", disable=quiet, file=sys.stderr) as bar:
        if url:
            with httpx.Client(base_url=url.rstrip("/"), timeout=60.0,
                              headers={"Authorization": f"Bearer {key}", "Content-Type": "application/x-ndjson"}) as client:
                for first, chunk in _paced(lines, rate, batch_size, started):
                    total.add(_post(client, chunk, first))
                    bar.update(len(chunk))
        else:
            scorers = WakeSender(settings.events_wake_addresses)  # as the API does after storing events
            with Graph(settings) as graph:
                graph.verify()
                for first, chunk in _paced(lines, rate, batch_size, started):
                    rows, rejected = parse_ndjson(chunk, first_line=first)
                    report = ingest_rows(graph, rows)
                    if report.created:
                        scorers.send()
                    report.received += len(rejected)
                    report.rejected = [*rejected, *report.rejected]
                    total.add(report)
                    bar.update(len(chunk))
    seconds = time.monotonic() - started
    click.echo(f"replay: {total.received} events in {seconds:.1f} s ({total.received / max(seconds, 1e-9):.0f}/s): "
               f"{total.created} new, {total.duplicates} already stored, {len(total.rejected)} rejected")
    if total.rejected:
        for rejection in sorted(total.rejected, key=lambda r: r.line)[:20]:
            click.echo(f"  {file}: {rejection}", err=True)
        raise InvalidInput(f"{file}: {len(total.rejected)} lines rejected (the first ones are listed above)")


def _paced(lines: list[str], rate: float, batch_size: int, started: float):  # noqa: ANN202 - a generator
    """(first line number, lines) chunks, each sent once its last event is due at `rate` per second."""
    index = 0
    while index < len(lines):
        if rate > 0:
            due = int((time.monotonic() - started) * rate) + 1
            if due <= index:
                time.sleep((index + 1) / rate - (time.monotonic() - started))
                continue
            stop = min(len(lines), due, index + batch_size)
        else:
            stop = min(len(lines), index + batch_size)
        yield index + 1, lines[index:stop]
        index = stop


def _post(client: httpx.Client, chunk: list[str], first: int) -> IngestReport:
    try:
        response = client.post("/events", content="\n".join(chunk).encode())
    except httpx.HTTPError as exc:
        raise GraphUnavailable(f"cannot reach the API at {client.base_url} ({exc})") from None
    if response.status_code != 200:
        raise InvalidInput(f"the API answered {response.status_code} to POST /events: {response.text[:200]}")
    body = response.json()
    report = IngestReport(received=body["received"], created=body["created"], duplicates=body["duplicates"])
    report.rejected = [Rejection(r["line"] + first - 1, r["field"], r["reason"]) for r in body["rejected"]]
    return report


@click.command("rescore-events")
@click.option("--once", is_flag=True, help="Rescore what is queued now, then exit.")
@click.option("--window", type=click.FloatRange(min=0.001, max=60), default=None,
              help="Micro-batch window in seconds (default KGCRM_EVENTS_WINDOW).")
@click.option("--partition", default="1/1", show_default=True, metavar="K/N",
              help="Take only partition K of N (1-based): events routed by their account, so N scorers "
                   "together process every event once and one account's events in order.")
@click.pass_context
def rescore_events_command(ctx: click.Context, once: bool, window: float | None, partition: str) -> None:
    """The incremental scorer: rescore the neighbourhoods of new events and fire trigger policies, until stopped.

    Each pass takes the queued events (at most KGCRM_EVENTS_MAX_BATCH), rescores the nodes within the
    production model's receptive field, writes changed scores with their ScoreChange and Actions in one
    transaction, then marks the events done. SIGTERM or Ctrl-C stops it after the pass in flight.
    """
    from kgcrm.actions.rescore import IncrementalScorer, run_scorer  # torch loads only for this command

    part = parse_partition(partition)
    settings = settings_from(ctx)
    # One line per pass with its timings at INFO (KGCRM_LOG_LEVEL); the CLI's own default is WARNING.
    logging.getLogger("kgcrm.actions.rescore").setLevel(settings.log_level)
    if window is not None:
        settings = settings.model_copy(update={"events_window_seconds": window})
    with Graph(settings) as graph:
        graph.verify()
        scorer = IncrementalScorer(graph, settings)
        scorer.partition = part
        if once:
            events = changes = 0
            while (report := scorer.run_once()) is not None:
                events += len(report.events)
                changes += report.changes
            click.echo(f"rescore-events: {events} events, {changes} score changes")
            return
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        run_scorer(graph, settings, stop, scorer)
