"""CRM exports and mappings turned into idempotent graph writes."""
