"""People deciding about the outbox: approve or reject actions that wait for approval, requeue dead letters."""

from __future__ import annotations

import logging
import re
from typing import Any

from kgcrm.graph.driver import Graph
from kgcrm.graph.errors import ActionConflict, ActionNotFound, InvalidInput
from kgcrm.graph.queries import actions as q

logger = logging.getLogger(__name__)

# Reason codes become labels for retraining, so they are short, fixed-form tokens, not free text.
_REASON_CODE = re.compile(r"^[a-z][a-z0-9_]{1,63}$")


def decide(graph: Graph, action_id: str, *, approve: bool, reason_code: str, decided_by: str) -> str:
    """Approve (the action becomes due for delivery) or reject a `pending_approval` action; returns its status."""
    if not _REASON_CODE.match(reason_code):
        raise InvalidInput(f"reason code {reason_code!r}: use a snake_case code such as budget_exceeded or good_fit")
    rows = graph.write(q.DECIDE_APPROVAL, {
        "id": action_id, "approve": approve, "reason_code": reason_code, "decided_by": decided_by,
    })
    if not rows:
        raise ActionNotFound(f"no action with id {action_id!r}")
    if rows[0]["was"] != q.PENDING_APPROVAL:
        raise ActionConflict(f"action {action_id} is {rows[0]['was']}, not {q.PENDING_APPROVAL}; nothing changed")
    logger.info("action %s %s with reason %s", action_id, "approved" if approve else "rejected", reason_code)
    return rows[0]["status"]


def requeue(graph: Graph, action_id: str) -> str:
    """Give a dead-lettered action a fresh set of attempts (after the receiver is fixed)."""
    rows = graph.write(q.REQUEUE_DEAD_LETTER, {"id": action_id})
    if not rows:
        raise ActionNotFound(f"no action with id {action_id!r}")
    if rows[0]["was"] != q.DEAD_LETTER:
        raise ActionConflict(f"action {action_id} is {rows[0]['was']}, not {q.DEAD_LETTER}; nothing changed")
    return rows[0]["status"]


def list_actions(graph: Graph, status: str | None, limit: int) -> list[dict[str, Any]]:
    """The newest policy actions, optionally of one status."""
    if status is not None and status not in q.ACTION_STATUSES:
        raise InvalidInput(f"status {status!r}: must be one of {', '.join(q.ACTION_STATUSES)}")
    return graph.read(q.LIST_ACTIONS, {"status": status, "limit": limit, "kinds": list(q.DISPATCHED_KINDS)})


def count_by_status(graph: Graph) -> dict[str, int]:
    """How many policy actions are in each status."""
    rows = graph.read(q.COUNT_ACTIONS_BY_STATUS, {"kinds": list(q.DISPATCHED_KINDS)})
    return {row["status"]: row["count"] for row in rows}
