"""API reads and writes of Actions: listing, manual triggers with lineage, approval and rejection."""

from kgcrm.graph.model import Label, RelType
from kgcrm.graph.queries.api_scope import VISIBLE_BY_LABEL, hanging_visible

ACTION_SUBJECT_LABELS = (Label.ACCOUNT, Label.CONTACT, Label.OPPORTUNITY)

_ACTION_RETURN = (
    "x {.*, subject_key: s.id, subject_label: [l IN labels(s) WHERE l IN $subject_labels][0]} AS node"
)

LIST_ACTIONS = f"""
MATCH (x:{Label.ACTION})
WHERE ($status IS NULL OR x.status = $status) AND {hanging_visible("x")}
OPTIONAL MATCH (x)-[:{RelType.ABOUT}]->(s)
WITH x, s ORDER BY x.created_at DESC, x.id
RETURN {_ACTION_RETURN}
LIMIT $limit
"""


def trigger_action(label: Label) -> str:
    """Create a pending manual Action about one visible node; lineage names the score, model and caller."""
    visible = VISIBLE_BY_LABEL[Label(label)]("s")
    return f"""
MATCH (s:{Label(label)} {{id: $key}})
WHERE {visible}
OPTIONAL CALL (s) {{
  MATCH (sc:{Label.SCORE_CHANGE})-[:{RelType.ABOUT}]->(s)
  RETURN sc ORDER BY sc.changed_at DESC LIMIT 1
}}
CREATE (x:{Label.ACTION} {{
  id: $action_id, kind: 'manual', status: 'pending', note: $note, created_at: datetime(),
  triggered_by: $user_id, triggered_by_role: $role, source: 'api',
  score_value: s.intent_score, model_version: s.intent_model, score_change_id: sc.id
}})-[:{RelType.ABOUT}]->(s)
RETURN {_ACTION_RETURN}
"""


# Only pending actions are decided; the row comes back either way so the caller can tell why not.
DECIDE_ACTION = f"""
MATCH (x:{Label.ACTION} {{id: $key}})
WHERE {hanging_visible("x")}
OPTIONAL MATCH (x)-[:{RelType.ABOUT}]->(s)
WITH x, s, x.status = 'pending' AS pending
CALL (x, pending) {{
  WITH x WHERE pending
  SET x.status = $status, x.reason_code = $reason_code, x.decided_at = datetime(), x.decided_by = $user_id
}}
RETURN pending, {_ACTION_RETURN}
"""
