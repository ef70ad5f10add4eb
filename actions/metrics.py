"""Prometheus metrics of the dispatcher: what an operator watches (outcomes, latency, backlog)."""

from prometheus_client import Counter, Gauge, Histogram

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600)

DELIVERIES = Counter(
    "kgcrm_dispatch_deliveries_total",
    "Delivery attempts by kind and outcome (delivered, task_created, retry, dead_letter, lost_lease)",
    ["kind", "outcome"],
)
ATTEMPT_SECONDS = Histogram("kgcrm_dispatch_attempt_seconds", "Duration of one webhook request", buckets=_BUCKETS)
COMMIT_TO_DELIVERED_SECONDS = Histogram(
    "kgcrm_dispatch_commit_to_delivered_seconds",
    "From the Action's commit (created_at) to its successful delivery, retries included",
    buckets=_BUCKETS,
)
OUTBOX_DUE = Gauge("kgcrm_dispatch_outbox_pending", "Pending actions (due or in backoff) when the dispatcher last went idle")
