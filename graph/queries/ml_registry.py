"""Cypher for the ML registry and write-back: ModelVersion stages, ScoreRun records, the retrain lock, scores.

A ModelVersion's `status` is staged, production or retired; `stage` mirrors it for the GraphQL API,
which reads that name. At most one ModelVersion per task is in production; promotion and rollback
change both sides in one transaction.
"""

from __future__ import annotations

from kgcrm.graph.model import Label, RelType

MODEL_RETURN = "m {.*} AS model"

CREATE_MODEL_VERSION = f"""
MATCH (other:{Label.MODEL_VERSION} {{task: $task}})
WITH coalesce(max(other.version), 0) + 1 AS version
CREATE (m:{Label.MODEL_VERSION} {{id: $task + '-v' + toString(version), task: $task, version: version}})
SET m += $props, m.name = $task + ' v' + toString(version), m.created_at = datetime(),
    m.status = 'staged', m.stage = 'staged'
RETURN {MODEL_RETURN}
"""

SET_WEIGHTS = f"""
MATCH (m:{Label.MODEL_VERSION} {{id: $id}})
SET m.weights_file = $file, m.weights_sha256 = $sha
"""

LIST_MODEL_VERSIONS = f"""
MATCH (m:{Label.MODEL_VERSION})
WHERE $task IS NULL OR m.task = $task
RETURN {MODEL_RETURN}
ORDER BY m.task, m.version DESC
"""

GET_MODEL_VERSION = f"""
MATCH (m:{Label.MODEL_VERSION} {{id: $id}})
RETURN {MODEL_RETURN}
"""

GET_PRODUCTION_MODEL = f"""
MATCH (m:{Label.MODEL_VERSION} {{task: $task, status: 'production'}})
RETURN {MODEL_RETURN}
ORDER BY m.promoted_at DESC
LIMIT 1
"""

SET_GATE_RESULT = f"""
MATCH (m:{Label.MODEL_VERSION} {{id: $id}})
SET m.gate_passed = $passed, m.gate_reason = $reason, m.production_metrics = $production_metrics
RETURN {MODEL_RETURN}
"""

# Retire whatever is in production for the task, then promote the given model.
PROMOTE_MODEL_VERSION = f"""
MATCH (m:{Label.MODEL_VERSION} {{id: $id}})
OPTIONAL MATCH (current:{Label.MODEL_VERSION} {{task: m.task, status: 'production'}})
WHERE current <> m
SET current.status = 'retired', current.stage = 'retired', current.retired_at = datetime()
WITH DISTINCT m
SET m.status = 'production', m.stage = 'production', m.promoted_at = datetime(), m.retired_at = null
RETURN {MODEL_RETURN}
"""

# The model to roll back to: the most recently retired one of the task that was once in production
# (never one that was itself rolled back, so two rollbacks step back twice instead of flip-flopping).
PREVIOUS_PRODUCTION_MODEL = f"""
MATCH (m:{Label.MODEL_VERSION} {{task: $task, status: 'retired'}})
WHERE m.promoted_at IS NOT NULL AND m.rolled_back_at IS NULL
RETURN {MODEL_RETURN}
ORDER BY m.retired_at DESC, m.version DESC
LIMIT 1
"""

ROLL_BACK_MODEL_VERSION = f"""
MATCH (current:{Label.MODEL_VERSION} {{task: $task, status: 'production'}})
MATCH (previous:{Label.MODEL_VERSION} {{id: $previous_id, task: $task}})
SET current.status = 'retired', current.stage = 'retired', current.retired_at = datetime(),
    current.rolled_back_at = datetime()
SET previous.status = 'production', previous.stage = 'production', previous.promoted_at = datetime(),
    previous.retired_at = null
RETURN previous {{.*}} AS model, current.id AS retired_id
"""

# The retrain lock: a lease per task. Touching the node first takes its write lock, so two
# transactions that try at once are serialised and the second sees the first one's holder.
TOUCH_RETRAIN_LOCK = f"""
MERGE (l:{Label.RETRAIN_LOCK} {{task: $task}})
SET l.touched_at = datetime()
"""

READ_RETRAIN_LOCK = f"""
MATCH (l:{Label.RETRAIN_LOCK} {{task: $task}})
RETURN l.holder AS holder, l.expires_at AS expires_at, l.expires_at < datetime() AS expired
"""

TAKE_RETRAIN_LOCK = f"""
MATCH (l:{Label.RETRAIN_LOCK} {{task: $task}})
SET l.holder = $holder, l.acquired_at = datetime(), l.expires_at = datetime() + duration({{seconds: $lease}})
"""

RENEW_RETRAIN_LOCK = f"""
MATCH (l:{Label.RETRAIN_LOCK} {{task: $task, holder: $holder}})
SET l.expires_at = datetime() + duration({{seconds: $lease}})
RETURN count(l) AS renewed
"""

RELEASE_RETRAIN_LOCK = f"""
MATCH (l:{Label.RETRAIN_LOCK} {{task: $task, holder: $holder}})
SET l.holder = null, l.expires_at = null, l.released_at = datetime()
RETURN count(l) AS released
"""


def write_scores(label: Label) -> str:
    """Write the scores of one batch, only where the score moved by more than $epsilon or the model changed.

    Each change also leaves a ScoreChange (old and new score, model, run) that the API's history reads.
    """
    label = Label(label)
    return f"""
UNWIND $rows AS row
MATCH (n:{label.value} {{id: row.id}})
WITH n, row, n.intent_score AS old
WHERE old IS NULL OR abs(old - row.score) > $epsilon OR n.intent_model IS NULL OR n.intent_model <> $model
SET n.intent_score = row.score, n.intent_model = $model, n.intent_scored_at = $scored_at,
    n.intent_drivers = row.drivers, n.intent_driver_weights = row.weights
CREATE (c:{Label.SCORE_CHANGE} {{id: $run_id + ':' + row.id, old_score: old, new_score: row.score,
        model: $model, changed_at: $scored_at, reason: $reason, subject_key: row.id,
        subject_label: '{label.value}'}})
CREATE (c)-[:{RelType.ABOUT}]->(n)
RETURN count(n) AS written
"""


CREATE_SCORE_RUN = f"""
CREATE (r:{Label.SCORE_RUN})
SET r = $props, r.finished_at = datetime()
RETURN r {{.*}} AS run
"""

LATEST_SCORE_RUN = f"""
MATCH (r:{Label.SCORE_RUN} {{task: $task}})
RETURN r {{.*}} AS run
ORDER BY r.finished_at DESC
LIMIT 1
"""

# The graph's clock: the newest event it records (a live graph's is about now; a loaded export's is its end).
GRAPH_CLOCK = f"""
CALL () {{ MATCH (a:{Label.ACTIVITY}) RETURN max(a.at) AS t }}
CALL () {{ MATCH (o:{Label.OPPORTUNITY}) RETURN max(o.created_at) AS o }}
RETURN CASE WHEN t IS NULL OR (o IS NOT NULL AND o > t) THEN o ELSE t END AS clock
"""

ACCOUNT_NAMES = f"""
MATCH (a:{Label.ACCOUNT})
WHERE a.id IN $ids
RETURN a.id AS id, a.name AS name
"""
