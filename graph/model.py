"""The fixed vocabulary of the graph: node labels, relationship types and activity kinds.

A label or relationship type enters query text only from these enums, never from user input.
docs/graph-model.md explains what each one means.
"""

from enum import StrEnum


class Label(StrEnum):
    ACCOUNT = "Account"
    CONTACT = "Contact"
    OPPORTUNITY = "Opportunity"
    ACTIVITY = "Activity"
    USER = "User"
    PRODUCT = "Product"
    CAMPAIGN = "Campaign"
    # Governance, filled in by the ML and activation issues.
    MODEL_VERSION = "ModelVersion"
    ACTION = "Action"
    # Bookkeeping of kgcrm itself.
    SCHEMA_MIGRATION = "SchemaMigration"
    # Identity resolution: a duplicate merged into the node its `merged_into` names (docs/identity.md).
    MERGED = "Merged"
    # The API: hashed API keys, and the history of score changes that subscriptions and scoreHistory read.
    API_KEY = "ApiKey"
    SCORE_CHANGE = "ScoreChange"
    # Activation: a Task for an owner, per-entity trigger state (hysteresis, cooldown) and per-owner daily quotas.
    TASK = "Task"
    TRIGGER_STATE = "TriggerState"
    ACTION_QUOTA = "ActionQuota"
    # ML: one batch scoring run (counts, distribution, drift) and the retrain lock (a lease per task).
    SCORE_RUN = "ScoreRun"
    RETRAIN_LOCK = "RetrainLock"


class RelType(StrEnum):
    WORKS_AT = "WORKS_AT"
    SUBSIDIARY_OF = "SUBSIDIARY_OF"
    FOR_ACCOUNT = "FOR_ACCOUNT"
    ROLE_IN = "ROLE_IN"
    PERFORMED_BY = "PERFORMED_BY"
    ABOUT = "ABOUT"
    OWNS = "OWNS"
    REPORTS_TO = "REPORTS_TO"
    INCLUDES = "INCLUDES"
    KNOWS = "KNOWS"
    MEMBER_OF = "MEMBER_OF"
    INFLUENCED_BY = "INFLUENCED_BY"
    # Identity resolution: one match decision between two records (docs/identity.md).
    SAME_AS = "SAME_AS"
    # Activation lineage: Action -> ScoreChange -> Activity, ScoreChange -> ModelVersion; Task -> User.
    CAUSED_BY = "CAUSED_BY"
    MADE_BY = "MADE_BY"
    ASSIGNED_TO = "ASSIGNED_TO"


class ActivityType(StrEnum):
    EMAIL_SENT = "email_sent"
    EMAIL_OPENED = "email_opened"
    EMAIL_REPLIED = "email_replied"
    MEETING = "meeting"
    CALL = "call"
    WEB_VISIT = "web_visit"
    CONTENT_DOWNLOAD = "content_download"
    WEBINAR_ATTENDED = "webinar_attended"
    FORM_SUBMITTED = "form_submitted"
    SUPPORT_TICKET = "support_ticket"
    PRODUCT_USAGE = "product_usage"
    TASK = "task"


# The CRM entities every deployment has; counted by `kgcrm stats` and keyed by a unique `id`.
ENTITY_LABELS: tuple[Label, ...] = (
    Label.ACCOUNT,
    Label.CONTACT,
    Label.OPPORTUNITY,
    Label.ACTIVITY,
    Label.USER,
    Label.PRODUCT,
    Label.CAMPAIGN,
)

# Nodes that carry intent_score / intent_model / intent_scored_at.
SCORED_LABELS: tuple[Label, ...] = (Label.ACCOUNT, Label.CONTACT, Label.OPPORTUNITY)
