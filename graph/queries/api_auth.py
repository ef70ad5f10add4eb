"""API keys: stored as the SHA-256 of a random 256-bit secret, looked up by their public key id."""

from kgcrm.graph.model import Label
from kgcrm.graph.queries.plans import keep_plan

CREATE_API_KEY = f"""
CREATE (k:{Label.API_KEY} {{
  id: $key_id, hash: $hash, role: $role, user_id: $user_id, name: $name, created_at: datetime()
}})
RETURN k.id AS key_id
"""

GET_ACTIVE_API_KEY = keep_plan(f"""
MATCH (k:{Label.API_KEY} {{id: $key_id}})
WHERE k.revoked_at IS NULL
RETURN k.hash AS hash, k.role AS role, k.user_id AS user_id
""")

REVOKE_API_KEY = f"""
MATCH (k:{Label.API_KEY} {{id: $key_id}})
WHERE k.revoked_at IS NULL
SET k.revoked_at = datetime()
RETURN k.id AS key_id
"""

USER_EXISTS = f"""
OPTIONAL MATCH (u:{Label.USER} {{id: $user_id}})
RETURN u IS NOT NULL AS found
"""
