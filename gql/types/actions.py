"""Actions: what kgcrm (or a person) decided to do about a node, with its lineage and decision."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry import relay
from strawberry.types import Info

from kgcrm.graph.model import Label
from kgcrm.graph.queries.actions import ACTION_STATUSES
from kgcrm.gql.types.convert import global_id, temporal




@strawberry.type(description="Something to do about a node; lineage names the score, model and who triggered it.")
class Action(relay.Node):
    key: relay.NodeID[str]
    kind: str | None = strawberry.field(default=None, description="webhook, task (policies) or manual")
    status: str | None = strawberry.field(
        default=None, description="pending, pending_approval, holdout, delivered, dead_letter or rejected")
    policy: str | None = None
    decision: str | None = None
    note: str | None = None
    reason_code: str | None = None
    created_at: datetime | None = None
    decided_at: datetime | None = None
    decided_by: str | None = None
    triggered_by: str | None = None
    score_value: float | None = None
    model_version: str | None = None
    score_change_id: str | None = None
    subject_key: strawberry.Private[str | None] = None
    subject_label: strawberry.Private[str | None] = None

    @strawberry.field(description="The global ID of the node the action is about.")
    def subject_id(self) -> relay.GlobalID | None:
        return global_id(self.subject_label, self.subject_key) if self.subject_key and self.subject_label else None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Action:
        return cls(
            key=row["id"], kind=row.get("kind"), status=row.get("status"), policy=row.get("policy"),
            decision=row.get("decision"), note=row.get("note"),
            reason_code=row.get("reason_code"), created_at=temporal(row.get("created_at")),
            decided_at=temporal(row.get("decided_at")), decided_by=row.get("decided_by"),
            triggered_by=row.get("triggered_by"), score_value=row.get("score_value"),
            model_version=row.get("model_version"), score_change_id=row.get("score_change_id"),
            subject_key=row.get("subject_key"), subject_label=row.get("subject_label"),
        )

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: list[str], required: bool = False) -> list[Action | None]:
        rows = await info.context.loaders.node(Label.ACTION).load_many(list(node_ids))
        return [cls.from_row(r) if r else None for r in rows]
