"""Fast CSV writing from numpy columns: ids, dates and datetimes in the Salesforce export's formats.

Rows are joined into big strings per chunk instead of going through the csv module row by row (tens of
millions of cells). No value the generator makes contains a comma, quote or line break, so no quoting is
needed; `write_csv` checks string columns that could in principle carry one and quotes them when they do.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

CHUNK_ROWS = 250_000
_NEEDS_QUOTES = (",", '"', "\n", "\r")


def ids(prefix: str, count: int) -> np.ndarray:
    """Salesforce-style 18-character ids: the 3-character key prefix, 12 digits, and a 3-letter suffix."""
    return np.array([f"{prefix}{i:012d}AAA" for i in range(1, count + 1)], dtype="U18")


def refs(id_column: np.ndarray, index: np.ndarray) -> np.ndarray:
    """The ids at `index`, blank where the index is -1 (a null reference)."""
    if not len(id_column):
        return np.full(len(index), "", dtype="U18")
    return np.where(index >= 0, id_column[np.clip(index, 0, None)], "")


def _format_distinct(keys: np.ndarray, format_keys) -> np.ndarray:
    """Format each distinct key once: columns of dates and rounded numbers repeat a few values millions of times."""
    distinct, inverse = np.unique(keys, return_inverse=True)
    return format_keys(distinct)[inverse.reshape(-1)]


def dates(start: dt.date, days: np.ndarray) -> np.ndarray:
    """`YYYY-MM-DD` for day offsets from `start`."""
    first = np.datetime64(start, "D")
    return _format_distinct(days.astype(np.int64), lambda d: np.datetime_as_string(first + d.astype("timedelta64[D]"), unit="D"))


def optional_dates(start: dt.date, days: np.ndarray, present: np.ndarray) -> np.ndarray:
    return np.where(present, dates(start, np.where(present, days, 0)), "")


def datetimes(start: dt.date, days: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    """ISO 8601 UTC with milliseconds, like `2017-03-01T14:05:00.000Z`."""
    base = np.datetime64(start, "s")
    moments = base + (days.astype(np.int64) * 86400 + seconds.astype(np.int64)).astype("timedelta64[s]")
    return np.datetime_as_string(moments.astype("datetime64[ms]"), unit="ms", timezone="UTC")


def booleans(flags: np.ndarray) -> np.ndarray:
    return np.where(flags, "true", "false")


def money(values: np.ndarray) -> list[str]:
    return [f"{value:.2f}" for value in values.tolist()]


def decimals(values: np.ndarray, places: int = 4) -> np.ndarray:
    scale = 10**places
    steps = np.round(np.asarray(values, dtype=np.float64) * scale).astype(np.int64)
    return _format_distinct(steps, lambda d: np.array([f"{step / scale:.{places}f}" for step in d.tolist()]))


def _strings(column: Sequence | np.ndarray) -> list[str]:
    if isinstance(column, np.ndarray):
        return (column if column.dtype.kind == "U" else column.astype(str)).tolist()
    return [value if isinstance(value, str) else str(value) for value in column]


def _quoted(column: list[str]) -> list[str]:
    return [f'"{value.replace(chr(34), chr(34) * 2)}"' if any(c in value for c in _NEEDS_QUOTES) else value for value in column]


def write_csv(path: Path, columns: dict[str, Sequence | np.ndarray], quiet: bool = True,
              free_text: Sequence[str] = ()) -> int:
    """Write one CSV (header row, `\\n` line ends); `free_text` names columns to check for quoting. Returns rows."""
    names = list(columns)
    lists = [_strings(col) for col in columns.values()]
    for position, name in enumerate(names):
        if name in free_text:
            lists[position] = _quoted([str(value) for value in lists[position]])
    rows = len(lists[0]) if lists else 0
    if any(len(col) != rows for col in lists):
        raise ValueError(f"{path.name}: columns of different lengths")
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(",".join(names) + "\n")
        for lo in tqdm(range(0, rows, CHUNK_ROWS), desc=f"write {path.name}", unit="chunk", disable=quiet or rows < CHUNK_ROWS, leave=False):
            hi = min(rows, lo + CHUNK_ROWS)
            out.write("\n".join(map(",".join, zip(*(col[lo:hi] for col in lists)))))
            out.write("\n")
    return rows
