"""The CRM's entities as Relay nodes; every relation is resolved through the request's DataLoaders."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from typing import Any, ClassVar

import strawberry
from strawberry import relay
from strawberry.types import Info

from kgcrm.graph.model import Label
from kgcrm.gql.errors import InvalidArgument
from kgcrm.gql.types.actions import ACTION_STATUSES, Action
from kgcrm.gql.types.convert import native, temporal
from kgcrm.gql.types.scores import Score, ScoreChange, score_from

MAX_FIRST = 100


def check_first(first: int, field: str = "first") -> int:
    """Page sizes are bounded so one request cannot ask for the whole graph."""
    if not 1 <= first <= MAX_FIRST:
        raise InvalidArgument(f"{field}: must be between 1 and {MAX_FIRST}, got {first}")
    return first


class FromRow:
    """Builds a type from a node's properties: every plain field is read from the snake_case key."""

    label: ClassVar[Label]

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Any:
        names, temporals = cls._plain_fields()
        return cls(key=row["id"], row=row, **{  # type: ignore[call-arg]
            n: temporal(row.get(n)) if n in temporals else native(row.get(n)) for n in names
        })

    @classmethod
    def _plain_fields(cls) -> tuple[tuple[str, ...], frozenset[str]]:
        """The plain fields' names, and those of them that hold a date or datetime."""
        cached = cls.__dict__.get("_plain_field_names")
        if cached is None:
            fields = [f for f in dataclasses.fields(cls) if f.init and f.name not in ("key", "row")]
            temporals = frozenset(f.name for f in fields if str(f.type).split("|")[0].strip() in ("datetime", "date"))
            cached = (tuple(f.name for f in fields), temporals)
            cls._plain_field_names = cached  # type: ignore[attr-defined]
        return cached

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: list[str], required: bool = False) -> list[Any]:
        rows = await info.context.loaders.node(cls.label).load_many(list(node_ids))
        return [cls.from_row(r) if r else None for r in rows]


async def _related(info: Info, relation: str, key: str, first: int) -> list[dict[str, Any]]:
    return await info.context.loaders.related(relation, check_first(first)).load(key)


@strawberry.interface(description="A node the model scores: its score, score history, actions and activities.")
class Scored:
    """Fields every scored node has, resolved through the request's loaders."""

    row: strawberry.Private[dict[str, Any]]
    label: ClassVar[Label]

    def _subject(self) -> dict[str, str]:
        return {"subject_key": self.key, "subject_label": self.label.value}  # type: ignore[attr-defined]

    @strawberry.field(description="The production model's latest score; null until scored.")
    def score(self) -> Score | None:
        return score_from(self.row)

    @strawberry.field(description="Score changes, newest first.")
    async def score_history(self, info: Info, first: int = 20) -> list[ScoreChange]:
        rows = await _related(info, f"{self.label.value.lower()}_score_changes", self.key, first)
        return [ScoreChange.from_row({**r, **self._subject()}) for r in rows]

    @strawberry.field(description="Actions about this node, newest first.")
    async def actions(self, info: Info, status: str | None = None, first: int = 20) -> list[Action]:
        if status is not None and status not in ACTION_STATUSES:
            raise InvalidArgument(f"status: must be one of {', '.join(ACTION_STATUSES)}")
        rows = await _related(info, f"{self.label.value.lower()}_actions", self.key, first)
        return [Action.from_row({**r, **self._subject()}) for r in rows if status is None or r.get("status") == status]

    @strawberry.field(description="Activities about this node, newest first.")
    async def activities(self, info: Info, first: int = 20) -> list[Activity]:
        rows = await _related(info, f"{self.label.value.lower()}_activities", self.key, first)
        return [Activity.from_row(r) for r in rows]


@strawberry.type(description="A person on the selling side: an owner, a rep, a manager.")
class User(FromRow, relay.Node):
    label: ClassVar[Label] = Label.USER
    key: relay.NodeID[str]
    row: strawberry.Private[dict[str, Any]]
    name: str | None = None
    email: str | None = None
    role: str | None = None
    region: str | None = None

    @strawberry.field(description="Accounts this user owns (that you may see).")
    async def accounts(self, info: Info, first: int = 20) -> list[Account]:
        return [Account.from_row(r) for r in await _related(info, "user_accounts", self.key, first)]

    @strawberry.field(description="Who this user reports to, if you may see them.")
    async def manager(self, info: Info) -> User | None:
        rows = await _related(info, "user_manager", self.key, 1)
        return User.from_row(rows[0]) if rows else None

    @strawberry.field(description="Users who report directly to this user (that you may see).")
    async def reports(self, info: Info, first: int = 50) -> list[User]:
        return [User.from_row(r) for r in await _related(info, "user_reports", self.key, first)]


@strawberry.type(description="A company that buys or might buy.")
class Account(FromRow, Scored, relay.Node):
    label: ClassVar[Label] = Label.ACCOUNT
    key: relay.NodeID[str]
    row: strawberry.Private[dict[str, Any]]
    name: str | None = None
    domain: str | None = None
    industry: str | None = None
    region: str | None = None
    employees: int | None = None
    annual_revenue: float | None = None
    year_established: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @strawberry.field(description="The user who owns the account.")
    async def owner(self, info: Info) -> User | None:
        rows = await _related(info, "account_owner", self.key, 1)
        return User.from_row(rows[0]) if rows else None

    @strawberry.field(description="People who currently work at the account.")
    async def contacts(self, info: Info, first: int = 50) -> list[Contact]:
        return [Contact.from_row(r) for r in await _related(info, "account_contacts", self.key, first)]

    @strawberry.field(description="Deals with the account, open ones first; `open` filters by state.")
    async def opportunities(self, info: Info, first: int = 50, open: bool | None = None) -> list[Opportunity]:
        rows = await _related(info, "account_opportunities", self.key, first)
        return [
            Opportunity.from_row(r) for r in rows if open is None or (not r.get("is_closed", False)) == open
        ]

    @strawberry.field(description="The parent account, if this one is a subsidiary you may see.")
    async def parent(self, info: Info) -> Account | None:
        rows = await _related(info, "account_parent", self.key, 1)
        return Account.from_row(rows[0]) if rows else None

    @strawberry.field(description="Subsidiaries of this account that you may see.")
    async def subsidiaries(self, info: Info, first: int = 50) -> list[Account]:
        return [Account.from_row(r) for r in await _related(info, "account_subsidiaries", self.key, first)]


@strawberry.type(description="A person at an account.")
class Contact(FromRow, Scored, relay.Node):
    label: ClassVar[Label] = Label.CONTACT
    key: relay.NodeID[str]
    row: strawberry.Private[dict[str, Any]]
    name: str | None = None
    email: str | None = None
    title: str | None = None
    seniority: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @strawberry.field(description="The account the contact currently works at.")
    async def account(self, info: Info) -> Account | None:
        rows = await _related(info, "contact_accounts", self.key, 1)
        return Account.from_row(rows[0]) if rows else None

    @strawberry.field(description="Opportunities the contact has a buying role in.")
    async def opportunities(self, info: Info, first: int = 50) -> list[Opportunity]:
        return [Opportunity.from_row(r) for r in await _related(info, "contact_opportunities", self.key, first)]


@strawberry.type(description="A contact's role in an opportunity's buying committee.")
class CommitteeMember:
    contact: Contact
    role: str | None
    is_primary: bool | None


@strawberry.type(description="A product line item of an opportunity.")
class LineItem:
    product: Product
    quantity: int | None
    unit_price: float | None


@strawberry.type(description="A potential deal with an account.")
class Opportunity(FromRow, Scored, relay.Node):
    label: ClassVar[Label] = Label.OPPORTUNITY
    key: relay.NodeID[str]
    row: strawberry.Private[dict[str, Any]]
    name: str | None = None
    stage: str | None = None
    amount: float | None = None
    is_closed: bool | None = None
    is_won: bool | None = None
    close_date: date | None = None
    closed_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @strawberry.field(description="The account the deal is with.")
    async def account(self, info: Info) -> Account | None:
        rows = await _related(info, "opportunity_account", self.key, 1)
        return Account.from_row(rows[0]) if rows else None

    @strawberry.field(description="The user who owns the deal.")
    async def owner(self, info: Info) -> User | None:
        rows = await _related(info, "opportunity_owner", self.key, 1)
        return User.from_row(rows[0]) if rows else None

    @strawberry.field(description="The buying committee: contacts and their roles.")
    async def committee(self, info: Info, first: int = 50) -> list[CommitteeMember]:
        rows = await _related(info, "opportunity_contacts", self.key, first)
        return [
            CommitteeMember(contact=Contact.from_row(r), role=r["_rel"].get("role"), is_primary=r["_rel"].get("is_primary"))
            for r in rows
        ]

    @strawberry.field(description="Products the deal includes.")
    async def line_items(self, info: Info, first: int = 50) -> list[LineItem]:
        rows = await _related(info, "opportunity_products", self.key, first)
        return [
            LineItem(product=Product.from_row(r), quantity=r["_rel"].get("quantity"), unit_price=r["_rel"].get("unit_price"))
            for r in rows
        ]


@strawberry.type(description="One thing that happened: an email, a meeting, a web visit, product usage.")
class Activity(FromRow, relay.Node):
    label: ClassVar[Label] = Label.ACTIVITY
    key: relay.NodeID[str]
    row: strawberry.Private[dict[str, Any]]
    type: str | None = None
    at: datetime | None = None
    subject: str | None = None
    weight: float | None = None


@strawberry.type(description="Something the seller sells.")
class Product(FromRow, relay.Node):
    label: ClassVar[Label] = Label.PRODUCT
    key: relay.NodeID[str]
    row: strawberry.Private[dict[str, Any]]
    name: str | None = None
    series: str | None = None
    list_price: float | None = None


@strawberry.type(description="A marketing campaign.")
class Campaign(FromRow, relay.Node):
    label: ClassVar[Label] = Label.CAMPAIGN
    key: relay.NodeID[str]
    row: strawberry.Private[dict[str, Any]]
    name: str | None = None
    type: str | None = None
    start_date: date | None = None
    end_date: date | None = None


NODE_TYPES: dict[Label, type[FromRow]] = {
    t.label: t for t in (Account, Contact, Opportunity, User, Activity, Product, Campaign)
}
