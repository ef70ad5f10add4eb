"""Load a folder of CSV exports into the graph as a mapping describes: validate everything, then write.

The load runs in passes so that bad input never half-writes:
1. scan: every row of every file is parsed and validated (types, keys, encoding, lengths); good rows
   go to a spool on disk, bad ones to the rejects list. Keys seen twice with different values are
   rejected in all their rows: the loader cannot know which one is right.
2. resolve: every reference (a foreign key) must name a node of this input or one already in the
   graph; a row with a dangling reference is rejected, and so, in turn, are rows that pointed at it.
3. write nodes, then relationships, in batches of `batch_size` rows; each batch is one transaction
   of `UNWIND $rows AS row MERGE ...`, so a crash loses at most the batch in flight and re-running
   the same command completes the load (every write is idempotent).
4. prune (only when asked): nodes this source loaded earlier that the input no longer has are deleted.
"""

from __future__ import annotations

import csv
import logging
import pickle
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from neo4j import ManagedTransaction
from tqdm import tqdm

from kgcrm.graph.driver import Graph
from kgcrm.graph.errors import LoadFailed
from kgcrm.graph.model import Label
from kgcrm.graph.queries import load as q
from kgcrm.loaders.csvfile import open_csv, undecodable
from kgcrm.loaders.mapping import Endpoint, FileSpec, Mapping
from kgcrm.loaders.values import Getter, Problem, compile_key, compile_property

logger = logging.getLogger(__name__)

DEFAULT_MAX_FIELD_LENGTH = 10_000
REJECT_COLUMNS = ("file", "row", "column", "value", "reason")
# Existence checks against the graph send ids in chunks of this size.
_LOOKUP_CHUNK = 10_000
# Characters that make a spreadsheet treat a cell as a formula; rejects files are opened in one.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_SHOWN_VALUE = 200


@dataclass
class LoadOptions:
    batch_size: int = 1000
    max_field_length: int = DEFAULT_MAX_FIELD_LENGTH
    prune: bool = False
    dry_run: bool = False
    progress: bool = False
    rejects_path: Path | None = None


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
    """A compiled reference: where the key is and which labels it may name."""

    endpoint: Endpoint
    position: int | None

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


@dataclass
class _Rule:
    """A compiled relationship: from this row's node (or a `from` reference) to its targets."""

    rel_type: Any
    direction: str
    target: _Ref
    source: _Ref | None  # set in relationship files only
    props: list[tuple[str, Getter]]
    replace: bool


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
    key: Getter | None = None
    props: list[tuple[str, Getter]] = field(default_factory=list)
    rules: list[_Rule] = field(default_factory=list)
    spool: Path | None = None


# A validated row on its way to the graph: (row number, node id, source key, properties,
# per rule: target keys, per rule: relationship properties, relationship-file: source keys).
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
        # (label, id) -> the later rows whose values differ from the first row with that key.
        self.conflicts: dict[tuple[Label, str], list[tuple[int, int]]] = defaultdict(list)
        self.bad: set[tuple[int, int]] = set()
        # Insertion-ordered and deduplicated: one column feeding several properties is reported once.
        self.rejects: dict[tuple[int, int, str, str, str], None] = {}

    # -- the whole load ------------------------------------------------------------------------

    def run(self) -> LoadReport:
        if not self.source_dir.is_dir():
            raise LoadFailed(f"{self.source_dir}: no such folder (the export to load)")
        self._open_files()
        with tempfile.TemporaryDirectory(prefix="kgcrm-load-") as spool_dir:
            for compiled in self.files:
                if compiled.rows is not None:
                    compiled.spool = Path(spool_dir) / f"{compiled.index}.spool"
                    self._scan(compiled)
            self._reject_conflicting_duplicates()
            self._look_up_external_references()
            self._resolve_until_stable()
            if not self.options.dry_run:
                self._write()
        report = LoadReport(source=self.source, files=[c.stats for c in self.files], dry_run=self.options.dry_run)
        for compiled in self.files:
            compiled.stats.rejected = len({row for (i, row) in self.bad if i == compiled.index})
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
                compiled.key = compile_key(spec.key.column, index, limit, optional=spec.key.optional)
            compiled.props = [(n, compile_property(n, p, index, limit)) for n, p in spec.properties.items()]
            for rel in spec.relationships:
                compiled.rules.append(_Rule(
                    rel_type=rel.type, direction=rel.direction, target=_Ref(rel.target, index.get(rel.column)),
                    source=None, replace=rel.replace,
                    props=[(n, compile_property(n, p, index, limit)) for n, p in rel.properties.items()],
                ))
            if spec.relationship is not None:
                rel_file = spec.relationship
                compiled.rules.append(_Rule(
                    rel_type=rel_file.type, direction="out", replace=False,
                    target=_Ref(rel_file.to.model_copy(update={"required": True}), index[rel_file.to.column]),
                    source=_Ref(rel_file.from_.model_copy(update={"required": True}), index[rel_file.from_.column]),
                    props=[(n, compile_property(n, p, index, limit)) for n, p in rel_file.properties.items()],
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
        spec, stats = compiled.spec, compiled.stats
        label = spec.label
        aliases = self.aliases.get(label, {}) if label else {}
        limit = self.options.max_field_length
        batch: list[_Record] = []
        assert compiled.rows is not None and compiled.spool is not None
        with open(compiled.spool, "wb") as spool, self._bar(f"{spec.file}: validating", None) as bar:
            for number, fields in compiled.rows:
                stats.rows_read += 1
                bar.update()
                if isinstance(fields, str):
                    self._reject(compiled.index, number, "", "", fields)
                    continue
                if not compiled.valid_utf8 and undecodable([fields[p] for p in compiled.positions]):
                    self._reject_undecodable(compiled, number, fields)
                    continue
                problems: list[Problem] = []
                node_id = key = None
                if compiled.key is not None:
                    try:
                        key = compiled.key(fields)
                        if key is None:
                            stats.skipped += 1
                            continue
                        key = aliases.get(key.casefold(), key)
                        node_id = f"{self.source}:{key}"
                    except Problem as problem:
                        problems.append(problem)
                props = _collect(compiled.props, fields, problems)
                targets: list[tuple[str, ...]] = []
                rel_props: list[dict[str, Any]] = []
                sources: tuple[str, ...] = ()
                for rule in compiled.rules:
                    try:
                        targets.append(rule.target.keys(fields, limit))
                        if rule.source is not None:
                            sources = rule.source.keys(fields, limit)
                    except Problem as problem:
                        problems.append(problem)
                        targets.append(())
                    rel_props.append(_collect(rule.props, fields, problems))
                if problems:
                    for problem in problems:
                        self._reject(compiled.index, number, problem.column, problem.value, problem.reason)
                    if node_id is not None:
                        self.rejected_ids[label].add(node_id)
                    continue
                record: _Record = (number, node_id, key, props, tuple(targets), tuple(rel_props), sources)
                if node_id is not None:
                    self._remember_key(compiled, label, node_id, record)
                batch.append(record)
                if len(batch) >= self.options.batch_size:
                    pickle.dump(batch, spool, protocol=pickle.HIGHEST_PROTOCOL)
                    batch = []
            if batch:
                pickle.dump(batch, spool, protocol=pickle.HIGHEST_PROTOCOL)

    def _remember_key(self, compiled: _Compiled, label: Label, node_id: str, record: _Record) -> None:
        fingerprint = hash((tuple(record[3].items()), record[4], tuple(tuple(p.items()) for p in record[5])))
        seen = self.first[label].get(node_id)
        if seen is None:
            self.first[label][node_id] = (compiled.index, record[0], fingerprint)
        elif seen[2] != fingerprint:
            self.conflicts[(label, node_id)].append((compiled.index, record[0]))

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

    def _candidates(self, endpoint: Endpoint, key: str) -> list[tuple[Label, str]]:
        """The (label, id) pairs a key may name, in the order they are tried."""
        if endpoint.resolve == "prefix":
            labels = [label for prefix, label in (endpoint.prefixes or {}).items() if key.startswith(prefix)][:1]
        else:
            labels = endpoint.label
        prefix = self.source + ":"
        return [
            (label, prefix + (self.aliases[label].get(key.casefold(), key) if label in self.aliases else key))
            for label in labels
        ]

    def _resolve(self, endpoint: Endpoint, key: str) -> tuple[Label, str] | None:
        for label, node_id in self._candidates(endpoint, key):
            if node_id in self.first[label] or node_id in self.external[label]:
                return label, node_id
        return None

    def _dangling_reason(self, endpoint: Endpoint, key: str) -> str:
        if endpoint.resolve == "prefix" and not self._candidates(endpoint, key):
            known = ", ".join(f"{p} ({label.value})" for p, label in (endpoint.prefixes or {}).items())
            return f"{key!r} has none of the id prefixes {known}"
        candidates = self._candidates(endpoint, key)
        labels = " or ".join(label.value for label, _ in candidates)
        if any(node_id in self.rejected_ids[label] for label, node_id in candidates):
            return f"refers to {labels} {key!r}, whose own row was rejected"
        return f"dangling reference: no {labels} with key {key!r} in this input or the graph"

    def _records(self, compiled: _Compiled) -> Iterator[list[_Record]]:
        if compiled.spool is None:
            return
        with open(compiled.spool, "rb") as spool:
            while True:
                try:
                    yield pickle.load(spool)
                except EOFError:
                    return

    def _endpoints(self, compiled: _Compiled, record: _Record) -> Iterator[tuple[Endpoint, str]]:
        for rule, keys in zip(compiled.rules, record[4]):
            for key in keys:
                yield rule.target.endpoint, key
            if rule.source is not None:
                for key in record[6]:
                    yield rule.source.endpoint, key

    def _look_up_external_references(self) -> None:
        """Ask the graph once for the referenced ids this input does not define."""
        if self.graph is None:
            return
        wanted: dict[Label, set[str]] = defaultdict(set)
        for compiled in self.files:
            if not compiled.rules:
                continue
            for batch in self._records(compiled):
                for record in batch:
                    for endpoint, key in self._endpoints(compiled, record):
                        candidates = self._candidates(endpoint, key)
                        if not any(node_id in self.first[label] for label, node_id in candidates):
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
                loaded = 0
                for batch in self._records(compiled):
                    for record in batch:
                        if (compiled.index, record[0]) in self.bad:
                            continue
                        if record[1] is not None and record[1] not in self.first[compiled.spec.label]:
                            # Another row with this key was rejected (a cascade across files).
                            self._reject(compiled.index, record[0], "", record[2] or "",
                                         f"key {record[2]!r} was rejected in another row")
                            changed = True
                            continue
                        dangling = [
                            (endpoint, key) for endpoint, key in self._endpoints(compiled, record)
                            if self._resolve(endpoint, key) is None
                        ]
                        if dangling:
                            for endpoint, key in dangling:
                                self._reject(compiled.index, record[0], endpoint.column, key,
                                             self._dangling_reason(endpoint, key))
                            if record[1] is not None:
                                self.first[compiled.spec.label].pop(record[1], None)
                                self.rejected_ids[compiled.spec.label].add(record[1])
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
        label = compiled.spec.label
        for batch in self._records(compiled):
            for record in batch:
                if (compiled.index, record[0]) in self.bad:
                    continue
                if record[1] is not None:
                    first_file, first_row, _ = self.first[label][record[1]]
                    if (first_file, first_row) != (compiled.index, record[0]):
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
            if label is None or compiled.spool is None:
                continue
            query = q.upsert_nodes(label)
            with self._bar(f"{compiled.spec.file}: nodes", compiled.stats.loaded) as bar:
                for batch in self._good(compiled):
                    rows = [{"id": r[1], "source_id": r[2], "props": r[3]} for r in batch]
                    params = {"rows": rows, "source": self.source, "now": self.now}
                    results = self.graph.execute_write(_run_statements, [(query, params)])
                    record, _ = results[0]
                    compiled.stats.nodes_created += record[0]["created"]
                    compiled.stats.nodes_updated += record[0]["updated"]
                    bar.update(len(batch))

    def _write_relationships(self) -> None:
        assert self.graph is not None
        for compiled in self.files:
            if not compiled.rules or compiled.spool is None:
                continue
            with self._bar(f"{compiled.spec.file}: relationships", compiled.stats.loaded) as bar:
                for batch in self._good(compiled):
                    statements = self._relationship_statements(compiled, batch)
                    if statements:
                        for records, counters in self.graph.execute_write(_run_statements, statements):
                            compiled.stats.rels_created += counters["relationships_created"]
                            compiled.stats.rels_deleted += counters["relationships_deleted"]
                            if records and "updated" in records[0]:
                                compiled.stats.rels_updated += records[0]["updated"]
                    bar.update(len(batch))

    def _relationship_statements(self, compiled: _Compiled, batch: list[_Record]) -> list[tuple[str, dict[str, Any]]]:
        deletes: list[tuple[str, dict[str, Any]]] = []
        merges: list[tuple[str, dict[str, Any]]] = []
        for position, rule in enumerate(compiled.rules):
            grouped: dict[tuple[Label, Label], list[dict[str, Any]]] = defaultdict(list)
            keep_rows: list[dict[str, Any]] = []
            for record in batch:
                targets: dict[Label, list[str]] = defaultdict(list)
                for key in record[4][position]:
                    label, node_id = self._resolve(rule.target.endpoint, key)  # type: ignore[misc]
                    targets[label].append(node_id)
                if rule.source is not None:
                    from_label, from_id = self._resolve(rule.source.endpoint, record[6][0])  # type: ignore[misc]
                else:
                    from_label, from_id = compiled.spec.label, record[1]  # type: ignore[assignment]
                for to_label, ids in targets.items():
                    grouped[(from_label, to_label)].append({"from": from_id, "to": ids, "props": record[5][position]})
                if rule.replace:
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
                merges.append((query, {"rows": rows}))
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


def _collect(getters: list[tuple[str, Getter]], fields: list[str], problems: list[Problem]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, get in getters:
        try:
            values[name] = get(fields)
        except Problem as problem:
            problems.append(problem)
    return values


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
