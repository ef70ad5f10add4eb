"""API reads and writes about scores and models: explanations, score history, model versions."""

from kgcrm.graph.model import Label, RelType
from kgcrm.graph.queries.api_scope import ADMIN, VISIBLE_BY_LABEL, reference_visible


def explain(label: Label) -> str:
    """The score and its drivers (`intent_drivers`, written by the ML issue) of one visible node."""
    visible = VISIBLE_BY_LABEL[Label(label)]("n")
    return f"""
MATCH (n:{Label(label)} {{id: $key}})
WHERE {visible}
RETURN n.intent_score AS value, n.intent_model AS model, n.intent_scored_at AS scored_at,
       n.intent_drivers AS drivers
"""


def score_history(label: Label) -> str:
    """The visible node's ScoreChange history, newest first; empty until scoring writes some."""
    visible = VISIBLE_BY_LABEL[Label(label)]("n")
    return f"""
MATCH (n:{Label(label)} {{id: $key}})
WHERE {visible}
OPTIONAL CALL (n) {{
  MATCH (sc:{Label.SCORE_CHANGE})-[:{RelType.ABOUT}]->(n)
  RETURN sc ORDER BY sc.changed_at DESC, sc.id LIMIT $limit
}}
RETURN n.id AS key, collect(sc {{.*}}) AS changes
"""


LIST_MODELS = f"""
MATCH (m:{Label.MODEL_VERSION})
WHERE {reference_visible()} AND ($stage IS NULL OR m.stage = $stage)
RETURN m {{.*}} AS node
ORDER BY m.created_at DESC, m.id
LIMIT $limit
"""

# Promotion retires the current production model, remembering when, so a rollback can find it.
PROMOTE_MODEL = f"""
MATCH (m:{Label.MODEL_VERSION} {{id: $key}})
WHERE $role = '{ADMIN}'
OPTIONAL MATCH (current:{Label.MODEL_VERSION} {{stage: 'production'}}) WHERE current <> m
SET current.stage = 'archived', current.retired_at = datetime()
SET m.stage = 'production', m.promoted_at = datetime(), m.promoted_by = $user_id
RETURN DISTINCT m {{.*}} AS node
"""

# Rollback retires the production model and restores the one retired most recently before it.
ROLLBACK_MODEL = f"""
MATCH (current:{Label.MODEL_VERSION} {{stage: 'production'}})
WHERE $role = '{ADMIN}'
MATCH (previous:{Label.MODEL_VERSION})
WHERE previous <> current AND previous.retired_at IS NOT NULL
WITH current, previous ORDER BY previous.retired_at DESC LIMIT 1
SET current.stage = 'archived', current.retired_at = datetime(), current.rolled_back_by = $user_id
SET previous.stage = 'production', previous.promoted_at = datetime(), previous.promoted_by = $user_id,
    previous.retired_at = null
RETURN previous {{.*}} AS node
"""
