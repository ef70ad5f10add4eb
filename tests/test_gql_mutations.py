"""Every mutation over real HTTP, each test on a freshly seeded world, asserting what the graph holds after."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from kgcrm.graph.driver import Graph
from test_gql_world import Client, gid, http, seed_world, server  # noqa: F401 - fixtures


@pytest.fixture
def as_(http: httpx.Client, _session_graph: Graph):  # noqa: ANN201 - a factory fixture
    """A fresh world for every test (mutations change it), and a client factory for its callers."""
    world = seed_world(_session_graph)
    return lambda name: Client(http, world.keys[name])


def one(graph: Graph, query: str, **params: Any) -> Any:
    rows = graph.read(query, params)
    assert len(rows) == 1, rows
    return rows[0]


UPSERT_ACCOUNT = """mutation($input: AccountInput!) { upsertAccount(input: $input) { __typename
    ... on Account { id name industry region owner { id } } ... on UserError { message field } } }"""


def test_upsert_account_creates_then_updates_the_same_node(as_, _session_graph: Graph) -> None:
    created = as_("alice").data(UPSERT_ACCOUNT, {"input": {"id": "n1", "name": "Newco", "industry": "Tech"}})
    assert created["upsertAccount"] == {"__typename": "Account", "id": gid("Account", "n1"), "name": "Newco",
                                        "industry": "Tech", "region": None, "owner": {"id": gid("User", "u-alice")}}
    first = one(_session_graph, "MATCH (a:Account {id: 'n1'}) RETURN a.created_at AS created, a.source AS source")
    updated = as_("alice").data(UPSERT_ACCOUNT, {"input": {"id": gid("Account", "n1"), "region": "APAC"}})
    # MERGE: the same node, the new property added, the untouched ones kept, the owner unchanged.
    assert updated["upsertAccount"]["name"] == "Newco" and updated["upsertAccount"]["region"] == "APAC"
    after = one(_session_graph, """MATCH (a:Account {id: 'n1'}) OPTIONAL MATCH (a)<-[:OWNS]-(u:User)
        RETURN count(u) AS owners, collect(u.id) AS owner, a.created_at AS created, a.source AS source,
               a.updated_at > a.created_at AS touched""")
    assert after == {"owners": 1, "owner": ["u-alice"], "created": first["created"], "source": "api", "touched": True}
    assert one(_session_graph, "MATCH (a:Account {id: 'n1'}) RETURN count(a) AS n")["n"] == 1


def test_upsert_account_outside_the_book_is_refused_and_changes_nothing(as_, _session_graph: Graph) -> None:
    refused = as_("alice").data(UPSERT_ACCOUNT, {"input": {"id": "c1", "name": "Hijacked"}})["upsertAccount"]
    assert refused == {"__typename": "NotAllowed", "message": "input.id: you may not change this account",
                       "field": "input.id"}
    assert one(_session_graph, "MATCH (a:Account {id: 'c1'}) RETURN a.name AS name")["name"] == "Cobalt GmbH"
    # Handing an account to someone outside one's book reads as an unknown user.
    foreign_owner = as_("alice").data(UPSERT_ACCOUNT, {"input": {"id": "a1", "ownerId": "u-carol"}})["upsertAccount"]
    assert foreign_owner["__typename"] == "NotFound" and foreign_owner["field"] == "input.ownerId"
    missing_owner = as_("admin").data(UPSERT_ACCOUNT, {"input": {"id": "a1", "ownerId": "u-nobody"}})["upsertAccount"]
    assert missing_owner["__typename"] == "NotFound" and missing_owner["field"] == "input.ownerId"
    assert one(_session_graph, "MATCH (:Account {id: 'a1'})<-[:OWNS]-(u) RETURN u.id AS owner")["owner"] == "u-alice"


def test_an_admin_reassigns_an_owner_and_the_old_one_loses_it(as_, _session_graph: Graph) -> None:
    moved = as_("admin").data(UPSERT_ACCOUNT, {"input": {"id": "a1", "ownerId": gid("User", "u-carol")}})
    assert moved["upsertAccount"]["owner"] == {"id": gid("User", "u-carol")}
    assert one(_session_graph, "MATCH (:Account {id: 'a1'})<-[:OWNS]-(u) RETURN collect(u.id) AS o")["o"] == ["u-carol"]
    ids = [e["node"]["id"] for e in as_("alice").data("{ accounts { edges { node { id } } } }")["accounts"]["edges"]]
    assert gid("Account", "a1") not in ids and gid("Account", "a1") in [
        e["node"]["id"] for e in as_("carol").data("{ accounts { edges { node { id } } } }")["accounts"]["edges"]]


def test_upsert_input_is_validated_naming_the_field(as_) -> None:
    cases = [
        ({"id": "n2", "name": "x" * 501}, "input.name"),
        ({"id": "n2", "employees": -3}, "input.employees"),
        ({"id": "   "}, "input.id"),
        ({"id": gid("Contact", "a1-c1")}, "input.id"),
    ]
    for values, field in cases:
        result = as_("admin").data(UPSERT_ACCOUNT, {"input": values})["upsertAccount"]
        assert result["__typename"] == "InvalidInput" and result["field"] == field, values
        assert result["message"].startswith(field + ": ")


UPSERT_CONTACT = """mutation($input: ContactInput!) { upsertContact(input: $input) { __typename
    ... on Contact { id name email account { id } } ... on UserError { message field } } }"""


def test_upsert_contact_merges_and_moves_employment(as_, _session_graph: Graph) -> None:
    created = as_("alice").data(UPSERT_CONTACT, {"input": {"id": "p1", "accountId": "a1", "name": "Pat",
                                                           "email": "  Pat@Example.TEST "}})["upsertContact"]
    assert created == {"__typename": "Contact", "id": gid("Contact", "p1"), "name": "Pat", "email": "pat@example.test",
                       "account": {"id": gid("Account", "a1")}}
    moved = as_("alice").data(UPSERT_CONTACT, {"input": {"id": "p1", "accountId": gid("Account", "a2")}})
    assert moved["upsertContact"]["account"] == {"id": gid("Account", "a2")} and moved["upsertContact"]["name"] == "Pat"
    jobs = _session_graph.read("MATCH (:Contact {id: 'p1'})-[w:WORKS_AT]->(a) RETURN a.id AS account, "
                               "w.until IS NULL AS current ORDER BY account")
    assert jobs == [{"account": "a1", "current": False}, {"account": "a2", "current": True}]
    bad_email = as_("alice").data(UPSERT_CONTACT, {"input": {"id": "p1", "accountId": "a2", "email": "nope"}})
    assert bad_email["upsertContact"]["field"] == "input.email"
    for account in ("c1", "zz-none"):
        refused = as_("alice").data(UPSERT_CONTACT, {"input": {"id": "p2", "accountId": account}})["upsertContact"]
        assert refused == {"__typename": "NotFound", "field": "input.accountId",
                           "message": "input.accountId: no Account with this id is visible to you"}
    assert one(_session_graph, "MATCH (c:Contact {id: 'p2'}) RETURN count(c) AS n")["n"] == 0


UPSERT_OPPORTUNITY = """mutation($input: OpportunityInput!) { upsertOpportunity(input: $input) { __typename
    ... on Opportunity { id name stage amount account { id } } ... on UserError { message field } } }"""


def test_upsert_opportunity_merges_and_validates(as_, _session_graph: Graph) -> None:
    values = {"id": "d1", "accountId": "b1", "name": "Big deal", "stage": "Prospecting", "amount": 5000.0}
    created = as_("bob").data(UPSERT_OPPORTUNITY, {"input": values})["upsertOpportunity"]
    assert created == {"__typename": "Opportunity", "id": gid("Opportunity", "d1"), "name": "Big deal",
                       "stage": "Prospecting", "amount": 5000.0, "account": {"id": gid("Account", "b1")}}
    as_("bob").data(UPSERT_OPPORTUNITY, {"input": {"id": "d1", "accountId": "b1", "stage": "Negotiation"}})
    row = one(_session_graph, "MATCH (o:Opportunity {id: 'd1'})-[:FOR_ACCOUNT]->(a) "
                              "RETURN o.stage AS stage, o.amount AS amount, collect(a.id) AS accounts")
    assert row == {"stage": "Negotiation", "amount": 5000.0, "accounts": ["b1"]}
    negative = as_("bob").data(UPSERT_OPPORTUNITY, {"input": {**values, "amount": -1.0}})["upsertOpportunity"]
    assert negative == {"__typename": "InvalidInput", "message": "input.amount: must not be negative",
                        "field": "input.amount"}
    other = as_("bob").data(UPSERT_OPPORTUNITY, {"input": {"id": "a1-o1", "accountId": "b1"}})["upsertOpportunity"]
    assert other["__typename"] == "NotAllowed" and other["field"] == "input.id"


RECORD = """mutation($input: ActivityInput!) { recordActivity(input: $input) { __typename
    ... on ActivityRecorded { created activity { id type at subject weight } } ... on UserError { message field } } }"""


def test_record_activity_stores_an_event_once(as_, _session_graph: Graph) -> None:
    event = {"eventId": "ev-1", "type": "WEB_VISIT", "at": "2026-02-01T10:00:00Z", "subject": "pricing page",
             "weight": 3.0, "accountId": "a1", "contactId": "a1-c1"}
    first = as_("ingest").data(RECORD, {"input": event})["recordActivity"]
    assert first == {"__typename": "ActivityRecorded", "created": True,
                     "activity": {"id": gid("Activity", "ev-1"), "type": "web_visit", "at": "2026-02-01T10:00:00+00:00",
                                  "subject": "pricing page", "weight": 3.0}}
    replay = as_("ingest").data(RECORD, {"input": {**event, "subject": "changed"}})["recordActivity"]
    assert replay["created"] is False and replay["activity"]["subject"] == "pricing page"
    stored = one(_session_graph, """MATCH (x:Activity {id: 'ev-1'})
        RETURN count(x) AS n, [(x)-[:ABOUT]->(a) | a.id] AS about, [(x)-[:PERFORMED_BY]->(c) | c.id] AS by""")
    assert stored == {"n": 1, "about": ["a1"], "by": ["a1-c1"]}
    # An account manager records about their own book; the activity then shows on the account.
    mine = as_("alice").data(RECORD, {"input": {**event, "eventId": "ev-2", "contactId": None}})["recordActivity"]
    assert mine["created"] is True
    activities = as_("alice").data('{ account(id: "a1") { ... on Account { activities(first: 2) { id } } } }')
    assert {a["id"] for a in activities["account"]["activities"]} == {gid("Activity", "ev-1"), gid("Activity", "ev-2")}


def test_record_activity_failures_name_the_field(as_, _session_graph: Graph) -> None:
    base = {"eventId": "ev-9", "type": "CALL", "at": "2026-02-01T10:00:00Z", "accountId": "a1"}
    cases = [
        ("ingest", {**base, "accountId": "zz"}, "NotFound", "input.accountId"),
        ("alice", {**base, "accountId": "c1"}, "NotFound", "input.accountId"),
        ("alice", {**base, "accountId": None, "opportunityId": "c1-o1"}, "NotFound", "input.opportunityId"),
        ("alice", {**base, "contactId": "c1-c1"}, "NotFound", "input.contactId"),
        ("ingest", {**base, "performedByUserId": "u-ghost"}, "NotFound", "input.performedByUserId"),
        ("ingest", {**base, "accountId": None}, "InvalidInput", "input.accountId"),
        ("ingest", {**base, "at": "2026-02-01T10:00:00"}, "InvalidInput", "input.at"),
        ("ingest", {**base, "subject": "s" * 600}, "InvalidInput", "input.subject"),
        ("ingest", {**base, "eventId": gid("Account", "a1")}, "InvalidInput", "input.eventId"),
    ]
    for caller, event, typename, field in cases:
        result = as_(caller).data(RECORD, {"input": event})["recordActivity"]
        assert (result["__typename"], result["field"]) == (typename, field), event
    assert one(_session_graph, "MATCH (x:Activity {id: 'ev-9'}) RETURN count(x) AS n")["n"] == 0


TRIGGER = """mutation($id: ID!, $note: String!) { triggerAction(id: $id, note: $note) { __typename
    ... on Action { id kind status note triggeredBy scoreValue modelVersion scoreChangeId subjectId }
    ... on UserError { message field } } }"""


def test_trigger_action_records_lineage(as_, _session_graph: Graph) -> None:
    action = as_("alice").data(TRIGGER, {"id": gid("Account", "a1"), "note": " call the champion "})["triggerAction"]
    assert {k: v for k, v in action.items() if k != "id"} == {
        "__typename": "Action", "kind": "manual", "status": "pending_approval", "note": "call the champion",
        "triggeredBy": "u-alice", "scoreValue": 0.9, "modelVersion": "mv-1", "scoreChangeId": "sc-a1",
        "subjectId": gid("Account", "a1")}
    key = action["id"]
    stored = one(_session_graph, "MATCH (x:Action {kind: 'manual'})-[:ABOUT]->(a:Account) "
                                 "RETURN a.id AS about, x.triggered_by_role AS role, x.created_at IS NOT NULL AS dated")
    assert stored == {"about": "a1", "role": "account_manager", "dated": True}
    assert as_("alice").data(f'{{ node(id: "{key}") {{ ... on Action {{ note }} }} }}')["node"] == {
        "note": "call the champion"}
    foreign = as_("alice").data(TRIGGER, {"id": gid("Account", "c1"), "note": "x"})["triggerAction"]
    assert foreign["__typename"] == "NotFound" and foreign["field"] == "id"
    blank = as_("alice").data(TRIGGER, {"id": gid("Account", "a1"), "note": "  "})["triggerAction"]
    assert blank["__typename"] == "InvalidInput" and blank["field"] == "note"
    assert one(_session_graph, "MATCH (x:Action {kind: 'manual'}) RETURN count(x) AS n")["n"] == 1


DECIDE = """mutation($id: ID!, $reason: String!) { %s(id: $id, reasonCode: $reason) { __typename
    ... on Action { status decision reasonCode decidedBy decidedAt } ... on ActionNotPending { status }
    ... on UserError { message field } } }"""


def test_approve_and_reject_only_actions_waiting_for_approval_in_the_book(as_, _session_graph: Graph) -> None:
    approved = as_("alice").data(DECIDE % "approveAction", {"id": gid("Action", "x-a1"), "reason": "good_fit"})
    # Approved: due for delivery (docs/activation.md), the decision recorded on the action.
    assert {k: approved["approveAction"][k] for k in ("status", "decision", "decidedBy")} == {
        "status": "pending", "decision": "approved", "decidedBy": "u-alice"}
    again = as_("alice").data(DECIDE % "rejectAction", {"id": "x-a1", "reason": "late"})["rejectAction"]
    assert again == {"__typename": "ActionNotPending", "status": "pending", "field": "id",
                     "message": "id: the action is pending, not waiting for approval"}
    rejected = as_("mgr").data(DECIDE % "rejectAction", {"id": "x-b1", "reason": "not_now"})["rejectAction"]
    assert rejected["status"] == "rejected" and rejected["decision"] == "rejected" and rejected["reasonCode"] == "not_now"
    free_text = as_("alice").data(DECIDE % "approveAction", {"id": "x-a2", "reason": "Looks good!"})["approveAction"]
    assert free_text["__typename"] == "InvalidInput" and free_text["field"] == "reasonCode"
    foreign = as_("alice").data(DECIDE % "approveAction", {"id": "x-c1", "reason": "ok"})["approveAction"]
    assert foreign["__typename"] == "NotFound"
    blank = as_("alice").data(DECIDE % "approveAction", {"id": "x-a2", "reason": " "})["approveAction"]
    assert blank["__typename"] == "InvalidInput" and blank["field"] == "reasonCode"
    rows = _session_graph.read("MATCH (x:Action) RETURN x.id AS id, x.status AS status, x.reason_code AS reason "
                               "ORDER BY id")
    assert {r["id"]: (r["status"], r["reason"]) for r in rows} == {
        "x-a1": ("pending", "good_fit"), "x-a2": ("pending_approval", None), "x-a3": ("pending_approval", None),
        "x-b1": ("rejected", "not_now"), "x-c1": ("pending_approval", None), "x-m1": ("pending_approval", None)}


def stages(graph: Graph) -> dict[str, str]:
    return {r["id"]: r["stage"] for r in graph.read("MATCH (m:ModelVersion) RETURN m.id AS id, m.stage AS stage")}


def test_promote_and_roll_back_models(as_, _session_graph: Graph) -> None:
    promoted = as_("admin").data('mutation { promoteModel(id: "mv-2") { __typename ... on ModelVersion { id stage } } }')
    assert promoted["promoteModel"] == {"__typename": "ModelVersion", "id": gid("ModelVersion", "mv-2"),
                                        "stage": "production"}
    assert stages(_session_graph) == {"mv-0": "retired", "mv-1": "retired", "mv-2": "production"}
    # A node mv-2 scored over mv-1's score (as ml.score.write_scores leaves it).
    _session_graph.write("CREATE (:Account {id: 'rb-1', name: 'rb-1', intent_score: 0.9, intent_model: 'mv-2', "
                         "intent_previous_score: 0.1, intent_previous_model: 'mv-1'})")
    rolled = as_("admin").data("mutation { rollbackModel { __typename ... on ModelVersion { id stage } } }")
    assert rolled["rollbackModel"] == {"__typename": "ModelVersion", "id": gid("ModelVersion", "mv-1"),
                                       "stage": "production"}
    assert stages(_session_graph) == {"mv-0": "retired", "mv-1": "production", "mv-2": "retired"}
    # The rollback also put back the score mv-1 had written on the node mv-2 took over (graph/score_restore.py).
    node = _session_graph.write("MATCH (a:Account {id: 'rb-1'}) WITH a, a {.intent_score, .intent_model} AS was, "
                               "a.intent_restored_by IS NOT NULL AS marked DETACH DELETE a RETURN was, marked")
    assert node == [{"was": {"intent_score": 0.1, "intent_model": "mv-1"}, "marked": True}]
    # A second rollback steps back again (to mv-0), never back to the model just rolled back.
    again = as_("admin").data('mutation { rollbackModel(task: "account_intent") { ... on ModelVersion { id } } }')
    assert again["rollbackModel"] == {"id": gid("ModelVersion", "mv-0")}
    assert stages(_session_graph) == {"mv-0": "production", "mv-1": "retired", "mv-2": "retired"}
    statuses = {r["id"]: r["status"] for r in _session_graph.read("MATCH (m:ModelVersion) RETURN m.id AS id, m.status AS status")}
    assert statuses == {"mv-0": "production", "mv-1": "retired", "mv-2": "retired"}
    missing = as_("admin").data('mutation { promoteModel(id: "mv-9") { __typename ... on NotFound { field } } }')
    assert missing["promoteModel"] == {"__typename": "NotFound", "field": "id"}
    refused = as_("mgr").post('mutation { promoteModel(id: "mv-2") { __typename } }')
    assert refused.status_code == 403 and refused.json()["errors"][0]["message"] == (
        "forbidden: this field needs the role admin")
    assert stages(_session_graph) == {"mv-0": "production", "mv-1": "retired", "mv-2": "retired"}


def test_rescore_checks_every_id_in_the_callers_book(as_) -> None:
    query = "mutation($ids: [ID!]!) { rescore(ids: $ids) { __typename ... on UserError { message field } } }"
    mine = as_("alice").data(query, {"ids": [gid("Account", "a1"), gid("Contact", "a1-c1")]})["rescore"]
    assert mine["__typename"] == "ScoringUnavailable" and mine["field"] == "ids"
    foreign = as_("alice").data(query, {"ids": [gid("Account", "a1"), gid("Account", "c1")]})["rescore"]
    assert foreign == {"__typename": "NotFound", "field": "ids",
                       "message": "ids: no Account with this id is visible to you"}
    too_many = as_("admin").data(query, {"ids": [gid("Account", "a1")] * 101})["rescore"]
    assert too_many["__typename"] == "InvalidInput"
