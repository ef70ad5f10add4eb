"""The initial bulk load: a mapping's validated rows become `neo4j-admin database import full` CSVs, imported offline.

The rows go through the same mapping and validation as `kgcrm load` (the same rejects file), then,
instead of Bolt transactions, into the importer's node and relationship files: one node file per
mapped file (`id:ID(<Label>)`, typed property columns), one relationship file per (start label,
type, end label) with `:START_ID(<Label>)`/`:END_ID(<Label>)`. Relationships are de-duplicated by
their two ends first, with their properties merged in file order, because MERGE makes one
relationship where the importer would make one per row. Two differences from a Bolt load remain:
every reference must name a node of the input (the database is new), and a `replace` rule does not
remove relationships an earlier rule made (no built-in mapping has two such rules for one type).

The importer only fills a database that does not exist yet, with the server stopped: the local
instance (`KGCRM_HOME/KGCRM_NEO4J_INSTANCE`) must have no database of that name. Afterwards the
server is started and the schema applied, which builds the key constraints over the imported data.
"""

from __future__ import annotations

import csv
import logging
import os
import subprocess
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from kgcrm.graph.driver import Graph
from kgcrm.graph.errors import LoadFailed
from kgcrm.graph.model import Label, RelType
from kgcrm.graph.schema import apply_migrations
from kgcrm.graph.server import ADMIN_TOOL, LocalNeo4j
from kgcrm.graph.settings import Settings
from kgcrm.loaders.load import LoadOptions, LoadReport, Loader, _Compiled
from kgcrm.loaders.mapping import Mapping, PropertySpec

logger = logging.getLogger(__name__)

# The importer's name for each mapping type; enums take the type their values share.
_IMPORT_TYPES = {"string": "string", "int": "long", "float": "double", "bool": "boolean",
                 "date": "date", "datetime": "datetime"}


@dataclass
class BulkTimings:
    """Seconds spent in each step of a bulk load."""

    validate_and_write_files: float = 0.0
    importer: float = 0.0
    start_and_schema: float = 0.0
    entities: int = 0

    @property
    def total(self) -> float:
        return self.validate_and_write_files + self.importer + self.start_and_schema


@dataclass
class _RelGroup:
    """Relationships of one (start label, type, end label), keyed by their two ends."""

    types: dict[str, str] = field(default_factory=dict)
    converted: dict[str, bool] = field(default_factory=dict)
    rels: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)


def import_type(spec: PropertySpec) -> str:
    """The importer's type for a property spec (an enum's is the one its values share, else string)."""
    if spec.type != "enum":
        if spec.value is not None and not isinstance(spec.value, str):
            return _python_type([spec.value])
        return _IMPORT_TYPES[spec.type]
    if spec.keep_unknown:
        return "string"
    values = list(spec.values.values()) if isinstance(spec.values, dict) else list(spec.values or [])
    values += list((spec.aliases or {}).values()) + ([spec.other] if spec.other is not None else [])
    values += [spec.default] if spec.default is not None else []
    return _python_type(values)


def _python_type(values: list[Any]) -> str:
    if values and all(isinstance(v, bool) for v in values):
        return "boolean"
    if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "long"
    if values and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return "double"
    return "string"


def _needs_cell(spec: PropertySpec) -> bool:
    """Whether a property's values need `_cell` (strings, numbers and ISO text go to the file as they are)."""
    return spec.value is not None or spec.type in ("bool", "enum", "date", "datetime")


def _has_multiline_values(path: Path, rows: int) -> bool:
    """Whether a written CSV holds a value with a line break: more breaks than its rows' own `\\r\\n`."""
    data = path.read_bytes()
    return data.count(b"\n") != rows or data.count(b"\r") != rows


def _cell(value: Any) -> Any:
    """A value as the importer reads it (a blank cell is no property)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


class _FileWriter(Loader):
    """The loader's validation passes, then importer CSVs instead of Bolt writes."""

    def __init__(self, mapping: Mapping, source_dir: Path, options: LoadOptions, out_dir: Path) -> None:
        super().__init__(None, mapping, source_dir, options)
        self.out_dir = out_dir
        self.node_files: list[tuple[Label, Path]] = []
        self.rel_files: list[tuple[RelType, Path]] = []
        self.multiline = False
        self.entities = 0

    def _write(self) -> None:
        for compiled in self.files:
            if compiled.spec.label is not None and compiled.records is not None:
                self._write_node_file(compiled)
        groups: dict[tuple[Label, RelType, Label], _RelGroup] = defaultdict(_RelGroup)
        for compiled in self.files:
            if compiled.rules and compiled.records is not None:
                self._collect_relationships(compiled, groups)
        for number, ((start, rel_type, end), group) in enumerate(sorted(groups.items())):
            self._write_relationship_file(number, start, rel_type, end, group)

    def _write_node_file(self, compiled: _Compiled) -> None:
        label = compiled.spec.label
        assert label is not None
        names = list(compiled.spec.properties)
        plain = [not _needs_cell(spec) for spec in compiled.spec.properties.values()]
        header = [f"id:ID({label.value})", "source", "source_id", "updated_at:datetime"]
        header += [f"{name}:{import_type(spec)}" for name, spec in compiled.spec.properties.items()]
        path = self.out_dir / f"nodes-{compiled.index:02d}-{label.value}.csv"
        now = self.now.isoformat()
        with open(path, "w", encoding="utf-8", newline="") as handle, \
                self._bar(f"{compiled.spec.file}: node file", compiled.stats.loaded) as bar:
            writer = csv.writer(handle)
            writer.writerow(header)
            source = self.source
            for batch in self._good(compiled):
                writer.writerows(
                    [record[1], source, record[2], now,
                     *(props.get(n) if p else _cell(props.get(n)) for n, p in zip(names, plain))]
                    for record in batch for props in (record[3],)
                )
                compiled.stats.nodes_created += len(batch)
                bar.update(len(batch))
        self._note_multiline(path, compiled.stats.nodes_created + 1)
        self.entities += compiled.stats.nodes_created
        self.node_files.append((label, path))

    def _collect_relationships(self, compiled: _Compiled, groups: dict[tuple[Label, RelType, Label], _RelGroup]) -> None:
        """Add this file's relationships to their groups, merging repeats as MERGE and `SET +=` would."""
        for position, rule in enumerate(compiled.rules):
            rule_specs = self._rule_specs(compiled, position)
            rule_types = {name: import_type(spec) for name, spec in rule_specs.items()}
            rule_converted = {name: _needs_cell(spec) for name, spec in rule_specs.items()}
            for batch in self._good(compiled):
                for record in batch:
                    if rule.source is not None:
                        from_label, from_id = rule.source.resolve(record[6][0])  # type: ignore[misc]
                    else:
                        from_label, from_id = compiled.spec.label, record[1]  # type: ignore[assignment]
                    props = record[5][position]
                    for key in record[4][position]:
                        to_label, to_id = rule.target.resolve(key)  # type: ignore[misc]
                        if rule.direction == "out":
                            group_key, ends = (from_label, rule.rel_type, to_label), (from_id, to_id)
                        else:
                            group_key, ends = (to_label, rule.rel_type, from_label), (to_id, from_id)
                        group = groups[group_key]
                        for name, kind in rule_types.items():
                            group.types.setdefault(name, kind)
                            group.converted.setdefault(name, rule_converted[name])
                        existing = group.rels.get(ends)
                        if existing is None:
                            group.rels[ends] = dict(props)
                            compiled.stats.rels_created += 1
                        else:
                            existing.update(props)
                            compiled.stats.rels_updated += 1

    @staticmethod
    def _rule_specs(compiled: _Compiled, position: int) -> dict[str, PropertySpec]:
        spec = compiled.spec
        if spec.relationship is not None:
            return dict(spec.relationship.properties)
        return dict(spec.relationships[position].properties)

    def _write_relationship_file(self, number: int, start: Label, rel_type: RelType, end: Label, group: _RelGroup) -> None:
        names = list(group.types)
        header = [f":START_ID({start.value})", f":END_ID({end.value})", *(f"{n}:{group.types[n]}" for n in names)]
        path = self.out_dir / f"rels-{number:02d}-{start.value}-{rel_type.value}-{end.value}.csv"
        with open(path, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            converted = [group.converted.get(n, True) for n in names]
            writer.writerows(
                [start_id, end_id, *(_cell(props.get(n)) if c else props.get(n) for n, c in zip(names, converted))]
                for (start_id, end_id), props in group.rels.items()
            )
        self._note_multiline(path, len(group.rels) + 1)
        self.entities += len(group.rels)
        self.rel_files.append((rel_type, path))

    def _note_multiline(self, path: Path, rows: int) -> None:
        """The importer reads fields with line breaks only when told (and then more slowly)."""
        if not self.multiline:
            self.multiline = _has_multiline_values(path, rows)


def _refuse_unless_new(local: LocalNeo4j, database: str) -> None:
    pid = local.running_pid()
    if pid is not None:
        raise LoadFailed(
            f"the local Neo4j ({local.instance_dir}) is running (pid {pid}); the offline importer needs it stopped "
            "and its database new: use `kgcrm load` without --bulk to add to a running graph"
        )
    for folder in (local.instance_dir / "data" / "databases" / database, local.instance_dir / "data" / "transactions" / database):
        if folder.exists():
            raise LoadFailed(
                f"{folder} exists: the database {database!r} is not new, and --bulk only fills an empty, new database "
                "(use `kgcrm load` without --bulk, or a new KGCRM_NEO4J_INSTANCE)"
            )


def _run_importer(local: LocalNeo4j, settings: Settings, writer: _FileWriter, work_dir: Path) -> None:
    for sub in ("conf", "data", "logs", "run", "plugins", "import"):
        (local.instance_dir / sub).mkdir(parents=True, exist_ok=True)
    conf = local.conf_dir / "neo4j.conf"
    if not conf.exists():
        # `kgcrm neo4j start` rewrites it; the importer only needs to find the instance's data folder.
        conf.write_text(f"server.directories.data={local.instance_dir / 'data'}\n")
    command = [
        "java", f"-Xmx{settings.neo4j_heap}", "-cp", f"{local.lib_dir}/*", ADMIN_TOOL,
        "database", "import", "full",
        *(f"--nodes={label.value}={path}" for label, path in writer.node_files),
        *(f"--relationships={rel_type.value}={path}" for rel_type, path in writer.rel_files),
        f"--max-off-heap-memory={settings.neo4j_pagecache}",
        f"--report-file={work_dir / 'import.report'}",
        f"--threads={os.cpu_count() or 2}",
        *(["--multiline-fields=true"] if writer.multiline else []),
        settings.neo4j_database,
    ]
    env = {**os.environ, "NEO4J_HOME": str(local.instance_dir), "NEO4J_CONF": str(local.conf_dir)}
    logger.info("running neo4j-admin database import full with %s node and %s relationship files",
                len(writer.node_files), len(writer.rel_files))
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=local.instance_dir)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-12:])
        raise LoadFailed(f"neo4j-admin database import failed (exit {result.returncode}):\n{tail}")


def bulk_load(settings: Settings, mapping: Mapping, source_dir: Path, options: LoadOptions,
              work_dir: Path | None = None) -> tuple[LoadReport, BulkTimings]:
    """Validate `source_dir` with `mapping`, import it offline into the new local database, start the server."""
    if options.prune:
        raise LoadFailed("--prune has nothing to remove in a bulk load into a new database")
    local = LocalNeo4j(settings)
    if not local.installed:
        local.install()
    _refuse_unless_new(local, settings.neo4j_database)
    timings = BulkTimings()
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kgcrm-bulk-", dir=work_dir) as folder:
        out_dir = Path(folder)
        writer = _FileWriter(mapping, source_dir, options, out_dir)
        report = writer.run()
        timings.validate_and_write_files = time.perf_counter() - began
        timings.entities = writer.entities
        if options.dry_run:
            return report, timings
        began = time.perf_counter()
        _run_importer(local, settings, writer, out_dir)
        timings.importer = time.perf_counter() - began
    began = time.perf_counter()
    local.start()
    with Graph(settings) as graph:
        apply_migrations(graph)
    timings.start_and_schema = time.perf_counter() - began
    return report, timings
