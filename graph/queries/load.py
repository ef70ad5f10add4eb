"""Cypher for loading CRM exports: batched, idempotent upserts of nodes and relationships, and pruning.

Labels and relationship types enter the text only as `Label`/`RelType` members; every value is a
parameter. A node's `updated_at` moves only when one of its loaded properties changed, so loading
the same input twice writes nothing the second time.

Date and date-time properties arrive as ISO text and are named in `$dates` and `$datetimes`: Cypher
turns them into `date`/`datetime` values (much cheaper than the driver's conversion of Python ones).
"""

from __future__ import annotations

from collections.abc import Iterable

from kgcrm.graph.model import Label, RelType

# The value of property k of `row.props` as stored: ISO text named in $datetimes/$dates becomes a temporal.
_TYPED = ("CASE WHEN k IN $datetimes THEN datetime(row.props[k]) WHEN k IN $dates THEN date(row.props[k]) "
          "ELSE row.props[k] END")
# True when a property of `row.props` differs from the entity's (null and absent count as equal).
_CHANGED = (
    "any(k IN keys(row.props) WHERE NOT coalesce({var}[k] = " + _TYPED + ", "
    "{var}[k] IS NULL AND row.props[k] IS NULL))"
)
# Set after `SET x += row.props`: the temporal properties, typed.
_SET_TEMPORALS = """FOREACH (k IN CASE WHEN changed THEN $datetimes ELSE [] END | SET {var}[k] = datetime(row.props[k]))
FOREACH (k IN CASE WHEN changed THEN $dates ELSE [] END | SET {var}[k] = date(row.props[k]))
"""


def upsert_nodes(label: Label) -> str:
    """Rows {id, source_id, props}, $datetimes, $dates: create or update nodes; how many were created and updated, and the created ids."""
    label = Label(label).value
    changed = _CHANGED.format(var="n")
    return f"""
UNWIND $rows AS row
MERGE (n:{label} {{id: row.id}})
WITH n, row, n.updated_at IS NULL AS created
WITH n, row, created, CASE WHEN created THEN true ELSE {changed} END AS changed
SET n += CASE WHEN changed THEN row.props ELSE {{}} END,
    n.updated_at = CASE WHEN changed THEN $now ELSE n.updated_at END,
    n.source = coalesce(n.source, $source),
    n.source_id = row.source_id
{_SET_TEMPORALS.format(var="n")}RETURN count(CASE WHEN created THEN 1 END) AS created,
       count(CASE WHEN changed AND NOT created THEN 1 END) AS updated,
       collect(CASE WHEN created THEN n.id END) AS created_ids
"""


def _arrow(rel_type: RelType, direction: str, var: str) -> str:
    rel = f"[{var}:{RelType(rel_type).value}]"
    return f"-{rel}->" if direction == "out" else f"<-{rel}-"


def merge_relationships(
    from_label: Label, rel_type: RelType, to_label: Label, direction: str, *, with_properties: bool
) -> str:
    """Rows {from, to: [ids], props}, $datetimes, $dates: MERGE one relationship per target; both ends must exist.

    With properties, returns how many existing relationships changed (created ones are counted by
    the driver's counters).
    """
    head = f"""
UNWIND $rows AS row
MATCH (a:{Label(from_label).value} {{id: row.from}})
UNWIND row.to AS to_id
MATCH (b:{Label(to_label).value} {{id: to_id}})
"""
    arrow = _arrow(rel_type, direction, "r")
    if not with_properties:
        return head + f"MERGE (a){arrow}(b)\n"
    existing = _arrow(rel_type, direction, "")
    changed = _CHANGED.format(var="r")
    # An existence check per row, not OPTIONAL MATCH + count(): no grouping by (a, b, row).
    return head + f"""WITH a, b, row, EXISTS {{ (a){existing}(b) }} AS existed
MERGE (a){arrow}(b)
WITH r, row, existed, {changed} AS changed
SET r += CASE WHEN changed THEN row.props ELSE {{}} END
{_SET_TEMPORALS.format(var="r")}RETURN count(CASE WHEN changed AND existed THEN 1 END) AS updated
"""


def delete_replaced_relationships(
    from_label: Label, rel_type: RelType, to_labels: Iterable[Label], direction: str
) -> str:
    """Rows {from, keep: [ids]}: remove the node's relationships of this type to other nodes of these labels."""
    arrow = _arrow(rel_type, direction, "old")
    labels = " OR ".join(f"o:{Label(label).value}" for label in to_labels)
    return f"""
UNWIND $rows AS row
MATCH (a:{Label(from_label).value} {{id: row.from}}){arrow}(o)
WHERE ({labels}) AND NOT o.id IN row.keep
DELETE old
"""


def existing_ids(label: Label) -> str:
    """Which of $ids are ids of `label` nodes already in the graph."""
    return f"UNWIND $ids AS id MATCH (n:{Label(label).value} {{id: id}}) RETURN collect(id) AS ids"


def ids_of_source(label: Label) -> str:
    """Every id of `label` nodes that $source loaded (one record holding a list: cheap to move)."""
    return f"MATCH (n:{Label(label).value}) WHERE n.source = $source RETURN collect(n.id) AS ids"


def delete_nodes(label: Label) -> str:
    """Delete `label` nodes by id with their relationships."""
    return f"UNWIND $ids AS id MATCH (n:{Label(label).value} {{id: id}}) DETACH DELETE n"
