"""GraphQL over HTTP and WebSocket: scores, graph exploration and actions for clients and account managers."""
