"""Validated rows between the validation pass and the writes: in memory while they fit, then on disk.

Why: a load reads every file once to validate it and then walks the valid rows again (references,
cascades, writes), so the rows must be kept somewhere in between. In memory a row costs about 1.4 KB
of Python objects, so a file of tens of millions of rows would need tens of gigabytes. The rows of one
load share a budget (`LoadOptions.memory_rows`); beyond it they go, in file order, to pickled chunks
in a temporary file that is deleted with the spool.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# Rows per pickled chunk: large enough that pickling runs at full speed, small enough to stay cheap in memory.
CHUNK_ROWS = 20_000


class RowBudget:
    """How many more rows the spools of one load may keep in memory."""

    def __init__(self, rows: int) -> None:
        self.remaining = rows


class RowSpool:
    """An append-only sequence of rows that can be read again in order, any number of times."""

    def __init__(self, budget: RowBudget, directory: Path | None = None) -> None:
        self._budget = budget
        self._directory = directory
        self._memory: list[Any] = []
        self._pending: list[Any] = []
        self._path: Path | None = None
        self._writer: Any = None
        self._spilled = False
        self._count = 0

    def __len__(self) -> int:
        return self._count

    @property
    def on_disk(self) -> int:
        """How many rows went to disk."""
        return self._count - len(self._memory)

    def append(self, row: Any) -> None:
        self._count += 1
        # Once a row has gone to disk, later ones follow it there, so that reading keeps the file order.
        if not self._spilled and self._budget.remaining > 0:
            self._budget.remaining -= 1
            self._memory.append(row)
            return
        self._spilled = True
        self._pending.append(row)
        if len(self._pending) >= CHUNK_ROWS:
            self._flush()

    def __iter__(self) -> Iterator[Any]:
        yield from self._memory
        if not self._spilled:
            return
        self._flush()
        self._writer.flush()
        with self._path.open("rb") as reader:
            while True:
                try:
                    chunk = pickle.load(reader)
                except EOFError:
                    return
                yield from chunk

    def close(self) -> None:
        """Delete the disk part (the spool is empty afterwards)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._path is not None:
            self._path.unlink(missing_ok=True)
            self._path = None
        self._budget.remaining += len(self._memory)
        self._memory, self._pending, self._count, self._spilled = [], [], 0, False

    def _flush(self) -> None:
        if not self._pending:
            return
        if self._writer is None:
            handle, name = tempfile.mkstemp(prefix="kgcrm-load-", suffix=".rows", dir=self._directory)
            self._path = Path(name)
            self._writer = os.fdopen(handle, "wb")
        pickle.dump(self._pending, self._writer, protocol=pickle.HIGHEST_PROTOCOL)
        self._pending = []

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown: best effort only
            pass
