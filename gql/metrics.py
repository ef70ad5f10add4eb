"""Prometheus metrics of the API: request and operation latency, Cypher time, errors."""

from prometheus_client import Counter, Gauge, Histogram

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

HTTP_REQUESTS = Counter("kgcrm_api_http_requests_total", "HTTP requests by path and status", ["path", "status"])
HTTP_SECONDS = Histogram("kgcrm_api_http_seconds", "HTTP request latency by path", ["path"], buckets=_BUCKETS)
OPERATION_SECONDS = Histogram(
    "kgcrm_api_operation_seconds", "GraphQL operation latency by operation name and type",
    ["operation", "type"], buckets=_BUCKETS,
)
CYPHER_SECONDS = Histogram("kgcrm_api_cypher_seconds", "Time in Neo4j per named API query", ["query"], buckets=_BUCKETS)
GRAPHQL_ERRORS = Counter("kgcrm_api_graphql_errors_total", "GraphQL errors by kind", ["kind"])
AUTH_FAILURES = Counter("kgcrm_api_auth_failures_total", "Rejected credentials by reason", ["reason"])
SUBSCRIPTIONS_ACTIVE = Gauge("kgcrm_api_subscriptions_active", "Open GraphQL subscriptions by field", ["field"])
DOCUMENTS_REFUSED = Counter(
    "kgcrm_api_documents_refused_total",
    "GraphQL documents refused before graphql-core parses or validates them, by reason", ["reason"],
)
