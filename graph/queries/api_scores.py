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
       n.intent_drivers AS drivers, n.intent_driver_weights AS weights
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

# Stages follow the ML registry (graph/queries/ml_registry.py): staged, production, retired; `status`
# mirrors `stage`, and at most one model per task is in production. Promotion retires the task's
# current production model.
PROMOTE_MODEL = f"""
MATCH (m:{Label.MODEL_VERSION} {{id: $key}})
WHERE $role = '{ADMIN}'
OPTIONAL MATCH (current:{Label.MODEL_VERSION} {{stage: 'production'}})
WHERE current <> m AND coalesce(current.task, '') = coalesce(m.task, '')
SET current.status = 'retired', current.stage = 'retired', current.retired_at = datetime()
WITH DISTINCT m
SET m.status = 'production', m.stage = 'production', m.promoted_at = datetime(), m.promoted_by = $user_id,
    m.retired_at = null
RETURN m {{.*}} AS node
"""

# Rollback restores the task's most recently retired model that was once in production and was not
# itself rolled back (so two rollbacks step back twice instead of flip-flopping), as the registry does;
# the mutation then restores the restored model's stored scores (graph/score_restore.py).
ROLLBACK_MODEL = f"""
MATCH (current:{Label.MODEL_VERSION} {{stage: 'production'}})
WHERE $role = '{ADMIN}' AND ($task IS NULL OR current.task = $task)
WITH current ORDER BY current.promoted_at DESC LIMIT 1
MATCH (previous:{Label.MODEL_VERSION} {{stage: 'retired'}})
WHERE coalesce(previous.task, '') = coalesce(current.task, '') AND previous.promoted_at IS NOT NULL
  AND previous.rolled_back_at IS NULL
WITH current, previous ORDER BY previous.retired_at DESC LIMIT 1
SET current.status = 'retired', current.stage = 'retired', current.retired_at = datetime(),
    current.rolled_back_at = datetime(), current.rolled_back_by = $user_id
SET previous.status = 'production', previous.stage = 'production', previous.promoted_at = datetime(),
    previous.promoted_by = $user_id, previous.retired_at = null, previous.restore_pending_from = current.id
RETURN previous {{.*}} AS node, current.id AS retired_id
"""
