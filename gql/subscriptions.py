"""Subscriptions over graphql-transport-ws, on Neo4j Community (no CDC): poll a time watermark.

Each subscription polls for rows written after its watermark, with the caller's scope in the Cypher.
Writes made through this process wake the pollers at once (the Notifier); other writers are seen
within KGCRM_API_POLL_SECONDS. The query looks back a few seconds past the watermark and skips ids
already sent, so a transaction that commits late with an earlier timestamp is not missed.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Callable
from datetime import datetime, timedelta
from typing import Any

import strawberry
from strawberry.types import Info

from kgcrm.graph.queries import api_actions, api_events
from kgcrm.gql import metrics
from kgcrm.gql.errors import InvalidArgument
from kgcrm.gql.permissions import CanRead
from kgcrm.gql.types.actions import Action
from kgcrm.gql.types.convert import native
from kgcrm.gql.types.scores import ScoreChange

logger = logging.getLogger(__name__)

LOOKBACK = timedelta(seconds=5)
BATCH = 100
_SUBJECT_LABELS = [x.value for x in api_actions.ACTION_SUBJECT_LABELS]


async def _poll(info: Info, field: str, name: str, query: str, time_key: str, params: dict[str, Any],
                build: Callable[[dict[str, Any]], Any]) -> AsyncGenerator[Any, None]:
    context = info.context
    db = context.db
    watermark: datetime = native((await db.read("database_now", api_events.DATABASE_NOW))[0]["now"])
    sent: dict[str, datetime] = {}
    metrics.SUBSCRIPTIONS_ACTIVE.labels(field=field).inc()
    try:
        while True:
            rows = await db.read(name, query, {**params, "since": watermark - LOOKBACK, "limit": BATCH,
                                               "subject_labels": _SUBJECT_LABELS})
            for row in rows:
                node = row["node"]
                at = native(node[time_key])
                if node["id"] in sent or at <= watermark - LOOKBACK:
                    continue
                sent[node["id"]] = at
                yield build(node)
            if rows:
                watermark = max(watermark, *(native(r["node"][time_key]) for r in rows))
            sent = {k: v for k, v in sent.items() if v > watermark - LOOKBACK}
            await context.services.notifier.wait(context.services.settings.api_poll_seconds)
    finally:
        metrics.SUBSCRIPTIONS_ACTIVE.labels(field=field).dec()


@strawberry.type
class Subscription:
    @strawberry.subscription(permission_classes=[CanRead],
                             description="Score changes to at least `minScore` on nodes you may see.")
    async def score_changed(self, info: Info, min_score: float = 0.0) -> AsyncGenerator[ScoreChange, None]:
        if not 0.0 <= min_score <= 1.0:
            raise InvalidArgument("minScore: a score is between 0 and 1")
        async for change in _poll(info, "scoreChanged", "score_changes_since", api_events.SCORE_CHANGES_SINCE,
                                  "changed_at", {"min_score": min_score}, ScoreChange.from_row):
            yield change

    @strawberry.subscription(permission_classes=[CanRead], description="New actions about nodes you may see.")
    async def action_created(self, info: Info) -> AsyncGenerator[Action, None]:
        async for action in _poll(info, "actionCreated", "actions_since", api_events.ACTIONS_SINCE,
                                  "created_at", {}, Action.from_row):
            yield action
