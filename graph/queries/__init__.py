"""Every Cypher query of kgcrm, one module per topic; values always enter as parameters."""
