"""API reads and writes of Actions: listing, manual triggers with lineage, approval and rejection.

Statuses and the decision fields follow the outbox's life cycle (graph/queries/actions.py, docs/activation.md);
manual actions (kind `manual`) wait for approval like a policy's and are never dispatched.
"""

from kgcrm.graph.model import Label, RelType
from kgcrm.graph.queries.actions import PENDING, PENDING_APPROVAL, REJECTED
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
  id: $action_id, kind: 'manual', status: '{PENDING_APPROVAL}', note: $note, created_at: datetime(),
  triggered_by: $user_id, triggered_by_role: $role, source: 'api',
  score_value: s.intent_score, model_version: s.intent_model, score_change_id: sc.id
}})-[:{RelType.ABOUT}]->(s)
RETURN {_ACTION_RETURN}
"""


# Only actions waiting for approval are decided (docs/activation.md: approved ones become due for
# delivery, rejected ones final). The write lock is taken before the status is read, so two people
# deciding at once cannot both win; the row comes back either way so the caller can tell why not.
DECIDE_ACTION = f"""
MATCH (x:{Label.ACTION} {{id: $key}})
WHERE {hanging_visible("x")}
SET x._lock = true
REMOVE x._lock
WITH x, x.status = '{PENDING_APPROVAL}' AS waiting
CALL (x, waiting) {{
  WITH x WHERE waiting
  SET x.status = CASE WHEN $approve THEN '{PENDING}' ELSE '{REJECTED}' END,
      x.decision = CASE WHEN $approve THEN 'approved' ELSE 'rejected' END,
      x.reason_code = $reason_code, x.decided_at = datetime(), x.decided_by = $user_id,
      x.next_attempt_at = CASE WHEN $approve THEN datetime() END
}}
WITH x, waiting
OPTIONAL MATCH (x)-[:{RelType.ABOUT}]->(s)
RETURN waiting, {_ACTION_RETURN}
"""
