"""GraphQL over HTTP and WebSocket: scores, graph exploration and actions (filled in by the API issue)."""
