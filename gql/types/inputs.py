"""Inputs: filters, orderings and the payloads of mutations."""

from datetime import datetime
from enum import Enum

import strawberry

from kgcrm.graph.model import ActivityType


@strawberry.enum(description="What a list is sorted by.")
class OrderField(Enum):
    SCORE = "SCORE"
    NAME = "NAME"
    AMOUNT = "AMOUNT"
    UPDATED = "UPDATED"


@strawberry.enum
class Direction(Enum):
    ASC = "ASC"
    DESC = "DESC"


@strawberry.input(description="Sort order; AMOUNT applies to opportunities only.")
class Ordering:
    field: OrderField = OrderField.SCORE
    direction: Direction = Direction.DESC


@strawberry.input(description="Account filters; unset fields do not filter.")
class AccountFilter:
    min_score: float | None = None
    max_score: float | None = None
    owner_id: strawberry.ID | None = None
    industry: str | None = None
    region: str | None = None
    search: str | None = strawberry.field(default=None, description="Words in the name (full-text).")
    changed_since: datetime | None = None


@strawberry.input(description="Contact filters; unset fields do not filter.")
class ContactFilter:
    min_score: float | None = None
    max_score: float | None = None
    account_id: strawberry.ID | None = None
    seniority: str | None = None
    search: str | None = None
    changed_since: datetime | None = None


@strawberry.input(description="Opportunity filters; unset fields do not filter.")
class OpportunityFilter:
    min_score: float | None = None
    max_score: float | None = None
    owner_id: strawberry.ID | None = None
    account_id: strawberry.ID | None = None
    stage: str | None = None
    is_closed: bool | None = None
    min_amount: float | None = None
    search: str | None = None
    changed_since: datetime | None = None


@strawberry.input(description="An account to create or update (MERGE by id).")
class AccountInput:
    id: strawberry.ID
    name: str | None = None
    domain: str | None = None
    industry: str | None = None
    region: str | None = None
    employees: int | None = None
    annual_revenue: float | None = None
    year_established: int | None = None
    owner_id: strawberry.ID | None = strawberry.field(default=None, description="User id of the new owner.")


@strawberry.input(description="A contact to create or update (MERGE by id), working at `accountId`.")
class ContactInput:
    id: strawberry.ID
    account_id: strawberry.ID
    name: str | None = None
    email: str | None = None
    title: str | None = None
    seniority: str | None = None


@strawberry.input(description="An opportunity to create or update (MERGE by id), for `accountId`.")
class OpportunityInput:
    id: strawberry.ID
    account_id: strawberry.ID
    name: str | None = None
    stage: str | None = None
    amount: float | None = None
    is_closed: bool | None = None
    is_won: bool | None = None


ActivityKind = strawberry.enum(ActivityType, name="ActivityType", description="Kinds of activity.")


@strawberry.input(description="An event to store; `eventId` makes recording idempotent.")
class ActivityInput:
    event_id: strawberry.ID
    type: ActivityKind  # type: ignore[valid-type]
    at: datetime
    subject: str | None = None
    weight: float | None = None
    account_id: strawberry.ID | None = None
    opportunity_id: strawberry.ID | None = None
    contact_id: strawberry.ID | None = None
    performed_by_user_id: strawberry.ID | None = None
