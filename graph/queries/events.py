"""Cypher of real-time events: bulk ingestion, the rescoring queue, subgraph exports and scoped lineage.

Subgraph queries take internal node ids (`id(n)`), as the ML export does: they stay inside one
rescoring pass and are never stored. Property names enter query text only from the fixed column specs
in `kgcrm.ml.export`; labels and relationship types only from the enums in `graph/model.py`.
"""

from __future__ import annotations

from collections.abc import Sequence

from kgcrm.graph.model import Label, RelType
from kgcrm.graph.queries.api_scope import hanging_visible
from kgcrm.graph.queries.ml import _string, _time, node_column_map, node_columns
from kgcrm.graph.queries.plans import keep_plan

def route_of(account: str, opportunity: str, contact: str) -> str:
    """The account an event belongs to (its own, its opportunity's, its contact's current employer) as an
    internal id: `kgcrm rescore-events --partition K/N` routes by it, so one account's events stay in order."""
    return (f"coalesce(id({account}), [({opportunity})-[:{RelType.FOR_ACCOUNT}]->(x:{Label.ACCOUNT}) | id(x)][0], "
            f"[({contact})-[w:{RelType.WORKS_AT}]->(x:{Label.ACCOUNT}) WHERE w.until IS NULL | id(x)][0], 0)")


def partition_of(route: str) -> str:
    """Which of `$parts` scorer partitions the route (`route_of`) `route` falls in: a multiplicative hash."""
    return f"((coalesce({route}, 0) % 2147483648) * 2654435761 % 2147483648) / 65536 % $parts"


# Events are written in one transaction per request: every valid line commits, or none does. A line
# whose references are missing is reported and not written (its node and relationships, never half).
INGEST_EVENTS = keep_plan(f"""
UNWIND $batch.rows AS row
OPTIONAL MATCH (account:{Label.ACCOUNT} {{id: row.account_id}})
OPTIONAL MATCH (opportunity:{Label.OPPORTUNITY} {{id: row.opportunity_id}})
OPTIONAL MATCH (contact:{Label.CONTACT} {{id: row.contact_id}})
OPTIONAL MATCH (performer:{Label.USER} {{id: row.performer_id}})
WITH row, account, opportunity, contact, performer,
     CASE
       WHEN row.account_id IS NOT NULL AND account IS NULL THEN 'accountId'
       WHEN row.opportunity_id IS NOT NULL AND opportunity IS NULL THEN 'opportunityId'
       WHEN row.contact_id IS NOT NULL AND contact IS NULL THEN 'contactId'
       WHEN row.performer_id IS NOT NULL AND performer IS NULL THEN 'performedByUserId'
     END AS missing
OPTIONAL CALL (row, account, opportunity, contact, performer, missing) {{
  WITH * WHERE missing IS NULL
  WITH *, {route_of("account", "opportunity", "contact")} AS route
  MERGE (act:{Label.ACTIVITY} {{id: row.id}})
  ON CREATE SET act += row.props, act.created_at = datetime(), act.updated_at = datetime(),
                act.source = 'api', act.source_id = row.id, act.rescore_pending = true, act._created_now = true,
                act.rescore_route = route
  WITH act, account, opportunity, contact, performer, coalesce(act._created_now, false) AS created
  REMOVE act._created_now
  FOREACH (target IN CASE WHEN created THEN [x IN [account, opportunity] WHERE x IS NOT NULL] ELSE [] END |
    MERGE (act)-[:{RelType.ABOUT}]->(target))
  FOREACH (who IN CASE WHEN created THEN [x IN [contact, performer] WHERE x IS NOT NULL] ELSE [] END |
    MERGE (act)-[:{RelType.PERFORMED_BY}]->(who))
  RETURN created
}}
RETURN row.line AS line, missing, coalesce(created, false) AS created
""")

# recordActivity stores an activity with its own query; this queues it for rescoring afterwards.
QUEUE_EVENT = f"""
MATCH (e:{Label.ACTIVITY} {{id: $id}})
WHERE e.rescored_at IS NULL
SET e.rescore_pending = true
"""

# The queue, oldest first, with the graph nodes each event touches (internal ids) and the label of each
# that carries one of $labels. Partition $part of $parts takes the events whose account (route_of)
# hashes to it: every event goes to exactly one.
PENDING_EVENTS = keep_plan(f"""
MATCH (e:{Label.ACTIVITY})
USING INDEX e:{Label.ACTIVITY}(rescore_pending)
WHERE e.rescore_pending = true
  AND ($parts = 1 OR {partition_of("e.rescore_route")} = $part)
WITH e ORDER BY e.created_at, e.id LIMIT $limit
OPTIONAL MATCH (e)-[:{RelType.ABOUT}|{RelType.PERFORMED_BY}]->(n)
WITH e, collect(DISTINCT n) AS nodes
RETURN e.id AS id, e.created_at.epochMillis / 1000.0 AS accepted_at, [n IN nodes | id(n)] AS touched,
       [n IN nodes WHERE any(l IN labels(n) WHERE l IN $labels) | [id(n), [l IN labels(n) WHERE l IN $labels][0]]]
         AS labelled
""")

PENDING_COUNT = f"""
MATCH (e:{Label.ACTIVITY})
WHERE e.rescore_pending = true
RETURN count(e) AS pending
"""

MARK_RESCORED = keep_plan(f"""
UNWIND $batch.ids AS event_id
MATCH (e:{Label.ACTIVITY} {{id: event_id}})
WHERE e.rescore_pending = true
REMOVE e.rescore_pending
SET e.rescored_at = datetime(), e.rescore_note = $note
""")


def _neighbours_of_n(rel_types: Sequence[RelType], indent: str) -> str:
    """A subquery yielding `m` for each neighbour of `n` over `rel_types` (any direction), and each account
    under the same parent as `n` (the model may read them as siblings, one hop apart)."""
    types = "|".join(RelType(t).value for t in rel_types)
    return "\n".join(indent + line for line in f"""CALL (n) {{
  MATCH (n)-[:{types}]-(m) RETURN m
  UNION
  MATCH (n)-[:{RelType.SUBSIDIARY_OF}]->(:{Label.ACCOUNT})<-[:{RelType.SUBSIDIARY_OF}]-(m) RETURN m
}}""".splitlines())


def expand(rel_types: Sequence[RelType]) -> str:
    """The neighbours (any direction, over `rel_types`) of the nodes `$ids` that carry one of `$labels`.

    Accounts under one parent count as neighbours too: the model may read them as siblings, one hop apart.
    """
    return f"""
UNWIND $ids AS i
MATCH (n) WHERE id(n) = i
{_neighbours_of_n(rel_types, "")}
WITH DISTINCT m
WHERE any(l IN labels(m) WHERE l IN $labels)
RETURN collect(id(m)) AS ids, collect([l IN labels(m) WHERE l IN $labels][0]) AS labels
"""


def subgraph_nodes(label: Label, columns: Sequence[tuple[str, str]]) -> str:
    """One record, as the ML export's, for the `label` nodes among the internal ids `$ids`."""
    return f"UNWIND $ids AS i\nMATCH (n:{Label(label).value}) WHERE id(n) = i\nRETURN " + node_columns(columns)


ACTIVITIES_OF = f"""
UNWIND $ids AS i
MATCH (n) WHERE id(n) = i
MATCH (a:{Label.ACTIVITY})-[:{RelType.ABOUT}|{RelType.PERFORMED_BY}]->(n)
WITH DISTINCT a
RETURN collect(id(a)) AS ids
"""


def _relationship_types(specs: Sequence[tuple[Label, RelType, Label, str | None, str | None]]) -> str:
    return "|".join(sorted({RelType(spec[1]).value for spec in specs}))


def _relationship_column_lists(
    specs: Sequence[tuple[Label, RelType, Label, str | None, str | None]], kinds: dict[tuple, str],
) -> list[tuple[str, str]]:
    """(name, aggregate) over `r` (ends `a`, `b`): type, ends, validity times and kind, each by its type's spec."""
    starts, ends, kind_of = {}, {}, {}
    for src, rel, dst, start, end in specs:
        rel = RelType(rel).value
        if start:
            starts[rel] = start
        if end:
            ends[rel] = end
        if (src, RelType(rel), dst) in kinds:
            kind_of[rel] = kinds[(src, RelType(rel), dst)]

    def by_type(columns: dict[str, str], convert, default: str) -> str:
        if not columns:
            return default
        cases = " ".join(f"WHEN '{rel}' THEN {convert('r.' + prop)}" for rel, prop in sorted(columns.items()))
        return f"CASE type(r) {cases} ELSE {default} END"

    return [
        ("type", "collect(type(r))"), ("src", "collect(id(a))"), ("dst", "collect(id(b))"),
        ("start", f"collect({by_type(starts, _time, '$nan')})"), ("end", f"collect({by_type(ends, _time, '$nan')})"),
        ("kind", f"collect({by_type(kind_of, _string, chr(39) * 2)})"),
    ]


def subgraph_all_relationships(
    specs: Sequence[tuple[Label, RelType, Label, str | None, str | None]], kinds: dict[tuple, str],
) -> str:
    """One record of every relationship of `specs` leaving the nodes `$ids`: type, ends, times and kind.

    One query instead of one per type; the caller files each row under its (source, type, target) by the
    labels it knows of the two ends.
    """
    match = f"UNWIND $ids AS i\nMATCH (a)-[r:{_relationship_types(specs)}]->(b) WHERE id(a) = i\n"
    columns = _relationship_column_lists(specs, kinds)
    return match + "RETURN " + ",\n       ".join(f"{expr} AS `{name}`" for name, expr in columns)


def touched_subgraph(
    rel_types: Sequence[RelType], columns: dict[Label, Sequence[tuple[str, str]]],
    specs: Sequence[tuple[Label, RelType, Label, str | None, str | None]], kinds: dict[tuple, str],
) -> str:
    """One record: what the incremental scorer reads to recompute the inputs of the nodes `$batch.ids`
    (internal ids; inside a map, so that one plan serves every number of nodes: graph/queries/plans.py).

    A node's inputs read its own columns, its activities and its own relationships (degrees, tenure),
    and of each node at the other end only whether it existed yet (created_at). So: the touched nodes
    that carry one of `$labels`, each label's columns as a map under the label's name; the activities
    about or performed by them, under `Activity`; their other neighbours over `rel_types` that carry one
    of `$labels` as ids, labels and created_at only, under `near`; and every relationship of `specs` at
    the touched nodes, under `relationships`. One query, so one round trip.
    """
    types = "|".join(RelType(t).value for t in rel_types)
    parts = [f"""UNWIND $batch.ids AS i
MATCH (t) WHERE id(t) = i AND any(l IN labels(t) WHERE l IN $labels)
WITH collect(t) AS touched
CALL (touched) {{
  UNWIND touched AS n
  MATCH (n)-[:{types}]-(m)
  WITH DISTINCT m
  WHERE any(l IN labels(m) WHERE l IN $labels) AND NOT m IN touched
  RETURN {{neo_id: collect(id(m)), label: collect([l IN labels(m) WHERE l IN $labels][0]),
          created_at: collect({_time('m.created_at')})}} AS near
}}
CALL (touched) {{
  UNWIND touched AS n
  MATCH (a:{Label.ACTIVITY})-[:{RelType.ABOUT}|{RelType.PERFORMED_BY}]->(n)
  RETURN collect(DISTINCT a) AS activities
}}"""]
    names = []
    for label, label_columns in columns.items():
        name = Label(label).value
        names.append(name)
        source = ("UNWIND activities AS n" if label == Label.ACTIVITY
                  else f"UNWIND touched AS n\n  WITH n WHERE n:{name}")
        parts.append(f"CALL (touched, activities) {{\n  {source}\n  RETURN {node_column_map(label_columns)} AS `{name}`\n}}")
    relationship_map = "{" + ", ".join(f"`{n}`: {e}" for n, e in _relationship_column_lists(specs, kinds)) + "}"
    parts.append(f"""CALL (touched) {{
  UNWIND touched AS n
  MATCH (n)-[r:{_relationship_types(specs)}]-()
  WITH DISTINCT r
  WITH r, startNode(r) AS a, endNode(r) AS b
  RETURN {relationship_map} AS relationships
}}""")
    return keep_plan("\n".join(parts) + "\nRETURN " + ", ".join(f"`{n}`" for n in names) + ", near, relationships")


def category_counts(label: Label, prop: str) -> str:
    """How many `label` nodes carry each non-empty value of the string column `prop` (a one-hot's vocabulary)."""
    return (
        f"MATCH (n:{Label(label).value})\nWITH coalesce(toString(n.{prop}), '') AS value WHERE value <> ''\n"
        "RETURN value, count(*) AS count"
    )


# One record of [internal id, score, model] triples: a record per node would cost the driver far more.
_SCORE_TRIPLES = "RETURN collect([id(n), n.intent_score, n.intent_model]) AS scores"

# The stored scores of a pass's candidates, and whether each is this scorer's partition's (its account
# routes there): with several scorers only a target's own partition writes its score (see rescore._judge).
CURRENT_SCORES = keep_plan(f"""
UNWIND $batch.ids AS i
MATCH (n) WHERE id(n) = i
WITH n, CASE WHEN n:{Label.ACCOUNT} THEN n END AS account, CASE WHEN n:{Label.OPPORTUNITY} THEN n END AS opportunity,
     CASE WHEN n:{Label.CONTACT} THEN n END AS contact
RETURN collect([id(n), n.intent_score, n.intent_model,
                CASE WHEN $parts = 1 THEN true ELSE {partition_of(route_of("account", "opportunity", "contact"))} = $part END])
       AS scores
""")


def stored_scores(label: Label) -> str:
    """Every `label` node's stored score and model as [internal id, score, model] triples (one record)."""
    return f"MATCH (n:{Label(label).value})\n{_SCORE_TRIPLES}"

# explainAction: the lineage (graph/queries/actions.py ACTION_LINEAGE) of an action the caller may see.
API_ACTION_LINEAGE = f"""
MATCH (x:{Label.ACTION} {{id: $key}})
WHERE {hanging_visible("x")}
OPTIONAL MATCH (x)-[:{RelType.ABOUT}]->(s)
OPTIONAL MATCH (x)-[:{RelType.CAUSED_BY}]->(sc:{Label.SCORE_CHANGE})
OPTIONAL MATCH (sc)-[:{RelType.MADE_BY}]->(m:{Label.MODEL_VERSION})
OPTIONAL CALL (sc) {{
  MATCH (sc)-[:{RelType.CAUSED_BY}]->(e:{Label.ACTIVITY})
  WITH e ORDER BY e.at, e.id
  RETURN collect(e {{.id, .type, .at, .created_at}}) AS events
}}
OPTIONAL MATCH (t:{Label.TASK} {{id: x.id}})
RETURN x {{.*, subject_key: s.id, subject_label: [l IN labels(s) WHERE l IN $subject_labels][0]}} AS action,
       sc {{.*}} AS score_change, m {{.id, .task, .version, .status, .created_at}} AS model,
       coalesce(events, []) AS events, t {{.id, .status, .title}} AS task
"""

# The latency benchmark (bench/bench_events.py): a generated book with owners, and what it measures.
BENCH_CREATE_WORLD = f"""
UNWIND $rows AS row
MERGE (u:{Label.USER} {{id: row.owner}})
ON CREATE SET u.role = 'rep', u.region = 'EMEA', u.created_at = datetime({{epochSeconds: row.created}})
CREATE (a:{Label.ACCOUNT} {{id: row.id, name: row.id, employees: row.employees, industry: row.industry,
                           region: row.region, created_at: datetime({{epochSeconds: row.created}})}})
CREATE (u)-[:{RelType.OWNS}]->(a)
WITH a, row
UNWIND row.contacts AS c
CREATE (p:{Label.CONTACT} {{id: c.id, seniority: c.seniority, created_at: datetime({{epochSeconds: row.created}})}})
CREATE (p)-[:{RelType.WORKS_AT} {{since: datetime({{epochSeconds: row.created}})}}]->(a)
WITH a, row, collect(p) AS people
UNWIND row.activities AS x
CREATE (act:{Label.ACTIVITY} {{id: x.id, type: x.type, at: datetime({{epochSeconds: x.at}}),
                              created_at: datetime({{epochSeconds: x.at}})}})
CREATE (act)-[:{RelType.ABOUT}]->(a)
WITH act, people, x
CALL (act, people, x) {{
  WITH act, people[x.contact] AS person WHERE person IS NOT NULL
  CREATE (act)-[:{RelType.PERFORMED_BY}]->(person)
}}
RETURN count(*) AS created
"""

BENCH_CREATE_OPPORTUNITIES = f"""
UNWIND $rows AS row
MATCH (a:{Label.ACCOUNT} {{id: row.account}})
CREATE (o:{Label.OPPORTUNITY} {{id: row.id, amount: row.amount, created_at: datetime({{epochSeconds: row.created}})}})
CREATE (o)-[:{RelType.FOR_ACCOUNT}]->(a)
"""

BENCH_EVENT_TIMES = f"""
MATCH (e:{Label.ACTIVITY}) WHERE e.id STARTS WITH $prefix
OPTIONAL CALL (e) {{
  MATCH (e)<-[:{RelType.CAUSED_BY}]-(sc:{Label.SCORE_CHANGE})
  RETURN min(sc.recorded_at) AS scored_at, count(sc) AS changes
}}
OPTIONAL CALL (e) {{
  MATCH (e)<-[:{RelType.CAUSED_BY}]-(:{Label.SCORE_CHANGE})<-[:{RelType.CAUSED_BY}]-(x:{Label.ACTION})
  WHERE x.kind = 'webhook'
  RETURN collect(x.id) AS actions
}}
RETURN e.id AS id, e.created_at.epochMillis AS stored_ms, e.rescored_at.epochMillis AS rescored_ms,
       scored_at.epochMillis AS scored_ms, changes, actions
"""

BENCH_BURST_DONE = f"""
MATCH (e:{Label.ACTIVITY}) WHERE e.id STARTS WITH $prefix AND e.rescored_at IS NOT NULL
WITH count(e) AS done, max(e.rescored_at) AS last
RETURN done, last.epochMillis AS last_ms
"""

# The benchmark's per-query view of Neo4j's own work (the data collector, Community included): how
# often each query ran and how long Neo4j spent compiling and executing it.
BENCH_QUERY_STATS_START = """
CALL db.stats.clear('QUERIES') YIELD success AS cleared
CALL db.stats.collect('QUERIES') YIELD success
RETURN cleared, success
"""

BENCH_QUERY_STATS = """
CALL db.stats.retrieve('QUERIES') YIELD data
RETURN data.query AS query, data.invocationSummary AS summary
"""
