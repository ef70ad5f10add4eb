"""A synthetic book of business for the API benchmark (bench/bench_api.py), written in UNWIND batches."""

from kgcrm.graph.model import Label, RelType

BENCH_CREATE_USERS = f"""
UNWIND $rows AS row
CREATE (:{Label.USER} {{id: row.id, name: row.name, role: row.role, region: row.region, source: 'bench',
                       source_id: row.id, created_at: datetime(), updated_at: datetime()}})
"""

BENCH_LINK_MANAGERS = f"""
UNWIND $rows AS row
MATCH (u:{Label.USER} {{id: row.id}}), (m:{Label.USER} {{id: row.manager}})
CREATE (u)-[:{RelType.REPORTS_TO}]->(m)
"""

BENCH_CREATE_ACCOUNTS = f"""
UNWIND $rows AS row
MATCH (owner:{Label.USER} {{id: row.owner}})
CREATE (owner)-[:{RelType.OWNS}]->(a:{Label.ACCOUNT} {{
  id: row.id, name: row.name, industry: row.industry, region: row.region, employees: row.employees,
  intent_score: row.score, intent_model: 'bench-model', intent_scored_at: datetime(), intent_drivers: row.drivers,
  source: 'bench', source_id: row.id, created_at: datetime(), updated_at: datetime()
}})
"""

BENCH_CREATE_CONTACTS = f"""
UNWIND $rows AS row
MATCH (a:{Label.ACCOUNT} {{id: row.account}})
CREATE (c:{Label.CONTACT} {{id: row.id, name: row.name, title: row.title, seniority: row.seniority,
                           intent_score: row.score, source: 'bench', source_id: row.id, created_at: datetime(),
                           updated_at: datetime()}})-[:{RelType.WORKS_AT} {{since: datetime()}}]->(a)
"""

BENCH_CREATE_OPPORTUNITIES = f"""
UNWIND $rows AS row
MATCH (a:{Label.ACCOUNT} {{id: row.account}})
CREATE (o:{Label.OPPORTUNITY} {{id: row.id, name: row.name, stage: row.stage, amount: row.amount,
                               is_closed: row.closed, is_won: row.won, source: 'bench', source_id: row.id,
                               created_at: datetime(), updated_at: datetime()}})-[:{RelType.FOR_ACCOUNT}]->(a)
WITH o, row
MATCH (c:{Label.CONTACT} {{id: row.contact}})
CREATE (c)-[:{RelType.ROLE_IN} {{role: 'champion', is_primary: true}}]->(o)
"""

BENCH_CREATE_ACTIVITIES = f"""
UNWIND $rows AS row
MATCH (a:{Label.ACCOUNT} {{id: row.account}}), (c:{Label.CONTACT} {{id: row.contact}})
CREATE (x:{Label.ACTIVITY} {{id: row.id, type: row.type, at: datetime() - duration({{days: row.days_ago}}),
                            subject: row.type, source: 'bench', source_id: row.id, created_at: datetime(),
                            updated_at: datetime()}})-[:{RelType.ABOUT}]->(a)
CREATE (x)-[:{RelType.PERFORMED_BY}]->(c)
"""
