"""Cypher of identity resolution: records to compare, SAME_AS decisions, reversible merges.

A merge keeps the duplicate node (labelled Merged, `merged_into` the canonical id) and moves each of
its relationships to the canonical node, tagging each moved end with the duplicate's id
(`identity_moved_start`, `identity_moved_end`), so an unmerge can rebuild each one exactly. Relationship types are copied from the relationships themselves (`$(type(r))`), never from
input. Builders take the label from `IDENTITY_LABELS` only.
"""

from kgcrm.graph.model import Label, RelType

IDENTITY_LABELS: tuple[Label, ...] = (Label.ACCOUNT, Label.CONTACT)

MERGED = Label.MERGED.value
SAME_AS = RelType.SAME_AS.value

# Decision statuses on SAME_AS.
AUTO_MERGED = "auto_merged"
PENDING = "pending"
ACCEPTED = "accepted"
REJECTED = "rejected"
MERGE_STATUSES = (AUTO_MERGED, ACCEPTED)


def _label(label: Label) -> str:
    if label not in IDENTITY_LABELS:
        raise ValueError(f"identity resolution covers {', '.join(IDENTITY_LABELS)}, not {label}")
    return Label(label).value


def account_records() -> str:
    """Active (not merged) accounts in scope, with what matching and canonical choice need."""
    return f"""
MATCH (n:{Label.ACCOUNT.value})
WHERE NOT n:{MERGED} AND ($sources IS NULL OR n.source IN $sources)
RETURN n.id AS id, n.name AS name, n.domain AS domain, n.website AS website,
       n.created_at AS created_at,
       COUNT {{ MATCH (m:{Label.ACCOUNT.value} {{merged_into: n.id}}) }} AS members,
       COUNT {{ MATCH (n)-[r]-() WHERE type(r) <> '{SAME_AS}' }} AS degree
"""


def contact_records() -> str:
    """Active contacts in scope with the domains of the accounts they currently work at."""
    return f"""
MATCH (n:{Label.CONTACT.value})
WHERE NOT n:{MERGED} AND ($sources IS NULL OR n.source IN $sources)
OPTIONAL MATCH (n)-[w:{RelType.WORKS_AT.value}]->(a:{Label.ACCOUNT.value})
WHERE w.until IS NULL
WITH n, [d IN collect(coalesce(a.domain, a.website)) WHERE d IS NOT NULL] AS account_domains,
     collect(a.id) AS account_ids
RETURN n.id AS id, n.name AS name, n.email AS email, account_domains, account_ids,
       n.created_at AS created_at,
       COUNT {{ MATCH (m:{Label.CONTACT.value} {{merged_into: n.id}}) }} AS members,
       COUNT {{ MATCH (n)-[r]-() WHERE type(r) <> '{SAME_AS}' }} AS degree
"""


def existing_decisions(label: Label) -> str:
    """Every SAME_AS between two nodes of a label, with each end's current canonical id."""
    name = _label(label)
    return f"""
MATCH (a:{name})-[r:{SAME_AS}]->(b:{name})
RETURN a.id AS a, b.id AS b, r.status AS status,
       coalesce(a.merged_into, a.id) AS canonical_a, coalesce(b.merged_into, b.id) AS canonical_b
"""


PENDING_ACCOUNT_LINKS = f"""
MATCH (a:{Label.ACCOUNT.value})-[r:{SAME_AS} {{status: $pending}}]->(b:{Label.ACCOUNT.value})
RETURN coalesce(a.merged_into, a.id) AS a, coalesce(b.merged_into, b.id) AS b
"""


def create_decisions(label: Label) -> str:
    """Create SAME_AS rows unless the pair already has a decision in either direction (idempotent)."""
    name = _label(label)
    return f"""
UNWIND $rows AS row
MATCH (a:{name} {{id: row.from_id}})
MATCH (b:{name} {{id: row.to_id}})
WHERE NOT EXISTS {{ (a)-[:{SAME_AS}]-(b) }}
CREATE (a)-[r:{SAME_AS}]->(b)
SET r.id = row.id, r.method = row.method, r.confidence = row.confidence, r.status = row.status,
    r.decided_at = datetime(), r.decided_by = row.decided_by
RETURN count(r) AS created
"""


def merge_nodes(label: Label) -> str:
    """Merge each duplicate into its canonical node, moving and tagging its relationships.

    Each moved end is tagged with the node it left (`identity_moved_start`, `identity_moved_end`); a
    tag already there is kept, so an end moved twice (a duplicate of a duplicate) still names its
    first owner. Nodes already merged into the duplicate follow it to the new canonical.
    """
    name = _label(label)
    return f"""
UNWIND $rows AS row
MATCH (d:{name} {{id: row.duplicate_id}})
MATCH (c:{name} {{id: row.canonical_id}})
WHERE NOT d:{MERGED} AND NOT c:{MERGED} AND d <> c
CALL (d, c) {{
  MATCH (d)-[r]->(x)
  WHERE type(r) <> '{SAME_AS}'
  WITH d, c, r, x = d AS loop, CASE WHEN x = d THEN c ELSE x END AS target
  CREATE (c)-[moved:$(type(r))]->(target)
  SET moved = properties(r),
      moved.identity_moved_start = coalesce(r.identity_moved_start, d.id),
      moved.identity_moved_end = CASE WHEN loop THEN coalesce(r.identity_moved_end, d.id) ELSE r.identity_moved_end END
  DELETE r
}}
CALL (d, c) {{
  MATCH (x)-[r]->(d)
  WHERE type(r) <> '{SAME_AS}' AND x <> d
  CREATE (x)-[moved:$(type(r))]->(c)
  SET moved = properties(r), moved.identity_moved_end = coalesce(r.identity_moved_end, d.id)
  DELETE r
}}
CALL (d, c) {{
  MATCH (member:{name} {{merged_into: d.id}})
  SET member.merged_into = c.id
}}
SET d:{MERGED}, d.merged_into = c.id, d.merged_at = datetime()
RETURN count(d) AS merged
"""


def rehome_merged(label: Label) -> str:
    """Move relationships that reached merged duplicates after their merge (a re-load) to the canonical.

    A relationship whose moved copy is already on the canonical (same type, other end and tag) only
    updates that copy's properties, so re-loading the same input never doubles a relationship. One
    batch of `$limit` duplicates per call; returns how many relationships were re-homed.
    """
    name = _label(label)
    return f"""
MATCH (d:{name}:{MERGED})
WHERE ($sources IS NULL OR d.source IN $sources)
  AND EXISTS {{ MATCH (d)-[r]-() WHERE type(r) <> '{SAME_AS}' }}
WITH d LIMIT $limit
MATCH (c:{name} {{id: d.merged_into}})
CALL (d, c) {{
  MATCH (d)-[r]->(x)
  WHERE type(r) <> '{SAME_AS}'
  WITH d, c, r, x = d AS loop, CASE WHEN x = d THEN c ELSE x END AS target
  OPTIONAL MATCH (c)-[old]->(target)
  WHERE type(old) = type(r) AND old.identity_moved_start = d.id
    AND (NOT loop OR old.identity_moved_end = d.id)
  WITH d, c, r, loop, target, collect(old)[0] AS old
  CALL (d, c, r, loop, target, old) {{
    WITH * WHERE old IS NULL
    CREATE (c)-[moved:$(type(r))]->(target)
    SET moved = properties(r), moved.identity_moved_start = d.id,
        moved.identity_moved_end = CASE WHEN loop THEN d.id END
  }}
  CALL (r, old) {{
    WITH * WHERE old IS NOT NULL
    SET old += properties(r)
  }}
  DELETE r
  RETURN count(*) AS outgoing
}}
CALL (d, c) {{
  MATCH (x)-[r]->(d)
  WHERE type(r) <> '{SAME_AS}' AND x <> d
  OPTIONAL MATCH (x)-[old]->(c)
  WHERE type(old) = type(r) AND old.identity_moved_end = d.id
  WITH d, c, r, x, collect(old)[0] AS old
  CALL (d, c, r, x, old) {{
    WITH * WHERE old IS NULL
    CREATE (x)-[moved:$(type(r))]->(c)
    SET moved = properties(r), moved.identity_moved_end = d.id
  }}
  CALL (r, old) {{
    WITH * WHERE old IS NOT NULL
    SET old += properties(r)
  }}
  DELETE r
  RETURN count(*) AS incoming
}}
RETURN count(d) AS nodes, sum(outgoing + incoming) AS relationships
"""


def unmerge_node(label: Label) -> str:
    """Give a duplicate back the relationship ends tagged with its id and make it active again."""
    name = _label(label)
    return f"""
MATCH (d:{name}:{MERGED} {{id: $id}})
MATCH (c:{name} {{id: d.merged_into}})
CALL (d, c) {{
  MATCH (c)-[r]-()
  WHERE r.identity_moved_start = d.id OR r.identity_moved_end = d.id
  WITH DISTINCT d, r
  WITH d, r, r.identity_moved_start = d.id AS own_start, r.identity_moved_end = d.id AS own_end
  WITH d, r, own_start, own_end,
       CASE WHEN own_start THEN d ELSE startNode(r) END AS new_start,
       CASE WHEN own_end THEN d ELSE endNode(r) END AS new_end
  CREATE (new_start)-[back:$(type(r))]->(new_end)
  SET back = properties(r),
      back.identity_moved_start = CASE WHEN own_start THEN null ELSE r.identity_moved_start END,
      back.identity_moved_end = CASE WHEN own_end THEN null ELSE r.identity_moved_end END
  DELETE r
  RETURN count(back) AS restored
}}
CALL (d) {{
  MATCH (d)-[r:{SAME_AS}]->()
  WHERE r.status IN $merge_statuses
  SET r.status = $rejected, r.decided_at = datetime(), r.unmerged_at = datetime(), r.decided_by = $decided_by
  RETURN count(r) AS reverted
}}
REMOVE d:{MERGED}, d.merged_into, d.merged_at
RETURN d.id AS id, c.id AS canonical_id, restored, reverted
"""


def pending_decisions(label: Label) -> str:
    """The review queue: pending SAME_AS with both records, most confident first."""
    name = _label(label)
    return f"""
MATCH (a:{name})-[r:{SAME_AS} {{status: $pending}}]->(b:{name})
RETURN r.id AS id, r.method AS method, r.confidence AS confidence, r.decided_at AS decided_at,
       '{name}' AS label,
       a {{.id, .source, .name, .email, .domain, .website, .merged_into}} AS left,
       b {{.id, .source, .name, .email, .domain, .website, .merged_into}} AS right
ORDER BY r.confidence DESC, r.id
LIMIT $limit
"""


def decision_by_id(label: Label) -> str:
    """One SAME_AS by its id, with both ends' current canonical ids."""
    name = _label(label)
    return f"""
MATCH (a:{name})-[r:{SAME_AS} {{id: $id}}]->(b:{name})
RETURN r.id AS id, r.status AS status, r.method AS method, r.confidence AS confidence,
       a.id AS a, b.id AS b,
       coalesce(a.merged_into, a.id) AS canonical_a, coalesce(b.merged_into, b.id) AS canonical_b
"""


def set_decision_status(label: Label) -> str:
    """Record a reviewer's verdict on one SAME_AS."""
    name = _label(label)
    return f"""
MATCH (:{name})-[r:{SAME_AS} {{id: $id}}]->(:{name})
SET r.status = $status, r.decided_at = datetime(), r.decided_by = $decided_by
RETURN r.id AS id, r.status AS status
"""


def node_state(label: Label) -> str:
    """Whether a node exists and, if merged, into which node."""
    name = _label(label)
    return f"""
MATCH (n:{name} {{id: $id}})
RETURN n.id AS id, n:{MERGED} AS merged, n.merged_into AS merged_into
"""


def decision_counts(label: Label) -> str:
    """SAME_AS per status and method, for reports."""
    name = _label(label)
    return f"""
MATCH (:{name})-[r:{SAME_AS}]->(:{name})
RETURN r.status AS status, r.method AS method, count(*) AS count
ORDER BY status, method
"""


def decisions_in_scope(label: Label) -> str:
    """All SAME_AS whose ends are both from the given sources (evaluation reads these)."""
    name = _label(label)
    return f"""
MATCH (a:{name})-[r:{SAME_AS}]->(b:{name})
WHERE a.source IN $sources AND b.source IN $sources
RETURN a.id AS a, b.id AS b, r.method AS method, r.confidence AS confidence, r.status AS status
"""


def ids_of_sources(label: Label) -> str:
    """Ids of every node of a label from the given sources, merged or not (evaluation scores these)."""
    name = _label(label)
    return f"""
MATCH (n:{name})
WHERE n.source IN $sources
RETURN n.id AS id
ORDER BY id
"""


def delete_sources(label: Label) -> str:
    """Delete one batch of a label's nodes from the given sources (evaluation cleans up with this)."""
    name = _label(label)
    return f"""
MATCH (n:{name})
WHERE n.source IN $sources
WITH n LIMIT $limit
DETACH DELETE n
RETURN count(*) AS deleted
"""


UPSERT_EVAL_ACCOUNTS = f"""
UNWIND $rows AS row
MERGE (n:{Label.ACCOUNT.value} {{id: row.id}})
SET n.source = row.source, n.source_id = row.source_id, n.name = row.name, n.domain = row.domain,
    n.website = row.website, n.created_at = datetime(row.created_at), n.updated_at = datetime()
"""

UPSERT_EVAL_CONTACTS = f"""
UNWIND $rows AS row
MERGE (n:{Label.CONTACT.value} {{id: row.id}})
SET n.source = row.source, n.source_id = row.source_id, n.name = row.name, n.email = row.email,
    n.created_at = datetime(row.created_at), n.updated_at = datetime()
WITH n, row
MATCH (a:{Label.ACCOUNT.value} {{id: row.account_id}})
MERGE (n)-[w:{RelType.WORKS_AT.value}]->(a)
SET w.since = datetime(row.created_at)
"""
