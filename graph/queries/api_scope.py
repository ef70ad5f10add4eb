"""Cypher fragments that decide what an API caller may see; every API query embeds one of them.

The caller's role and user id are always the parameters `$role` and `$user_id`. A fragment is
built for a fixed variable name chosen in code (never from input), so the scope is part of the
query's own MATCH/WHERE and cannot be bypassed by choosing another entry point.
"""

from kgcrm.graph.model import Label, RelType

ADMIN = "admin"
MANAGER = "manager"
ACCOUNT_MANAGER = "account_manager"
INGEST = "ingest"
ROLES = (ADMIN, MANAGER, ACCOUNT_MANAGER, INGEST)

_VARIABLE_CHARS = set("abcdefghijklmnopqrstuvwxyz_0123456789")


def variable(name: str) -> str:
    """Guard that a variable name is a plain identifier written in code."""
    if not name or not set(name) <= _VARIABLE_CHARS:
        raise ValueError(f"not a Cypher variable name: {name!r}")
    return name



def account_visible(var: str) -> str:
    """True when the caller may see the Account bound to `var`: admins all, managers their team's
    book (owners who report to them, transitively, and their own), account managers their own.

    One EXISTS serves both scoped roles (an account manager's owner must be themselves), which keeps
    the fragment small: it is repeated inside other fragments, and Neo4j's planning time grows with it.
    """
    a = variable(var)
    return (
        f"($role = '{ADMIN}' OR ($role IN ['{MANAGER}', '{ACCOUNT_MANAGER}'] AND EXISTS {{ "
        f"MATCH ({a})<-[:{RelType.OWNS}]-(scope_owner:{Label.USER})-[:{RelType.REPORTS_TO}*0..]->(scope_me:{Label.USER} {{id: $user_id}}) "
        f"WHERE $role = '{MANAGER}' OR scope_owner = scope_me }}))"
    )


def user_visible(var: str) -> str:
    """True when the caller may see the User bound to `var`: themselves, their reports (managers), all (admins)."""
    u = variable(var)
    return (
        f"($role = '{ADMIN}'"
        f" OR ($role IN ['{ACCOUNT_MANAGER}', '{MANAGER}'] AND {u}.id = $user_id)"
        f" OR ($role = '{MANAGER}' AND EXISTS {{ ({u})-[:{RelType.REPORTS_TO}*1..]->(:{Label.USER} {{id: $user_id}}) }}))"
    )


def contact_visible(var: str) -> str:
    """A contact is visible through an account it currently works at."""
    c = variable(var)
    return (
        f"($role = '{ADMIN}' OR ($role IN ['{MANAGER}', '{ACCOUNT_MANAGER}'] AND EXISTS {{ "
        f"MATCH ({c})-[w:{RelType.WORKS_AT}]->(sa:{Label.ACCOUNT}) WHERE w.until IS NULL AND {account_visible('sa')} }}))"
    )


def opportunity_visible(var: str) -> str:
    """An opportunity is visible through the account it is for."""
    o = variable(var)
    return (
        f"($role = '{ADMIN}' OR ($role IN ['{MANAGER}', '{ACCOUNT_MANAGER}'] AND EXISTS {{ "
        f"MATCH ({o})-[:{RelType.FOR_ACCOUNT}]->(sa:{Label.ACCOUNT}) WHERE {account_visible('sa')} }}))"
    )


def hanging_visible(var: str) -> str:
    """Activities, actions and score changes are visible through what they are about (or who did them):
    an account, an opportunity's account, or a contact's current account."""
    n = variable(var)
    return (
        f"($role = '{ADMIN}' OR ($role IN ['{MANAGER}', '{ACCOUNT_MANAGER}'] AND EXISTS {{ "
        f"CALL ({n}) {{ "
        f"MATCH ({n})-[:{RelType.ABOUT}]->(sa:{Label.ACCOUNT}) RETURN sa "
        f"UNION MATCH ({n})-[:{RelType.ABOUT}]->(:{Label.OPPORTUNITY})-[:{RelType.FOR_ACCOUNT}]->(sa:{Label.ACCOUNT}) RETURN sa "
        f"UNION MATCH ({n})-[:{RelType.ABOUT}|{RelType.PERFORMED_BY}]->(:{Label.CONTACT})-[w:{RelType.WORKS_AT}]->(sa:{Label.ACCOUNT}) "
        f"WHERE w.until IS NULL RETURN sa }} "
        f"WITH sa WHERE {account_visible('sa')} RETURN 1 }}))"
    )


def reference_visible() -> str:
    """Products and campaigns are reference data every reading role may see."""
    return f"($role IN ['{ADMIN}', '{MANAGER}', '{ACCOUNT_MANAGER}'])"


def node_visible(var: str) -> str:
    """Visibility of a node of any CRM label; internal labels (API keys, migrations) are never visible."""
    n = variable(var)
    return (
        f"(CASE"
        f" WHEN {n}:{Label.ACCOUNT} THEN {account_visible(n)}"
        f" WHEN {n}:{Label.CONTACT} THEN {contact_visible(n)}"
        f" WHEN {n}:{Label.OPPORTUNITY} THEN {opportunity_visible(n)}"
        f" WHEN {n}:{Label.USER} THEN {user_visible(n)}"
        f" WHEN {n}:{Label.ACTIVITY} OR {n}:{Label.ACTION} OR {n}:{Label.SCORE_CHANGE} THEN {hanging_visible(n)}"
        f" WHEN {n}:{Label.PRODUCT} OR {n}:{Label.CAMPAIGN} OR {n}:{Label.MODEL_VERSION} THEN {reference_visible()}"
        f" ELSE false END)"
    )


VISIBLE_BY_LABEL = {
    Label.ACCOUNT: account_visible,
    Label.CONTACT: contact_visible,
    Label.OPPORTUNITY: opportunity_visible,
    Label.USER: user_visible,
    Label.ACTIVITY: hanging_visible,
    Label.ACTION: hanging_visible,
    Label.SCORE_CHANGE: hanging_visible,
    Label.PRODUCT: lambda var: reference_visible(),
    Label.CAMPAIGN: lambda var: reference_visible(),
    Label.MODEL_VERSION: lambda var: reference_visible(),
}


def book(label: Label, var: str) -> str:
    """A CALL that binds `var` to every node of `label` the caller may see, walking from the caller.

    Equivalent to filtering every node with its visibility fragment, but a scoped caller's list starts
    from their own book (their accounts, or their team's) instead of scanning the whole label; the
    branches for other roles are cut by their `$role` test before they touch the graph.
    """
    n = variable(var)
    label = Label(label)
    if label == Label.ACCOUNT:
        reach = f"(a:{Label.ACCOUNT})"
        tail = "RETURN a AS node"
    elif label == Label.CONTACT:
        reach = f"(a:{Label.ACCOUNT})<-[w:{RelType.WORKS_AT}]-(c:{Label.CONTACT})"
        tail = "AND w.until IS NULL RETURN DISTINCT c AS node"
    elif label == Label.OPPORTUNITY:
        reach = f"(a:{Label.ACCOUNT})<-[:{RelType.FOR_ACCOUNT}]-(o:{Label.OPPORTUNITY})"
        tail = "RETURN DISTINCT o AS node"
    else:
        raise ValueError(f"no book walk for {label}")
    lines = (
        "CALL () {",
        # The role test gates the scan: as a WHERE after MATCH it ran over every node of the label.
        f"  UNWIND CASE WHEN $role = '{ADMIN}' THEN [true] ELSE [] END AS admin MATCH (x:{label}) RETURN x AS node",
        "  UNION",
        f"  MATCH (:{Label.USER} {{id: $user_id}})<-[:{RelType.REPORTS_TO}*0..]-(:{Label.USER})-[:{RelType.OWNS}]->{reach}",
        f"  WHERE $role = '{MANAGER}' {tail}",
        "  UNION",
        f"  MATCH (:{Label.USER} {{id: $user_id}})-[:{RelType.OWNS}]->{reach}",
        f"  WHERE $role = '{ACCOUNT_MANAGER}' {tail}",
        "}",
        f"WITH node AS {n}",
    )
    return "\n".join(lines)
