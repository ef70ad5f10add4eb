"""Cypher of the rollback benchmark (bench/bench_rollback.py): bare accounts, and a stored-score swap to time."""

from __future__ import annotations

from kgcrm.graph.model import Label

CREATE_ACCOUNTS = f"""
UNWIND $ids AS id
CREATE (:{Label.ACCOUNT} {{id: id, name: id, created_at: datetime(), updated_at: datetime()}})
"""

# What a rollback-by-restore design would keep at write time: the previous model's score beside the new one.
STORE_PREVIOUS = f"""
UNWIND $rows AS row
MATCH (a:{Label.ACCOUNT} {{id: row.id}})
SET a.intent_previous_score = row.score, a.intent_previous_model = $model
"""

# The rollback as a restore, one batch of account ids: the retired model's score gives way to the stored one.
RESTORE_PREVIOUS = f"""
UNWIND $ids AS id
MATCH (a:{Label.ACCOUNT} {{id: id}})
WHERE a.intent_model = $retired AND a.intent_previous_model = $restored
SET a.intent_score = a.intent_previous_score, a.intent_model = a.intent_previous_model, a.intent_scored_at = $now
RETURN count(a) AS restored
"""

COUNT_BY_MODEL = f"""
MATCH (a:{Label.ACCOUNT})
RETURN a.intent_model AS model, count(*) AS n
"""
