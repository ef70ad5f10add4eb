"""API writes of CRM entities: MERGE upserts and idempotent activity recording, each one guarded query.

Each query first decides, in Cypher, whether the caller may write (`may_write`) and whether what it
points at exists (`found`); the write runs in an OPTIONAL CALL only when both hold, and the flags
come back so the API can answer with a typed result that names the field.
"""

from kgcrm.graph.model import Label, RelType
from kgcrm.graph.queries.api_scope import (
    ACCOUNT_MANAGER,
    ADMIN,
    INGEST,
    MANAGER,
    account_visible,
    contact_visible,
    hanging_visible,
    opportunity_visible,
    user_visible,
)
from kgcrm.graph.queries.events import route_of

_EDITORS = f"['{ADMIN}', '{MANAGER}', '{ACCOUNT_MANAGER}']"

UPSERT_ACCOUNT = f"""
OPTIONAL MATCH (existing:{Label.ACCOUNT} {{id: $key}})
WITH existing, coalesce($owner_id,
     CASE WHEN existing IS NULL AND $role IN ['{MANAGER}', '{ACCOUNT_MANAGER}'] THEN $user_id END) AS owner_key
OPTIONAL MATCH (owner:{Label.USER} {{id: owner_key}})
WITH existing, owner, owner_key,
     $role IN {_EDITORS} AND (existing IS NULL OR {account_visible("existing")}) AS may_write,
     owner_key IS NULL OR owner IS NOT NULL AS found,
     owner_key IS NULL OR (owner IS NOT NULL AND {user_visible("owner")}) AS may_assign
OPTIONAL CALL (owner, may_write, found, may_assign) {{
  WITH owner WHERE may_write AND found AND may_assign
  MERGE (a:{Label.ACCOUNT} {{id: $key}})
  ON CREATE SET a.created_at = datetime(), a.source = 'api', a.source_id = $key
  SET a += $props, a.updated_at = datetime()
  WITH a, owner
  CALL (a, owner) {{
    WITH a, owner WHERE owner IS NOT NULL
    OPTIONAL MATCH (a)<-[old:{RelType.OWNS}]-(:{Label.USER})
    DELETE old
    MERGE (owner)-[:{RelType.OWNS}]->(a)
  }}
  RETURN a
}}
RETURN may_write, found, may_assign, a {{.*}} AS node
"""

UPSERT_CONTACT = f"""
OPTIONAL MATCH (existing:{Label.CONTACT} {{id: $key}})
OPTIONAL MATCH (account:{Label.ACCOUNT} {{id: $account_id}})
WITH existing, account,
     $role IN {_EDITORS} AND (existing IS NULL OR {contact_visible("existing")}) AS may_write,
     account IS NOT NULL AS found,
     account IS NOT NULL AND {account_visible("account")} AS may_assign
OPTIONAL CALL (account, may_write, found, may_assign) {{
  WITH account WHERE may_write AND found AND may_assign
  MERGE (c:{Label.CONTACT} {{id: $key}})
  ON CREATE SET c.created_at = datetime(), c.source = 'api', c.source_id = $key
  SET c += $props, c.updated_at = datetime()
  WITH c, account
  CALL (c, account) {{
    OPTIONAL MATCH (c)-[old:{RelType.WORKS_AT}]->(other:{Label.ACCOUNT})
    WHERE old.until IS NULL AND other <> account
    SET old.until = datetime()
  }}
  MERGE (c)-[w:{RelType.WORKS_AT}]->(account)
  ON CREATE SET w.since = datetime(), w.title = c.title
  SET w.until = null
  RETURN c
}}
RETURN may_write, found, may_assign, c {{.*}} AS node
"""

UPSERT_OPPORTUNITY = f"""
OPTIONAL MATCH (existing:{Label.OPPORTUNITY} {{id: $key}})
OPTIONAL MATCH (account:{Label.ACCOUNT} {{id: $account_id}})
WITH existing, account,
     $role IN {_EDITORS} AND (existing IS NULL OR {opportunity_visible("existing")}) AS may_write,
     account IS NOT NULL AS found,
     account IS NOT NULL AND {account_visible("account")} AS may_assign
OPTIONAL CALL (account, may_write, found, may_assign) {{
  WITH account WHERE may_write AND found AND may_assign
  MERGE (o:{Label.OPPORTUNITY} {{id: $key}})
  ON CREATE SET o.created_at = datetime(), o.source = 'api', o.source_id = $key
  SET o += $props, o.updated_at = datetime()
  WITH o, account
  CALL (o, account) {{
    OPTIONAL MATCH (o)-[old:{RelType.FOR_ACCOUNT}]->(other:{Label.ACCOUNT}) WHERE other <> account
    DELETE old
  }}
  MERGE (o)-[:{RelType.FOR_ACCOUNT}]->(account)
  RETURN o
}}
RETURN may_write, found, may_assign, o {{.*}} AS node
"""

# Replaying an event id returns the stored activity unchanged (`created` false): ingestion is idempotent.
RECORD_ACTIVITY = f"""
OPTIONAL MATCH (existing:{Label.ACTIVITY} {{id: $key}})
OPTIONAL MATCH (account:{Label.ACCOUNT} {{id: $account_id}})
OPTIONAL MATCH (opportunity:{Label.OPPORTUNITY} {{id: $opportunity_id}})
OPTIONAL MATCH (contact:{Label.CONTACT} {{id: $contact_id}})
OPTIONAL MATCH (performer:{Label.USER} {{id: $performer_id}})
WITH existing, account, opportunity, contact, performer,
     $role IN ['{ADMIN}', '{INGEST}'] AS unscoped
WITH existing, account, opportunity, contact, performer,
     CASE
       WHEN $account_id IS NOT NULL AND (account IS NULL OR NOT (unscoped OR {account_visible("account")}))
         THEN 'accountId'
       WHEN $opportunity_id IS NOT NULL
            AND (opportunity IS NULL OR NOT (unscoped OR {opportunity_visible("opportunity")}))
         THEN 'opportunityId'
       WHEN $contact_id IS NOT NULL AND (contact IS NULL OR NOT (unscoped OR {contact_visible("contact")}))
         THEN 'contactId'
       WHEN $performer_id IS NOT NULL AND performer IS NULL THEN 'performedByUserId'
     END AS missing,
     unscoped OR ($role IN ['{MANAGER}', '{ACCOUNT_MANAGER}']
       AND (existing IS NULL OR {hanging_visible("existing")})) AS may_write
OPTIONAL CALL (account, opportunity, contact, performer, missing, may_write) {{
  WITH * WHERE missing IS NULL AND may_write
  WITH *, {route_of("account", "opportunity", "contact")} AS route
  MERGE (act:{Label.ACTIVITY} {{id: $key}})
  ON CREATE SET act += $props, act.created_at = datetime(), act.updated_at = datetime(),
                act.source = 'api', act.source_id = $key, act._created_now = true,
                act.rescore_pending = true, act.rescore_route = route
  WITH act, account, opportunity, contact, performer, coalesce(act._created_now, false) AS created
  REMOVE act._created_now
  FOREACH (target IN CASE WHEN created THEN [x IN [account, opportunity] WHERE x IS NOT NULL] ELSE [] END |
    MERGE (act)-[:{RelType.ABOUT}]->(target))
  FOREACH (who IN CASE WHEN created THEN [x IN [contact, performer] WHERE x IS NOT NULL] ELSE [] END |
    MERGE (act)-[:{RelType.PERFORMED_BY}]->(who))
  RETURN act, created
}}
RETURN missing, may_write, created, act {{.*}} AS node
"""
