"""Schema migrations against the real server: idempotent, recorded in the graph, resumable."""

import re

from kgcrm.graph.driver import Graph
from kgcrm.graph.queries.schema import MIGRATIONS
from kgcrm.graph.schema import SCHEMA_VERSION, apply_migrations, count_entities, get_schema_status

_NAME = re.compile(r"CREATE (?:CONSTRAINT|(?:FULLTEXT |RANGE |TEXT |POINT )?INDEX) (\w+) IF NOT EXISTS")


def _expected_names() -> set[str]:
    return {_NAME.match(s).group(1) for m in MIGRATIONS for s in m.statements if _NAME.match(s)}


def _schema_names(graph: Graph) -> set[str]:
    constraints = {row["name"] for row in graph.read("SHOW CONSTRAINTS YIELD name RETURN name")}
    # Lookup indexes belong to Neo4j itself; constraint-backing indexes share their constraint's name.
    indexes = {row["name"] for row in graph.read("SHOW INDEXES YIELD name, type WHERE type <> 'LOOKUP' RETURN name")}
    return constraints | indexes


def _drop_schema(graph: Graph) -> None:
    for row in graph.read("SHOW CONSTRAINTS YIELD name RETURN name"):
        graph.write(f"DROP CONSTRAINT `{row['name']}` IF EXISTS")
    for row in graph.read("SHOW INDEXES YIELD name, type WHERE type <> 'LOOKUP' RETURN name"):
        graph.write(f"DROP INDEX `{row['name']}` IF EXISTS")
    graph.write("MATCH (m:SchemaMigration) DELETE m")


def test_migrations_create_every_constraint_and_index_and_record_the_version(graph: Graph) -> None:
    _drop_schema(graph)
    assert _schema_names(graph) == set()

    applied = apply_migrations(graph)

    assert applied == sorted(m.version for m in MIGRATIONS)
    assert _expected_names() <= _schema_names(graph)
    status = get_schema_status(graph)
    assert status.current == SCHEMA_VERSION
    assert status.pending == []
    recorded = graph.read("MATCH (m:SchemaMigration) RETURN m.version AS v, m.applied_at AS at ORDER BY v")
    assert [row["v"] for row in recorded] == sorted(m.version for m in MIGRATIONS)
    assert all(row["at"] is not None for row in recorded)


def test_migrations_are_idempotent(graph: Graph) -> None:
    apply_migrations(graph)
    names_before = _schema_names(graph)
    log_before = graph.read("MATCH (m:SchemaMigration) RETURN m.version AS v, m.applied_at AS at ORDER BY v")

    assert apply_migrations(graph) == []
    assert apply_migrations(graph) == []

    assert _schema_names(graph) == names_before
    assert graph.read("MATCH (m:SchemaMigration) RETURN m.version AS v, m.applied_at AS at ORDER BY v") == log_before


def test_a_migration_interrupted_before_its_record_completes_on_rerun(graph: Graph) -> None:
    apply_migrations(graph)
    last = max(m.version for m in MIGRATIONS)
    # As if the process died after the statements ran but before the record was written.
    graph.write("MATCH (m:SchemaMigration {version: $v}) DELETE m", {"v": last})
    assert get_schema_status(graph).pending == [last]

    assert apply_migrations(graph) == [last]
    assert get_schema_status(graph).pending == []


def test_uniqueness_constraints_reject_a_second_node_with_the_same_id(graph: Graph) -> None:
    from kgcrm.graph.errors import ConstraintViolation

    graph.write("CREATE (:Account {id: $id})", {"id": "acme"})
    try:
        graph.write("CREATE (:Account {id: $id})", {"id": "acme"})
    except ConstraintViolation as exc:
        assert "already exists" in str(exc)
    else:
        raise AssertionError("a second Account with the same id was accepted")


def test_count_entities_counts_each_label(graph: Graph) -> None:
    graph.write(
        "CREATE (a:Account {id: 'a1'})<-[:WORKS_AT]-(:Contact {id: 'c1'}), "
        "(:Opportunity {id: 'o1'})-[:FOR_ACCOUNT]->(a)"
    )
    counts = count_entities(graph)
    assert counts["Account"] == 1
    assert counts["Contact"] == 1
    assert counts["Opportunity"] == 1
    assert counts["Activity"] == 0
    assert counts["relationships"] == 2
