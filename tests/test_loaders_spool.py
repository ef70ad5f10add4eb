"""Validated rows beyond the memory budget wait on disk, and a load that spills equals one that does not."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from conftest import wipe
from test_loaders_load import graph_state, load_dir

from kgcrm.graph.driver import Graph
from kgcrm.graph.schema import apply_migrations
from kgcrm.loaders import spool
from kgcrm.loaders.generate import WorldParams, generate_world
from kgcrm.loaders.spool import RowBudget, RowSpool


def test_a_spool_keeps_file_order_across_memory_and_disk_and_reads_again(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(spool, "CHUNK_ROWS", 4)
    budget = RowBudget(5)
    first, second = RowSpool(budget, tmp_path), RowSpool(budget, tmp_path)
    for row in range(3):
        first.append(("first", row, {"n": row}))
    for row in range(11):
        second.append(("second", row, {"n": row}))
    # A row released by another spool does not jump ahead of rows already on disk.
    first.close()
    second.append(("second", 11, {"n": 11}))

    assert len(second) == 12 and second.on_disk == 10
    assert list(second) == [("second", row, {"n": row}) for row in range(12)]
    assert list(second) == list(second)  # read again, in the same order
    assert len(list(tmp_path.iterdir())) == 1
    second.close()
    assert list(tmp_path.iterdir()) == [] and list(second) == [] and budget.remaining == 5


def test_a_load_whose_rows_wait_on_disk_writes_the_same_graph_and_rejects(
    graph: Graph, _session_graph: Graph, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    world = tmp_path / "world"
    generate_world(WorldParams(accounts=30, seed=7), world, quiet=True)
    # Two bad rows: their rejects must come out the same whichever way the rows were kept.
    contacts = world / "Contact.csv"
    rows = list(csv.reader(contacts.open(encoding="utf-8", newline="")))
    email = rows[0].index("Email")
    rows[3][email] = "not an email"
    rows[5][rows[0].index("AccountId")] = "001NOSUCHACCOUNT"
    with contacts.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)

    for folder in ("memory", "disk"):
        (tmp_path / folder).mkdir()
    in_memory = load_dir(graph, "salesforce", world, tmp_path / "memory")
    expected = graph_state(graph, skip=("updated_at",))
    expected_rejects = (tmp_path / "memory" / "rejects.csv").read_text()

    wipe(_session_graph)
    apply_migrations(_session_graph)
    monkeypatch.setattr(spool, "CHUNK_ROWS", 50)
    chunks_written = []
    flush = RowSpool._flush
    monkeypatch.setattr(RowSpool, "_flush", lambda self: chunks_written.append(len(self._pending)) or flush(self))
    spilled = load_dir(graph, "salesforce", world, tmp_path / "disk", memory_rows=100)

    assert in_memory.rejected_rows == spilled.rejected_rows >= 2  # with the rows that referenced them
    assert graph_state(graph, skip=("updated_at",)) == expected
    assert (tmp_path / "disk" / "rejects.csv").read_text() == expected_rejects
    assert sum(f.loaded for f in spilled.files) == sum(f.loaded for f in in_memory.files) > 100
    assert sum(chunks_written) > 100  # most rows went through the disk
