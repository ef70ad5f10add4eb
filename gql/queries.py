"""The root Query: nodes by id, filtered lists, neighbourhoods, explanations, history, models and actions."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry
from strawberry import relay
from strawberry.types import Info

from kgcrm.graph.model import SCORED_LABELS, Label
from kgcrm.graph.queries import api_actions, api_graph, api_lists, api_scores, events
from kgcrm.gql.errors import InvalidArgument
from kgcrm.gql.lookahead import children_selected, selects
from kgcrm.gql.permissions import CanRead
from kgcrm.gql.search import lucene_query
from kgcrm.gql.types.actions import ACTION_STATUSES, Action
from kgcrm.gql.types.connections import Connection, decode_cursor, page
from kgcrm.gql.types.convert import decode_global_id, global_id, key_for
from kgcrm.gql.types.errors import InvalidInput, NotFound, invalid, not_found
from kgcrm.gql.types.graph import GraphEdge, GraphNode, Neighborhood
from kgcrm.gql.types.inputs import AccountFilter, ContactFilter, OpportunityFilter, OrderField, Ordering
from kgcrm.gql.types.lineage import ActionExplanation
from kgcrm.gql.types.nodes import MAX_FIRST, NODE_TYPES, Account, Contact, FromRow, Opportunity, check_first
from kgcrm.gql.types.scores import Explanation, ModelVersion, ScoreChange, ScoreHistory, drivers_from, score_from

MAX_DEPTH = 3
MAX_NEIGHBORS = 200

AccountResult = Annotated[Account | NotFound, strawberry.union("AccountResult")]
ContactResult = Annotated[Contact | NotFound, strawberry.union("ContactResult")]
OpportunityResult = Annotated[Opportunity | NotFound, strawberry.union("OpportunityResult")]
NeighborhoodResult = Annotated[Neighborhood | NotFound | InvalidInput, strawberry.union("NeighborhoodResult")]
ExplainResult = Annotated[Explanation | NotFound, strawberry.union("ExplainResult")]
ScoreHistoryResult = Annotated[ScoreHistory | NotFound, strawberry.union("ScoreHistoryResult")]
ExplainActionResult = Annotated[ActionExplanation | NotFound, strawberry.union("ExplainActionResult")]

_ORDERABLE = {
    Label.ACCOUNT: {OrderField.SCORE, OrderField.NAME, OrderField.UPDATED},
    Label.CONTACT: {OrderField.SCORE, OrderField.NAME, OrderField.UPDATED},
    Label.OPPORTUNITY: set(OrderField),
}
_NODE_TYPES_BY_NAME: dict[str, Any] = {
    **{label.value: cls for label, cls in NODE_TYPES.items()},
    Label.MODEL_VERSION.value: ModelVersion, Label.SCORE_CHANGE.value: ScoreChange, Label.ACTION.value: Action,
}
_ID_FILTERS = {"owner_id": Label.USER, "account_id": Label.ACCOUNT}


@strawberry.type(description="Who you are to this API.")
class Me:
    role: str
    user_id: str | None


# Lists of a node fetched by id in the node's own query when the request selects them:
# field -> (relation, the field's default `first`).
_BROUGHT_ALONG = {
    Label.ACCOUNT: {"contacts": ("account_contacts", 50), "opportunities": ("account_opportunities", 50)},
}


def _wanted_children(info: Info, label: Label) -> list[tuple[str, int]]:
    """The (relation, limit) pairs the selection under a node-by-id field will load; one per field
    (a second alias with another `first` loads on its own), only with a valid `first`."""
    wanted = []
    for name, (relation, default_first) in _BROUGHT_ALONG.get(label, {}).items():
        fields = children_selected(info, name)
        if fields:
            first = fields[0].arguments.get("first", default_first)
            if isinstance(first, str) and first.isdigit():
                first = int(first)  # a literal comes as written in the query
            if isinstance(first, int) and 1 <= first <= MAX_FIRST:
                wanted.append((relation, first))
    return wanted


async def _by_id(info: Info, label: Label, cls: type[FromRow], raw_id: str, field: str = "id") -> Any:
    key = key_for(label, raw_id)
    if key is None:
        row = None
    elif wanted := _wanted_children(info, label):
        row = await info.context.loaders.node_with_children(label, key, wanted)
    else:
        row = await info.context.loaders.node(label).load(key)
    return cls.from_row(row) if row else not_found(field, raw_id, label.value)


def _filter_params(flt: Any) -> dict[str, Any]:
    params: dict[str, Any] = dict.fromkeys(api_lists.FILTER_PARAMS)
    if flt is None:
        return params
    for name in api_lists.FILTER_PARAMS:
        value = getattr(flt, name, None)
        if value is not None and name in _ID_FILTERS:
            value = key_for(_ID_FILTERS[name], str(value)) or ""
        params[name] = value
    for bound in ("min_score", "max_score"):
        if params[bound] is not None and not 0.0 <= params[bound] <= 1.0:
            raise InvalidArgument(f"filter.{_camel(bound)}: a score is between 0 and 1")
    if params["search"] is not None:
        params["search"] = lucene_query(params["search"], "filter.search")
    return params


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


async def _list(info: Info, label: Label, cls: type[FromRow], first: int, after: str | None,
                flt: Any, order: Ordering | None) -> Connection[Any]:
    check_first(first)
    offset = decode_cursor(after)
    order = order or Ordering()
    if order.field not in _ORDERABLE[label]:
        raise InvalidArgument(f"orderBy.field: {order.field.value} does not apply to {label.value}")
    params = _filter_params(flt)
    with_owners = label in api_lists.OWNED_LABELS and selects(info, ("edges", "node", "owner"))
    queries = api_lists.list_queries(label, order.field.value, order.direction.value == "DESC",
                                     searching=params["search"] is not None, with_owners=with_owners)
    db = info.context.db
    name = label.value.lower()
    rows = await db.read(f"list_{name}", queries.page, {**params, "offset": offset, "limit": first + 1})
    if with_owners:
        # The page brought its owners: the owner loader answers from them instead of querying again.
        owners = info.context.loaders.related(f"{name}_owner", 1)
        for row in rows:
            owners.prime(row["node"]["id"], row["owners"])

    async def count() -> int:
        return (await db.read(f"count_{name}", queries.count, params))[0]["total"]

    return page([cls.from_row(r["node"]) for r in rows], offset=offset, first=first, count=count)


def _scored_key(raw_id: str) -> tuple[Label, str] | None:
    decoded = decode_global_id(raw_id)
    if decoded and decoded[0] in {label.value for label in SCORED_LABELS}:
        return Label(decoded[0]), decoded[1]
    return None


@strawberry.type
class Query:
    @strawberry.field(permission_classes=[CanRead], description="Any node you may see, by its global ID.")
    async def node(self, info: Info, id: strawberry.ID) -> relay.Node | None:
        decoded = decode_global_id(id)
        node_type = _NODE_TYPES_BY_NAME.get(decoded[0]) if decoded else None
        if node_type is None:
            return None
        return (await node_type.resolve_nodes(info=info, node_ids=[decoded[1]]))[0]

    @strawberry.field(description="The caller's role and user id.")
    def me(self, info: Info) -> Me:
        principal = info.context.principal
        return Me(role=principal.role, user_id=principal.user_id)

    @strawberry.field(permission_classes=[CanRead], description="An account by global ID or kgcrm id.")
    async def account(self, info: Info, id: strawberry.ID) -> AccountResult:
        return await _by_id(info, Label.ACCOUNT, Account, id)

    @strawberry.field(permission_classes=[CanRead], description="A contact by global ID or kgcrm id.")
    async def contact(self, info: Info, id: strawberry.ID) -> ContactResult:
        return await _by_id(info, Label.CONTACT, Contact, id)

    @strawberry.field(permission_classes=[CanRead], description="An opportunity by global ID or kgcrm id.")
    async def opportunity(self, info: Info, id: strawberry.ID) -> OpportunityResult:
        return await _by_id(info, Label.OPPORTUNITY, Opportunity, id)

    @strawberry.field(permission_classes=[CanRead], description="Accounts you may see, filtered and ordered.")
    async def accounts(self, info: Info, first: int = 20, after: str | None = None,
                       filter: AccountFilter | None = None, order_by: Ordering | None = None) -> Connection[Account]:
        return await _list(info, Label.ACCOUNT, Account, first, after, filter, order_by)

    @strawberry.field(permission_classes=[CanRead], description="Contacts you may see, filtered and ordered.")
    async def contacts(self, info: Info, first: int = 20, after: str | None = None,
                       filter: ContactFilter | None = None, order_by: Ordering | None = None) -> Connection[Contact]:
        return await _list(info, Label.CONTACT, Contact, first, after, filter, order_by)

    @strawberry.field(permission_classes=[CanRead], description="Opportunities you may see, filtered and ordered.")
    async def opportunities(self, info: Info, first: int = 20, after: str | None = None,
                            filter: OpportunityFilter | None = None,
                            order_by: Ordering | None = None) -> Connection[Opportunity]:
        return await _list(info, Label.OPPORTUNITY, Opportunity, first, after, filter, order_by)

    @strawberry.field(permission_classes=[CanRead], description="Nodes within `depth` hops (at most 3) of a node.")
    async def neighborhood(self, info: Info, id: strawberry.ID, depth: int = 2, limit: int = 50) -> NeighborhoodResult:
        if not 1 <= depth <= MAX_DEPTH:
            return invalid("depth", f"must be between 1 and {MAX_DEPTH}")
        if not 1 <= limit <= MAX_NEIGHBORS:
            return invalid("limit", f"must be between 1 and {MAX_NEIGHBORS}")
        decoded = decode_global_id(id)
        labels = {label.value for label in api_graph.PUBLIC_LABELS}
        if decoded is None or decoded[0] not in labels:
            return not_found("id", id, "node")
        return await _neighborhood(info, Label(decoded[0]), decoded[1], id, depth, limit)

    @strawberry.field(permission_classes=[CanRead], description="Why a node has its score (drivers).")
    async def explain(self, info: Info, id: strawberry.ID) -> ExplainResult:
        target = _scored_key(id)
        rows = await info.context.db.read("explain", api_scores.explain(target[0]), {"key": target[1]}) if target else []
        if not rows:
            return not_found("id", id, "scored node")
        row = rows[0]
        score = score_from({"intent_score": row["value"], "intent_model": row["model"],
                            "intent_scored_at": row["scored_at"], "intent_drivers": row["drivers"],
                            "intent_driver_weights": row["weights"]})
        return Explanation(subject_id=global_id(*target), score=score, drivers=drivers_from(row["drivers"], row["weights"]))

    @strawberry.field(permission_classes=[CanRead], description="A node's score changes, newest first.")
    async def score_history(self, info: Info, id: strawberry.ID, first: int = 20) -> ScoreHistoryResult:
        check_first(first)
        target = _scored_key(id)
        rows = (await info.context.db.read("score_history", api_scores.score_history(target[0]),
                                           {"key": target[1], "limit": first})) if target else []
        if not rows:
            return not_found("id", id, "scored node")
        changes = [ScoreChange.from_row({**c, "subject_key": target[1], "subject_label": target[0].value})
                   for c in rows[0]["changes"]]
        return ScoreHistory(subject_id=global_id(*target), changes=changes)

    @strawberry.field(permission_classes=[CanRead], description="Model versions, newest first.")
    async def models(self, info: Info, stage: str | None = None, first: int = 20) -> list[ModelVersion]:
        check_first(first)
        rows = await info.context.db.read("models", api_scores.LIST_MODELS, {"stage": stage, "limit": first})
        return [ModelVersion.from_row(r["node"]) for r in rows]

    @strawberry.field(permission_classes=[CanRead],
                      description="Why an action exists: its score change, the model and the events behind it.")
    async def explain_action(self, info: Info, id: strawberry.ID) -> ExplainActionResult:
        key = key_for(Label.ACTION, id)
        rows = [] if key is None else await info.context.db.read("explain_action", events.API_ACTION_LINEAGE, {
            "key": key, "subject_labels": [x.value for x in api_actions.ACTION_SUBJECT_LABELS]})
        return ActionExplanation.from_row(rows[0]) if rows else not_found("id", id, "action")

    @strawberry.field(permission_classes=[CanRead], description="Actions about nodes you may see, newest first.")
    async def actions(self, info: Info, status: str | None = None, first: int = 20) -> list[Action]:
        check_first(first)
        if status is not None and status not in ACTION_STATUSES:
            raise InvalidArgument(f"status: must be one of {', '.join(ACTION_STATUSES)}")
        rows = await info.context.db.read("actions", api_actions.LIST_ACTIONS, {
            "status": status, "limit": first, "subject_labels": [x.value for x in api_actions.ACTION_SUBJECT_LABELS],
        })
        return [Action.from_row(r["node"]) for r in rows]


async def _neighborhood(info: Info, label: Label, key: str, raw_id: str, depth: int, limit: int) -> NeighborhoodResult:
    db = info.context.db
    labels = [x.value for x in api_graph.PUBLIC_LABELS]
    row_cap = limit * 4
    start = await db.read("neighborhood_start", api_graph.neighborhood_start(label),
                          {"key": key, "labels": labels, "limit": row_cap})
    if not start:
        return not_found("id", raw_id, "node")
    nodes: dict[str, GraphNode] = {start[0]["eid"]: _graph_node(start[0], 0)}
    edges: dict[str, GraphEdge] = {}
    frontier = [start[0]["eid"]]
    truncated = False
    for level in range(1, depth + 1):
        if not frontier:
            break
        if level == 1:
            rows = start[0]["first_level"]  # the start's query brought its first level along
        else:
            rows = await db.read("neighborhood_level", api_graph.NEIGHBORHOOD_LEVEL,
                                 {"frontier": frontier, "labels": labels, "limit": row_cap})
        truncated = truncated or len(rows) >= row_cap
        frontier = []
        for row in rows:
            if row["eid"] not in nodes:
                if len(nodes) >= limit or row["key"] is None:
                    truncated = True
                    continue
                nodes[row["eid"]] = _graph_node(row, level)
                frontier.append(row["eid"])
            if row["source"] in nodes and row["target"] in nodes:
                edges[row["rid"]] = GraphEdge(source=nodes[row["source"]].id, target=nodes[row["target"]].id,
                                              type=row["type"])
    return Neighborhood(start=nodes[start[0]["eid"]].id, nodes=list(nodes.values()),
                        edges=list(edges.values()), truncated=truncated)


def _graph_node(row: dict[str, Any], depth: int) -> GraphNode:
    return GraphNode(id=global_id(row["label"], row["key"]), label=row["label"], name=row["name"],
                     score=row["score"], depth=depth)
