"""API reads by key: nodes by id and what hangs off them, each batched for one DataLoader call.

Every query takes `$keys` (a list of kgcrm ids) and returns one row per visible key, so a DataLoader
resolves a whole page of parents with one query; `$role`/`$user_id` scope both parent and child.
"""

from kgcrm.graph.model import Label, RelType
from kgcrm.graph.queries.api_scope import VISIBLE_BY_LABEL, variable

_STAMPS = ("created_at", "updated_at")
_SCORED = (*_STAMPS, "intent_scored_at")
# Temporal properties the API returns as ISO strings (the API parses them back): the Python driver
# builds each DateTime in pure Python (~50 us a value), which was most of a 50-account page's client
# time. A temporal property not listed here still comes back as a driver DateTime.
TEMPORAL_PROPERTIES: dict[Label, tuple[str, ...]] = {
    Label.ACCOUNT: _SCORED,
    Label.CONTACT: _SCORED,
    Label.OPPORTUNITY: (*_SCORED, "close_date", "closed_at"),
    Label.USER: _STAMPS,
    Label.ACTIVITY: (*_STAMPS, "at"),
    Label.PRODUCT: _STAMPS,
    Label.CAMPAIGN: (*_STAMPS, "start_date", "end_date"),
    Label.MODEL_VERSION: (*_STAMPS, "promoted_at", "retired_at", "rolled_back_at", "cutoff"),
    Label.ACTION: (*_STAMPS, "triggered_at", "decided_at", "next_attempt_at", "delivered_at", "dead_lettered_at"),
    Label.SCORE_CHANGE: ("changed_at",),
}


def node_map(var: str, label: Label, extra: str = "") -> str:
    """`var`'s properties as a map, its temporal ones (TEMPORAL_PROPERTIES) as ISO strings; `extra`
    (entries written in code) is added to the map."""
    v = variable(var)
    stamps = "".join(f", {p}: toString({v}.{p})" for p in TEMPORAL_PROPERTIES.get(Label(label), ()))
    return f"{v} {{.*{stamps}{', ' + extra if extra else ''}}}"


def nodes_by_keys(label: Label) -> str:
    """Nodes of one label by id, only those the caller may see."""
    visible = VISIBLE_BY_LABEL[Label(label)]("n")
    return f"""
UNWIND $keys AS key
MATCH (n:{Label(label)} {{id: key}})
WHERE {visible}
RETURN key, {node_map("n", label)} AS node
"""


def related_by_keys(
    parent: Label,
    rel: RelType,
    child: Label,
    *,
    outgoing: bool,
    current_only: bool = False,
    order_by: str = "c.name",
) -> str:
    """For each parent key, the visible children over one relationship, ordered, at most `$limit` each.

    `order_by` is an expression over `c` written in code; `current_only` skips ended WORKS_AT links.
    """
    arrow = f"-[r:{RelType(rel)}]->" if outgoing else f"<-[r:{RelType(rel)}]-"
    current = "r.until IS NULL AND " if current_only else ""
    parent_visible = VISIBLE_BY_LABEL[Label(parent)]("p")
    child_visible = VISIBLE_BY_LABEL[Label(child)]("c")
    return f"""
UNWIND $keys AS key
MATCH (p:{Label(parent)} {{id: key}})
WHERE {parent_visible}
CALL (p) {{
  MATCH (p){arrow}(c:{Label(child)})
  WHERE {current}{child_visible}
  RETURN c, r
  ORDER BY {order_by}, c.id
  LIMIT $limit
}}
RETURN key, collect({node_map("c", child, "_rel: r {.role, .is_primary, .quantity, .unit_price}")}) AS nodes
"""


def children(
    var: str,
    rel: RelType,
    child: Label,
    *,
    outgoing: bool,
    limit_param: str,
    current_only: bool = False,
    order_by: str = "c.name",
) -> str:
    """A COLLECT subquery of the visible children of `var` over one relationship: the same rows, order and
    limit (`$<limit_param>`) as one key's list from `related_by_keys`, to embed in a parent's query."""
    arrow = f"-[r:{RelType(rel)}]->" if outgoing else f"<-[r:{RelType(rel)}]-"
    current = "r.until IS NULL AND " if current_only else ""
    child_visible = VISIBLE_BY_LABEL[Label(child)]("c")
    return (
        f"COLLECT {{ MATCH ({variable(var)}){arrow}(c:{Label(child)}) WHERE {current}{child_visible} "
        f"RETURN {node_map('c', child, '_rel: r {.role, .is_primary, .quantity, .unit_price}')} "
        f"ORDER BY {order_by}, c.id LIMIT ${variable(limit_param)} }}"
    )


def node_with_children(label: Label, collects: list[str]) -> str:
    """One node by `$key` if the caller may see it, with `children(...)` subqueries as columns child_0, ..."""
    visible = VISIBLE_BY_LABEL[Label(label)]("n")
    columns = "".join(f", {c} AS child_{i}" for i, c in enumerate(collects))
    return f"""
MATCH (n:{Label(label)} {{id: $key}})
WHERE {visible}
RETURN {node_map("n", label)} AS node{columns}
"""
