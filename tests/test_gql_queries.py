"""Every query over real HTTP against the fixture world: nodes by id, connections, filters, ordering,
neighbourhoods, explanations, score history, models and actions."""

from __future__ import annotations

from typing import Any

from strawberry import relay

from test_gql_world import (  # noqa: F401 - fixtures
    as_,
    gid,
    http,
    server,
    world,
)


def keys_of(ids: list[str]) -> list[str]:
    return [relay.GlobalID.from_id(i).node_id for i in ids]


def edge_keys(connection: dict[str, Any]) -> list[str]:
    return keys_of([e["node"]["id"] for e in connection["edges"]])


def test_node_resolves_every_type_by_global_id(as_) -> None:
    client = as_("admin")
    for type_name, key in [("Account", "a1"), ("Contact", "a1-c1"), ("Opportunity", "a1-o1"), ("User", "u-alice"),
                           ("Activity", "act-a1-1"), ("Product", "p1"), ("ModelVersion", "mv-1"),
                           ("ScoreChange", "sc-a1"), ("Action", "x-a1")]:
        node = client.data("query($id: ID!) { node(id: $id) { __typename id } }", {"id": gid(type_name, key)})["node"]
        assert node == {"__typename": type_name, "id": gid(type_name, key)}


def test_node_with_an_unknown_or_malformed_id_is_null(as_) -> None:
    client = as_("admin")
    for raw in [gid("Account", "nope"), gid("ApiKey", "k1"), gid("SchemaMigration", "1"), "not-base64!"]:
        assert client.data("query($id: ID!) { node(id: $id) { id } }", {"id": raw})["node"] is None


def test_account_by_plain_or_global_id_with_everything_that_hangs_off_it(as_) -> None:
    query = """query($id: ID!) { account(id: $id) { __typename ... on Account {
        name industry region domain score { value model scoredAt drivers { feature contribution detail } }
        owner { id name } contacts { name } opportunities(open: true) { name stage isClosed }
        parent { name } subsidiaries { name } activities { type at subject }
        actions { kind status } scoreHistory { oldScore newScore model reason subjectId } } } }"""
    client = as_("alice")
    by_key = client.data(query, {"id": "a1"})["account"]
    assert client.data(query, {"id": gid("Account", "a1")})["account"] == by_key
    assert by_key["name"] == "Acme Corp" and by_key["region"] == "EMEA" and by_key["domain"] == "a1.test"
    assert by_key["score"] == {"value": 0.9, "model": "mv-1", "scoredAt": "2026-01-01T00:00:00+00:00",
                               "drivers": [{"feature": "recent_meetings", "contribution": 0.3, "detail": "3 meetings"}]}
    assert by_key["owner"] == {"id": gid("User", "u-alice"), "name": "Alice Rep"}
    assert sorted(c["name"] for c in by_key["contacts"]) == ["Person 1 of Acme Corp", "Person 2 of Acme Corp"]
    assert by_key["opportunities"] == [{"name": "Deal 1 with Acme Corp", "stage": "Prospecting", "isClosed": False}]
    # a1's parent c1 belongs to another team: alice does not see it.
    assert by_key["parent"] is None and by_key["subsidiaries"] == []
    assert [a["at"] for a in by_key["activities"]] == ["2026-01-12T09:00:00+00:00", "2026-01-11T09:00:00+00:00"]
    assert by_key["actions"] == [{"kind": "task", "status": "pending_approval"}]
    assert by_key["scoreHistory"] == [{"oldScore": 0.1, "newScore": 0.9, "model": "mv-1", "reason": "batch",
                                       "subjectId": gid("Account", "a1")}]
    admin = as_("admin").data(query, {"id": "a1"})["account"]
    assert admin["parent"] == {"name": "Cobalt GmbH"}


def test_an_unscored_account_has_a_null_score(as_) -> None:
    account = as_("admin").data('{ account(id: "a3") { ... on Account { score { value } } } }')["account"]
    assert account == {"score": None}


def test_contact_and_opportunity_by_id(as_) -> None:
    client = as_("bob")
    contact = client.data("""{ contact(id: "b1-c1") { ... on Contact { name email seniority
        account { name } opportunities { name } score { value } } } }""")["contact"]
    assert contact == {"name": "Person 1 of Bolt Inc", "email": "b11@buyer.test", "seniority": "vp",
                       "account": {"name": "Bolt Inc"}, "opportunities": [{"name": "Deal 1 with Bolt Inc"}],
                       "score": {"value": 0.1}}
    opportunity = client.data("""{ opportunity(id: "b1-o2") { ... on Opportunity { name stage amount isClosed isWon
        account { name } committee { role isPrimary contact { name } } lineItems { quantity } } } }""")["opportunity"]
    assert opportunity == {"name": "Deal 2 with Bolt Inc", "stage": "Closed Won", "amount": 2000.0, "isClosed": True,
                           "isWon": True, "account": {"name": "Bolt Inc"},
                           "committee": [{"role": "champion", "isPrimary": True, "contact": {"name": "Person 2 of Bolt Inc"}}],
                           "lineItems": []}
    line_items = as_("admin").data("""{ opportunity(id: "a1-o1") { ... on Opportunity {
        lineItems { quantity unitPrice product { name series listPrice } } } } }""")["opportunity"]["lineItems"]
    assert line_items == [{"quantity": 2, "unitPrice": 90.0, "product": {"name": "GTX Pro", "series": "GTX",
                                                                         "listPrice": 100.0}}]


def test_missing_ids_come_back_as_typed_not_found_naming_the_field(as_) -> None:
    for field in ("account", "contact", "opportunity"):
        result = as_("admin").data(f'{{ {field}(id: "nope") {{ __typename ... on NotFound {{ message field id }} }} }}')
        assert result[field]["__typename"] == "NotFound"
        assert result[field]["field"] == "id" and result[field]["id"] == "nope"
        assert result[field]["message"].startswith("id: no ")
    # A global ID of another type is not an account.
    wrong_type = as_("admin").data(f'{{ account(id: "{gid("Contact", "a1-c1")}") {{ __typename }} }}')
    assert wrong_type["account"]["__typename"] == "NotFound"


def test_pages_walk_the_whole_list_in_order_with_cursors(as_) -> None:
    client = as_("admin")
    query = """query($after: String) { accounts(first: 4, after: $after, orderBy: {field: NAME, direction: ASC}) {
        totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { id name } } } }"""
    first = client.data(query)["accounts"]
    assert first["totalCount"] == 6
    assert [e["node"]["name"] for e in first["edges"]] == ["Aardvark Labs", "Acme Corp", "Apex Ltd", "Bolt Inc"]
    assert first["pageInfo"]["hasNextPage"] and not first["pageInfo"]["hasPreviousPage"]
    assert first["pageInfo"]["endCursor"] == first["edges"][-1]["cursor"]
    second = client.data(query, {"after": first["pageInfo"]["endCursor"]})["accounts"]
    assert [e["node"]["name"] for e in second["edges"]] == ["Cobalt GmbH", "Mango SA"]
    assert not second["pageInfo"]["hasNextPage"] and second["pageInfo"]["hasPreviousPage"]


def test_total_count_runs_one_count_query_and_only_when_asked_for(as_) -> None:
    client = as_("admin")
    without = client.post("{ accounts(first: 2) { edges { node { name } } } }")
    with_count = client.post("{ accounts(first: 2) { totalCount edges { node { name } } } }")
    assert without.headers["x-kgcrm-cypher-queries"] == "1"
    assert with_count.headers["x-kgcrm-cypher-queries"] == "2"
    assert with_count.json()["data"]["accounts"]["totalCount"] == 6
    assert len(with_count.json()["data"]["accounts"]["edges"]) == 2


def test_a_cursor_that_this_api_did_not_make_is_rejected(as_) -> None:
    body = as_("admin").post('{ accounts(after: "bogus") { totalCount } }').json()
    assert body["data"] is None and body["errors"][0]["message"] == "after: not a cursor this API returned"


def accounts(client: Any, arguments: str) -> dict[str, Any]:
    return client.data(f"{{ accounts(first: 100, {arguments}) {{ totalCount edges {{ node {{ id }} }} }} }}")["accounts"]


def test_account_filters(as_) -> None:
    client = as_("admin")
    cases = {
        "filter: {minScore: 0.7}": ["a1", "c1", "b1"],
        "filter: {minScore: 0.3, maxScore: 0.8}": ["c1", "b1", "a2"],
        'filter: {industry: "Tech"}': ["a1", "c1", "b1", "a3"],
        'filter: {region: "NA"}': ["b1", "a2", "a3"],
        'filter: {region: "NA", industry: "Tech"}': ["b1", "a3"],
        'filter: {ownerId: "u-alice"}': ["a1", "a2", "a3"],
        f'filter: {{ownerId: "{gid("User", "u-bob")}"}}': ["b1"],
        'filter: {search: "acme"}': ["a1"],
        'filter: {search: "ap"}': ["a2"],
    }
    for arguments, expected in cases.items():
        connection = accounts(client, arguments)
        assert edge_keys(connection) == expected, arguments
        assert connection["totalCount"] == len(expected), arguments


def test_changed_since_compares_update_times(as_) -> None:
    connection = accounts(as_("admin"), 'filter: {changedSince: "2026-01-04T00:00:00Z"}')
    assert sorted(edge_keys(connection)) == ["a1", "b1", "c1"] and connection["totalCount"] == 3
    recent_first = accounts(as_("admin"), "orderBy: {field: UPDATED, direction: DESC}")
    assert edge_keys(recent_first) == ["c1", "a1", "b1", "a3", "m1", "a2"]


def test_account_orderings(as_) -> None:
    client = as_("admin")
    assert edge_keys(accounts(client, "orderBy: {field: SCORE, direction: DESC}")) == ["a1", "c1", "b1", "a2", "m1", "a3"]
    # Unscored accounts sort last in either direction.
    assert edge_keys(accounts(client, "orderBy: {field: SCORE, direction: ASC}")) == ["m1", "a2", "b1", "c1", "a1", "a3"]
    assert edge_keys(accounts(client, "orderBy: {field: NAME, direction: DESC}")) == ["m1", "c1", "b1", "a2", "a1", "a3"]
    body = client.post("{ accounts(orderBy: {field: AMOUNT}) { totalCount } }").json()
    assert body["errors"][0]["message"] == "orderBy.field: AMOUNT does not apply to Account"


def test_contact_and_opportunity_lists_filter_and_order(as_) -> None:
    client = as_("alice")
    contacts = client.data("""{ contacts(first: 10, filter: {accountId: "a2", minScore: 0.15}) {
        totalCount edges { node { id } } } }""")["contacts"]
    assert edge_keys(contacts) == ["a2-c2"] and contacts["totalCount"] == 1
    open_deals = client.data("""{ opportunities(first: 10, filter: {isClosed: false},
        orderBy: {field: NAME, direction: ASC}) { totalCount edges { node { id } } } }""")["opportunities"]
    assert edge_keys(open_deals) == ["a3-o1", "a1-o1", "a2-o1"] and open_deals["totalCount"] == 3
    won = client.data("""{ opportunities(first: 10, filter: {stage: "Closed Won", minAmount: 1500},
        orderBy: {field: AMOUNT, direction: DESC}) { totalCount } }""")["opportunities"]
    assert won["totalCount"] == 3
    by_owner = as_("mgr").data("""{ opportunities(first: 10, filter: {ownerId: "u-bob"}) {
        edges { node { id } } } }""")["opportunities"]
    assert sorted(edge_keys(by_owner)) == ["b1-o1", "b1-o2"]
    searched = client.data('{ contacts(first: 10, filter: {search: "person apex"}) { edges { node { id } } } }')
    assert sorted(edge_keys(searched["contacts"])) == ["a2-c1", "a2-c2"]


def test_score_filter_bounds_are_checked(as_) -> None:
    body = as_("admin").post("{ accounts(filter: {minScore: 1.5}) { totalCount } }").json()
    assert body["errors"][0]["message"] == "filter.minScore: a score is between 0 and 1"


def test_neighborhood_returns_nodes_and_edges_by_depth(as_) -> None:
    query = """query($id: ID!, $depth: Int!, $limit: Int!) { neighborhood(id: $id, depth: $depth, limit: $limit) {
        __typename ... on Neighborhood { start truncated nodes { id label name score depth } edges { source target type } }
        ... on UserError { message field } } }"""
    one = as_("alice").data(query, {"id": gid("Account", "a1"), "depth": 1, "limit": 50})["neighborhood"]
    assert one["start"] == gid("Account", "a1") and not one["truncated"]
    by_id = {n["id"]: n for n in one["nodes"]}
    assert by_id[gid("Account", "a1")] == {"id": gid("Account", "a1"), "label": "Account", "name": "Acme Corp",
                                            "score": 0.9, "depth": 0}
    assert {n["label"] for n in one["nodes"]} == {"Account", "Contact", "Opportunity", "Activity", "User", "Action",
                                                   "ScoreChange"}
    assert all(n["depth"] == 1 for n in one["nodes"] if n["id"] != gid("Account", "a1"))
    assert {"source": gid("User", "u-alice"), "target": gid("Account", "a1"), "type": "OWNS"} in one["edges"]
    assert all(e["source"] in by_id and e["target"] in by_id for e in one["edges"])
    two = as_("alice").data(query, {"id": gid("Account", "a1"), "depth": 2, "limit": 50})["neighborhood"]
    two_ids = {n["id"] for n in two["nodes"]}
    # Through alice (the owner) to her other accounts; never to the other team's parent account.
    assert {gid("Account", "a2"), gid("Account", "a3")} <= two_ids
    assert gid("Account", "c1") not in two_ids
    small = as_("admin").data(query, {"id": gid("Account", "a1"), "depth": 3, "limit": 5})["neighborhood"]
    assert len(small["nodes"]) == 5 and small["truncated"]


def test_neighborhood_arguments_are_checked(as_) -> None:
    query = """query($depth: Int!, $limit: Int!) { neighborhood(id: "%s", depth: $depth, limit: $limit) {
        __typename ... on UserError { message field } } }""" % gid("Account", "a1")
    deep = as_("admin").data(query, {"depth": 4, "limit": 10})["neighborhood"]
    assert deep == {"__typename": "InvalidInput", "message": "depth: must be between 1 and 3", "field": "depth"}
    wide = as_("admin").data(query, {"depth": 1, "limit": 1000})["neighborhood"]
    assert wide["field"] == "limit"
    missing = as_("admin").data('{ neighborhood(id: "a1") { __typename ... on NotFound { field } } }')
    assert missing["neighborhood"] == {"__typename": "NotFound", "field": "id"}


def test_explain_and_score_history(as_) -> None:
    client = as_("mgr")
    explained = client.data(f"""{{ explain(id: "{gid("Account", "b1")}") {{ __typename ... on Explanation {{
        subjectId score {{ value model }} drivers {{ feature contribution detail }} }} }} }}""")["explain"]
    assert explained == {"__typename": "Explanation", "subjectId": gid("Account", "b1"),
                         "score": {"value": 0.7, "model": "mv-1"},
                         "drivers": [{"feature": "recent_meetings", "contribution": 0.3, "detail": "3 meetings"}]}
    history = client.data(f"""{{ scoreHistory(id: "{gid("Account", "b1")}") {{ __typename ... on ScoreHistory {{
        subjectId changes {{ id oldScore newScore model changedAt reason subjectId }} }} }} }}""")["scoreHistory"]
    assert history["changes"] == [{"id": gid("ScoreChange", "sc-b1"), "oldScore": 0.1, "newScore": 0.7, "model": "mv-1",
                                   "changedAt": "2026-01-02T00:00:00+00:00", "reason": "batch",
                                   "subjectId": gid("Account", "b1")}]
    unscored = client.data(f'{{ explain(id: "{gid("Account", "a3")}") {{ ... on Explanation {{ score {{ value }} drivers {{ feature }} }} }} }}')
    assert unscored["explain"] == {"score": None, "drivers": []}
    for field in ("explain", "scoreHistory"):
        result = client.data(f'{{ {field}(id: "{gid("User", "u-bob")}") {{ __typename ... on NotFound {{ field }} }} }}')
        assert result[field] == {"__typename": "NotFound", "field": "id"}


def test_models_newest_first_and_by_stage(as_) -> None:
    models = as_("alice").data("{ models { id name task version stage createdAt metrics } }")["models"]
    assert keys_of([m["id"] for m in models]) == ["mv-2", "mv-1", "mv-0"]
    assert models[1] == {"id": gid("ModelVersion", "mv-1"), "name": "second", "task": "account_intent", "version": 2,
                         "stage": "production", "createdAt": "2025-12-01T00:00:00+00:00", "metrics": {"auc": 0.78}}
    production = as_("alice").data('{ models(stage: "production") { name } }')["models"]
    assert production == [{"name": "second"}]


def test_actions_list_by_status(as_) -> None:
    waiting = as_("bob").data('''{ actions(status: "pending_approval") { id kind status policy note modelVersion
        subjectId } }''')["actions"]
    assert waiting == [{"id": gid("Action", "x-b1"), "kind": "task", "status": "pending_approval", "policy": "hot-account",
                        "note": "score jumped", "modelVersion": "mv-1", "subjectId": gid("Account", "b1")}]
    assert as_("bob").data('{ actions(status: "delivered") { id } }')["actions"] == []
    body = as_("bob").post('{ actions(status: "whatever") { id } }').json()
    assert body["errors"][0]["message"].startswith("status: must be one of pending")


def test_users_show_their_book_and_line(as_) -> None:
    me = as_("mgr").data("{ me { role userId } }")["me"]
    assert me == {"role": "manager", "userId": "u-mgr"}
    user = as_("mgr").data(f"""{{ node(id: "{gid("User", "u-mgr")}") {{ ... on User {{ name
        accounts {{ name }} reports {{ id }} manager {{ id }} }} }} }}""")["node"]
    assert user["accounts"] == [{"name": "Mango SA"}]
    assert sorted(keys_of([r["id"] for r in user["reports"]])) == ["u-alice", "u-bob"]
    # mgr reports to boss, whom mgr may not see.
    assert user["manager"] is None


def test_explain_reads_the_ml_write_back_of_sentences_and_weights(as_, _session_graph) -> None:
    _session_graph.write("""MATCH (c:Contact {id: 'a2-c1'})
        SET c.intent_score = 0.66, c.intent_model = 'account_intent-v2', c.intent_scored_at = datetime(),
            c.intent_drivers = ['3 meetings in the last 14 days', 'a new VP joined'], c.intent_driver_weights = [0.8, 0.25]""")
    explained = as_("alice").data(f"""{{ explain(id: "{gid("Contact", "a2-c1")}") {{ ... on Explanation {{
        score {{ value model }} drivers {{ feature contribution detail }} }} }} }}""")["explain"]
    assert explained == {"score": {"value": 0.66, "model": "account_intent-v2"}, "drivers": [
        {"feature": "3 meetings in the last 14 days", "contribution": 0.8, "detail": None},
        {"feature": "a new VP joined", "contribution": 0.25, "detail": None}]}
    nested = as_("alice").data('{ contact(id: "a2-c1") { ... on Contact { score { drivers { contribution } } } } }')
    assert nested["contact"]["score"]["drivers"] == [{"contribution": 0.8}, {"contribution": 0.25}]
