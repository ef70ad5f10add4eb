"""Why an action exists (its lineage), and people's verdicts on actions as labels for retraining."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kgcrm.graph.driver import Graph
from kgcrm.graph.errors import ActionNotFound
from kgcrm.graph.queries import actions as q


def explain_action(graph: Graph, action_id: str) -> dict[str, Any]:
    """Action -> ScoreChange -> ModelVersion and -> the Activity events behind it, plus its Task if any."""
    rows = graph.read(q.ACTION_LINEAGE, {"id": action_id, "subject_labels": q.SUBJECT_LABELS})
    if not rows:
        raise ActionNotFound(f"no action with id {action_id!r}")
    return rows[0]


def decision_labels(graph: Graph, since: datetime | None = None) -> list[dict[str, Any]]:
    """Approvals and rejections with their reason codes, oldest first (`since`: decided at or after)."""
    return graph.read(q.DECISION_LABELS, {"since": since, "subject_labels": q.SUBJECT_LABELS})
