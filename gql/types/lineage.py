"""explainAction: why an action exists, from the action back to its score change, model and events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from kgcrm.gql.types.actions import Action
from kgcrm.gql.types.convert import native
from kgcrm.gql.types.scores import ScoreChange


@strawberry.type(description="An event (activity) that caused a score change.")
class LineageEvent:
    event_id: str
    type: str | None = None
    at: datetime | None = None
    accepted_at: datetime | None = strawberry.field(default=None, description="When kgcrm stored the event.")


@strawberry.type(description="The model version that made a score.")
class LineageModel:
    id: str
    task: str | None = None
    version: int | None = None
    status: str | None = None
    created_at: datetime | None = None


@strawberry.type(description="The Task an action created for the owner, if any.")
class LineageTask:
    id: str
    status: str | None = None
    title: str | None = None


@strawberry.type(description="An action's lineage: action -> score change -> model version -> events, and its task.")
class ActionExplanation:
    action: Action
    score_change: ScoreChange | None
    model: LineageModel | None
    events: list[LineageEvent]
    task: LineageTask | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ActionExplanation:
        change = row.get("score_change")
        model = row.get("model")
        task = row.get("task")
        action = row["action"]
        return cls(
            action=Action.from_row(action),
            score_change=ScoreChange.from_row({**change, "subject_key": action.get("subject_key"),
                                               "subject_label": action.get("subject_label")}) if change else None,
            model=LineageModel(id=model["id"], task=model.get("task"), version=model.get("version"),
                               status=model.get("status"), created_at=native(model.get("created_at")))
            if model else None,
            events=[LineageEvent(event_id=e["id"], type=e.get("type"), at=native(e.get("at")),
                                 accepted_at=native(e.get("created_at"))) for e in row.get("events") or []],
            task=LineageTask(id=task["id"], status=task.get("status"), title=task.get("title")) if task else None,
        )
