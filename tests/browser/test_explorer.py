"""The explorer page in a real headless Chromium against the real API and Neo4j: sign in with a key, my
accounts hottest first, the account view, the graph view, approving an action, live updates, and a second
account manager who never sees the first one's accounts. Each view is saved as a 1280x800 screenshot.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import expect

from kgcrm.actions.outbox import ScoreChangeInput, apply_score_changes
from kgcrm.actions.policies import parse_policies
from kgcrm.graph.driver import Graph
from kgcrm.graph.model import Label
from kgcrm.gql.auth import create_api_key
from test_gql_world import gid

ALICE_ACCOUNTS = ["Acme Corp", "Apex Ltd", "Aardvark Labs"]
ALICE_IDS = {gid("Account", key) for key in ("a1", "a2", "a3")}
TIMEOUT = 30_000  # generous: the shared test machine can be slow, and expect() returns as soon as it holds


def sign_in(page: Any, server: Any, key: str, path: str = "") -> None:
    page.goto(f"{server.url}/explorer/{path}")
    page.get_by_test_id("key-input").fill(key)
    page.get_by_test_id("sign-in").click()
    expect(page.get_by_test_id("account-row").first).to_be_visible(timeout=TIMEOUT)


def row_names(page: Any) -> list[str]:
    return page.get_by_test_id("account-name").all_inner_texts()


def graph_nodes(page: Any) -> list[dict[str, Any]]:
    return page.evaluate("window.kgcrmExplorer.graphNodes()")


def assert_names_fit(page: Any, nodes: list[dict[str, Any]]) -> None:
    """The names drawn (as Cytoscape measures them) overlap no other name and stay inside the canvas."""
    canvas = page.get_by_test_id("graph-canvas").bounding_box()
    boxes = [(n["name"], n["labelBox"]) for n in nodes if n["side"]]
    slack = 1.5  # pixels: text antialiasing and rounding
    for name, b in boxes:
        assert b["x1"] >= -slack and b["y1"] >= -slack, (name, b)
        assert b["x2"] <= canvas["width"] + slack and b["y2"] <= canvas["height"] + slack, (name, b, canvas)
    for i, (name, b) in enumerate(boxes):
        for other, c in boxes[i + 1:]:
            overlap = min(b["x2"], c["x2"]) - max(b["x1"], c["x1"]), min(b["y2"], c["y2"]) - max(b["y1"], c["y1"])
            assert min(overlap) <= slack, f"the names {name!r} and {other!r} overlap: {b} {c}"


def test_a_wrong_key_is_refused_with_the_apis_reason(page, screenshot, explorer_server) -> None:
    page.goto(f"{explorer_server.url}/explorer/")
    page.get_by_test_id("key-input").fill("kgcrm_nope_nope")
    page.get_by_test_id("sign-in").click()
    expect(page.get_by_test_id("sign-in-error")).to_contain_text("invalid or revoked API key", timeout=TIMEOUT)
    screenshot("00-sign-in-refused")


def test_my_accounts_are_sorted_by_intent_with_trend_driver_and_last_activity(page, screenshot, explorer_server,
                                                                              explorer_world) -> None:
    paths: list[str] = []
    page.on("request", lambda request: paths.append(urlsplit(request.url).path))
    sign_in(page, explorer_server, explorer_world.keys["alice"])
    expect(page.get_by_test_id("account-row")).to_have_count(3)
    assert row_names(page) == ALICE_ACCOUNTS
    first = page.get_by_test_id("account-row").first
    expect(first).to_contain_text("90")
    expect(first).to_contain_text("Recent meetings: 3 meetings in the last 30 days")
    expect(first).to_contain_text("1 to approve")
    expect(first.locator("svg.sparkline polyline")).to_have_count(1)
    expect(page.get_by_test_id("account-row").nth(2)).to_contain_text("Not scored yet")
    expect(page.get_by_test_id("who")).to_contain_text("u-alice")
    expect(page.get_by_test_id("home")).to_contain_text("Awaiting your approval")
    screenshot("01-my-accounts")

    page.get_by_test_id("search").fill("apex")
    expect(page.get_by_test_id("account-row")).to_have_count(1)
    assert row_names(page) == ["Apex Ltd"]
    page.get_by_test_id("search").fill("")
    expect(page.get_by_test_id("account-row")).to_have_count(3)
    page.get_by_test_id("min-score").select_option("0.7")
    expect(page.get_by_test_id("account-row")).to_have_count(1)
    assert row_names(page) == ["Acme Corp"]
    # The page's data comes from the GraphQL API only; everything else it loads is its own static files.
    assert "/graphql" in paths and all(p == "/graphql" or p.startswith("/explorer/") for p in paths), paths


def test_the_hottest_account_shows_drivers_history_contacts_deals_and_activity(page, screenshot, explorer_server,
                                                                              explorer_world) -> None:
    sign_in(page, explorer_server, explorer_world.keys["alice"])
    page.get_by_test_id("account-row").first.click()
    expect(page.get_by_test_id("account-title")).to_have_text("Acme Corp", timeout=TIMEOUT)
    drivers = page.get_by_test_id("drivers")
    expect(drivers).to_contain_text("Acme Corp scores 90 out of 100")
    expect(drivers.locator("li")).to_have_count(3)
    expect(drivers.locator("li").first).to_contain_text("Recent meetings: 3 meetings in the last 30 days")
    expect(page.get_by_test_id("score-history").locator("circle")).to_have_count(8)
    contacts = page.get_by_test_id("contacts")
    expect(contacts.locator("tbody tr")).to_have_count(62)
    expect(contacts).to_contain_text("Champion")
    expect(page.get_by_test_id("opportunities").locator("tbody tr")).to_have_count(22)
    expect(page.get_by_test_id("activities").locator("li")).to_have_count(25)
    expect(page.get_by_test_id("action")).to_have_count(1)
    expect(page.get_by_test_id("action-status")).to_have_text("awaiting approval")
    assert page.get_by_test_id("account-row").first.get_attribute("class").endswith("selected")
    screenshot("02-account")


def test_the_graph_view_draws_the_neighbourhood_and_expands_a_node(page, screenshot, explorer_server, explorer_world) -> None:
    sign_in(page, explorer_server, explorer_world.keys["alice"])
    page.get_by_test_id("account-row").first.click()
    page.get_by_test_id("tab-graph").click()
    expect(page.get_by_test_id("node-count")).to_contain_text("nodes", timeout=TIMEOUT)
    nodes = graph_nodes(page)
    assert len(nodes) >= 150, len(nodes)
    assert {n["label"] for n in nodes} >= {"Account", "Contact", "Opportunity", "Activity"}
    assert gid("Account", "c1") not in {n["id"] for n in nodes}  # the parent account is carol's
    # Crowded, yet readable: the middle account and every account and deal name that fits, none overlapping.
    shown = {n["name"] for n in nodes if n["side"]}
    assert "Acme Corp" in shown and {"Apex Ltd", "Aardvark Labs", "Alice Rep"} <= shown, shown
    assert sum(n["label"] == "Opportunity" for n in nodes if n["side"]) >= 12, shown
    assert_names_fit(page, nodes)
    screenshot("03-graph-200-nodes")

    # One hop, then expand the owner: alice's other accounts join the drawing.
    page.get_by_test_id("depth").select_option("1")
    expect(page.get_by_test_id("node-count")).not_to_have_text(f"{len(nodes)} nodes", timeout=TIMEOUT)
    before = graph_nodes(page)
    assert not (ALICE_IDS - {gid("Account", "a1")}) & {n["id"] for n in before}
    owner = next(n for n in before if n["label"] == "User")
    box = page.get_by_test_id("graph-canvas").bounding_box()
    page.mouse.move(box["x"] + owner["x"], box["y"] + owner["y"])
    expect(page.get_by_test_id("tooltip")).to_contain_text("User: Alice Rep")
    page.mouse.click(box["x"] + owner["x"], box["y"] + owner["y"])
    expect(page.get_by_test_id("node-count")).to_have_text(f"{len(before) + 2} nodes", timeout=TIMEOUT)
    after = {n["id"] for n in graph_nodes(page)}
    assert ALICE_IDS <= after
    expect(page.get_by_test_id("graph-details")).to_contain_text("Alice Rep")
    assert_names_fit(page, graph_nodes(page))
    screenshot("04-graph-expanded")


def test_approving_a_pending_action_with_a_reason_changes_its_status(page, screenshot, explorer_server, explorer_world,
                                                                     _session_graph: Graph) -> None:
    sign_in(page, explorer_server, explorer_world.keys["alice"], f"#/account/{gid('Account', 'a2')}")
    expect(page.get_by_test_id("account-title")).to_have_text("Apex Ltd", timeout=TIMEOUT)
    action = page.get_by_test_id("action")
    expect(action.get_by_test_id("action-status")).to_have_text("awaiting approval")
    action.get_by_test_id("approve").click()
    action.get_by_test_id("confirm-decision").click()
    expect(action).to_contain_text("Choose a reason.")
    action.get_by_test_id("reason").select_option("good_fit")
    screenshot("05-approve")
    action.get_by_test_id("confirm-decision").click()
    expect(page.get_by_test_id("action-status")).to_have_text("due for delivery", timeout=TIMEOUT)
    expect(page.get_by_test_id("action")).to_contain_text("approved by u-alice (Good fit)")
    stored = _session_graph.read("MATCH (x:Action {id: 'x-a2'}) RETURN x.status AS status, x.reason_code AS reason, "
                                 "x.decision AS decision")
    assert stored == [{"status": "pending", "reason": "good_fit", "decision": "approved"}]
    # The list stops counting it as waiting for approval, and so does the home inbox.
    apex = page.get_by_test_id("account-row").filter(has_text="Apex Ltd")
    expect(apex.get_by_test_id("pending-count")).to_have_count(0, timeout=TIMEOUT)
    expect(page.get_by_test_id("account-row").filter(has_text="Acme Corp")).to_contain_text("1 to approve")
    screenshot("06-approved")
    page.get_by_test_id("pending-only").check()
    expect(page.get_by_test_id("account-row")).to_have_count(2)
    assert "Apex Ltd" not in row_names(page)
    page.goto(f"{explorer_server.url}/explorer/#/")
    expect(page.get_by_test_id("home").locator(".inbox li")).to_have_count(2, timeout=TIMEOUT)
    expect(page.get_by_test_id("home")).not_to_contain_text("Apex Ltd")


def test_a_score_crossing_and_a_new_action_appear_without_a_reload(page, screenshot, explorer_server, explorer_world,
                                                                   _session_graph: Graph) -> None:
    sign_in(page, explorer_server, explorer_world.keys["alice"], f"#/account/{gid('Account', 'a3')}")
    expect(page.get_by_test_id("account-title")).to_have_text("Aardvark Labs", timeout=TIMEOUT)
    expect(page.get_by_test_id("live-status")).to_have_text("live", timeout=TIMEOUT)
    expect(page.get_by_test_id("action")).to_have_count(1)
    page.evaluate("window.__sameDocument = true")

    # The real write path: the scorer's score change, its policy and the Action it causes, in one transaction.
    policies = parse_policies("policies:\n  - {name: hot-account, label: Account, enter: 0.7, rearm: 0.5, "
                              "cooldown: 0, action: task}\n", "test policies")
    settings = _session_graph.settings.model_copy(update={"holdout_fraction": 0.0})
    change = ScoreChangeInput(node_id="a3", label=Label.ACCOUNT, old_score=None, new_score=0.82, model_version="mv-1")
    report = apply_score_changes(_session_graph, [change], policies, settings)
    assert report.actions == {"pending": 1}

    toasts = page.get_by_test_id("toasts")
    expect(toasts).to_contain_text("Aardvark Labs is heating up", timeout=TIMEOUT)
    expect(toasts).to_contain_text("New action for Aardvark Labs: Task", timeout=TIMEOUT)
    expect(page.get_by_test_id("action")).to_have_count(2, timeout=TIMEOUT)
    expect(page.locator(".action.fresh")).to_have_count(1)
    expect(page.get_by_test_id("account-title")).to_have_text("Aardvark Labs")
    row = page.get_by_test_id("account-row").filter(has_text="Aardvark Labs")
    expect(row.locator(".score-badge")).to_have_text("82", timeout=TIMEOUT)
    assert row_names(page)[:2] == ["Acme Corp", "Aardvark Labs"]
    assert page.evaluate("window.__sameDocument") is True
    expect(toasts.get_by_test_id("toast")).to_have_count(2)
    assert_stacked(page)
    screenshot("07-live-update")

    # A burst of notices: the newest on top, at most four at once, none over another or over the top bar.
    for old, new in ((0.82, 0.3), (0.3, 0.86), (0.86, 0.3), (0.3, 0.91), (0.91, 0.3), (0.3, 0.95)):
        apply_score_changes(_session_graph, [ScoreChangeInput(node_id="a3", label=Label.ACCOUNT, old_score=old,
                                                              new_score=new, model_version="mv-1")], policies, settings)
    expect(toasts).to_contain_text("Aardvark Labs is heating up: intent 30 → 95", timeout=TIMEOUT)
    expect(toasts.get_by_test_id("toast")).to_have_count(4)
    expect(page.get_by_test_id("action")).to_have_count(5, timeout=TIMEOUT)
    texts = toasts.get_by_test_id("toast").all_inner_texts()
    # Newest on top: score notices and action notices come from two subscriptions whose polls may deliver
    # in either order, so the order is checked within each kind (the last crossing first).
    heating = [t for t in texts if "heating up" in t]
    assert heating and "intent 30 → 95" in heating[0], texts
    assert [t.split("→")[1].split()[0] for t in heating] == sorted((t.split("→")[1].split()[0] for t in heating),
                                                                  reverse=True), texts
    assert not any("newly scored" in t for t in texts), texts
    assert_stacked(page)
    screenshot("07b-live-notices-stacked")
    toasts.get_by_test_id("toast").first.get_by_role("button", name="Dismiss").click()
    expect(toasts.get_by_test_id("toast")).to_have_count(3)


def assert_stacked(page: Any) -> None:
    """The notices do not overlap each other, and leave the top bar (its live badge and Sign out) clear."""
    boxes = [t.bounding_box() for t in page.get_by_test_id("toast").all()]
    topbar = page.locator(".topbar").bounding_box()
    for upper, lower in zip(boxes, boxes[1:]):
        assert upper["y"] + upper["height"] <= lower["y"], boxes
    assert all(b["y"] >= topbar["y"] + topbar["height"] and b["y"] + b["height"] <= 800 for b in boxes), boxes


def test_a_second_account_manager_never_sees_the_first_ones_accounts(page, screenshot, explorer_server, explorer_world,
                                                                     _session_graph: Graph) -> None:
    sign_in(page, explorer_server, explorer_world.keys["bob"])
    assert row_names(page) == ["Bolt Inc"]
    expect(page.get_by_test_id("home")).not_to_contain_text("Acme")
    for name in ALICE_ACCOUNTS:
        page.get_by_test_id("search").fill(name.split()[0])
        expect(page.get_by_test_id("account-list")).to_contain_text("No account matches.", timeout=TIMEOUT)
    page.get_by_test_id("search").fill("")
    expect(page.get_by_test_id("account-row")).to_have_count(1, timeout=TIMEOUT)

    for key in ("a1", "a2", "a3"):
        for view in ("", "/graph"):
            page.goto(f"{explorer_server.url}/explorer/#/account/{gid('Account', key)}{view}")
            expect(page.get_by_test_id("not-found")).to_contain_text("No such account in your book", timeout=TIMEOUT)
            expect(page.get_by_test_id("main")).not_to_contain_text(re.compile("Acme|Apex|Aardvark"))
    screenshot("08-other-book-not-found")

    page.goto(f"{explorer_server.url}/explorer/#/account/{gid('Account', 'b1')}/graph")
    expect(page.get_by_test_id("node-count")).to_contain_text("nodes", timeout=3 * TIMEOUT)
    page.get_by_test_id("expand-all").click()
    # About ten neighbourhood requests, four at a time: slow on a loaded test machine.
    expect(page.get_by_test_id("expand-all")).to_be_enabled(timeout=3 * TIMEOUT)
    seen = graph_nodes(page)
    assert not ALICE_IDS & {n["id"] for n in seen}
    # A small neighbourhood names every account, deal and person.
    assert all(n["side"] for n in seen if n["label"] in ("Account", "Opportunity", "Contact", "User")), seen
    assert_names_fit(page, seen)
    assert not any(re.search("Acme|Apex|Aardvark|Alice", n["name"] or "") for n in seen)

    # A change in alice's book while bob watches: nothing reaches bob's page.
    policies = parse_policies("policies:\n  - {name: hot-a1, label: Account, enter: 0.5, rearm: 0.2, "
                              "cooldown: 0, action: task}\n", "test policies")
    settings = _session_graph.settings.model_copy(update={"holdout_fraction": 0.0})
    apply_score_changes(_session_graph, [ScoreChangeInput(node_id="a2", label=Label.ACCOUNT, old_score=0.4,
                                                          new_score=0.95, model_version="mv-1")], policies, settings)
    expect(page.get_by_test_id("live-status")).to_have_text("live", timeout=TIMEOUT)
    page.wait_for_timeout(1500)  # several subscription polls
    expect(page.get_by_test_id("toasts")).to_be_empty()
    expect(page.locator("body")).not_to_contain_text(re.compile("Acme|Apex|Aardvark"))
    screenshot("09-other-manager-graph")


def test_rejecting_an_action_asks_for_a_reason_and_shows_it(page, screenshot, explorer_server, explorer_world,
                                                           _session_graph: Graph) -> None:
    sign_in(page, explorer_server, explorer_world.keys["alice"], f"#/account/{gid('Account', 'a1')}")
    expect(page.get_by_test_id("account-title")).to_have_text("Acme Corp", timeout=TIMEOUT)
    action = page.get_by_test_id("action").filter(has_text="score jumped")
    expect(action.get_by_test_id("action-status")).to_have_text("awaiting approval")
    action.get_by_test_id("reject").click()
    expect(action.get_by_test_id("confirm-decision")).to_have_text("Confirm rejection")
    options = action.get_by_test_id("reason").locator("option").all_inner_texts()
    assert "Bad timing" in options and "Good fit" not in options, options  # rejection reasons only
    action.get_by_test_id("confirm-decision").click()
    expect(action).to_contain_text("Choose a reason.")
    action.get_by_test_id("reason").select_option("bad_timing")
    screenshot("10-reject")
    action.get_by_test_id("confirm-decision").click()
    decided = page.get_by_test_id("action").filter(has_text="score jumped")
    expect(decided.get_by_test_id("action-status")).to_have_text("Rejected", timeout=TIMEOUT)
    expect(decided).to_contain_text("rejected by u-alice (Bad timing)")
    expect(decided.get_by_test_id("approve")).to_have_count(0)
    stored = _session_graph.read("MATCH (x:Action {id: 'x-a1'}) RETURN x.status AS status, x.reason_code AS reason, "
                                 "x.decision AS decision, x.decided_by AS by")
    assert stored == [{"status": "rejected", "reason": "bad_timing", "decision": "rejected", "by": "u-alice"}]
    acme = page.get_by_test_id("account-row").filter(has_text="Acme Corp")
    expect(acme.get_by_test_id("pending-count")).to_have_count(0, timeout=TIMEOUT)
    screenshot("11-rejected")


LONG_NAME = "Northwind International Trading & Logistics Holdings Group plc (Europe, Middle East and Africa)"
LONG_BOOK = """
MERGE (u:User {id: 'u-dana'})
  ON CREATE SET u.name = 'Dana Longbook', u.role = 'rep', u.email = 'dana@seller.test', u.source = 'test',
                u.source_id = 'u-dana', u.created_at = datetime(), u.updated_at = datetime()
CREATE (a:Account {id: 'd1', name: $name, industry: 'Transportation, Logistics and Supply Chain Services', region: 'EMEA',
                   domain: 'northwind-international-trading-and-logistics.test', intent_score: 0.77, intent_model: 'mv-1',
                   intent_scored_at: datetime('2026-01-01T00:00:00Z'), intent_drivers: $drivers, source: 'test',
                   source_id: 'd1', created_at: datetime(), updated_at: datetime()})
CREATE (u)-[:OWNS]->(a)
CREATE (o:Opportunity {id: 'd1-o1', name: 'Multi-year fleet telematics and warehouse automation platform renewal',
                       stage: 'Negotiation/Review', amount: 1250000.0, is_closed: false, is_won: false, intent_score: 0.7,
                       source: 'test', source_id: 'd1o1', created_at: datetime(), updated_at: datetime()})-[:FOR_ACCOUNT]->(a)
WITH a, o
UNWIND range(1, 40) AS i
CREATE (c:Contact {id: 'd1-c' + i, name: 'Maximiliane Alexandra von Hohenzollern-Sigmaringen ' + i,
                   title: 'Senior Vice President, Global Procurement and Strategic Sourcing', seniority: 'vp',
                   intent_score: (i % 10) / 10.0, source: 'test', source_id: 'd1c' + i, created_at: datetime(),
                   updated_at: datetime()})-[:WORKS_AT {since: datetime('2024-01-01T00:00:00Z')}]->(a)
FOREACH (role IN CASE WHEN i <= 6 THEN ['economic_buyer', 'technical_evaluator', 'champion'] ELSE [] END |
  CREATE (c)-[:ROLE_IN {role: role, is_primary: i = 1}]->(o))
CREATE (:Activity {id: 'd1-x' + i, type: 'email_replied', at: datetime('2026-01-01T00:00:00Z') + duration({hours: i}),
                   subject: 'Re: the updated master services agreement, redlines from legal and the pricing schedule ' + i,
                   source: 'test', source_id: 'd1x' + i, created_at: datetime(), updated_at: datetime()})-[:ABOUT]->(a)
"""
LONG_DRIVERS = (
    '[{"feature": "recent_meetings_with_senior_stakeholders_across_business_units", "contribution": 0.4,'
    ' "detail": "11 meetings in the last 30 days with procurement, finance, operations and the office of the CTO"},'
    ' {"feature": "pricing_page_visits", "contribution": 0.2, "detail": "47 visits from 9 people"}]'
)


def test_long_names_and_many_contacts_fit_the_page(page, screenshot, explorer_server, explorer_world,
                                                   _session_graph: Graph) -> None:
    _session_graph.write(LONG_BOOK, {"name": LONG_NAME, "drivers": LONG_DRIVERS})
    key = create_api_key(_session_graph, role="account_manager", user_id="u-dana").secret_key
    sign_in(page, explorer_server, key)
    row = page.get_by_test_id("account-row").first
    expect(row.get_by_test_id("account-name")).to_have_attribute("title", LONG_NAME)
    row.click()
    title = page.get_by_test_id("account-title")
    expect(title).to_have_text(LONG_NAME, timeout=TIMEOUT)
    expect(title).to_have_attribute("title", LONG_NAME)
    expect(page.get_by_test_id("contacts").locator("tbody tr")).to_have_count(40)
    expect(page.get_by_test_id("contacts")).to_contain_text("Economic buyer")
    # Nothing pushes the page sideways: every view fits 1280 pixels, long words wrap or end in an ellipsis.
    for selector in ("body", ".main", ".sidebar", ".card"):
        wide = page.evaluate(f"[...document.querySelectorAll('{selector}')].filter((e) => e.scrollWidth > e.clientWidth + 1)"
                             ".map((e) => e.className || e.tagName)")
        assert not wide, (selector, wide)
    screenshot("12-long-names")
    page.get_by_test_id("tab-graph").click()
    expect(page.get_by_test_id("node-count")).to_contain_text("nodes", timeout=TIMEOUT)
    nodes = graph_nodes(page)
    assert_names_fit(page, nodes)
    start = next(n for n in nodes if n["name"] == LONG_NAME)
    assert start["side"], start  # the middle account is named (its name ends in an ellipsis)
    screenshot("13-long-names-graph")
