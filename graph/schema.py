"""Schema migrations: constraints and indexes created idempotently, the applied version kept in the graph."""

import logging
from dataclasses import dataclass

from kgcrm.graph.driver import Graph
from kgcrm.graph.model import ENTITY_LABELS
from kgcrm.graph.queries import schema as q

logger = logging.getLogger(__name__)

SCHEMA_VERSION = max(m.version for m in q.MIGRATIONS)


@dataclass(frozen=True)
class SchemaStatus:
    applied: list[int]
    latest: int

    @property
    def current(self) -> int:
        return max(self.applied, default=0)

    @property
    def pending(self) -> list[int]:
        return [m.version for m in q.MIGRATIONS if m.version not in self.applied]


def get_schema_status(graph: Graph) -> SchemaStatus:
    applied = [row["version"] for row in graph.read(q.GET_APPLIED_VERSIONS)]
    return SchemaStatus(applied=applied, latest=SCHEMA_VERSION)


def apply_migrations(graph: Graph, *, await_seconds: int = 300) -> list[int]:
    """Apply every migration not yet recorded in the graph; returns the versions applied now.

    Each statement is `... IF NOT EXISTS`, so re-running after a crash between a statement and its
    record completes the migration instead of failing.
    """
    applied_now = []
    already = set(get_schema_status(graph).applied)
    for migration in sorted(q.MIGRATIONS, key=lambda m: m.version):
        if migration.version in already:
            continue
        logger.info("applying schema migration %s: %s", migration.version, migration.name)
        for statement in migration.statements:
            graph.write(statement)
        graph.write(q.RECORD_MIGRATION, {"version": migration.version, "name": migration.name})
        applied_now.append(migration.version)
    if applied_now:
        graph.read(q.AWAIT_INDEXES, {"timeout_seconds": await_seconds})
    return applied_now


def count_entities(graph: Graph) -> dict[str, int]:
    """Nodes per CRM label plus all nodes and relationships, for `kgcrm stats` and `make demo`."""
    counts = graph.read(q.count_by_label(ENTITY_LABELS))[0]
    counts["nodes"] = graph.read(q.COUNT_NODES)[0]["count"]
    counts["relationships"] = graph.read(q.COUNT_RELATIONSHIPS)[0]["count"]
    return counts
