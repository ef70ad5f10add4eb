"""Filtered, ordered, paginated lists for the API's Relay connections, and their count queries.

Filters are parameters that are null when unused; ordering comes from a fixed map in code. A list
starts from the caller's book (`api_scope.book`); name search starts from the `entity_names` full-text
index instead and checks each hit's visibility; the search text is escaped by the caller.
"""

from typing import NamedTuple

from kgcrm.graph.model import Label, RelType
from kgcrm.graph.queries.api_read import node_map
from kgcrm.graph.queries.api_scope import VISIBLE_BY_LABEL, book, user_visible

# Sort keys per field name; unscored or unnamed nodes sort last in either direction.
ORDER_KEYS = {
    "SCORE": "n.intent_score",
    "NAME": "n.name",
    "AMOUNT": "n.amount",
    "UPDATED": "n.updated_at",
}

_COMMON_FILTERS = (
    "($min_score IS NULL OR n.intent_score >= $min_score)",
    "($max_score IS NULL OR n.intent_score <= $max_score)",
    "($changed_since IS NULL OR n.updated_at >= $changed_since)",
)

_FILTERS_BY_LABEL = {
    Label.ACCOUNT: (
        *_COMMON_FILTERS,
        f"($owner_id IS NULL OR EXISTS {{ (n)<-[:{RelType.OWNS}]-(:{Label.USER} {{id: $owner_id}}) }})",
        "($industry IS NULL OR n.industry = $industry)",
        "($region IS NULL OR n.region = $region)",
    ),
    Label.CONTACT: (
        *_COMMON_FILTERS,
        f"($account_id IS NULL OR EXISTS {{ (n)-[:{RelType.WORKS_AT}]->(:{Label.ACCOUNT} {{id: $account_id}}) }})",
        "($seniority IS NULL OR n.seniority = $seniority)",
    ),
    Label.OPPORTUNITY: (
        *_COMMON_FILTERS,
        f"($owner_id IS NULL OR EXISTS {{ (n)-[:{RelType.FOR_ACCOUNT}]->(:{Label.ACCOUNT})"
        f"<-[:{RelType.OWNS}]-(:{Label.USER} {{id: $owner_id}}) }}"
        f" OR EXISTS {{ (n)<-[:{RelType.OWNS}]-(:{Label.USER} {{id: $owner_id}}) }})",
        f"($account_id IS NULL OR EXISTS {{ (n)-[:{RelType.FOR_ACCOUNT}]->(:{Label.ACCOUNT} {{id: $account_id}}) }})",
        "($stage IS NULL OR n.stage = $stage)",
        "($is_closed IS NULL OR coalesce(n.is_closed, false) = $is_closed)",
        "($min_amount IS NULL OR n.amount >= $min_amount)",
    ),
}

# Every filter parameter a list query may read; unused ones are passed as null.
FILTER_PARAMS = (
    "min_score", "max_score", "changed_since", "owner_id", "industry", "region",
    "account_id", "seniority", "stage", "is_closed", "min_amount", "search",
)


class ListQueries(NamedTuple):
    page: str
    count: str


def _match(label: Label, searching: bool) -> tuple[str, tuple[str, ...]]:
    """Where the list starts, and the scope condition still to check on `n` (none for a book walk)."""
    if searching:
        return (
            "CALL db.index.fulltext.queryNodes('entity_names', $search) YIELD node AS n, score AS relevance\n"
            f"WITH n, relevance WHERE n:{Label(label)}",
            (VISIBLE_BY_LABEL[Label(label)]("n"),),
        )
    return book(label, "n"), ()


# Labels whose page query can bring each node's owner along (the `owner` field of Account and Opportunity).
OWNED_LABELS = (Label.ACCOUNT, Label.OPPORTUNITY)


def list_queries(label: Label, order_field: str, descending: bool, *, searching: bool,
                 with_owners: bool = False) -> ListQueries:
    """The page query (`$offset`, `$limit`) and the count query for one label, order and search mode.

    `with_owners` adds an `owners` column to the page: the same list (visible owners by name, at most
    one) that the owner DataLoader would fetch, so a page that shows owners needs no second query.
    """
    label = Label(label)
    match, scope = _match(label, searching)
    where = " AND ".join((*_FILTERS_BY_LABEL[label], *scope))
    key = ORDER_KEYS[order_field]
    direction = "DESC" if descending else "ASC"
    keyword = "AND" if searching else "WHERE"
    order = f"{key} IS NULL, {key} {direction}, n.id"
    owners = ""
    if with_owners:
        if label not in OWNED_LABELS:
            raise ValueError(f"{label} has no owner field")
        owners = (
            f", COLLECT {{ MATCH (n)<-[:{RelType.OWNS}]-(u:{Label.USER}) WHERE {user_visible('u')} "
            f"RETURN {node_map('u', Label.USER)} ORDER BY u.name, u.id LIMIT 1 }} AS owners"
        )
    page = f"""
{match}
{keyword} {where}
WITH n ORDER BY {order}
SKIP $offset LIMIT $limit
RETURN {node_map("n", label)} AS node{owners}
ORDER BY {order}
"""
    count = f"""
{match}
{keyword} {where}
RETURN count(n) AS total
"""
    return ListQueries(page=page, count=count)
