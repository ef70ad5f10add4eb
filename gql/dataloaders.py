"""Per-request DataLoaders: every node or relation a page of results asks for is fetched with one query.

Loaders live in the request's context (a module-level loader would cache across callers and leak one
caller's rows to another); each batch is one Cypher query carrying the caller's scope.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from strawberry.dataloader import DataLoader

from kgcrm.graph.model import Label, RelType
from kgcrm.graph.queries import api_read as q
from kgcrm.gql.db import RequestGraph


class Relation(NamedTuple):
    """One relation a type exposes: the batched query and its name in metrics."""

    name: str
    query: str


def _rel(name: str, parent: Label, rel: RelType, child: Label, *, outgoing: bool, **kwargs: Any) -> Relation:
    return Relation(name, q.related_by_keys(parent, rel, child, outgoing=outgoing, **kwargs))


_NEWEST_FIRST = {"order_by": "c.at DESC"}
RELATIONS: dict[str, Relation] = {
    r.name: r
    for r in (
        _rel("account_contacts", Label.ACCOUNT, RelType.WORKS_AT, Label.CONTACT, outgoing=False, current_only=True),
        _rel("account_opportunities", Label.ACCOUNT, RelType.FOR_ACCOUNT, Label.OPPORTUNITY, outgoing=False,
             order_by="coalesce(c.is_closed, false), c.close_date DESC"),
        _rel("account_owner", Label.ACCOUNT, RelType.OWNS, Label.USER, outgoing=False),
        _rel("account_subsidiaries", Label.ACCOUNT, RelType.SUBSIDIARY_OF, Label.ACCOUNT, outgoing=False),
        _rel("account_parent", Label.ACCOUNT, RelType.SUBSIDIARY_OF, Label.ACCOUNT, outgoing=True),
        _rel("contact_accounts", Label.CONTACT, RelType.WORKS_AT, Label.ACCOUNT, outgoing=True, current_only=True),
        _rel("contact_opportunities", Label.CONTACT, RelType.ROLE_IN, Label.OPPORTUNITY, outgoing=True),
        _rel("opportunity_account", Label.OPPORTUNITY, RelType.FOR_ACCOUNT, Label.ACCOUNT, outgoing=True),
        _rel("opportunity_owner", Label.OPPORTUNITY, RelType.OWNS, Label.USER, outgoing=False),
        _rel("opportunity_contacts", Label.OPPORTUNITY, RelType.ROLE_IN, Label.CONTACT, outgoing=False),
        _rel("opportunity_products", Label.OPPORTUNITY, RelType.INCLUDES, Label.PRODUCT, outgoing=True),
        _rel("user_accounts", Label.USER, RelType.OWNS, Label.ACCOUNT, outgoing=True),
        _rel("user_reports", Label.USER, RelType.REPORTS_TO, Label.USER, outgoing=False),
        _rel("user_manager", Label.USER, RelType.REPORTS_TO, Label.USER, outgoing=True),
        *(
            Relation(f"{parent.value.lower()}_{name}", q.about_by_keys(parent, child, order_by=order))
            for parent in (Label.ACCOUNT, Label.CONTACT, Label.OPPORTUNITY)
            for name, child, order in (
                ("activities", Label.ACTIVITY, "c.at DESC"),
                ("actions", Label.ACTION, "c.created_at DESC"),
                ("score_changes", Label.SCORE_CHANGE, "c.changed_at DESC"),
            )
        ),
    )
}

NODE_QUERIES = {label: q.nodes_by_keys(label) for label in (
    Label.ACCOUNT, Label.CONTACT, Label.OPPORTUNITY, Label.USER, Label.ACTIVITY, Label.PRODUCT,
    Label.CAMPAIGN, Label.MODEL_VERSION, Label.ACTION, Label.SCORE_CHANGE,
)}


class Loaders:
    """The request's loaders, made on first use: one per label, and one per (relation, limit)."""

    def __init__(self, db: RequestGraph) -> None:
        self.db = db
        self._loaders: dict[tuple[str, int], DataLoader[str, Any]] = {}

    def node(self, label: Label) -> DataLoader[str, dict[str, Any] | None]:
        """Nodes of `label` by key; None where the caller may not see one (or it does not exist)."""
        key = (f"node:{label}", 0)
        if key not in self._loaders:
            self._loaders[key] = DataLoader(load_fn=self._node_batch(label))
        return self._loaders[key]

    def related(self, relation: str, limit: int) -> DataLoader[str, list[dict[str, Any]]]:
        """The children over `relation` of parents by key, at most `limit` each."""
        key = (relation, limit)
        if key not in self._loaders:
            self._loaders[key] = DataLoader(load_fn=self._related_batch(RELATIONS[relation], limit))
        return self._loaders[key]

    def _node_batch(self, label: Label):  # noqa: ANN202 - a closure DataLoader calls
        query = NODE_QUERIES[label]

        async def load(keys: Sequence[str]) -> list[dict[str, Any] | None]:
            rows = await self.db.read(f"node_{label.value.lower()}", query, {"keys": list(keys)})
            found = {row["key"]: row["node"] for row in rows}
            return [found.get(k) for k in keys]

        return load

    def _related_batch(self, relation: Relation, limit: int):  # noqa: ANN202
        async def load(keys: Sequence[str]) -> list[list[dict[str, Any]]]:
            rows = await self.db.read(relation.name, relation.query, {"keys": list(keys), "limit": limit})
            found = {row["key"]: row["nodes"] for row in rows}
            return [found.get(k, []) for k in keys]

        return load
