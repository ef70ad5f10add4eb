"""Raw CSV text to typed property values, compiled once per file from a mapping's property specs.

A value that cannot be converted raises `Problem(column, value, reason)`; the loader turns it into a
line of the rejects file and leaves the row out. Blank text means null.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from kgcrm.loaders.identity_normalize import normalise_domain, normalise_email
from kgcrm.loaders.mapping import PropertySpec

Row = list[str]
Getter = Callable[[Row], Any]

_INT = re.compile(r"^[+-]?\d+$")
_INT_MAX = 2**63 - 1
_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})
_UNKNOWN = object()


class Problem(Exception):
    """Why one value of one row cannot be loaded."""

    def __init__(self, column: str, value: str, reason: str) -> None:
        super().__init__(reason)
        self.column = column
        self.value = value
        self.reason = reason


def to_int(raw: str) -> int:
    if _INT.match(raw):
        number = int(raw)
    else:
        try:
            as_float = float(raw)
        except ValueError:
            raise ValueError("is not a whole number") from None
        if not as_float.is_integer():
            raise ValueError("is not a whole number")
        number = int(as_float)
    if abs(number) > _INT_MAX:
        raise ValueError("is too large for a 64-bit integer")
    return number


def to_float(raw: str) -> float:
    try:
        number = float(raw)
    except ValueError:
        raise ValueError("is not a number") from None
    if not math.isfinite(number):
        raise ValueError("is not a finite number")
    return number


def to_bool(raw: str) -> bool:
    folded = raw.lower()
    if folded in _TRUE:
        return True
    if folded in _FALSE:
        return False
    raise ValueError("is not a boolean (true/false, yes/no, 1/0)")


def to_date(raw: str, fmt: str | None = None) -> date:
    try:
        if fmt:
            return datetime.strptime(raw, fmt).date()
        # A timestamp is accepted for a date column: its calendar day is kept.
        if len(raw) > 10 and raw[10] in "T ":
            return to_datetime(raw).date()
        return date.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"is not a date ({fmt or 'YYYY-MM-DD'})") from None


def to_datetime(raw: str, fmt: str | None = None) -> datetime:
    try:
        parsed = datetime.strptime(raw, fmt) if fmt else datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"is not a date-time ({fmt or 'ISO 8601, e.g. 2017-03-01T14:05:00Z'})") from None
    # Exports without a zone are taken as UTC, the zone the graph keeps every time in.
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def to_email(raw: str) -> str:
    email = normalise_email(raw)
    if email is None or " " in email:
        raise ValueError("is not an e-mail address")
    return email


def to_domain(raw: str) -> str:
    domain = normalise_domain(raw)
    if domain is None:
        raise ValueError("is not a company web domain")
    return domain


_TRANSFORMS: dict[str, Callable[[str], str]] = {
    "lower": str.lower,
    "upper": str.upper,
    "email": to_email,
    "domain": to_domain,
}


def _enum_converter(spec: PropertySpec) -> Callable[[str], Any]:
    if isinstance(spec.values, dict):
        table = {str(raw).strip().casefold(): value for raw, value in spec.values.items()}
        allowed = list(spec.values)
    else:
        table = {str(value).strip().casefold(): value for value in spec.values or []}
        allowed = list(spec.values or [])
    for alias, target in (spec.aliases or {}).items():
        table[alias.strip().casefold()] = target
    shown = ", ".join(repr(str(v)) for v in allowed[:12]) + (", ..." if len(allowed) > 12 else "")

    def convert(raw: str) -> Any:
        found = table.get(raw.casefold(), _UNKNOWN)
        if found is not _UNKNOWN:
            return found
        if spec.keep_unknown:
            return raw
        if spec.other is not None:
            return spec.other
        raise ValueError(f"is not one of {shown}")

    return convert


def scalar_converter(spec: PropertySpec) -> Callable[[str], Any]:
    """Stripped, non-blank raw text -> the spec's type (raises ValueError with the reason)."""
    kind, fmt = spec.type, spec.format
    convert: Callable[[str], Any]
    if kind == "string":
        convert = str
    elif kind == "int":
        convert = to_int
    elif kind == "float":
        convert = to_float
    elif kind == "bool":
        convert = to_bool
    elif kind == "date":
        convert = lambda raw: to_date(raw, fmt)  # noqa: E731
    elif kind == "datetime":
        convert = lambda raw: to_datetime(raw, fmt)  # noqa: E731
    else:
        convert = _enum_converter(spec)
    if spec.transform:
        transform, typed = _TRANSFORMS[spec.transform], convert
        convert = lambda raw: typed(transform(raw))  # noqa: E731
    return convert


def compile_property(name: str, spec: PropertySpec, index: Mapping[str, int], max_length: int) -> Getter:
    """A function row -> typed value (or None) for one property, bound to this file's column positions.

    Columns missing from the file read as blank; the caller checks required columns exist.
    """
    convert = scalar_converter(spec)
    limit = spec.max_length or max_length
    label = spec.column or "+".join(spec.columns or []) or name

    if spec.value is not None:
        constant = convert(spec.value) if isinstance(spec.value, str) else spec.value
        return lambda row: constant

    default = None
    if spec.default is not None:
        default = convert(str(spec.default)) if not isinstance(spec.default, bool) else spec.default

    positions = [index.get(column) for column in (spec.columns or [spec.column])]
    single = positions[0] if len(positions) == 1 else None
    joiner = spec.join

    def raw_text(row: Row) -> str:
        if spec.columns is None:
            return row[single].strip() if single is not None else ""
        return joiner.join(part for part in (row[p].strip() for p in positions if p is not None) if part)

    condition = None
    if spec.when is not None:
        when_at = index.get(spec.when.column)
        accepted = {value.casefold() for value in spec.when.in_}
        condition = lambda row: when_at is not None and row[when_at].strip().casefold() in accepted  # noqa: E731

    def get(row: Row) -> Any:
        if condition is not None and not condition(row):
            return None
        raw = raw_text(row)
        if len(raw) > limit:
            raise Problem(label, raw, f"is {len(raw):,} characters long, more than the maximum {limit:,}")
        if not raw:
            if default is not None:
                return default
            if spec.required:
                raise Problem(label, raw, f"a value is required for {name}")
            return None
        try:
            return convert(raw)
        except ValueError as exc:
            raise Problem(label, raw, f"{raw!r} {exc}") from None

    return get


def compile_key(column: str, index: Mapping[str, int], max_length: int, *, optional: bool = False) -> Getter:
    """Row -> the stripped key text (None when blank and optional); a blank or over-long key is a problem."""
    at = index[column]

    def get(row: Row) -> str | None:
        raw = row[at].strip()
        if not raw:
            if optional:
                return None
            raise Problem(column, raw, "the key is missing")
        if len(raw) > max_length:
            raise Problem(column, raw, f"the key is {len(raw):,} characters long, more than the maximum {max_length:,}")
        return raw

    return get


# -- whole columns at once -------------------------------------------------------------------------
# The loader converts a chunk of rows column by column: one list comprehension per column when every
# value in it is good (the common case), and the per-value path above, with its reasons, only for a
# column that holds a bad, blank-but-required or over-long value. Both give the same values.

ColumnGetter = Callable[[list[Row]], tuple[list[Any], list[tuple[int, Problem]]]]


def _fast_datetime(texts: list[str]) -> list[Any]:
    parsed = [datetime.fromisoformat(t) if t else None for t in texts]
    return [d if d is None else d.replace(tzinfo=UTC) if d.tzinfo is None else d.astimezone(UTC) for d in parsed]


def _fast_float(texts: list[str]) -> list[Any]:
    values = [float(t) if t else None for t in texts]
    if not all(math.isfinite(v) for v in values if v is not None):
        raise ValueError("not finite")
    return values


def _fast_column(spec: PropertySpec, convert: Callable[[str], Any]) -> Callable[[list[str]], list[Any]]:
    """Texts (blank: None) -> values in one pass; raises on any bad value (the caller then goes value by value)."""
    if spec.transform is None and spec.type == "string":
        return lambda texts: [t or None for t in texts]
    if spec.transform is None and spec.type == "datetime" and spec.format is None:
        return _fast_datetime
    if spec.transform is None and spec.type == "float":
        return _fast_float
    return lambda texts: [convert(t) if t else None for t in texts]


def compile_property_column(name: str, spec: PropertySpec, index: Mapping[str, int], max_length: int) -> ColumnGetter:
    """Like `compile_property`, for a list of rows: (values, [(row position, Problem)])."""
    one = compile_property(name, spec, index, max_length)
    if spec.value is not None:
        constant = one([])
        return lambda rows: ([constant] * len(rows), [])
    fast = _fast_column(spec, scalar_converter(spec))
    limit = spec.max_length or max_length
    blanks_matter = spec.default is not None or spec.required
    positions = [index.get(column) for column in (spec.columns or [spec.column])]
    single = positions[0] if spec.columns is None else None
    when_at = index.get(spec.when.column) if spec.when is not None else None
    accepted = {value.casefold() for value in spec.when.in_} if spec.when is not None else set()

    def texts_of(rows: list[Row]) -> list[str]:
        if spec.columns is None:
            return [row[single].strip() for row in rows] if single is not None else [""] * len(rows)
        present = [p for p in positions if p is not None]
        return [spec.join.join(part for part in (row[p].strip() for p in present) if part) for row in rows]

    def column(rows: list[Row]) -> tuple[list[Any], list[tuple[int, Problem]]]:
        if spec.when is not None and when_at is None:
            return [None] * len(rows), []  # the condition's column is absent: never true
        texts = texts_of(rows)
        if spec.when is not None:
            # A row whose condition is false gets no value, as if blank (unless blanks have a meaning here).
            texts = [] if blanks_matter else [
                text if row[when_at].strip().casefold() in accepted else "" for text, row in zip(texts, rows)
            ]
        if texts and max(map(len, texts)) <= limit and not (blanks_matter and "" in texts):
            try:
                return fast(texts), []
            except Exception:  # noqa: BLE001 - a bad value somewhere: go value by value for the reasons
                pass
        return value_by_value(one, rows)

    return column


def value_by_value(one: Callable[[Row], Any], rows: list[Row]) -> tuple[list[Any], list[tuple[int, Problem]]]:
    """The slow path of a column: each row on its own, so every bad value gets its own reason."""
    values: list[Any] = []
    problems: list[tuple[int, Problem]] = []
    for position, row in enumerate(rows):
        try:
            values.append(one(row))
        except Problem as problem:
            values.append(None)
            problems.append((position, problem))
    return values, problems


def compile_key_column(column: str, index: Mapping[str, int], max_length: int, *, optional: bool = False) -> ColumnGetter:
    """Like `compile_key`, for a list of rows."""
    one = compile_key(column, index, max_length, optional=optional)
    at = index[column]

    def keys(rows: list[Row]) -> tuple[list[Any], list[tuple[int, Problem]]]:
        texts = [row[at].strip() for row in rows]
        if (not texts or max(map(len, texts)) <= max_length) and "" not in texts:
            return texts, []
        return value_by_value(one, rows)

    return keys
