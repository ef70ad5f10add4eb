"""Events in, incremental rescoring, trigger policies, the outbox and webhook dispatch."""
