"""The root Mutation: MERGE upserts, idempotent event recording, actions and model governance.

Each write is one guarded Cypher query that decides permission and existence itself; expected
failures come back as typed results (NotFound, NotAllowed, InvalidInput, ...) that name the field.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Annotated, Any

import strawberry
from starlette.concurrency import run_in_threadpool
from strawberry.types import Info

from kgcrm.graph.model import SCORED_LABELS, Label
from kgcrm.graph.queries import api_actions, api_scores, api_writes
from kgcrm.graph.score_restore import restore_previous_scores
from kgcrm.gql import hooks
from kgcrm.gql.permissions import CanIngest, CanRead, IsAdmin
from kgcrm.gql.types.actions import Action
from kgcrm.gql.types.convert import decode_global_id, key_for
from kgcrm.gql.types.errors import (
    ActionNotPending,
    InvalidInput,
    NotAllowed,
    NotFound,
    ScoringUnavailable,
    invalid,
    not_allowed,
    not_found,
)
from kgcrm.gql.types.inputs import AccountInput, ActivityInput, ContactInput, OpportunityInput
from kgcrm.gql.types.nodes import Account, Activity, Contact, Opportunity
from kgcrm.gql.types.scores import ModelVersion

MAX_TEXT = 500
MAX_ID = 200
MAX_RESCORE = 100
# Reason codes become labels for retraining (docs/activation.md): short snake_case tokens.
REASON_CODE = re.compile(r"^[a-z][a-z0-9_]{1,63}$")


@strawberry.type(description="The stored activity, and whether this call stored it (false on a replay).")
class ActivityRecorded:
    activity: Activity
    created: bool


UpsertAccountResult = Annotated[Account | NotFound | NotAllowed | InvalidInput, strawberry.union("UpsertAccountResult")]
UpsertContactResult = Annotated[Contact | NotFound | NotAllowed | InvalidInput, strawberry.union("UpsertContactResult")]
UpsertOpportunityResult = Annotated[
    Opportunity | NotFound | NotAllowed | InvalidInput, strawberry.union("UpsertOpportunityResult")
]
RecordActivityResult = Annotated[
    ActivityRecorded | NotFound | NotAllowed | InvalidInput, strawberry.union("RecordActivityResult")
]
TriggerActionResult = Annotated[Action | NotFound | InvalidInput, strawberry.union("TriggerActionResult")]
DecideActionResult = Annotated[Action | NotFound | ActionNotPending | InvalidInput, strawberry.union("DecideActionResult")]
ModelResult = Annotated[ModelVersion | NotFound, strawberry.union("ModelResult")]
RescoreResult = Annotated[ScoringUnavailable | NotFound | InvalidInput, strawberry.union("RescoreResult")]


def _check_text(values: dict[str, Any], prefix: str) -> InvalidInput | None:
    """Strings are bounded and ids non-blank; the first bad one is named."""
    for name, value in values.items():
        if isinstance(value, str):
            limit = MAX_ID if name.endswith("id") or name.endswith("Id") else MAX_TEXT
            if len(value) > limit:
                return invalid(f"{prefix}.{name}", f"at most {limit} characters")
            if (name == "id" or name.endswith("Id")) and not value.strip():
                return invalid(f"{prefix}.{name}", "must not be blank")
    return None


def _props(values: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {n: values[n] for n in names if values.get(n) is not None}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def _input_values(data: Any) -> dict[str, Any]:
    return {name: getattr(data, name) for name in data.__dataclass_fields__}


def _upsert_outcome(row: dict[str, Any], *, label: Label, raw_id: str, ref_field: str, ref_what: str) -> Any:
    if not row["may_write"]:
        return not_allowed("input.id", f"you may not change this {label.value.lower()}")
    # A reference outside the caller's book reads exactly like one that does not exist.
    if not row["found"] or not row["may_assign"]:
        return not_found(f"input.{ref_field}", raw_id, ref_what)
    return None


async def _upsert(info: Info, data: Any, *, label: Label, query: str, props: tuple[str, ...],
                  ref: tuple[str, str, Label]) -> Any:
    values = _input_values(data)
    problem = _check_text({_camel(k): v for k, v in values.items()}, "input")
    if problem:
        return problem
    for name in ("amount", "annual_revenue", "employees"):
        if values.get(name) is not None and values[name] < 0:
            return invalid(f"input.{_camel(name)}", "must not be negative")
    key = key_for(label, str(values["id"]))
    if key is None:
        return invalid("input.id", f"is a global ID of another type than {label.value}")
    ref_attr, ref_field, ref_label = ref
    ref_raw = values.get(ref_attr)
    ref_key = key_for(ref_label, str(ref_raw)) if ref_raw is not None else None
    if ref_raw is not None and ref_key is None:
        return invalid(f"input.{ref_field}", f"is a global ID of another type than {ref_label.value}")
    params = {"key": key, "props": _props(values, props), ref_attr: ref_key}
    rows = await info.context.db.write(f"upsert_{label.value.lower()}", query, params)
    failure = _upsert_outcome(rows[0], label=label, raw_id=str(ref_raw), ref_field=ref_field, ref_what=ref_label.value)
    if failure:
        return failure
    return _TYPES[label].from_row(rows[0]["node"])


_TYPES = {Label.ACCOUNT: Account, Label.CONTACT: Contact, Label.OPPORTUNITY: Opportunity}
_SUBJECT_LABELS = [x.value for x in api_actions.ACTION_SUBJECT_LABELS]


async def _decide(info: Info, raw_id: str, reason_code: str, approve: bool) -> DecideActionResult:
    if not REASON_CODE.match(reason_code):
        return invalid("reasonCode", "use a snake_case code of 2 to 64 characters, such as good_fit")
    key = key_for(Label.ACTION, raw_id)
    rows = [] if key is None else await info.context.db.write("decide_action", api_actions.DECIDE_ACTION, {
        "key": key, "approve": approve, "reason_code": reason_code, "subject_labels": _SUBJECT_LABELS,
    })
    if not rows:
        return not_found("id", raw_id, "action")
    action = Action.from_row(rows[0]["node"])
    if not rows[0]["waiting"]:
        return ActionNotPending(message=f"id: the action is {action.status}, not waiting for approval", field="id",
                                status=action.status)
    if approve:
        hooks.on_actions_due(info.context.services)
    else:
        info.context.services.notifier.notify()
    return action


@strawberry.type
class Mutation:
    @strawberry.mutation(permission_classes=[CanRead], description="Create or update an account (MERGE by id).")
    async def upsert_account(self, info: Info, input: AccountInput) -> UpsertAccountResult:
        return await _upsert(info, input, label=Label.ACCOUNT, query=api_writes.UPSERT_ACCOUNT,
                             props=("name", "domain", "industry", "region", "employees", "annual_revenue",
                                    "year_established"),
                             ref=("owner_id", "ownerId", Label.USER))

    @strawberry.mutation(permission_classes=[CanRead], description="Create or update a contact at an account.")
    async def upsert_contact(self, info: Info, input: ContactInput) -> UpsertContactResult:
        if input.email is not None and "@" not in input.email:
            return invalid("input.email", "is not an e-mail address")
        if input.email is not None:
            input.email = input.email.strip().lower()
        return await _upsert(info, input, label=Label.CONTACT, query=api_writes.UPSERT_CONTACT,
                             props=("name", "email", "title", "seniority"),
                             ref=("account_id", "accountId", Label.ACCOUNT))

    @strawberry.mutation(permission_classes=[CanRead], description="Create or update an opportunity of an account.")
    async def upsert_opportunity(self, info: Info, input: OpportunityInput) -> UpsertOpportunityResult:
        return await _upsert(info, input, label=Label.OPPORTUNITY, query=api_writes.UPSERT_OPPORTUNITY,
                             props=("name", "stage", "amount", "is_closed", "is_won"),
                             ref=("account_id", "accountId", Label.ACCOUNT))

    @strawberry.mutation(permission_classes=[CanIngest], description="Store an event once per eventId.")
    async def record_activity(self, info: Info, input: ActivityInput) -> RecordActivityResult:
        values = _input_values(input)
        problem = _check_text({_camel(k): v for k, v in values.items() if k != "type"}, "input")
        if problem:
            return problem
        if input.at.tzinfo is None:
            return invalid("input.at", "needs a time zone (e.g. 2026-01-31T09:00:00Z)")
        refs = {"account_id": Label.ACCOUNT, "opportunity_id": Label.OPPORTUNITY, "contact_id": Label.CONTACT,
                "performed_by_user_id": Label.USER}
        if not any(values[r] for r in ("account_id", "opportunity_id", "contact_id")):
            return invalid("input.accountId", "name at least one of accountId, opportunityId or contactId")
        keys = {}
        for attr, label in refs.items():
            keys[attr] = key_for(label, str(values[attr])) if values[attr] is not None else None
            if values[attr] is not None and keys[attr] is None:
                return invalid(f"input.{_camel(attr)}", f"is a global ID of another type than {label.value}")
        event_key = key_for(Label.ACTIVITY, str(input.event_id))
        if event_key is None:
            return invalid("input.eventId", "is a global ID of another type than Activity")
        props = {"type": input.type.value, "at": input.at, **_props(values, ("subject", "weight"))}
        rows = await info.context.db.write("record_activity", api_writes.RECORD_ACTIVITY, {
            "key": event_key, "props": props, "account_id": keys["account_id"],
            "opportunity_id": keys["opportunity_id"], "contact_id": keys["contact_id"],
            "performer_id": keys["performed_by_user_id"],
        })
        row = rows[0]
        if row["missing"]:
            return not_found(f"input.{row['missing']}", str(values[_snake(row["missing"])]), row["missing"][:-2])
        if not row["may_write"]:
            return not_allowed("input", "the activity is about something outside your book")
        if row["created"]:
            hooks.on_events_stored(info.context.services)
        return ActivityRecorded(activity=Activity.from_row(row["node"]), created=row["created"])

    @strawberry.mutation(permission_classes=[CanRead], description="Open a manual action on a node, with a note; it waits for approval.")
    async def trigger_action(self, info: Info, id: strawberry.ID, note: str) -> TriggerActionResult:
        if not note.strip() or len(note) > MAX_TEXT:
            return invalid("note", f"write a note of 1 to {MAX_TEXT} characters")
        decoded = decode_global_id(id)
        if decoded is None or decoded[0] not in {x.value for x in SCORED_LABELS}:
            return not_found("id", id, "account, contact or opportunity")
        label = Label(decoded[0])
        rows = await info.context.db.write("trigger_action", api_actions.trigger_action(label), {
            "key": decoded[1], "note": note.strip(), "action_id": str(uuid.uuid4()), "subject_labels": _SUBJECT_LABELS,
        })
        if not rows:
            return not_found("id", id, label.value)
        info.context.services.notifier.notify()
        return Action.from_row(rows[0]["node"])

    @strawberry.mutation(permission_classes=[CanRead], description="Approve an action waiting for approval (it becomes due for delivery).")
    async def approve_action(self, info: Info, id: strawberry.ID, reason_code: str) -> DecideActionResult:
        return await _decide(info, id, reason_code, approve=True)

    @strawberry.mutation(permission_classes=[CanRead], description="Reject an action waiting for approval, with a reason code.")
    async def reject_action(self, info: Info, id: strawberry.ID, reason_code: str) -> DecideActionResult:
        return await _decide(info, id, reason_code, approve=False)

    @strawberry.mutation(permission_classes=[IsAdmin], description="Make a model version the production model.")
    async def promote_model(self, info: Info, id: strawberry.ID) -> ModelResult:
        key = key_for(Label.MODEL_VERSION, id)
        rows = [] if key is None else await info.context.db.write("promote_model", api_scores.PROMOTE_MODEL, {"key": key})
        return ModelVersion.from_row(rows[0]["node"]) if rows else not_found("id", id, "model version")

    @strawberry.mutation(permission_classes=[IsAdmin],
                         description="Restore the task's previous production model (the newest production task when unnamed) and the scores it had written.")
    async def rollback_model(self, info: Info, task: str | None = None) -> ModelResult:
        rows = await info.context.db.write("rollback_model", api_scores.ROLLBACK_MODEL, {"task": task})
        if not rows:
            return NotFound(message="no earlier production model to roll back to", field=None, id=None)
        restored = rows[0]["node"]
        await run_in_threadpool(restore_previous_scores, info.context.db.graph, restored.get("task") or "",
                                rows[0]["retired_id"], restored["id"])
        return ModelVersion.from_row(restored)

    @strawberry.mutation(permission_classes=[CanRead], description="Rescore nodes now (unavailable until the ML issue).")
    async def rescore(self, info: Info, ids: list[strawberry.ID]) -> RescoreResult:
        if not 1 <= len(ids) <= MAX_RESCORE:
            return invalid("ids", f"give 1 to {MAX_RESCORE} ids")
        targets = []
        for raw in ids:
            decoded = decode_global_id(raw)
            if decoded is None or decoded[0] not in {x.value for x in SCORED_LABELS}:
                return not_found("ids", raw, "account, contact or opportunity")
            targets.append((raw, Label(decoded[0]), decoded[1]))
        # Scoped in Cypher like every read (one batched query per label): an id outside the book is not found.
        rows = await asyncio.gather(*(info.context.loaders.node(label).load(key) for _, label, key in targets))
        for (raw, label, _), row in zip(targets, rows, strict=True):
            if row is None:
                return not_found("ids", raw, label.value)
        return ScoringUnavailable(message="scoring is not available yet: no scoring entry point is installed",
                                  field="ids")


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)
