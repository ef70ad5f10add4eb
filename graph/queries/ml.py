"""Cypher for the ML part: columnar exports of nodes and relationships, and the per-record reference.

An export query returns ONE record whose columns are long parallel lists (`collect(...)`): moving a
graph out of Neo4j is dominated by per-record cost, and the Rust extension decodes long lists fast.
`collect` skips nulls, which would misalign the parallel lists, so every column is `coalesce`d to a
sentinel: `$nan` for numbers and times, '' for strings. Times travel as epoch seconds (floats).

Property names enter query text only from the fixed specs in `kgcrm.ml.export` (code, never input);
labels and relationship types only from the enums in `graph/model.py`.
"""

from __future__ import annotations

from collections.abc import Sequence

from kgcrm.graph.model import Label, RelType


def _time(expr: str) -> str:
    return f"coalesce(toFloat({expr}.epochSeconds), $nan)"


def _number(expr: str) -> str:
    return f"coalesce(toFloat({expr}), $nan)"


def _boolean(expr: str) -> str:
    return f"CASE {expr} WHEN true THEN 1.0 WHEN false THEN 0.0 ELSE $nan END"


def _string(expr: str) -> str:
    return f"coalesce(toString({expr}), '')"


_CONVERT = {"time": _time, "number": _number, "bool": _boolean, "string": _string}


def _node_column_lists(columns: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """(name, aggregate) of a node export over `n`: internal ids, kgcrm ids, created_at, then `columns`."""
    cols = [
        ("neo_id", "collect(id(n))"),
        ("id", "collect(coalesce(n.id, ''))"),
        ("created_at", f"collect({_time('n.created_at')})"),
    ]
    return cols + [(prop, f"collect({_CONVERT[kind](f'n.{prop}')})") for prop, kind in columns]


def node_columns(columns: Sequence[tuple[str, str]]) -> str:
    """The RETURN list of a node export over `n`: internal ids, kgcrm ids, created_at, then `columns`."""
    return ",\n       ".join(f"{expr} AS `{name}`" for name, expr in _node_column_lists(columns))


def node_column_map(columns: Sequence[tuple[str, str]]) -> str:
    """The same columns as one map (a query that returns several labels' columns in one record)."""
    return "{" + ", ".join(f"`{name}`: {expr}" for name, expr in _node_column_lists(columns)) + "}"


def export_nodes(label: Label, columns: Sequence[tuple[str, str]]) -> str:
    """One record: the label's internal ids, kgcrm ids, created_at and the given (property, kind) columns."""
    return f"MATCH (n:{Label(label).value})\nRETURN " + node_columns(columns)


def export_relationships(
    src: Label, rel: RelType, dst: Label, start: str | None = None, end: str | None = None,
    kind: str | None = None,
) -> str:
    """One record: two parallel lists of internal ids (source, target), the validity times and, with
    `kind`, that string property of each relationship ('' where absent)."""
    src, rel, dst = Label(src), RelType(rel), Label(dst)
    start_col = _time(f"r.{start}") if start else "$nan"
    end_col = _time(f"r.{end}") if end else "$nan"
    kind_col = f",\n       collect({_string(f'r.{kind}')}) AS kind" if kind else ""
    return (
        f"MATCH (a:{src.value})-[r:{rel.value}]->(b:{dst.value})\n"
        f"RETURN collect(id(a)) AS src, collect(id(b)) AS dst,\n"
        f"       collect({start_col}) AS start, collect({end_col}) AS end{kind_col}"
    )


# The naive reference the benchmark compares with: one small record per node or relationship.
def naive_nodes(label: Label, columns: Sequence[tuple[str, str]]) -> str:
    """One record per node: kgcrm id, created_at and the given columns (no coalescing needed)."""
    label = Label(label)
    cols = ["n.id AS id", "n.created_at AS created_at"] + [f"n.{prop} AS `{prop}`" for prop, _ in columns]
    return f"MATCH (n:{label.value})\nRETURN " + ", ".join(cols)


def naive_relationships(src: Label, rel: RelType, dst: Label) -> str:
    """One record per relationship: the two kgcrm ids."""
    src, rel, dst = Label(src), RelType(rel), Label(dst)
    return f"MATCH (a:{src.value})-[:{rel.value}]->(b:{dst.value})\nRETURN a.id AS src, b.id AS dst"


# Synthetic graph for the export benchmark when no generated world is at hand (UNWIND batches).
BENCH_CREATE_ACCOUNTS = """
UNWIND $rows AS row
CREATE (a:Account {id: row.id, name: row.id, employees: row.employees, annual_revenue: row.revenue,
                   industry: row.industry, region: row.region, created_at: datetime({epochSeconds: row.created})})
"""

BENCH_CREATE_CONTACTS = """
UNWIND $rows AS row
MATCH (a:Account {id: row.account})
CREATE (c:Contact {id: row.id, seniority: row.seniority, created_at: datetime({epochSeconds: row.created})})
CREATE (c)-[:WORKS_AT {since: datetime({epochSeconds: row.created})}]->(a)
"""

BENCH_CREATE_ACTIVITIES = """
UNWIND $rows AS row
MATCH (c:Contact {id: row.contact})
MATCH (a:Account {id: row.account})
CREATE (x:Activity {id: row.id, type: row.type, at: datetime({epochSeconds: row.at}),
                    created_at: datetime({epochSeconds: row.at})})
CREATE (x)-[:PERFORMED_BY]->(c)
CREATE (x)-[:ABOUT]->(a)
"""

BENCH_CREATE_OPPORTUNITIES = """
UNWIND $rows AS row
MATCH (a:Account {id: row.account})
CREATE (o:Opportunity {id: row.id, amount: row.amount, is_closed: row.closed IS NOT NULL, is_won: row.won,
                       created_at: datetime({epochSeconds: row.created}),
                       closed_at: CASE WHEN row.closed IS NULL THEN null ELSE datetime({epochSeconds: row.closed}) END})
CREATE (o)-[:FOR_ACCOUNT]->(a)
"""


def naive_write_score(label: Label) -> str:
    """The per-node reference for the write-back benchmark: `write_scores` for one node per transaction."""
    label = Label(label)
    return f"""
MATCH (n:{label.value} {{id: $id}})
WITH n, n.intent_score AS old
WHERE old IS NULL OR abs(old - $score) > $epsilon OR n.intent_model IS NULL OR n.intent_model <> $model
SET n.intent_score = $score, n.intent_model = $model, n.intent_scored_at = $scored_at,
    n.intent_drivers = $drivers, n.intent_driver_weights = $weights
CREATE (c:{Label.SCORE_CHANGE} {{id: $run_id + ':' + $id, old_score: old, new_score: $score,
        model: $model, changed_at: $scored_at, reason: $reason, subject_key: $id,
        subject_label: '{label.value}'}})
CREATE (c)-[:{RelType.ABOUT}]->(n)
RETURN count(n) AS written
"""

# The rescoring benchmark forgets the stored scores first, so that every run writes every score (the worst case).
BENCH_FORGET_SCORES = f"""
MATCH (n:{Label.ACCOUNT}) WHERE n.intent_score IS NOT NULL
REMOVE n.intent_score
"""
