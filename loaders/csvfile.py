"""Reading export CSVs: encodings and byte-order marks, ragged rows and undecodable bytes, row numbers.

A UTF-8 BOM is dropped; a UTF-16 BOM switches to UTF-16. Anything else is read as UTF-8 with the
undecodable bytes kept as lone surrogates, so that a bad byte costs its own row (found by
`undecodable`), not the file. Row numbers count the header as row 1, as a spreadsheet shows them.
"""

from __future__ import annotations

import codecs
import csv
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kgcrm.graph.errors import LoadFailed

# The csv module's own limit (128 KiB) would abort the file on one long field; fields are checked
# against the loader's configurable maximum instead.
csv.field_size_limit(sys.maxsize)

_SURROGATE = re.compile("[\udc80-\udcff]")
_CHUNK = 1 << 20


@dataclass
class CsvFile:
    path: Path
    encoding: str
    valid_utf8: bool
    header: list[str]


def sniff(path: Path) -> tuple[str, bool]:
    """The encoding to read `path` with, and whether every byte of it decodes (no per-row check needed)."""
    with open(path, "rb") as raw:
        head = raw.read(4)
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            encoding = "utf-16"
        elif head.startswith(codecs.BOM_UTF8):
            encoding = "utf-8-sig"
        else:
            encoding = "utf-8"
        raw.seek(0)
        decoder = codecs.getincrementaldecoder(encoding)("strict")
        try:
            while chunk := raw.read(_CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            if encoding == "utf-16":
                raise LoadFailed(f"{path}: starts with a UTF-16 byte-order mark but is not valid UTF-16") from None
            return encoding, False
    return encoding, True


def undecodable(fields: list[str]) -> bool:
    """Whether any of the fields held bytes that are not UTF-8."""
    return any(_SURROGATE.search(field) for field in fields)


def open_csv(path: Path, delimiter: str) -> tuple[CsvFile, Iterator[tuple[int, list[str] | str]]]:
    """The file's header and an iterator of (row number, fields) or (row number, reason it is unreadable).

    Blank lines are skipped (but counted, as a spreadsheet shows them); rows with more or fewer fields than the header are reported as unreadable.
    """
    try:
        encoding, valid = sniff(path)
        handle = open(path, encoding=encoding, errors="surrogateescape", newline="")
    except OSError as exc:
        raise LoadFailed(f"{path}: cannot read: {exc.strerror or exc}") from None
    reader = csv.reader(handle, delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        handle.close()
        raise LoadFailed(f"{path}: the file is empty (no header row)") from None
    except csv.Error as exc:
        handle.close()
        raise LoadFailed(f"{path}: the header row is not readable CSV: {exc}") from None
    header = [name.strip() for name in header]
    if undecodable(header):
        handle.close()
        raise LoadFailed(f"{path}: the header row is not valid UTF-8; re-export the file as UTF-8")
    info = CsvFile(path=path, encoding=encoding, valid_utf8=valid, header=header)
    width = len(header)

    def rows() -> Iterator[tuple[int, list[str] | str]]:
        number = 1
        with handle:
            while True:
                number += 1
                try:
                    fields = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    yield number, f"not readable as CSV: {exc}"
                    continue
                if not fields:
                    continue
                if len(fields) != width:
                    yield number, f"has {len(fields)} fields, the header has {width}"
                    continue
                yield number, fields

    return info, rows()
