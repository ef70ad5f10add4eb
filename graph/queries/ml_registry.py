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

def _production_models(projection: str) -> str:
    """The production models, `projection` of each: one task's, or every task's ($task null); the newest
    promotion first within a task."""
    return f"""
MATCH (m:{Label.MODEL_VERSION} {{status: 'production'}})
WHERE $task IS NULL OR m.task = $task
RETURN {projection}
ORDER BY m.task, m.promoted_at DESC
"""


PRODUCTION_MODELS = _production_models(MODEL_RETURN)
# The event scorer's per-pass read (every task's): only what it uses (id, task, status; the weights to load a
# model it has not loaded yet), not the whole entry (its feature schema and metrics, JSON strings).
PRODUCTION_MODEL_REFS = _production_models(
    "m {.id, .task, .version, .status, .weights_file, .weights_sha256} AS model")

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
    previous.retired_at = null, previous.restore_pending_from = current.id
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


def keep_previous_score(node: str, model: str) -> str:
    """When model `model` takes node `node` over from another, keep the outgoing model's score beside it.

    A rollback then restores those in the database (restore_previous_scores) instead of rescoring
    every node, which is what lets it finish in seconds at a million scores. Place it before the SET
    of the new score.
    """
    return f"""
FOREACH (_ IN CASE WHEN {node}.intent_model IS NOT NULL AND {node}.intent_model <> {model} THEN [1] ELSE [] END |
  SET {node}.intent_previous_score = {node}.intent_score, {node}.intent_previous_model = {node}.intent_model,
      {node}.intent_previous_scored_at = {node}.intent_scored_at, {node}.intent_previous_drivers = {node}.intent_drivers,
      {node}.intent_previous_driver_weights = {node}.intent_driver_weights)
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
{keep_previous_score("n", "$model")}
SET n.intent_score = row.score, n.intent_model = $model, n.intent_scored_at = $scored_at, n.intent_restored_by = null,
    n.intent_drivers = row.drivers, n.intent_driver_weights = row.weights
CREATE (c:{Label.SCORE_CHANGE} {{id: $run_id + ':' + row.id, old_score: old, new_score: row.score,
        model: $model, changed_at: $scored_at, reason: $reason, subject_key: row.id,
        subject_label: '{label.value}'}})
CREATE (c)-[:{RelType.ABOUT}]->(n)
RETURN count(n) AS written
"""


def restore_previous_scores(label: Label) -> str:
    """A rollback's write: every node the retired model scored over the restored one gets its stored score back.

    Runs in batches of $batch committed one by one (`CALL { } IN TRANSACTIONS`), so it needs an
    auto-commit transaction (Graph.run_batched); it is idempotent, so a re-run after a crash completes
    it. It copies rather than swaps (the retired model's values are dropped: six property writes a
    node instead of eleven, 29 s instead of 42 s at 1M), and `intent_restored_by` names the
    rollback's ScoreRun instead of a million ScoreChange nodes. Nodes whose stored score is not the
    restored model's are left for the rescoring that follows.
    """
    label = Label(label)
    return f"""
MATCH (n:{label.value})
WHERE n.intent_model = $retired AND n.intent_previous_model = $restored
CALL (n) {{
  SET n.intent_score = n.intent_previous_score, n.intent_model = $restored, n.intent_scored_at = $restored_at,
      n.intent_drivers = n.intent_previous_drivers, n.intent_driver_weights = n.intent_previous_driver_weights,
      n.intent_restored_by = $run_id
}} IN TRANSACTIONS OF $batch ROWS
RETURN count(n) AS restored
"""


# Set by a rollback on the restored model until its stored scores are back, so that an interrupted
# restore is finished by the next scoring run (ml/score.py) instead of being forgotten.
RESTORE_DONE = f"""
MATCH (m:{Label.MODEL_VERSION} {{id: $restored, restore_pending_from: $retired}})
REMOVE m.restore_pending_from
"""


def count_scored_by(label: Label) -> str:
    """How many nodes of the label carry a score of model $model."""
    return f"""
MATCH (n:{Label(label).value})
WHERE n.intent_model = $model
RETURN count(n) AS n
"""


CREATE_SCORE_RUN = f"""
CREATE (r:{Label.SCORE_RUN})
SET r = $props, r.finished_at = datetime()
RETURN r {{.*}} AS run
"""

# The latest scoring run (a rollback's in-database restore is a ScoreRun too, without a distribution or drift).
LATEST_SCORE_RUN = f"""
MATCH (r:{Label.SCORE_RUN} {{task: $task}})
WHERE coalesce(r.kind, 'scoring') = 'scoring'
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
