"""API graph exploration: the start of a neighbourhood and one breadth-first level of it.

Each level is one query over the frontier's element ids; every neighbour must itself be visible
to the caller, so a path never passes through a node the caller may not see.
"""

from kgcrm.graph.model import Label
from kgcrm.graph.queries.api_scope import VISIBLE_BY_LABEL, node_visible

# Labels a neighbourhood may show (internal bookkeeping labels never appear).
PUBLIC_LABELS = (
    Label.ACCOUNT, Label.CONTACT, Label.OPPORTUNITY, Label.ACTIVITY, Label.USER, Label.PRODUCT,
    Label.CAMPAIGN, Label.MODEL_VERSION, Label.ACTION, Label.SCORE_CHANGE,
)

_NODE_FIELDS = (
    "elementId({v}) AS eid, [l IN labels({v}) WHERE l IN $labels][0] AS label, {v}.id AS key, "
    "coalesce({v}.name, {v}.subject, {v}.type, {v}.id) AS name, {v}.intent_score AS score"
)


_NEIGHBOUR_MAP = (
    "{{rid: elementId(r), type: type(r), source: elementId(startNode(r)), target: elementId(endNode(r)), "
    "eid: elementId({v}), label: [l IN labels({v}) WHERE l IN $labels][0], key: {v}.id, "
    "name: coalesce({v}.name, {v}.subject, {v}.type, {v}.id), score: {v}.intent_score}}"
)


def neighborhood_start(label: Label) -> str:
    """The start node of a neighbourhood, if the caller may see it, with its first level (`first_level`:
    the rows NEIGHBORHOOD_LEVEL gives for it, at most `$limit`), so depth 1 costs one query."""
    visible = VISIBLE_BY_LABEL[Label(label)]("n")
    return f"""
MATCH (n:{Label(label)} {{id: $key}})
WHERE {visible}
RETURN {_NODE_FIELDS.format(v="n")},
       COLLECT {{ MATCH (n)-[r]-(m) WHERE any(l IN labels(m) WHERE l IN $labels) AND {node_visible("m")}
                 RETURN {_NEIGHBOUR_MAP.format(v="m")} LIMIT $limit }} AS first_level
"""


NEIGHBORHOOD_LEVEL = f"""
UNWIND $frontier AS frontier_id
MATCH (n) WHERE elementId(n) = frontier_id
MATCH (n)-[r]-(m)
WHERE any(l IN labels(m) WHERE l IN $labels) AND {node_visible("m")}
RETURN elementId(r) AS rid, type(r) AS type, elementId(startNode(r)) AS source,
       elementId(endNode(r)) AS target, {_NODE_FIELDS.format(v="m")}
LIMIT $limit
"""
