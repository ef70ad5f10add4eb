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
    """One relation a type exposes: the batched query, its name in metrics, and what it walks (so a
    parent's own query can bring the same children along: `children`)."""

    name: str
    query: str
    rel: RelType
    child: Label
    outgoing: bool
    options: dict[str, Any]

    def children(self, var: str, limit_param: str) -> str:
        return q.children(var, self.rel, self.child, outgoing=self.outgoing, limit_param=limit_param, **self.options)


def _rel(name: str, parent: Label, rel: RelType, child: Label, *, outgoing: bool, **kwargs: Any) -> Relation:
    return Relation(name, q.related_by_keys(parent, rel, child, outgoing=outgoing, **kwargs), rel, child, outgoing,
                    kwargs)


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
            _rel(f"{parent.value.lower()}_{name}", parent, RelType.ABOUT, child, outgoing=False, order_by=order)
            for parent in (Label.ACCOUNT, Label.CONTACT, Label.OPPORTUNITY)
            for name, child, order in (
                ("activities", Label.ACTIVITY, "c.at DESC"),
                ("actions", Label.ACTION, "c.created_at DESC"),
                ("score_changes", Label.SCORE_CHANGE, "c.changed_at DESC"),
            )
        ),
    )
}

# Query texts of node_with_children by label and relations; a few shapes, each built once.
_NODE_WITH_CHILDREN: dict[tuple[Label, tuple[str, ...]], str] = {}

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

    async def node_with_children(self, label: Label, key: str,
                                 wanted: Sequence[tuple[str, int]]) -> dict[str, Any] | None:
        """One node (None where the caller may not see it) fetched with the children of `wanted`
        (relation, limit) pairs in the same query; the node and relation loaders are primed with them,
        so the fields that would load them answer without another query."""
        shape = (label, tuple(relation for relation, _ in wanted))
        query = _NODE_WITH_CHILDREN.get(shape)
        if query is None:
            query = _NODE_WITH_CHILDREN[shape] = q.node_with_children(
                label, [RELATIONS[r].children("n", f"limit_{i}") for i, (r, _) in enumerate(wanted)])
        params: dict[str, Any] = {"key": key, **{f"limit_{i}": limit for i, (_, limit) in enumerate(wanted)}}
        rows = await self.db.read(f"node_{label.value.lower()}_with_children", query, params)
        row = rows[0] if rows else None
        self.node(label).prime(key, row["node"] if row else None)
        for i, (relation, limit) in enumerate(wanted):
            self.related(relation, limit).prime(key, row[f"child_{i}"] if row else [])
        return row["node"] if row else None

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
