"""Fixtures for the explorer's browser tests: Debian's headless Chromium driven by Playwright, a real API
server on loopback over the test run's Neo4j, the GraphQL tests' two-team world with a busier account,
and a folder for the screenshots each view saves (listed at the end of the run).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kgcrm.graph.driver import Graph
from test_gql_world import ApiServer, World, api_settings, gid, seed_world

REPO = Path(__file__).resolve().parents[2]
VIEWPORT = {"width": 1280, "height": 800}
SCREENSHOTS = Path(os.environ.get("KGCRM_SCREENSHOT_DIR", REPO / "test-artifacts" / "explorer"))
_saved: list[Path] = []

# Acme Corp (a1, alice's hottest) gets a rising score history, three drivers, and enough contacts, deals
# and activities that its two-hop neighbourhood holds about 200 nodes.
BUSY_ACCOUNT = """
MATCH (a:Account {id: 'a1'})
SET a.intent_drivers = $drivers, a.employees = 1200, a.domain = 'acme.test'
WITH a
UNWIND range(0, size($history) - 2) AS i
CREATE (:ScoreChange {id: 'sc-a1-' + i, old_score: $history[i], new_score: $history[i + 1], model_version: 'mv-1',
                      changed_at: datetime('2025-12-01T00:00:00Z') + duration({days: 4 * i}), cause: 'batch'})-[:ABOUT]->(a)
WITH DISTINCT a
UNWIND range(3, 62) AS i
CREATE (c:Contact {id: 'a1-c' + i, name: 'Contact ' + i + ' at Acme', title: CASE WHEN i % 5 = 0 THEN 'CTO' ELSE 'Engineer' END,
                   seniority: CASE WHEN i % 5 = 0 THEN 'c_level' ELSE 'staff' END, intent_score: (i % 10) / 10.0,
                   source: 'test', source_id: 'a1c' + i, created_at: datetime(), updated_at: datetime()})
       -[:WORKS_AT {since: datetime('2024-01-01T00:00:00Z')}]->(a)
CREATE (act:Activity {id: 'act-a1-x' + i, type: CASE i % 3 WHEN 0 THEN 'web_visit' WHEN 1 THEN 'email_opened' ELSE 'meeting' END,
                      at: datetime('2026-01-01T00:00:00Z') + duration({hours: i}), subject: 'Touch ' + i,
                      source: 'test', source_id: 'a1x' + i, created_at: datetime(), updated_at: datetime()})-[:ABOUT]->(a)
CREATE (act)-[:PERFORMED_BY]->(c)
WITH a, c, i WHERE i % 3 = 0
CREATE (o:Opportunity {id: 'a1-o' + i, name: 'Expansion ' + i, stage: 'Qualification', amount: 5000.0 * i,
                       is_closed: false, is_won: false, intent_score: 0.6, source: 'test', source_id: 'a1o' + i,
                       created_at: datetime(), updated_at: datetime()})-[:FOR_ACCOUNT]->(a)
CREATE (c)-[:ROLE_IN {role: 'decision_maker', is_primary: false}]->(o)
WITH o, i
UNWIND [1, 2] AS k
CREATE (:Activity {id: 'act-a1-o' + i + '-' + k, type: 'email_replied', at: datetime('2026-01-05T00:00:00Z'),
                   subject: 'Re: proposal ' + i, source: 'test', source_id: 'a1o' + i + k, created_at: datetime(),
                   updated_at: datetime()})-[:ABOUT]->(o)
"""
DRIVERS = (
    '[{"feature": "recent_meetings", "contribution": 0.31, "detail": "3 meetings in the last 30 days"},'
    ' {"feature": "champion_moved_in", "contribution": 0.18, "detail": "a former champion joined as CTO"},'
    ' {"feature": "support_tickets", "contribution": -0.05, "detail": "2 open support tickets"}]'
)
HISTORY = [0.1, 0.3, 0.35, 0.5, 0.55, 0.72, 0.85, 0.9]


def chromium_path() -> str | None:
    """KGCRM_CHROMIUM, or Debian's chromium on the PATH."""
    configured = os.environ.get("KGCRM_CHROMIUM")
    if configured:
        return configured if Path(configured).is_file() else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


# Module scope: Playwright's sync API keeps an asyncio loop running in this thread while it is open,
# and later test modules that call asyncio.run() (subscriptions) would fail while it lives.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = chromium_path()
    if executable is None:
        message = "no headless Chromium: run scripts/browser.sh (installs Debian's chromium) or set KGCRM_CHROMIUM"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import expect, sync_playwright

    # expect() returns as soon as its condition holds; the long ceiling is for a test machine under load.
    expect.set_options(timeout=30_000)

    with sync_playwright() as playwright:
        # Chromium's sandbox needs user namespaces, which containers and root often lack.
        launched = playwright.chromium.launch(executable_path=executable, headless=True,
                                              args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def explorer_world(_session_graph: Graph) -> World:
    world = seed_world(_session_graph)
    _session_graph.write(BUSY_ACCOUNT, {"drivers": DRIVERS, "history": HISTORY})
    return world


@pytest.fixture(scope="module")
def explorer_server(neo4j_server: Any, _session_graph: Graph, explorer_world: World) -> Iterator[ApiServer]:
    with ApiServer(api_settings(neo4j_server.settings), _session_graph) as api:
        warm_up(api, explorer_world.keys["alice"])
        yield api


def warm_up(api: ApiServer, key: str) -> None:
    """Send the page's queries once, so Neo4j plans them before a browser waits (a fresh server on a busy
    machine can take longer to plan them than a test wants to wait for a page)."""
    documents = dict(re.findall(r"export const (\w+) = `((?:[^`$]|\$(?!\{))*)`;", (REPO / "explorer/src/queries.js").read_text()))
    variables = {"ACCOUNTS": {"first": 50, "orderBy": {"field": "SCORE", "direction": "DESC"}},
                 "ACCOUNT": {"id": "a1"}, "NEIGHBORHOOD": {"id": gid("Account", "a1"), "depth": 2, "limit": 200}}
    with httpx.Client(base_url=api.url, timeout=300, headers={"Authorization": f"Bearer {key}"}) as client:
        for name in ("ME", "ACCOUNTS", "ACCOUNT", "PENDING_ACTIONS", "NEIGHBORHOOD"):
            body = client.post("/graphql", json={"query": documents[name], "variables": variables.get(name, {})}).json()
            assert "errors" not in body, (name, body)


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=VIEWPORT)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on("console", lambda message: message.type == "error" and print(f"browser console: {message.text}"))
    yield tab
    context.close()
    assert not errors, f"the page raised: {errors}"


@pytest.fixture
def screenshot(page: Any):  # noqa: ANN201 - a factory fixture
    """`screenshot("01-name")` saves the viewport (1280x800) as test-artifacts/explorer/01-name.png."""

    def save(name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path))
        _saved.append(path)
        print(f"screenshot: {path}")
        return path

    return save


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _saved:
        terminalreporter.section("explorer screenshots")
        for path in _saved:
            terminalreporter.write_line(str(path))
