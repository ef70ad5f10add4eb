"""kgcrm: a knowledge-graph CRM reasoning service on Neo4j."""

__version__ = "0.1.0"
