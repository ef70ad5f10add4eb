"""The explorer page's server-side queries: only who a demo sign-in should be (the page reads through the API)."""

from kgcrm.graph.model import Label, RelType

# The account owner whose book holds the hottest account (ties: the bigger book), for the demo's key.
DEMO_ACCOUNT_MANAGER = f"""
MATCH (u:{Label.USER})-[:{RelType.OWNS}]->(a:{Label.ACCOUNT})
WITH u, count(a) AS accounts, max(coalesce(a.intent_score, -1.0)) AS hottest
RETURN u.id AS user_id, u.name AS name, accounts
ORDER BY hottest DESC, accounts DESC, u.id
LIMIT 1
"""
