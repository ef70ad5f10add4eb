"""Cypher of the scoring scaling benchmark (bench/bench_score_scaling.py): reset scores, check each is written once."""

from __future__ import annotations

from kgcrm.graph.model import Label, RelType

COUNT_ACCOUNTS = f"MATCH (a:{Label.ACCOUNT}) RETURN count(a) AS n"

# Every score and its history removed, so the next run writes every account's score again.
FORGET_SCORES = f"""
CALL () {{ MATCH (c:{Label.SCORE_CHANGE}) DETACH DELETE c }}
CALL () {{ MATCH (r:{Label.SCORE_RUN}) DELETE r }}
MATCH (a:{Label.ACCOUNT})
REMOVE a.intent_score, a.intent_model, a.intent_scored_at, a.intent_drivers, a.intent_driver_weights
"""

SCORED_ONCE = f"""
CALL () {{ MATCH (a:{Label.ACCOUNT}) WHERE a.intent_score IS NOT NULL RETURN count(a) AS scored }}
CALL () {{ MATCH (:{Label.SCORE_CHANGE})-[:{RelType.ABOUT}]->(a:{Label.ACCOUNT}) RETURN count(*) AS changes }}
RETURN scored, changes
"""

RUN_TIMINGS = f"MATCH (r:{Label.SCORE_RUN}) RETURN r.timings AS timings"
