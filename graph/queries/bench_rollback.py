"""Cypher of the rollback benchmark (bench/bench_rollback.py): bare accounts and checks of who scored them."""

from __future__ import annotations

from kgcrm.graph.model import Label

CREATE_ACCOUNTS = f"""
UNWIND $ids AS id
CREATE (:{Label.ACCOUNT} {{id: id, name: id, created_at: datetime(), updated_at: datetime()}})
"""

COUNT_BY_MODEL = f"""
MATCH (a:{Label.ACCOUNT})
RETURN a.intent_model AS model, count(*) AS n
"""

SAMPLE_SCORES = f"""
UNWIND $ids AS id
MATCH (a:{Label.ACCOUNT} {{id: id}})
RETURN a.id AS id, a.intent_score AS score
"""
