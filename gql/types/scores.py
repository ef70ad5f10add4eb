"""Scores, their drivers and history, and the model versions that make them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from kgcrm.graph.model import Label
from kgcrm.gql.types.convert import global_id, parse_json, temporal


@strawberry.type(description="One reason behind a score, from the model's explanation.")
class Driver:
    feature: str
    contribution: float | None = None
    detail: str | None = None


@strawberry.type(description="The production model's latest intent score of a node.")
class Score:
    value: float
    model: str | None
    scored_at: datetime | None
    raw_drivers: strawberry.Private[Any] = None
    raw_weights: strawberry.Private[Any] = None

    @strawberry.field(description="Why the node has this score, strongest reason first.")
    def drivers(self) -> list[Driver]:
        # Parsed only when asked for: a list of 50 scores that shows only values skips 50 JSON decodes.
        return drivers_from(self.raw_drivers, self.raw_weights)


def drivers_from(raw: Any, weights: Any = None) -> list[Driver]:
    """Parse `intent_drivers`: the ML write-back's list of sentences with `intent_driver_weights` beside it,
    or a JSON list of {feature, contribution, detail}."""
    items = parse_json(raw, [])
    weights = weights if isinstance(weights, list) else []
    drivers = []
    for i, item in enumerate(items if isinstance(items, list) else []):
        if isinstance(item, dict):
            feature = item.get("feature") or item.get("name")
            contribution = item.get("contribution", item.get("weight"))
            drivers.append(Driver(
                feature=str(feature),
                contribution=float(contribution) if isinstance(contribution, (int, float)) else None,
                detail=str(item["detail"]) if item.get("detail") is not None else None,
            ))
        elif item is not None:
            weight = weights[i] if i < len(weights) and isinstance(weights[i], (int, float)) else None
            drivers.append(Driver(feature=str(item), contribution=float(weight) if weight is not None else None))
    return drivers


def score_from(row: dict[str, Any]) -> Score | None:
    """The Score held in a scored node's properties; None until the node is scored."""
    if row.get("intent_score") is None:
        return None
    return Score(
        value=float(row["intent_score"]),
        model=row.get("intent_model"),
        scored_at=temporal(row.get("intent_scored_at")),
        raw_drivers=row.get("intent_drivers"), raw_weights=row.get("intent_driver_weights"),
    )


@strawberry.type(description="One change of a node's score: what it was, what it became, which model and why.")
class ScoreChange(relay.Node):
    key: relay.NodeID[str]
    old_score: float | None = None
    new_score: float | None = None
    model: str | None = strawberry.field(default=None, description="The ModelVersion id that made the new score.")
    changed_at: datetime | None = None
    reason: str | None = strawberry.field(default=None, description="Why it changed: event, batch, ...")
    subject_key: strawberry.Private[str | None] = None
    subject_label: strawberry.Private[str | None] = None

    @strawberry.field(description="The global ID of the node whose score changed.")
    def subject_id(self) -> relay.GlobalID | None:
        return global_id(self.subject_label, self.subject_key) if self.subject_key and self.subject_label else None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ScoreChange:
        return cls(
            key=row["id"], old_score=row.get("old_score"), new_score=row.get("new_score"),
            model=row.get("model_version", row.get("model")), changed_at=temporal(row.get("changed_at")),
            reason=row.get("cause", row.get("reason")),
            subject_key=row.get("subject_key"), subject_label=row.get("subject_label"),
        )

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: list[str], required: bool = False) -> list[ScoreChange | None]:
        rows = await info.context.loaders.node(Label.SCORE_CHANGE).load_many(list(node_ids))
        return [cls.from_row(r) if r else None for r in rows]


@strawberry.type(description="A trained model: its stage (candidate, production, archived) and metrics.")
class ModelVersion(relay.Node):
    key: relay.NodeID[str]
    name: str | None = None
    task: str | None = None
    version: int | None = None
    stage: str | None = strawberry.field(default=None, description="staged, production or retired")
    created_at: datetime | None = None
    promoted_at: datetime | None = None
    retired_at: datetime | None = None
    metrics: JSON | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ModelVersion:
        return cls(
            key=row["id"], name=row.get("name"), task=row.get("task"), version=row.get("version"),
            stage=row.get("stage", row.get("status")), created_at=temporal(row.get("created_at")),
            promoted_at=temporal(row.get("promoted_at")), retired_at=temporal(row.get("retired_at")),
            metrics=parse_json(row.get("metrics"), None),
        )

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: list[str], required: bool = False) -> list[ModelVersion | None]:
        rows = await info.context.loaders.node(Label.MODEL_VERSION).load_many(list(node_ids))
        return [cls.from_row(r) if r else None for r in rows]


@strawberry.type(description="Why a node has its score: the score and its drivers (empty until the ML issue).")
class Explanation:
    subject_id: relay.GlobalID
    score: Score | None
    drivers: list[Driver]


@strawberry.type(description="A node's score history, newest first (empty until scoring writes ScoreChanges).")
class ScoreHistory:
    subject_id: relay.GlobalID
    changes: list[ScoreChange]
