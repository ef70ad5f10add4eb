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
    screenshot("06-approved")


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
    screenshot("07-live-update")


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
    expect(page.get_by_test_id("node-count")).to_contain_text("nodes", timeout=TIMEOUT)
    page.get_by_test_id("expand-all").click()
    expect(page.get_by_test_id("expand-all")).to_be_enabled(timeout=TIMEOUT)
    seen = graph_nodes(page)
    assert not ALICE_IDS & {n["id"] for n in seen}
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
