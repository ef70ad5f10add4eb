"""Schema migrations (constraints and indexes) and the bookkeeping of which ones were applied.

Schema statements cannot take parameters; every name in them is fixed here, in code.
"""

from typing import NamedTuple

from kgcrm.graph.model import Label


class Migration(NamedTuple):
    version: int
    name: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "entity keys, lookups and the migration log",
        (
            "CREATE CONSTRAINT schema_migration_version IF NOT EXISTS "
            "FOR (m:SchemaMigration) REQUIRE m.version IS UNIQUE",
            "CREATE CONSTRAINT account_id IF NOT EXISTS FOR (n:Account) REQUIRE n.id IS UNIQUE",
            "CREATE CONSTRAINT contact_id IF NOT EXISTS FOR (n:Contact) REQUIRE n.id IS UNIQUE",
            "CREATE CONSTRAINT opportunity_id IF NOT EXISTS FOR (n:Opportunity) REQUIRE n.id IS UNIQUE",
            "CREATE CONSTRAINT activity_id IF NOT EXISTS FOR (n:Activity) REQUIRE n.id IS UNIQUE",
            "CREATE CONSTRAINT user_id IF NOT EXISTS FOR (n:User) REQUIRE n.id IS UNIQUE",
            "CREATE CONSTRAINT product_id IF NOT EXISTS FOR (n:Product) REQUIRE n.id IS UNIQUE",
            "CREATE CONSTRAINT campaign_id IF NOT EXISTS FOR (n:Campaign) REQUIRE n.id IS UNIQUE",
            "CREATE CONSTRAINT model_version_id IF NOT EXISTS FOR (n:ModelVersion) REQUIRE n.id IS UNIQUE",
            "CREATE CONSTRAINT action_id IF NOT EXISTS FOR (n:Action) REQUIRE n.id IS UNIQUE",
            "CREATE INDEX account_name IF NOT EXISTS FOR (n:Account) ON (n.name)",
            "CREATE INDEX account_domain IF NOT EXISTS FOR (n:Account) ON (n.domain)",
            "CREATE INDEX contact_email IF NOT EXISTS FOR (n:Contact) ON (n.email)",
            "CREATE INDEX opportunity_stage IF NOT EXISTS FOR (n:Opportunity) ON (n.stage)",
            "CREATE INDEX opportunity_close_date IF NOT EXISTS FOR (n:Opportunity) ON (n.close_date)",
            "CREATE INDEX activity_at IF NOT EXISTS FOR (n:Activity) ON (n.at)",
            "CREATE INDEX account_intent_score IF NOT EXISTS FOR (n:Account) ON (n.intent_score)",
            "CREATE INDEX contact_intent_score IF NOT EXISTS FOR (n:Contact) ON (n.intent_score)",
            "CREATE INDEX opportunity_intent_score IF NOT EXISTS FOR (n:Opportunity) ON (n.intent_score)",
            "CREATE INDEX account_source IF NOT EXISTS FOR (n:Account) ON (n.source)",
            "CREATE INDEX contact_source IF NOT EXISTS FOR (n:Contact) ON (n.source)",
            "CREATE INDEX opportunity_source IF NOT EXISTS FOR (n:Opportunity) ON (n.source)",
            "CREATE INDEX activity_source IF NOT EXISTS FOR (n:Activity) ON (n.source)",
            "CREATE INDEX user_source IF NOT EXISTS FOR (n:User) ON (n.source)",
            "CREATE INDEX product_source IF NOT EXISTS FOR (n:Product) ON (n.source)",
            "CREATE INDEX campaign_source IF NOT EXISTS FOR (n:Campaign) ON (n.source)",
            "CREATE INDEX works_at_since IF NOT EXISTS FOR ()-[r:WORKS_AT]-() ON (r.since)",
        ),
    ),
    Migration(
        2,
        "full-text search over names",
        (
            "CREATE FULLTEXT INDEX entity_names IF NOT EXISTS "
            "FOR (n:Account|Contact|Opportunity|User|Product|Campaign) ON EACH [n.name]",
        ),
    ),
    Migration(
        3,
        "API keys, score changes and actions for the GraphQL API",
        (
            "CREATE CONSTRAINT api_key_id IF NOT EXISTS FOR (k:ApiKey) REQUIRE k.id IS UNIQUE",
            "CREATE CONSTRAINT score_change_id IF NOT EXISTS FOR (n:ScoreChange) REQUIRE n.id IS UNIQUE",
            "CREATE INDEX score_change_at IF NOT EXISTS FOR (n:ScoreChange) ON (n.changed_at)",
            "CREATE INDEX action_created_at IF NOT EXISTS FOR (n:Action) ON (n.created_at)",
            "CREATE INDEX action_status IF NOT EXISTS FOR (n:Action) ON (n.status)",
            "CREATE INDEX model_version_stage IF NOT EXISTS FOR (n:ModelVersion) ON (n.stage)",
            "CREATE INDEX account_updated_at IF NOT EXISTS FOR (n:Account) ON (n.updated_at)",
        ),
    ),
    Migration(
        4,
        "identity resolution: SAME_AS decisions and merged duplicates",
        (
            "CREATE INDEX same_as_id IF NOT EXISTS FOR ()-[r:SAME_AS]-() ON (r.id)",
            "CREATE INDEX same_as_status IF NOT EXISTS FOR ()-[r:SAME_AS]-() ON (r.status)",
            "CREATE INDEX account_merged_into IF NOT EXISTS FOR (n:Account) ON (n.merged_into)",
            "CREATE INDEX contact_merged_into IF NOT EXISTS FOR (n:Contact) ON (n.merged_into)",
        ),
    ),
    Migration(
        6,
        "ML registry: model versions by task and status, scoring runs, the retrain lock",
        (
            "CREATE INDEX model_version_task IF NOT EXISTS FOR (n:ModelVersion) ON (n.task, n.status)",
            "CREATE CONSTRAINT score_run_id IF NOT EXISTS FOR (n:ScoreRun) REQUIRE n.id IS UNIQUE",
            "CREATE INDEX score_run_task IF NOT EXISTS FOR (n:ScoreRun) ON (n.task, n.finished_at)",
            "CREATE CONSTRAINT retrain_lock_task IF NOT EXISTS FOR (n:RetrainLock) REQUIRE n.task IS UNIQUE",
        ),
    ),
    Migration(
        10,
        "activation: trigger state, owner quotas, tasks, the outbox's due index",
        (
            "CREATE CONSTRAINT trigger_state_id IF NOT EXISTS FOR (n:TriggerState) REQUIRE n.id IS UNIQUE",
            "CREATE CONSTRAINT action_quota_id IF NOT EXISTS FOR (n:ActionQuota) REQUIRE n.id IS UNIQUE",
            "CREATE CONSTRAINT task_id IF NOT EXISTS FOR (n:Task) REQUIRE n.id IS UNIQUE",
            "CREATE INDEX action_due IF NOT EXISTS FOR (n:Action) ON (n.status, n.next_attempt_at)",
        ),
    ),
    Migration(
        11,
        "real-time events: the rescoring queue",
        ("CREATE INDEX activity_rescore_pending IF NOT EXISTS FOR (n:Activity) ON (n.rescore_pending)",),
    ),
)

GET_APPLIED_VERSIONS = """
MATCH (m:SchemaMigration)
RETURN m.version AS version, m.name AS name, m.applied_at AS applied_at
ORDER BY version
"""

RECORD_MIGRATION = """
MERGE (m:SchemaMigration {version: $version})
ON CREATE SET m.name = $name, m.applied_at = datetime()
"""

LIST_CONSTRAINTS = "SHOW CONSTRAINTS YIELD name RETURN name ORDER BY name"
LIST_INDEXES = "SHOW INDEXES YIELD name, type, state RETURN name, type, state ORDER BY name"

AWAIT_INDEXES = "CALL db.awaitIndexes($timeout_seconds)"

COUNT_NODES = "MATCH (n) RETURN count(n) AS count"
COUNT_RELATIONSHIPS = "MATCH ()-[r]->() RETURN count(r) AS count"
SERVER_COMPONENTS = "CALL dbms.components() YIELD name, versions, edition RETURN name, versions, edition"


def count_by_label(labels: tuple[Label, ...]) -> str:
    """One query counting each label; with literal labels Neo4j answers from its count store."""
    parts = [f"CALL () {{ MATCH (n:{Label(label).value}) RETURN count(n) AS `{Label(label).value}` }}" for label in labels]
    returns = ", ".join(f"`{Label(label).value}`" for label in labels)
    return "\n".join(parts) + f"\nRETURN {returns}"
