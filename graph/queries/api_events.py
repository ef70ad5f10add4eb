"""What subscriptions poll for: score changes and actions written since a watermark, scoped to the caller."""

from kgcrm.graph.model import Label, RelType
from kgcrm.graph.queries.api_scope import hanging_visible

DATABASE_NOW = "RETURN datetime() AS now"

SCORE_CHANGES_SINCE = f"""
MATCH (sc:{Label.SCORE_CHANGE})
WHERE sc.changed_at > $since AND sc.new_score >= $min_score AND {hanging_visible("sc")}
OPTIONAL MATCH (sc)-[:{RelType.ABOUT}]->(s)
WITH sc, s ORDER BY sc.changed_at, sc.id LIMIT $limit
RETURN sc {{.*, subject_key: s.id, subject_label: [l IN labels(s) WHERE l IN $subject_labels][0]}} AS node
"""

ACTIONS_SINCE = f"""
MATCH (x:{Label.ACTION})
WHERE x.created_at > $since AND {hanging_visible("x")}
OPTIONAL MATCH (x)-[:{RelType.ABOUT}]->(s)
WITH x, s ORDER BY x.created_at, x.id LIMIT $limit
RETURN x {{.*, subject_key: s.id, subject_label: [l IN labels(s) WHERE l IN $subject_labels][0]}} AS node
"""

PING = "RETURN 1 AS ok"
