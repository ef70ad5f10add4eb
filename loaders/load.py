"""Load a folder of CSV exports into the graph as a mapping describes: validate everything, then write.

The load runs in passes so that bad input never half-writes:
1. scan: every row of every file is parsed and validated (types, keys, encoding, lengths), a chunk of
   rows at a time and column by column; good rows are kept in memory, bad ones go to the rejects list.
   Keys seen twice with different values are rejected in all their rows: the loader cannot know
   which one is right.
2. resolve: every reference (a foreign key) must name a node of this input or one already in the
   graph; a row with a dangling reference is rejected, and so, in turn, are rows that pointed at it.
3. write nodes, then relationships, in batches of `batch_size` rows; each batch is one transaction
   of `UNWIND $rows AS row MERGE ...`, so a crash loses at most the batch in flight and re-running
   the same command completes the load (every write is idempotent). A background thread prepares
   the next batches while Neo4j writes this one.
4. prune (only when asked): nodes this source loaded earlier that the input no longer has are deleted.
"""

from __future__ import annotations

import csv
import logging
import queue
import sys
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from neo4j import ManagedTransaction
from tqdm import tqdm

from kgcrm.graph.driver import Graph
from kgcrm.graph.errors import LoadFailed
from kgcrm.graph.model import Label
from kgcrm.graph.queries import load as q
from kgcrm.loaders.csvfile import open_csv, undecodable
from kgcrm.loaders.mapping import Endpoint, FileSpec, Mapping, PropertySpec
from kgcrm.loaders.spool import RowBudget, RowSpool
from kgcrm.loaders.values import ColumnGetter, Problem, compile_key_column, compile_property_column

logger = logging.getLogger(__name__)

DEFAULT_MAX_FIELD_LENGTH = 10_000
# Two million validated rows take about 3 GB; a load with more keeps the rest on disk.
DEFAULT_MEMORY_ROWS = 2_000_000
REJECT_COLUMNS = ("file", "row", "column", "value", "reason")
# Existence checks against the graph send ids in chunks of this size.
_LOOKUP_CHUNK = 10_000
# Characters that make a spreadsheet treat a cell as a formula; rejects files are opened in one.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_SHOWN_VALUE = 200
# Rows validated together, column by column.
_SCAN_CHUNK = 4096
# Batches prepared ahead of the one being written.
_PREPARE_AHEAD = 2
T = TypeVar("T")


@dataclass
class LoadOptions:
    batch_size: int = 1000
    max_field_length: int = DEFAULT_MAX_FIELD_LENGTH
    prune: bool = False
    dry_run: bool = False
    progress: bool = False
    rejects_path: Path | None = None
    # Validated rows kept in memory across the load's files (about 1.4 KB each); the rest wait on disk.
    memory_rows: int = DEFAULT_MEMORY_ROWS


@dataclass
class FileStats:
    """What happened to one file of the mapping (one line of the summary table)."""

    file: str
    label: str
    present: bool = True
    rows_read: int = 0
    loaded: int = 0
    rejected: int = 0
    skipped: int = 0
    nodes_created: int = 0
    nodes_updated: int = 0
    rels_created: int = 0
    rels_updated: int = 0
    rels_deleted: int = 0


@dataclass
class LoadReport:
    source: str
    files: list[FileStats]
    rejected_rows: int = 0
    rejects_path: Path | None = None
    pruned: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False

    @property
    def totals(self) -> FileStats:
        total = FileStats(file="total", label="")
        for stats in self.files:
            for name in ("rows_read", "loaded", "rejected", "skipped", "nodes_created", "nodes_updated",
                         "rels_created", "rels_updated", "rels_deleted"):
                setattr(total, name, getattr(total, name) + getattr(stats, name))
        return total


@dataclass
class _Ref:
    """A compiled reference: where the key is, which labels it may name, and (after the scan) how to resolve it."""

    endpoint: Endpoint
    position: int | None
    # Set by the loader once every file is scanned: key -> candidate (label, id) pairs, and key -> the one it names.
    candidates: Callable[[str], list[tuple[Label, str]]] | None = None
    resolve: Callable[[str], tuple[Label, str] | None] | None = None

    def keys(self, row: list[str], max_length: int) -> tuple[str, ...]:
        if self.position is None:
            raw = ""
        else:
            raw = row[self.position].strip()
        if len(raw) > max_length:
            raise Problem(self.endpoint.column, raw, f"is {len(raw):,} characters long, more than the maximum {max_length:,}")
        if not raw:
            if self.endpoint.required:
                raise Problem(self.endpoint.column, raw, "a reference is required here")
            return ()
        if self.endpoint.split is None:
            return (raw,)
        return tuple(dict.fromkeys(part.strip() for part in raw.split(self.endpoint.split) if part.strip()))

    def key_column(self, rows: list[list[str]], max_length: int) -> tuple[list[tuple[str, ...]], list[tuple[int, Problem]]]:
        """`keys` for a list of rows: one pass when every cell is fine, value by value (with reasons) otherwise."""
        if self.position is None:
            texts = [""] * len(rows)
        else:
            at = self.position
            texts = [row[at].strip() for row in rows]
        if texts and max(map(len, texts)) <= max_length and not (self.endpoint.required and "" in texts):
            if self.endpoint.split is None:
                return [(text,) if text else () for text in texts], []
        values: list[tuple[str, ...]] = []
        problems: list[tuple[int, Problem]] = []
        for position, row in enumerate(rows):
            try:
                values.append(self.keys(row, max_length))
            except Problem as problem:
                values.append(())
                problems.append((position, problem))
        return values, problems


@dataclass
class _Rule:
    """A compiled relationship: from this row's node (or a `from` reference) to its targets."""

    rel_type: Any
    direction: str
    target: _Ref
    source: _Ref | None  # set in relationship files only
    props: list[tuple[str, ColumnGetter]]
    replace: bool
    temporal: _Temporal
    # True when no other rule of the mapping can make this rule's relationships at this rule's nodes:
    # then a node created by this load has none to replace, and its delete is skipped.
    alone: bool = False


@dataclass
class _Temporal:
    """Names of the date and date-time properties of one node or relationship spec.

    Their values travel to Neo4j as ISO text that Cypher turns back into `datetime`/`date`: the driver's
    own conversion of Python temporals costs ~48 us of CPU per date-time, more than all the rest of a row.
    """

    datetimes: list[str] = field(default_factory=list)
    dates: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, specs: dict[str, PropertySpec]) -> _Temporal:
        columns = {name: spec for name, spec in specs.items() if spec.value is None}
        return cls(datetimes=[n for n, s in columns.items() if s.type == "datetime"],
                   dates=[n for n, s in columns.items() if s.type == "date"])

    def is_text(self, name: str) -> bool:
        return name in self.datetimes or name in self.dates

    @property
    def params(self) -> dict[str, list[str]]:
        return {"datetimes": self.datetimes, "dates": self.dates}


@dataclass
class _Compiled:
    index: int
    spec: FileSpec
    path: Path
    stats: FileStats
    header: list[str] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    valid_utf8: bool = True
    rows: Iterator[tuple[int, list[str] | str]] | None = None
    key: ColumnGetter | None = None
    props: list[tuple[str, ColumnGetter]] = field(default_factory=list)
    rules: list[_Rule] = field(default_factory=list)
    temporal: _Temporal = field(default_factory=_Temporal)
    # The validated rows, in file order (None: the file is absent).
    records: RowSpool | None = None
    # Row numbers of this file's rejected rows.
    bad: set[int] = field(default_factory=set)


# A validated row on its way to the graph: (row number, node id, source key, properties,
# per rule: target keys, per rule: relationship properties, relationship-file: source keys).
# Date and date-time properties hold ISO text (see _Temporal).
_Record = tuple[int, str | None, str | None, dict[str, Any], tuple[tuple[str, ...], ...],
                tuple[dict[str, Any], ...], tuple[str, ...]]


class Loader:
    """One load of one source folder with one mapping; `run()` does it and returns the report."""

    def __init__(self, graph: Graph | None, mapping: Mapping, source_dir: Path, options: LoadOptions) -> None:
        self.graph = graph
        self.mapping = mapping
        self.source = mapping.name
        self.source_dir = source_dir
        self.options = options
        self.now = datetime.now(UTC)
        self.row_budget = RowBudget(options.memory_rows)
        self.aliases = {
            label: {alias.casefold(): key for alias, key in table.items()}
            for label, table in mapping.key_aliases.items()
        }
        self.files = [
            _Compiled(index=i, spec=spec, path=source_dir / spec.file,
                      stats=FileStats(file=spec.file, label=_describe(spec)))
            for i, spec in enumerate(mapping.files)
        ]
        # label -> node id -> (file index, row, fingerprint) of the row that defines it.
        self.first: dict[Label, dict[str, tuple[int, int, int]]] = defaultdict(dict)
        # label -> ids present in the input whose rows were rejected (kept by --prune all the same).
        self.rejected_ids: dict[Label, set[str]] = defaultdict(set)
        # label -> ids found in the graph (loaded before) that this input refers to.
        self.external: dict[Label, set[str]] = defaultdict(set)
        # label -> ids of the nodes this run created (they have no relationships from earlier loads).
        self.created: dict[Label, set[str]] = defaultdict(set)
        # (label, id) -> the later rows whose values differ from the first row with that key.
        self.conflicts: dict[tuple[Label, str], list[tuple[int, int]]] = defaultdict(list)
        self.bad: set[tuple[int, int]] = set()
        # Insertion-ordered and deduplicated: one column feeding several properties is reported once.
        self.rejects: dict[tuple[int, int, str, str, str], None] = {}

    # -- the whole load ------------------------------------------------------------------------

    def run(self) -> LoadReport:
        if not self.source_dir.is_dir():
            raise LoadFailed(f"{self.source_dir}: no such folder (the export to load)")
        try:
            return self._run()
        finally:
            for compiled in self.files:
                if compiled.records is not None:
                    compiled.records.close()

    def _run(self) -> LoadReport:
        self._open_files()
        for compiled in self.files:
            if compiled.rows is not None:
                self._scan(compiled)
        self._reject_conflicting_duplicates()
        self._compile_references()
        self._look_up_external_references()
        self._resolve_until_stable()
        if not self.options.dry_run:
            self._write()
        report = LoadReport(source=self.source, files=[c.stats for c in self.files], dry_run=self.options.dry_run)
        for compiled in self.files:
            compiled.stats.rejected = len(compiled.bad)
        report.rejected_rows = len(self.bad)
        if self.options.prune and not self.options.dry_run:
            report.pruned = self._prune()
        if self.rejects:
            report.rejects_path = self._write_rejects()
        return report

    # -- pass 1: scan and validate -------------------------------------------------------------

    def _open_files(self) -> None:
        """Open every file and bind its specs to the header, before anything is written."""
        for compiled in self.files:
            spec = compiled.spec
            if not compiled.path.is_file():
                if spec.required:
                    raise LoadFailed(f"{compiled.path}: missing; the {self.source} mapping needs {spec.file}")
                compiled.stats.present = False
                continue
            info, rows = open_csv(compiled.path, spec.delimiter)
            index: dict[str, int] = {}
            for position, name in enumerate(info.header):
                if name in index and name in spec.columns:
                    # Silently taking the first of two same-named columns could load the wrong values.
                    raise LoadFailed(f"{compiled.path}: column {name!r} appears twice in the header "
                                     f"(columns {index[name] + 1} and {position + 1}); rename one of them")
                index.setdefault(name, position)
            self._check_columns(compiled, index)
            compiled.rows, compiled.valid_utf8, compiled.header = rows, info.valid_utf8, info.header
            compiled.positions = sorted(index[c] for c in spec.columns if c in index)
            limit = self.options.max_field_length
            if spec.key is not None:
                compiled.key = compile_key_column(spec.key.column, index, limit, optional=spec.key.optional)
            compiled.props = [(n, compile_property_column(n, p, index, limit)) for n, p in spec.properties.items()]
            compiled.temporal = _Temporal.of(spec.properties)
            for rel in spec.relationships:
                compiled.rules.append(_Rule(
                    rel_type=rel.type, direction=rel.direction, target=_Ref(rel.target, index.get(rel.column)),
                    source=None, replace=rel.replace,
                    props=[(n, compile_property_column(n, p, index, limit)) for n, p in rel.properties.items()],
                    temporal=_Temporal.of(rel.properties),
                ))
            if spec.relationship is not None:
                rel_file = spec.relationship
                compiled.rules.append(_Rule(
                    rel_type=rel_file.type, direction="out", replace=False,
                    target=_Ref(rel_file.to.model_copy(update={"required": True}), index[rel_file.to.column]),
                    source=_Ref(rel_file.from_.model_copy(update={"required": True}), index[rel_file.from_.column]),
                    props=[(n, compile_property_column(n, p, index, limit)) for n, p in rel_file.properties.items()],
                    temporal=_Temporal.of(rel_file.properties),
                ))

    def _check_columns(self, compiled: _Compiled, index: dict[str, int]) -> None:
        spec = compiled.spec
        needed: list[tuple[str, str]] = []
        if spec.key is not None:
            needed.append((spec.key.column, f"the key of {spec.label}"))
        for name, prop in spec.properties.items():
            if prop.required and prop.default is None:
                needed.extend((c, f"required property {name}") for c in prop.source_columns)
        for rel in spec.relationships:
            if rel.required:
                needed.append((rel.column, f"required relationship {rel.type}"))
        if spec.relationship is not None:
            needed.append((spec.relationship.from_.column, f"the source of {spec.relationship.type}"))
            needed.append((spec.relationship.to.column, f"the target of {spec.relationship.type}"))
        for column, why in needed:
            if column not in index:
                shown = ", ".join(repr(h) for h in index) or "(none)"
                raise LoadFailed(f"{compiled.path}: no column {column!r} ({why}); the header has {shown}")

    def _scan(self, compiled: _Compiled) -> None:
        """Read the file in chunks of rows and validate each chunk column by column."""
        compiled.records = RowSpool(self.row_budget)
        numbers: list[int] = []
        chunk: list[list[str]] = []
        assert compiled.rows is not None
        with self._bar(f"{compiled.spec.file}: validating", None) as bar:
            for number, fields in compiled.rows:
                compiled.stats.rows_read += 1
                if isinstance(fields, str):
                    self._reject(compiled.index, number, "", "", fields)
                    continue
                if not compiled.valid_utf8 and undecodable([fields[p] for p in compiled.positions]):
                    self._reject_undecodable(compiled, number, fields)
                    continue
                numbers.append(number)
                chunk.append(fields)
                if len(chunk) >= _SCAN_CHUNK:
                    self._scan_chunk(compiled, numbers, chunk)
                    bar.update(len(chunk))
                    numbers, chunk = [], []
            if chunk:
                self._scan_chunk(compiled, numbers, chunk)
                bar.update(len(chunk))

    def _scan_chunk(self, compiled: _Compiled, numbers: list[int], chunk: list[list[str]]) -> None:
        """Validate and convert one chunk of rows; good rows become records, bad ones rejects.

        A row's problems are collected in the order of its columns in the mapping (key, properties,
        then each relationship's reference and properties), as a row-by-row pass would find them.
        """
        spec, stats, size = compiled.spec, compiled.stats, len(chunk)
        label = spec.label
        limit = self.options.max_field_length
        problems: dict[int, list[Problem]] = defaultdict(list)
        skipped: set[int] = set()
        keys: list[Any] = [None] * size
        if compiled.key is not None:
            keys, found = compiled.key(chunk)
            for position, problem in found:
                problems[position].append(problem)
            if spec.key is not None and spec.key.optional:
                skipped = {i for i, key in enumerate(keys) if key is None and i not in problems}
            aliases = self.aliases.get(label, {}) if label else {}
            if aliases:
                keys = [aliases.get(key.casefold(), key) if key is not None else None for key in keys]
        props = self._property_rows(compiled.props, compiled.temporal, chunk, problems)
        per_rule_targets: list[list[tuple[str, ...]]] = []
        per_rule_props: list[list[dict[str, Any]]] = []
        sources: list[tuple[str, ...]] = [()] * size
        for rule in compiled.rules:
            targets, found = rule.target.key_column(chunk, limit)
            failed = {position for position, _ in found}
            if rule.source is not None:
                # As row by row: a row whose target is bad is not looked at further for this rule.
                source_keys, source_found = rule.source.key_column(chunk, limit)
                found = sorted(found + [(i, p) for i, p in source_found if i not in failed], key=lambda f: f[0])
                sources = source_keys
            for position, problem in found:
                problems[position].append(problem)
            per_rule_targets.append(targets)
            per_rule_props.append(self._property_rows(rule.props, rule.temporal, chunk, problems))
        targets_by_row = list(zip(*per_rule_targets)) if compiled.rules else [()] * size
        rel_props_by_row = list(zip(*per_rule_props)) if compiled.rules else [()] * size
        prefix = self.source + ":"
        first = self.first[label] if label is not None else {}
        records = compiled.records
        assert records is not None
        for i in range(size):
            if i in skipped:
                stats.skipped += 1
                continue
            key = keys[i]
            node_id = prefix + key if key is not None else None
            if i in problems:
                for problem in problems[i]:
                    self._reject(compiled.index, numbers[i], problem.column, problem.value, problem.reason)
                if node_id is not None and label is not None:
                    self.rejected_ids[label].add(node_id)
                continue
            record: _Record = (numbers[i], node_id, key, props[i], targets_by_row[i], rel_props_by_row[i],
                               sources[i])
            if node_id is not None:
                fingerprint = hash((tuple(record[3].items()), record[4], tuple(tuple(p.items()) for p in record[5])))
                seen = first.get(node_id)
                if seen is None:
                    first[node_id] = (compiled.index, record[0], fingerprint)
                elif seen[2] != fingerprint:
                    self.conflicts[(label, node_id)].append((compiled.index, record[0]))  # type: ignore[index]
            records.append(record)

    @staticmethod
    def _property_rows(getters: list[tuple[str, ColumnGetter]], temporal: _Temporal, chunk: list[list[str]],
                       problems: dict[int, list[Problem]]) -> list[dict[str, Any]]:
        """Per row, the properties {name: value}, converted column by column; problems go to `problems`."""
        if not getters:
            return [{} for _ in chunk]
        columns = []
        for name, column in getters:
            values, found = column(chunk)
            for position, problem in found:
                problems[position].append(problem)
            if temporal.is_text(name):
                values = [value.isoformat() if value is not None else None for value in values]
            columns.append(values)
        names = [name for name, _ in getters]
        return [dict(zip(names, row)) for row in zip(*columns)]

    def _reject_conflicting_duplicates(self) -> None:
        for (label, node_id), others in self.conflicts.items():
            first_file, first_row, _ = self.first[label].pop(node_id)
            rows = [(first_file, first_row), *others]
            where = ", ".join(f"{self.files[f].spec.file} row {r}" for f, r in rows)
            key = node_id.split(":", 1)[1]
            column = self.files[first_file].spec.key.column if self.files[first_file].spec.key else ""
            for file_index, row in rows:
                self._reject(file_index, row, column, key,
                             f"duplicate key {key!r} with conflicting values ({where}); none of them was loaded")
            self.rejected_ids[label].add(node_id)

    def _reject_undecodable(self, compiled: _Compiled, number: int, fields: list[str]) -> None:
        for position in compiled.positions:
            if undecodable([fields[position]]):
                shown = fields[position].encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
                self._reject(compiled.index, number, compiled.header[position], shown,
                             "holds bytes that are not valid UTF-8 (re-export the file as UTF-8)")

    # -- pass 2: references --------------------------------------------------------------------

    def _compile_references(self) -> None:
        """Give every reference its candidate and resolve functions, built once (set lookups per key)."""
        for compiled in self.files:
            for rule in compiled.rules:
                rule.alone = self._alone(compiled, rule)
                for ref in (rule.target, rule.source):
                    if ref is not None:
                        ref.candidates = self._candidate_function(ref.endpoint)
                        ref.resolve = self._resolve_function(ref.endpoint, ref.candidates)

    @staticmethod
    def _ends(compiled: _Compiled, rule: _Rule) -> tuple[set[Label], set[Label]]:
        """The labels a rule's relationships may start and end at."""
        if rule.source is not None:
            return set(rule.source.endpoint.labels), set(rule.target.endpoint.labels)
        own, other = {compiled.spec.label}, set(rule.target.endpoint.labels)
        return (own, other) if rule.direction == "out" else (other, own)  # type: ignore[return-value]

    def _alone(self, compiled: _Compiled, rule: _Rule) -> bool:
        """Whether only `rule` can make relationships of its type at its own nodes toward its target labels.

        A rule of another file anchored at the same label and side writes only at that file's nodes
        (a node is written from the file that defines it), so it does not count.
        """
        if rule.source is not None or not rule.replace:
            return False
        start, end = self._ends(compiled, rule)
        for other_file in self.files:
            for other in other_file.rules:
                if other is rule or other.rel_type != rule.rel_type:
                    continue
                if (other.source is None and other_file.index != compiled.index
                        and other_file.spec.label == compiled.spec.label and other.direction == rule.direction):
                    continue
                other_start, other_end = self._ends(other_file, other)
                if start & other_start and end & other_end:
                    return False
        return True

    def _candidate_function(self, endpoint: Endpoint) -> Callable[[str], list[tuple[Label, str]]]:
        """key -> the (label, id) pairs it may name, in the order they are tried."""
        prefix = self.source + ":"
        if endpoint.resolve == "prefix":
            prefixes = list((endpoint.prefixes or {}).items())

            def labels_of(key: str) -> list[Label]:
                return [label for start, label in prefixes if key.startswith(start)][:1]
        else:
            labels = list(endpoint.label)

            def labels_of(key: str) -> list[Label]:
                return labels
        aliases = self.aliases

        def candidates(key: str) -> list[tuple[Label, str]]:
            return [
                (label, prefix + (aliases[label].get(key.casefold(), key) if label in aliases else key))
                for label in labels_of(key)
            ]

        return candidates

    def _resolve_function(self, endpoint: Endpoint, candidates: Callable[[str], list[tuple[Label, str]]]
                          ) -> Callable[[str], tuple[Label, str] | None]:
        """key -> the (label, id) it names in this input or the graph, or None (dangling)."""
        labels = list(endpoint.label)
        prefix = self.source + ":"
        first_of, external_of = self.first, self.external
        if endpoint.resolve == "order" and len(labels) == 1 and labels[0] not in self.aliases:
            # The common case, one label and no aliases: two set lookups. The dicts are filled in place.
            label = labels[0]
            first, external = first_of[label], external_of[label]

            def resolve_one(key: str) -> tuple[Label, str] | None:
                node_id = prefix + key
                return (label, node_id) if node_id in first or node_id in external else None

            return resolve_one
        if endpoint.resolve == "prefix" and not any(label in self.aliases for label in labels):
            starts = [(start, label, first_of[label], external_of[label])
                      for start, label in (endpoint.prefixes or {}).items()]

            def resolve_by_prefix(key: str) -> tuple[Label, str] | None:
                for start, label, first, external in starts:
                    if key.startswith(start):
                        node_id = prefix + key
                        return (label, node_id) if node_id in first or node_id in external else None
                return None

            return resolve_by_prefix

        def resolve(key: str) -> tuple[Label, str] | None:
            for label, node_id in candidates(key):
                if node_id in first_of[label] or node_id in external_of[label]:
                    return label, node_id
            return None

        return resolve

    def _resolve(self, endpoint: Endpoint, key: str) -> tuple[Label, str] | None:
        """The (label, id) `key` names (slow path for callers without a compiled reference)."""
        return self._resolve_function(endpoint, self._candidate_function(endpoint))(key)

    def _dangling_reason(self, ref: _Ref, key: str) -> str:
        endpoint = ref.endpoint
        assert ref.candidates is not None
        candidates = ref.candidates(key)
        if endpoint.resolve == "prefix" and not candidates:
            known = ", ".join(f"{p} ({label.value})" for p, label in (endpoint.prefixes or {}).items())
            return f"{key!r} has none of the id prefixes {known}"
        labels = " or ".join(label.value for label, _ in candidates)
        if any(node_id in self.rejected_ids[label] for label, node_id in candidates):
            return f"refers to {labels} {key!r}, whose own row was rejected"
        return f"dangling reference: no {labels} with key {key!r} in this input or the graph"

    @staticmethod
    def _references(compiled: _Compiled, record: _Record) -> Iterator[tuple[_Ref, str]]:
        for rule, keys in zip(compiled.rules, record[4]):
            for key in keys:
                yield rule.target, key
            if rule.source is not None:
                for key in record[6]:
                    yield rule.source, key

    def _look_up_external_references(self) -> None:
        """Ask the graph once for the referenced ids this input does not define."""
        if self.graph is None:
            return
        wanted: dict[Label, set[str]] = defaultdict(set)
        first = self.first
        for compiled in self.files:
            if not compiled.rules or compiled.records is None:
                continue
            records = compiled.records
            for position, rule in enumerate(compiled.rules):
                refs = [(rule.target, {key for record in records for key in record[4][position]})]
                if rule.source is not None:
                    refs.append((rule.source, {key for record in records for key in record[6]}))
                for ref, keys in refs:
                    assert ref.candidates is not None
                    for key in keys:
                        candidates = ref.candidates(key)
                        if not any(node_id in first[label] for label, node_id in candidates):
                            for label, node_id in candidates:
                                wanted[label].add(node_id)
        for label, ids in wanted.items():
            ordered = sorted(ids)
            for start in range(0, len(ordered), _LOOKUP_CHUNK):
                rows = self.graph.read(q.existing_ids(label), {"ids": ordered[start:start + _LOOKUP_CHUNK]})
                self.external[label].update(rows[0]["ids"])

    def _resolve_until_stable(self) -> None:
        """Reject rows with dangling references until none is left (a rejected row may strand others)."""
        changed = True
        while changed:
            changed = False
            for compiled in self.files:
                if compiled.records is None:
                    continue
                loaded = 0
                first = self.first[compiled.spec.label] if compiled.spec.label is not None else {}
                bad = compiled.bad
                rules = [(position, rule.target.resolve, rule.source.resolve if rule.source is not None else None)
                         for position, rule in enumerate(compiled.rules)]
                for record in compiled.records:
                    if record[0] in bad:
                        continue
                    if record[1] is not None and record[1] not in first:
                        # Another row with this key was rejected (a cascade across files).
                        self._reject(compiled.index, record[0], "", record[2] or "",
                                     f"key {record[2]!r} was rejected in another row")
                        changed = True
                        continue
                    if all(
                        all(resolve_target(key) is not None for key in record[4][position])  # type: ignore[misc]
                        and (resolve_source is None or all(resolve_source(key) is not None for key in record[6]))
                        for position, resolve_target, resolve_source in rules
                    ):
                        loaded += 1
                        continue
                    dangling = [
                        (ref, key) for ref, key in self._references(compiled, record)
                        if ref.resolve(key) is None  # type: ignore[misc]
                    ]
                    if dangling:
                        for ref, key in dangling:
                            self._reject(compiled.index, record[0], ref.endpoint.column, key,
                                         self._dangling_reason(ref, key))
                        if record[1] is not None:
                            self.first[compiled.spec.label].pop(record[1], None)  # type: ignore[index]
                            self.rejected_ids[compiled.spec.label].add(record[1])  # type: ignore[index]
                        changed = True
                        continue
                    loaded += 1
                compiled.stats.loaded = loaded

    # -- pass 3: writes ------------------------------------------------------------------------

    def _write(self) -> None:
        """Write the valid records (the bulk importer's loader writes files instead)."""
        self._write_nodes()
        self._write_relationships()

    def _good(self, compiled: _Compiled) -> Iterator[list[_Record]]:
        """Valid records in batches of batch_size; a key's later identical duplicates are left out."""
        size = self.options.batch_size
        out: list[_Record] = []
        first = self.first[compiled.spec.label] if compiled.spec.label is not None else {}
        index, bad = compiled.index, compiled.bad
        for record in compiled.records or ():
            if record[0] in bad:
                continue
            if record[1] is not None:
                first_file, first_row, _ = first[record[1]]
                if first_row != record[0] or first_file != index:
                    continue
            out.append(record)
            if len(out) >= size:
                yield out
                out = []
        if out:
            yield out

    def _write_nodes(self) -> None:
        assert self.graph is not None
        for compiled in self.files:
            label = compiled.spec.label
            if label is None or compiled.records is None:
                continue
            query = q.upsert_nodes(label)
            fixed = {"source": self.source, "now": self.now, **compiled.temporal.params}

            def statements(compiled: _Compiled = compiled) -> Iterator[tuple[int, list[tuple[str, dict[str, Any]]]]]:
                for batch in self._good(compiled):
                    rows = [{"id": r[1], "source_id": r[2], "props": r[3]} for r in batch]
                    yield len(batch), [(query, {"rows": rows, **fixed})]

            with self._bar(f"{compiled.spec.file}: nodes", compiled.stats.loaded) as bar:
                for size, batch_statements in _prepared_ahead(statements()):
                    results = self.graph.execute_write(_run_statements, batch_statements)
                    record, _ = results[0]
                    compiled.stats.nodes_created += record[0]["created"]
                    compiled.stats.nodes_updated += record[0]["updated"]
                    self.created[label].update(record[0]["created_ids"])
                    bar.update(size)

    def _write_relationships(self) -> None:
        assert self.graph is not None
        for compiled in self.files:
            if not compiled.rules or compiled.records is None:
                continue

            def statements(compiled: _Compiled = compiled) -> Iterator[tuple[int, list[tuple[str, dict[str, Any]]]]]:
                for batch in self._good(compiled):
                    yield len(batch), self._relationship_statements(compiled, batch)

            with self._bar(f"{compiled.spec.file}: relationships", compiled.stats.loaded) as bar:
                for size, batch_statements in _prepared_ahead(statements()):
                    if batch_statements:
                        for records, counters in self.graph.execute_write(_run_statements, batch_statements):
                            compiled.stats.rels_created += counters["relationships_created"]
                            compiled.stats.rels_deleted += counters["relationships_deleted"]
                            if records and "updated" in records[0]:
                                compiled.stats.rels_updated += records[0]["updated"]
                    bar.update(size)

    def _relationship_statements(self, compiled: _Compiled, batch: list[_Record]) -> list[tuple[str, dict[str, Any]]]:
        deletes: list[tuple[str, dict[str, Any]]] = []
        merges: list[tuple[str, dict[str, Any]]] = []
        for position, rule in enumerate(compiled.rules):
            grouped: dict[tuple[Label, Label], list[dict[str, Any]]] = defaultdict(list)
            keep_rows: list[dict[str, Any]] = []
            resolve_target = rule.target.resolve
            resolve_source = rule.source.resolve if rule.source is not None else None
            assert resolve_target is not None
            own_label = compiled.spec.label
            # A node this run created has no relationships to replace (none from earlier loads, and
            # no other rule makes these): its delete would find nothing.
            created = self.created[own_label] if rule.alone and own_label is not None else set()
            for record in batch:
                keys = record[4][position]
                if resolve_source is not None:
                    from_label, from_id = resolve_source(record[6][0])  # type: ignore[misc]
                else:
                    from_label, from_id = own_label, record[1]  # type: ignore[assignment]
                props = record[5][position]
                if len(keys) == 1:
                    to_label, to_id = resolve_target(keys[0])  # type: ignore[misc]
                    grouped[(from_label, to_label)].append({"from": from_id, "to": [to_id], "props": props})
                    if rule.replace and from_id not in created:
                        keep_rows.append({"from": from_id, "keep": [to_id]})
                    continue
                targets: dict[Label, list[str]] = defaultdict(list)
                for key in keys:
                    label, node_id = resolve_target(key)  # type: ignore[misc]
                    targets[label].append(node_id)
                for to_label, ids in targets.items():
                    grouped[(from_label, to_label)].append({"from": from_id, "to": ids, "props": props})
                if rule.replace and from_id not in created:
                    keep_rows.append({"from": from_id, "keep": [i for ids in targets.values() for i in ids]})
            if keep_rows:
                query = q.delete_replaced_relationships(
                    compiled.spec.label, rule.rel_type, rule.target.endpoint.labels, rule.direction  # type: ignore[arg-type]
                )
                deletes.append((query, {"rows": keep_rows}))
            for (from_label, to_label), rows in grouped.items():
                query = q.merge_relationships(
                    from_label, rule.rel_type, to_label, rule.direction, with_properties=bool(rule.props)
                )
                merges.append((query, {"rows": rows, **rule.temporal.params}))
        return deletes + merges

    # -- pass 4: prune -------------------------------------------------------------------------

    def _prune(self) -> dict[str, int]:
        """Delete this source's nodes that the input no longer has, for labels whose files were all read."""
        assert self.graph is not None
        pruned: dict[str, int] = {}
        complete = {
            label for label in self.mapping.node_labels
            if all(c.stats.present for c in self.files if c.spec.label == label)
        }
        for label in sorted(complete):
            in_graph = self.graph.read(q.ids_of_source(label), {"source": self.source})[0]["ids"]
            keep = self.first[label].keys() | self.rejected_ids[label]
            gone = sorted(node_id for node_id in in_graph if node_id not in keep)
            for start in range(0, len(gone), self.options.batch_size):
                self.graph.write(q.delete_nodes(label), {"ids": gone[start:start + self.options.batch_size]})
            if gone:
                pruned[label.value] = len(gone)
        return pruned

    # -- rejects -------------------------------------------------------------------------------

    def _reject(self, file_index: int, row: int, column: str, value: str, reason: str) -> None:
        self.bad.add((file_index, row))
        self.files[file_index].bad.add(row)
        self.rejects[(file_index, row, column, value, reason)] = None

    def _write_rejects(self) -> Path:
        path = self.options.rejects_path or Path(f"{self.source}-rejects.csv")
        try:
            with open(path, "w", encoding="utf-8", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(REJECT_COLUMNS)
                for file_index, row, column, value, reason in sorted(self.rejects, key=lambda r: (r[0], r[1])):
                    writer.writerow((self.files[file_index].spec.file, row, column, _safe_cell(value), reason))
        except OSError as exc:
            raise LoadFailed(f"{path}: cannot write the rejects file: {exc.strerror or exc}") from None
        return path

    def _bar(self, what: str, total: int | None) -> tqdm:
        return tqdm(total=total, desc=what, unit=" rows", file=sys.stderr, disable=not self.options.progress,
                    leave=False, mininterval=0.5, dynamic_ncols=True)


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


_DONE = object()


def _prepared_ahead(items: Iterator[T], depth: int = _PREPARE_AHEAD) -> Iterator[T]:
    """Yield `items`, computed by a background thread up to `depth` ahead.

    The next batch's parameters are built while Neo4j works on this one (the driver releases the GIL
    while it waits on the socket). Writes stay in order, one transaction per batch, in the caller.
    """
    ahead: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                ahead.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, which re-raises it
            put(_Failed(error))

    thread = threading.Thread(target=work, name="kgcrm-load-prepare", daemon=True)
    thread.start()
    try:
        while True:
            item = ahead.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()
        thread.join()


def _run_statements(tx: ManagedTransaction, statements: list[tuple[str, dict[str, Any]]]) -> list[tuple[list[dict[str, Any]], dict[str, int]]]:
    """Run the statements of one batch in one transaction; each one's records and counters."""
    out = []
    for query, params in statements:
        result = tx.run(query, params)
        records = [record.data() for record in result]
        counters = result.consume().counters
        out.append((records, {"relationships_created": counters.relationships_created,
                              "relationships_deleted": counters.relationships_deleted}))
    return out


def _safe_cell(value: str) -> str:
    """A value as the rejects file shows it: shortened, and never read as a formula by a spreadsheet."""
    if len(value) > _SHOWN_VALUE:
        value = value[:_SHOWN_VALUE] + f"... ({len(value):,} characters)"
    return "'" + value if value.startswith(_FORMULA_START) else value


def _describe(spec: FileSpec) -> str:
    if spec.label is not None:
        return spec.label.value
    assert spec.relationship is not None
    return spec.relationship.type.value


def load(graph: Graph | None, mapping: Mapping, source_dir: Path, options: LoadOptions) -> LoadReport:
    """Load `source_dir` with `mapping` into the graph (see the module docstring for the passes)."""
    return Loader(graph, mapping, source_dir, options).run()
