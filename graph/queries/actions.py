"""Cypher of activation: score changes with their trigger state, the Action outbox, its dispatch and decisions.

Locks: a statement that reads a value and writes based on it first takes the node's write lock
(`SET n._lock = true REMOVE n._lock`), so a concurrent transaction cannot slip in between
(Neo4j reads committed data; without the lock two writers could both see the old value).
"""

from kgcrm.graph.model import Label, RelType
from kgcrm.graph.queries.ml_registry import keep_previous_score
from kgcrm.graph.queries.plans import keep_plan

# Action statuses (docs/activation.md): the outbox's life cycle.
PENDING = "pending"  # due for delivery (or waiting out a retry's backoff)
PENDING_APPROVAL = "pending_approval"  # above the policy's impact level: waits for a person
HOLDOUT = "holdout"  # withheld as control; never delivered
DELIVERED = "delivered"  # the receiver answered 2xx, or the Task was created
DEAD_LETTER = "dead_letter"  # gave up after the configured number of attempts
REJECTED = "rejected"  # a person rejected it
ACTION_STATUSES = (PENDING, PENDING_APPROVAL, HOLDOUT, DELIVERED, DEAD_LETTER, REJECTED)

# Kinds the dispatcher delivers; the API's manual actions (kind 'manual') are not its business.
WEBHOOK = "webhook"
TASK = "task"
DISPATCHED_KINDS = (WEBHOOK, TASK)

SCORED = (Label.ACCOUNT, Label.CONTACT, Label.OPPORTUNITY)
SUBJECT_LABELS = [label.value for label in SCORED]


# The real-time statements take and return times as integer microseconds since the epoch and store
# DateTimes: the driver's DateTime conversions, with their time zones, took 7% of a busy scorer's samples.
def datetime_of(micros: str) -> str:
    """A UTC DateTime from an expression of microseconds since the epoch (null stays null)."""
    return (f"CASE WHEN {micros} IS NOT NULL THEN datetime({{epochSeconds: {micros} / 1000000, "
            f"nanosecond: {micros} % 1000000 * 1000}}) END")


def nanos_of(value: str) -> str:
    """Nanoseconds since the epoch of a DateTime expression (null stays null): for readers that would
    otherwise decode a driver DateTime (with its time zone) per value, which costs more than the rest."""
    return f"{value}.epochSeconds * 1000000000 + {value}.nanosecond"


def micros_of(value: str) -> str:
    """Microseconds since the epoch of a DateTime expression (null stays null; integer division)."""
    return f"({nanos_of(value)}) / 1000"


def _scored(label: Label) -> str:
    if label not in SCORED:
        raise ValueError(f"activation covers {', '.join(SCORED)}, not {label}")
    return Label(label).value


_ACCOUNT_OF = {
    Label.ACCOUNT: "WITH n, n AS acct",
    Label.CONTACT: f"""OPTIONAL CALL (n) {{
  MATCH (n)-[w:{RelType.WORKS_AT}]->(a:{Label.ACCOUNT}) WHERE w.until IS NULL
  RETURN a AS acct ORDER BY a.id LIMIT 1
}}""",
    Label.OPPORTUNITY: f"""OPTIONAL CALL (n) {{
  MATCH (n)-[:{RelType.FOR_ACCOUNT}]->(a:{Label.ACCOUNT})
  RETURN a AS acct ORDER BY a.id LIMIT 1
}}""",
}


def _subjects_body(label: Label, node_ids: str) -> str:
    """Each scored node's account (the holdout unit) and owner (the node's, else its account's), as `n`,
    `acct`, `owner_id`."""
    name = _scored(label)
    return f"""
UNWIND ${node_ids} AS node_id
MATCH (n:{name} {{id: node_id}})
{_ACCOUNT_OF[Label(label)]}
CALL (n, acct) {{
  OPTIONAL MATCH (u:{Label.USER})-[:{RelType.OWNS}]->(n)
  OPTIONAL MATCH (v:{Label.USER})-[:{RelType.OWNS}]->(acct)
  RETURN coalesce(min(u.id), min(v.id)) AS owner_id
}}"""


def _batch_reads() -> str:
    """A batch's reads before it decides anything, as one statement (one round trip), in this order:

    1. `states`: [id, armed, last_fired_at] of each trigger state in `$batch.states` (rows id, policy,
       node_id), created armed where missing and write-locked, so a concurrent apply of the same changes
       waits here;
    2. `existing`: the ids among `$batch.ids` of score changes already written (read after the locks);
    3. `subjects_<Label>`: [node id, account id, owner id, impact values] of the nodes in
       `$batch.subjects_<Label>`, impact values being the properties `$batch.impact_<Label>` of the node or
       its account.

    Every scored label is always part of it (a label without nodes gets empty lists) and the lists come in
    one map parameter: one plan, made once (graph/queries/plans.py says why).
    """
    parts = [f"""CALL () {{
  UNWIND $batch.states AS row
  MERGE (t:{Label.TRIGGER_STATE} {{id: row.id}})
  ON CREATE SET t.policy = row.policy, t.node_id = row.node_id, t.armed = true
  SET t._lock = true
  REMOVE t._lock
  RETURN collect([t.id, t.armed, {micros_of("t.last_fired_at")}]) AS states
}}
CALL () {{
  MATCH (sc:{Label.SCORE_CHANGE}) WHERE sc.id IN $batch.ids
  RETURN collect(sc.id) AS existing
}}"""]
    names = []
    for label in SCORED:
        name = Label(label).value
        names.append(f"subjects_{name}")
        parts.append(f"""CALL () {{{_subjects_body(label, f"batch.subjects_{name}")}
  RETURN collect([n.id, acct.id, owner_id, [p IN $batch.impact_{name} | coalesce(n[p], acct[p])]])
    AS subjects_{name}
}}""")
    return keep_plan("\n".join(parts) + "\nRETURN " + ", ".join(["states", "existing", *names]))


BATCH_READS = _batch_reads()

LOCK_QUOTAS = keep_plan(f"""
UNWIND $batch.rows AS row
MERGE (q:{Label.ACTION_QUOTA} {{id: row.id}})
ON CREATE SET q.policy = row.policy, q.owner_id = row.owner_id, q.day = row.day, q.count = 0
SET q._lock = true
REMOVE q._lock
RETURN q.id AS id, q.count AS count
""")


def write_score_changes(label: Label) -> str:
    """ScoreChange nodes with their lineage; the node's score is moved only forward in time."""
    return _score_changes_body(label, "rows") + "\nRETURN count(sc) AS written\n"


def _score_changes_body(label: Label, rows: str) -> str:
    name = _scored(label)
    return f"""
UNWIND ${rows} AS row
WITH row, {datetime_of("row.changed_at_us")} AS changed_at
MATCH (n:{name} {{id: row.node_id}})
MERGE (sc:{Label.SCORE_CHANGE} {{id: row.id}})
ON CREATE SET sc.old_score = row.old_score, sc.new_score = row.new_score, sc.changed_at = changed_at,
              sc.model_version = row.model_version, sc.model = row.model_version,
              sc.cause = row.cause, sc.reason = row.cause, sc.event_ids = row.event_ids,
              sc.recorded_at = datetime()
MERGE (sc)-[:{RelType.ABOUT}]->(n)
WITH n, sc, row, changed_at
CALL (n, row, changed_at) {{
  WITH n, row, changed_at WHERE $write_scores AND (n.intent_scored_at IS NULL OR n.intent_scored_at <= changed_at)
  {keep_previous_score("n", "row.model_version")}
  SET n.intent_score = row.new_score, n.intent_model = row.model_version, n.intent_scored_at = changed_at,
      n.intent_restored_by = null
}}
CALL (sc, row) {{
  MATCH (m:{Label.MODEL_VERSION} {{id: row.model_version}})
  MERGE (sc)-[:{RelType.MADE_BY}]->(m)
}}
CALL (sc, row) {{
  UNWIND row.event_ids AS event_id
  MATCH (e:{Label.ACTIVITY} {{id: event_id}})
  MERGE (sc)-[:{RelType.CAUSED_BY}]->(e)
}}"""


def _actions_body(label: Label, rows: str) -> str:
    name = _scored(label)
    return f"""
UNWIND ${rows} AS row
MATCH (n:{name} {{id: row.node_id}})
MATCH (sc:{Label.SCORE_CHANGE} {{id: row.score_change_id}})
MERGE (x:{Label.ACTION} {{id: row.id}})
ON CREATE SET x += row.props, x.triggered_at = {datetime_of("row.triggered_at_us")}, x.created_at = datetime(),
              x.next_attempt_at = CASE WHEN row.props.status = '{PENDING}' THEN datetime() END
MERGE (x)-[:{RelType.ABOUT}]->(n)
MERGE (x)-[:{RelType.CAUSED_BY}]->(sc)"""


def _batch_writes() -> str:
    """A batch's writes as one statement (one round trip): the score changes of each label in
    `$batch.scores_<Label>`, then the Actions in `$batch.actions_<Label>`, the trigger states in
    `$batch.states` and the quota counts in `$batch.quotas`, each a unit subquery, in that order (an Action
    finds its ScoreChange). Every part is always there, with empty lists where a batch has nothing for it,
    and the lists come in one map parameter: one plan, made once (graph/queries/plans.py says why)."""
    parts = [_score_changes_body(label, f"batch.scores_{Label(label).value}") for label in SCORED]
    parts += [_actions_body(label, f"batch.actions_{Label(label).value}") for label in SCORED]
    parts += [_SAVE_TRIGGER_STATES, _SAVE_QUOTAS]
    return keep_plan("".join(f"CALL () {{{part}\n}}\n" for part in parts) + "RETURN true AS written\n")


_SAVE_TRIGGER_STATES = f"""
UNWIND $batch.states AS row
MATCH (t:{Label.TRIGGER_STATE} {{id: row.id}})
SET t.armed = row.armed, t.last_fired_at = {datetime_of("row.last_fired_at_us")}, t.last_score = row.last_score,
    t.updated_at = datetime()"""

_SAVE_QUOTAS = f"""
UNWIND $batch.quotas AS row
MATCH (q:{Label.ACTION_QUOTA} {{id: row.id}})
SET q.count = row.count"""

BATCH_WRITES = _batch_writes()

# --- the dispatcher -------------------------------------------------------------------------------

# Claim due actions: the lease makes a crashed dispatcher's claims expire; the attempt is counted
# at claim time, so an action that crashes every dispatcher still reaches the dead letter.
CLAIM_DUE_ACTIONS = keep_plan(f"""
MATCH (x:{Label.ACTION})
USING INDEX x:{Label.ACTION}(status, next_attempt_at)
WHERE x.status = '{PENDING}' AND x.next_attempt_at <= datetime() AND x.kind IN $kinds
  AND (x.lease_until IS NULL OR x.lease_until <= datetime())
WITH x ORDER BY x.next_attempt_at, x.id LIMIT $limit
SET x._lock = true
REMOVE x._lock
WITH x WHERE x.status = '{PENDING}' AND (x.lease_until IS NULL OR x.lease_until <= datetime())
SET x.lease_until = datetime() + duration({{milliseconds: $lease_ms}}), x.lease_owner = $worker,
    x.attempts = coalesce(x.attempts, 0) + 1, x.last_attempt_at = datetime()
WITH x
OPTIONAL MATCH (x)-[:{RelType.ABOUT}]->(s)
OPTIONAL MATCH (x)-[:{RelType.CAUSED_BY}]->(sc:{Label.SCORE_CHANGE})
RETURN x {{.id, .kind, .attempts, .policy, .account_id, .owner_id, .score_value, .model_version, .decision,
          .decided_by, .reason_code, created_ns: {nanos_of("x.created_at")}}} AS action,
       s.id AS subject_id, [l IN labels(s) WHERE l IN $subject_labels][0] AS subject_label,
       sc {{.id, .old_score, .new_score, .model_version, .cause, .event_ids,
           changed_ns: {nanos_of("sc.changed_at")}}} AS score_change
""")

# The dispatcher records its deliveries' outcomes in groups (actions/group_commit.py): one transaction
# for what finished while the previous one committed. Rows come sorted by id, so two dispatchers lock
# their actions in one order. Each returns the rows it recorded; a missing row is a lost lease.
MARK_DELIVERED = keep_plan(f"""
UNWIND $batch.rows AS row
MATCH (x:{Label.ACTION} {{id: row.id}})
SET x._lock = true
REMOVE x._lock
WITH x, row WHERE x.status = '{PENDING}'
SET x.status = '{DELIVERED}', x.delivered_at = datetime(), x.lease_until = null, x.lease_owner = null,
    x.last_status_code = row.status_code, x.last_error = null,
    x.attempt_log = (coalesce(x.attempt_log, []) + row.log_entry)[-20..]
RETURN row.id AS id, x.status AS status
""")

# A failure is recorded only by the claim that made it: a dispatcher whose lease ran out (and whose
# action someone else has claimed since) must not overwrite the newer attempt's outcome.
MARK_FAILED = keep_plan(f"""
UNWIND $batch.rows AS row
MATCH (x:{Label.ACTION} {{id: row.id}})
SET x._lock = true
REMOVE x._lock
WITH x, row WHERE x.status = '{PENDING}' AND x.lease_owner = $batch.worker AND x.attempts = row.attempt
WITH x, row, x.attempts >= $batch.max_attempts AS exhausted
SET x.status = CASE WHEN exhausted THEN '{DEAD_LETTER}' ELSE '{PENDING}' END,
    x.dead_lettered_at = CASE WHEN exhausted THEN datetime() END,
    x.next_attempt_at = CASE WHEN exhausted THEN null ELSE datetime() + duration({{milliseconds: row.backoff_ms}}) END,
    x.lease_until = null, x.lease_owner = null, x.last_status_code = row.status_code, x.last_error = row.error,
    x.attempt_log = (coalesce(x.attempt_log, []) + row.log_entry)[-20..]
RETURN row.id AS id, x.status AS status
""")

# A Task action is carried out inside the graph, so creating the Task and marking the action
# delivered commit together: exactly once, whatever crashes.
EXECUTE_TASK_ACTION = keep_plan(f"""
MATCH (x:{Label.ACTION} {{id: $id}})
SET x._lock = true
REMOVE x._lock
WITH x WHERE x.status = '{PENDING}' AND x.kind = '{TASK}'
OPTIONAL MATCH (x)-[:{RelType.ABOUT}]->(s)
MERGE (t:{Label.TASK} {{id: x.id}})
ON CREATE SET t.title = 'Follow up: ' + coalesce(s.name, s.id, 'unknown') + ' (' + coalesce(x.policy, 'policy') + ')',
              t.status = 'open', t.created_at = datetime(), t.due_at = datetime() + duration('P1D'),
              t.policy = x.policy, t.action_id = x.id, t.score_value = x.score_value
WITH x, s, t
CALL (t, s) {{
  WITH t, s WHERE s IS NOT NULL
  MERGE (t)-[:{RelType.ABOUT}]->(s)
}}
CALL (t, x) {{
  MATCH (u:{Label.USER} {{id: x.owner_id}})
  MERGE (t)-[:{RelType.ASSIGNED_TO}]->(u)
}}
SET x.status = '{DELIVERED}', x.delivered_at = datetime(), x.lease_until = null, x.lease_owner = null,
    x.task_id = t.id
RETURN t.id AS task_id
""")

# --- decisions and operations -------------------------------------------------------------------------

DECIDE_APPROVAL = f"""
MATCH (x:{Label.ACTION} {{id: $id}})
SET x._lock = true
REMOVE x._lock
WITH x, x.status AS was
CALL (x, was) {{
  WITH x WHERE was = '{PENDING_APPROVAL}'
  SET x.status = CASE WHEN $approve THEN '{PENDING}' ELSE '{REJECTED}' END,
      x.decision = CASE WHEN $approve THEN 'approved' ELSE 'rejected' END,
      x.reason_code = $reason_code, x.decided_at = datetime(), x.decided_by = $decided_by,
      x.next_attempt_at = CASE WHEN $approve THEN datetime() END
}}
RETURN was, x.status AS status
"""

REQUEUE_DEAD_LETTER = f"""
MATCH (x:{Label.ACTION} {{id: $id}})
SET x._lock = true
REMOVE x._lock
WITH x, x.status AS was
CALL (x, was) {{
  WITH x WHERE was = '{DEAD_LETTER}'
  SET x.status = '{PENDING}', x.attempts = 0, x.next_attempt_at = datetime(), x.requeued_at = datetime()
}}
RETURN was, x.status AS status
"""

LIST_ACTIONS = f"""
MATCH (x:{Label.ACTION})
WHERE ($status IS NULL OR x.status = $status) AND x.kind IN $kinds
OPTIONAL MATCH (x)-[:{RelType.ABOUT}]->(s)
WITH x, s ORDER BY x.created_at DESC, x.id LIMIT $limit
RETURN x {{.id, .kind, .status, .policy, .attempts, .created_at, .score_value, .last_error, .owner_id}} AS action,
       s.id AS subject_id
"""

COUNT_ACTIONS_BY_STATUS = f"""
MATCH (x:{Label.ACTION}) WHERE x.kind IN $kinds
RETURN x.status AS status, count(*) AS count ORDER BY status
"""

# When the next pending action falls due: the dispatcher sleeps until then (or its poll interval).
NEXT_DUE = keep_plan(f"""
MATCH (x:{Label.ACTION})
USING INDEX x:{Label.ACTION}(status)
WHERE x.status = '{PENDING}' AND x.kind IN $kinds
WITH min(CASE WHEN x.lease_until > x.next_attempt_at THEN x.lease_until ELSE x.next_attempt_at END) AS next_due,
     count(x) AS pending
RETURN next_due.epochMillis - datetime().epochMillis AS due_in_ms, pending
""")

# --- uplift -----------------------------------------------------------------------------------------

# One row per (account, group): the account's first policy action in the window, and whether it
# converted within the horizon after it. The account is the unit of randomisation, so it is the unit
# counted. Treated means assigned to treatment (every status but holdout): intention to treat.
UPLIFT_UNITS = f"""
MATCH (x:{Label.ACTION})
WHERE x.source = 'policy' AND x.kind IN $kinds AND x.account_id IS NOT NULL
  AND ($policy IS NULL OR x.policy = $policy)
  AND ($since IS NULL OR x.triggered_at >= $since) AND ($until IS NULL OR x.triggered_at < $until)
WITH x.account_id AS account_id, CASE WHEN x.status = '{HOLDOUT}' THEN 'holdout' ELSE 'treated' END AS grp,
     min(x.triggered_at) AS first_at
MATCH (a:{Label.ACCOUNT} {{id: account_id}})
RETURN grp, account_id,
  CASE $outcome
    WHEN 'won' THEN EXISTS {{
      MATCH (o:{Label.OPPORTUNITY})-[:{RelType.FOR_ACCOUNT}]->(a)
      WHERE o.is_won AND o.closed_at > first_at AND o.closed_at <= first_at + $horizon }}
    ELSE EXISTS {{
      MATCH (o:{Label.OPPORTUNITY})-[:{RelType.FOR_ACCOUNT}]->(a)
      WHERE o.created_at > first_at AND o.created_at <= first_at + $horizon }}
  END AS converted
ORDER BY grp, account_id
"""

# --- benchmark seeding (bench/bench_outbox.py) --------------------------------------------------------

BENCH_CREATE_ACCOUNTS = f"""
UNWIND $rows AS row
MERGE (u:{Label.USER} {{id: row.owner_id}})
CREATE (u)-[:{RelType.OWNS}]->(:{Label.ACCOUNT} {{id: row.id, name: row.name}})
"""

# --- lineage ----------------------------------------------------------------------------------------

# The chain behind one action: its subject, the score change, the model that made the score and
# the events that caused the rescoring.
ACTION_LINEAGE = f"""
MATCH (x:{Label.ACTION} {{id: $id}})
OPTIONAL MATCH (x)-[:{RelType.ABOUT}]->(s)
OPTIONAL MATCH (x)-[:{RelType.CAUSED_BY}]->(sc:{Label.SCORE_CHANGE})
OPTIONAL MATCH (sc)-[:{RelType.MADE_BY}]->(m:{Label.MODEL_VERSION})
OPTIONAL CALL (sc) {{
  MATCH (sc)-[:{RelType.CAUSED_BY}]->(e:{Label.ACTIVITY})
  RETURN collect(e {{.id, .type, .at}}) AS events
}}
OPTIONAL MATCH (t:{Label.TASK} {{id: x.id}})
RETURN x {{.*}} AS action, s.id AS subject_id, [l IN labels(s) WHERE l IN $subject_labels][0] AS subject_label,
       sc {{.*}} AS score_change, m {{.id, .stage, .created_at}} AS model, coalesce(events, []) AS events,
       t {{.id, .status, .title}} AS task
"""

# People's decisions on actions, as labels for retraining: what was proposed, and the verdict.
DECISION_LABELS = f"""
MATCH (x:{Label.ACTION})-[:{RelType.ABOUT}]->(s)
WHERE x.decision IS NOT NULL AND ($since IS NULL OR x.decided_at >= $since)
RETURN x.id AS action_id, s.id AS subject_id, [l IN labels(s) WHERE l IN $subject_labels][0] AS subject_label,
       x.policy AS policy, x.decision AS decision, x.reason_code AS reason_code, x.decided_by AS decided_by,
       x.decided_at AS decided_at, x.score_value AS score_value, x.model_version AS model_version,
       x.triggered_at AS triggered_at
ORDER BY x.decided_at, x.id
"""
