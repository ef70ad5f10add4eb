"""API reads by key: nodes by id and what hangs off them, each batched for one DataLoader call.

Every query takes `$keys` (a list of kgcrm ids) and returns one row per visible key, so a DataLoader
resolves a whole page of parents with one query; `$role`/`$user_id` scope both parent and child.
"""

from kgcrm.graph.model import Label, RelType
from kgcrm.graph.queries.api_scope import VISIBLE_BY_LABEL


def nodes_by_keys(label: Label) -> str:
    """Nodes of one label by id, only those the caller may see."""
    visible = VISIBLE_BY_LABEL[Label(label)]("n")
    return f"""
UNWIND $keys AS key
MATCH (n:{Label(label)} {{id: key}})
WHERE {visible}
RETURN key, n {{.*}} AS node
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
RETURN key, collect(c {{.*, _rel: properties(r)}}) AS nodes
"""


def about_by_keys(parent: Label, child: Label, *, order_by: str) -> str:
    """For each parent key, the visible nodes of `child` (Activity, Action, ScoreChange) ABOUT it."""
    return related_by_keys(parent, RelType.ABOUT, child, outgoing=False, order_by=order_by)

