"""Score changes through trigger policies into the outbox, against the real server.

Hysteresis, minimum delta, cooldown, daily cap per owner, approval, holdouts by account, lineage,
idempotent re-application and the atomicity of score change and action.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kgcrm.actions import outbox
from kgcrm.actions.holdout import holdout_group
from kgcrm.actions.lineage import decision_labels, explain_action
from kgcrm.actions.outbox import ScoreChangeInput, apply_score_changes
from kgcrm.actions.policies import parse_policies
from kgcrm.actions.review import decide
from kgcrm.graph.driver import Graph
from kgcrm.graph.errors import ActionConflict, ActionNotFound, InvalidInput
from kgcrm.graph.model import Label
from kgcrm.graph.settings import Settings

KGCRM = str(Path(sys.executable).parent / "kgcrm")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

WORLD = """
CREATE (u1:User {id: 'u1', name: 'Rep One'}), (u2:User {id: 'u2', name: 'Rep Two'})
CREATE (m:ModelVersion {id: 'mv1', stage: 'production'})
CREATE (e1:Activity {id: 'ev1', type: 'web_visit', at: datetime('2026-03-02T08:59:00Z')})
CREATE (e2:Activity {id: 'ev2', type: 'email_replied', at: datetime('2026-03-02T08:59:30Z')})
WITH u1, u2
UNWIND range(1, 6) AS i
CREATE (a:Account {id: 'a' + i, name: 'Account ' + i, annual_revenue: i * 1000000.0})
FOREACH (_ IN CASE WHEN i <= 4 THEN [1] ELSE [] END | CREATE (u1)-[:OWNS]->(a))
FOREACH (_ IN CASE WHEN i = 5 THEN [1] ELSE [] END | CREATE (u2)-[:OWNS]->(a))
CREATE (c:Contact {id: 'c' + i, name: 'Contact ' + i})-[:WORKS_AT {since: datetime('2020-01-01T00:00:00Z')}]->(a)
CREATE (o:Opportunity {id: 'o' + i, name: 'Deal ' + i, amount: CASE WHEN i % 2 = 0 THEN 50000.0 ELSE 500.0 END})
       -[:FOR_ACCOUNT]->(a)
"""


def _policies(text: str) -> list:
    return parse_policies("policies:\n" + text, "test policies")


ACCOUNT_POLICY = """
  - {name: hot, label: Account, enter: 0.8, rearm: 0.6, min_delta: 0.05, cooldown: 0, action: webhook}
"""


def change(node: str, old: float | None, new: float, minutes: float = 0, label: Label = Label.ACCOUNT,
           events: tuple[str, ...] = ()) -> ScoreChangeInput:
    return ScoreChangeInput(node_id=node, label=label, old_score=old, new_score=new, model_version="mv1",
                            event_ids=events, changed_at=T0 + timedelta(minutes=minutes))


@pytest.fixture
def world(graph: Graph) -> Graph:
    graph.write(WORLD)
    return graph


@pytest.fixture
def settings(world: Graph) -> Settings:
    return world.settings.model_copy(update={"holdout_fraction": 0.0})


def _actions(graph: Graph, node: str | None = None) -> list[dict]:
    return graph.read(
        "MATCH (x:Action)-[:ABOUT]->(n) WHERE $node IS NULL OR n.id = $node "
        "RETURN x.id AS id, x.status AS status, x.kind AS kind, x.policy AS policy, n.id AS node, "
        "x.score_value AS score, x.owner_id AS owner ORDER BY x.triggered_at, x.kind",
        {"node": node},
    )


def _count(graph: Graph, label: str) -> int:
    return graph.read(f"MATCH (n:{label}) RETURN count(n) AS n")[0]["n"]


def test_hysteresis_fires_once_per_crossing_and_rearms_below_rearm(world: Graph, settings: Settings) -> None:
    changes = [
        change("a1", 0.50, 0.85, 0),   # crosses enter: fires
        change("a1", 0.85, 0.70, 1),   # between rearm and enter: nothing
        change("a1", 0.70, 0.90, 2),   # above enter again but not re-armed: nothing
        change("a1", 0.90, 0.55, 3),   # below rearm: re-arms
        change("a1", 0.55, 0.82, 4),   # crosses again: fires
        change("a2", 0.78, 0.81, 0),   # crosses, but rose by less than min_delta: nothing
    ]
    report = apply_score_changes(world, changes, _policies(ACCOUNT_POLICY), settings)
    assert report.written == 6
    assert report.actions == {"pending": 2}
    assert report.suppressed == {"min_delta": 1}
    fired = _actions(world, "a1")
    assert [(x["score"], x["status"], x["kind"], x["owner"]) for x in fired] == [
        (0.85, "pending", "webhook", "u1"), (0.82, "pending", "webhook", "u1"),
    ]
    assert _actions(world, "a2") == []
    assert _count(world, "ScoreChange") == 6
    node = world.read("MATCH (a:Account {id: 'a1'}) RETURN a.intent_score AS s, a.intent_model AS m")[0]
    assert (node["s"], node["m"]) == (0.82, "mv1")
    state = world.read("MATCH (t:TriggerState {policy: 'hot', node_id: 'a1'}) RETURN t.armed AS armed")[0]
    assert state["armed"] is False


def test_cooldown_holds_a_rearmed_entity_back_until_it_has_passed(world: Graph, settings: Settings) -> None:
    policies = _policies("""
  - {name: hot, label: Account, enter: 0.8, rearm: 0.6, cooldown: 1d, action: webhook}
""")
    first = apply_score_changes(world, [
        change("a1", 0.5, 0.9, 0), change("a1", 0.9, 0.5, 60), change("a1", 0.5, 0.9, 120),
    ], policies, settings)
    assert first.actions == {"pending": 1} and first.suppressed == {"cooldown": 1}
    # Still armed: the first change after the cooldown that is above enter fires.
    later = apply_score_changes(world, [change("a1", 0.9, 0.92, 25 * 60)], policies, settings)
    assert later.actions == {"pending": 1}
    assert [x["score"] for x in _actions(world, "a1")] == [0.9, 0.92]


def test_times_are_stored_as_datetimes_to_the_microsecond_and_read_back_for_the_cooldown(
    world: Graph, settings: Settings,
) -> None:
    # The statements take and return times as microseconds since the epoch (not the driver's DateTimes).
    policies = _policies("""
  - {name: hot, label: Account, enter: 0.8, rearm: 0.6, cooldown: 1d, action: webhook}
""")
    at = T0 + timedelta(microseconds=123457)

    def apply(old: float, new: float, when: datetime) -> outbox.ApplyReport:
        return apply_score_changes(world, [ScoreChangeInput("a1", Label.ACCOUNT, old, new, "mv1", changed_at=when)],
                                   policies, settings)

    assert apply(0.5, 0.9, at).actions == {"pending": 1}
    stored = world.read(f"""
MATCH (a:{Label.ACCOUNT} {{id: 'a1'}})<-[:ABOUT]-(sc:{Label.SCORE_CHANGE})<-[:CAUSED_BY]-(x:{Label.ACTION})
MATCH (t:{Label.TRIGGER_STATE} {{node_id: 'a1'}})
RETURN sc.changed_at AS changed, x.triggered_at AS triggered, t.last_fired_at AS fired, a.intent_scored_at AS scored
""")
    assert len(stored) == 1 and {k: v.to_native() for k, v in stored[0].items()} == dict.fromkeys(stored[0], at)
    # Each later batch reads the stored time back: a microsecond short of the cooldown holds it back.
    assert apply(0.9, 0.5, at + timedelta(hours=1)).actions == {}
    held = apply(0.5, 0.9, at + timedelta(days=1, microseconds=-1))
    assert held.actions == {} and held.suppressed == {"cooldown": 1}
    assert apply(0.9, 0.92, at + timedelta(days=1)).actions == {"pending": 1}


def test_daily_cap_per_owner(world: Graph, settings: Settings) -> None:
    policies = _policies("""
  - {name: hot, label: Account, enter: 0.8, rearm: 0.6, daily_cap_per_owner: 2, action: webhook}
""")
    # a1..a4 belong to u1, a5 to u2, a6 to nobody.
    day1 = [change(f"a{i}", 0.5, 0.9, i) for i in range(1, 7)]
    report = apply_score_changes(world, day1, policies, settings)
    assert report.suppressed == {"daily_cap": 2}
    per_owner = defaultdict(list)
    for x in _actions(world):
        per_owner[x["owner"]].append(x["node"])
    assert per_owner == {"u1": ["a1", "a2"], "u2": ["a5"], None: ["a6"]}
    # The capped accounts stayed armed; the next day's rise acts on them.
    day2 = [change("a3", 0.9, 0.95, 24 * 60), change("a4", 0.9, 0.96, 24 * 60 + 1), change("a1", 0.9, 0.97, 24 * 60 + 2)]
    apply_score_changes(world, day2, policies, settings)
    assert sorted(x["node"] for x in _actions(world) if x["owner"] == "u1") == ["a1", "a2", "a3", "a4"]


def test_approval_above_impact_waits_for_a_person(world: Graph, settings: Settings) -> None:
    policies = _policies("""
  - {name: deal, label: Opportunity, enter: 0.7, rearm: 0.5, action: webhook,
     approval: {property: amount, above: 10000}}
""")
    changes = [change(f"o{i}", 0.3, 0.8, i, label=Label.OPPORTUNITY) for i in (1, 2, 4)]
    report = apply_score_changes(world, changes, policies, settings)
    assert report.actions == {"pending": 1, "pending_approval": 2}
    status = {x["node"]: x for x in _actions(world)}
    assert status["o1"]["status"] == "pending" and status["o2"]["status"] == "pending_approval"
    assert status["o1"]["owner"] == "u1"  # an opportunity without its own owner takes its account's

    assert decide(world, status["o2"]["id"], approve=True, reason_code="good_fit", decided_by="u9") == "pending"
    assert decide(world, status["o4"]["id"], approve=False, reason_code="already_engaged", decided_by="u9") == "rejected"
    decided = world.read(
        "MATCH (x:Action) WHERE x.decision IS NOT NULL "
        "RETURN x.id AS id, x.status AS status, x.decision AS d, x.reason_code AS r, x.decided_by AS by, "
        "x.next_attempt_at IS NOT NULL AS due ORDER BY x.decision"
    )
    assert [(r["status"], r["d"], r["r"], r["by"], r["due"]) for r in decided] == [
        ("pending", "approved", "good_fit", "u9", True), ("rejected", "rejected", "already_engaged", "u9", False),
    ]
    with pytest.raises(ActionConflict, match="is rejected, not pending_approval"):
        decide(world, status["o4"]["id"], approve=True, reason_code="changed_mind", decided_by="u9")
    with pytest.raises(ActionNotFound):
        decide(world, "act_nope", approve=True, reason_code="good_fit", decided_by="u9")
    with pytest.raises(InvalidInput, match="reason code"):
        decide(world, status["o1"]["id"], approve=True, reason_code="Because I said so", decided_by="u9")
    labels = decision_labels(world)
    assert [(r["subject_id"], r["subject_label"], r["decision"], r["reason_code"], r["score_value"]) for r in labels] == [
        ("o2", "Opportunity", "approved", "good_fit", 0.8), ("o4", "Opportunity", "rejected", "already_engaged", 0.8),
    ]


def test_reapplying_a_batch_changes_nothing(world: Graph, settings: Settings) -> None:
    policies = _policies(ACCOUNT_POLICY + """
  - {name: warm, label: Contact, enter: 0.6, rearm: 0.3, action: both}
""")
    batch = [change("a1", 0.5, 0.9, 0, events=("ev1",)), change("c1", 0.2, 0.7, 1, label=Label.CONTACT),
             ScoreChangeInput("a2", Label.ACCOUNT, 0.1, 0.95, "mv1")]  # no time: now, id still stable
    first = apply_score_changes(world, batch, policies, settings)
    assert first.written == 3 and sum(first.actions.values()) == 4  # a1, a2 webhook; c1 webhook + task
    snapshot = world.read(
        "MATCH (n) WHERE n:ScoreChange OR n:Action OR n:TriggerState OR n:ActionQuota "
        "RETURN labels(n)[0] AS label, count(*) AS n ORDER BY label"
    )
    again = apply_score_changes(world, batch, policies, settings)
    assert again.written == 0 and again.already_applied == 3 and not again.actions
    assert world.read(
        "MATCH (n) WHERE n:ScoreChange OR n:Action OR n:TriggerState OR n:ActionQuota "
        "RETURN labels(n)[0] AS label, count(*) AS n ORDER BY label"
    ) == snapshot
    assert sorted(again.action_ids) == [] and len(set(first.action_ids)) == 4


def test_a_failure_inside_the_transaction_leaves_neither_score_change_nor_action(
    world: Graph, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = outbox._write_batch

    def write_then_crash(*args):  # type: ignore[no-untyped-def]
        original(*args)
        raise RuntimeError("crash after the outbox rows, before commit")

    monkeypatch.setattr(outbox, "_write_batch", write_then_crash)
    with pytest.raises(RuntimeError, match="before commit"):
        apply_score_changes(world, [change("a1", 0.5, 0.9)], _policies(ACCOUNT_POLICY), settings)
    assert _count(world, "ScoreChange") == 0
    assert _count(world, "Action") == 0
    assert _count(world, "TriggerState") == 0
    assert world.read("MATCH (a:Account {id: 'a1'}) RETURN a.intent_score AS s")[0]["s"] is None
    # The same batch goes through whole once the failure is gone.
    monkeypatch.setattr(outbox, "_write_batch", original)
    apply_score_changes(world, [change("a1", 0.5, 0.9)], _policies(ACCOUNT_POLICY), settings)
    assert (_count(world, "ScoreChange"), _count(world, "Action")) == (1, 1)


def test_lineage_links_action_score_change_model_and_events(world: Graph, settings: Settings) -> None:
    policies = _policies("""
  - {name: hot, label: Account, enter: 0.8, rearm: 0.6, action: both}
""")
    report = apply_score_changes(world, [change("a1", 0.5, 0.9, events=("ev1", "ev2", "ev-missing"))], policies, settings)
    assert report.actions == {"pending": 2}
    rows = world.read(
        "MATCH (x:Action)-[:CAUSED_BY]->(sc:ScoreChange)-[:ABOUT]->(a:Account {id: 'a1'}) "
        "MATCH (sc)-[:MADE_BY]->(m:ModelVersion) "
        "RETURN x.kind AS kind, x.score_change_id = sc.id AS linked, m.id AS model, sc.old_score AS old, "
        "sc.new_score AS new, sc.model_version AS mv, sc.cause AS cause, "
        "COUNT { (sc)-[:CAUSED_BY]->(:Activity) } AS events ORDER BY kind"
    )
    assert rows == [
        {"kind": "task", "linked": True, "model": "mv1", "old": 0.5, "new": 0.9, "mv": "mv1", "cause": "rescore", "events": 2},
        {"kind": "webhook", "linked": True, "model": "mv1", "old": 0.5, "new": 0.9, "mv": "mv1", "cause": "rescore", "events": 2},
    ]
    chain = explain_action(world, report.action_ids[0])
    assert (chain["subject_id"], chain["subject_label"], chain["model"]["id"]) == ("a1", "Account", "mv1")
    assert chain["score_change"]["new_score"] == 0.9 and chain["score_change"]["event_ids"] == ["ev1", "ev2", "ev-missing"]
    assert sorted(e["id"] for e in chain["events"]) == ["ev1", "ev2"]
    assert chain["task"] is None  # the Task appears once the dispatcher carries the task action out
    with pytest.raises(ActionNotFound):
        explain_action(world, "act_missing")


def test_holdout_is_assigned_per_account_and_stays_put(graph: Graph) -> None:
    graph.write(
        "UNWIND range(1, 40) AS i "
        "CREATE (a:Account {id: 'h' + i}) "
        "CREATE (:Contact {id: 'h' + i + '-c1'})-[:WORKS_AT {since: datetime()}]->(a) "
        "CREATE (:Contact {id: 'h' + i + '-c2'})-[:WORKS_AT {since: datetime()}]->(a) "
        "CREATE (:Opportunity {id: 'h' + i + '-o'})-[:FOR_ACCOUNT]->(a)"
    )
    settings = graph.settings.model_copy(update={"holdout_fraction": 0.5, "holdout_salt": "test-salt"})
    policies = _policies("""
  - {name: acc, label: Account, enter: 0.8, rearm: 0.6}
  - {name: con, label: Contact, enter: 0.8, rearm: 0.6}
  - {name: opp, label: Opportunity, enter: 0.8, rearm: 0.6}
""")

    def round_of_changes(minutes: float, old: float, new: float) -> list[ScoreChangeInput]:
        out = []
        for i in range(1, 41):
            out.append(change(f"h{i}", old, new, minutes))
            out += [change(f"h{i}-c{k}", old, new, minutes, label=Label.CONTACT) for k in (1, 2)]
            out.append(change(f"h{i}-o", old, new, minutes, label=Label.OPPORTUNITY))
        return out

    apply_score_changes(graph, round_of_changes(0, 0.2, 0.9), policies, settings)
    apply_score_changes(graph, round_of_changes(10, 0.9, 0.3), policies, settings)  # re-arm
    apply_score_changes(graph, round_of_changes(20, 0.3, 0.85), policies, settings)  # fire again
    rows = graph.read("MATCH (x:Action) RETURN x.account_id AS account, x.status AS status, x.holdout_unit AS unit")
    assert len(rows) == 40 * 4 * 2
    by_account: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        assert row["unit"] == row["account"]
        by_account[row["account"]].add(row["status"])
    assert all(len(statuses) == 1 for statuses in by_account.values()), "an account's actions split between groups"
    held = {a for a, s in by_account.items() if s == {"holdout"}}
    assert held == {a for a in by_account if holdout_group(a, 0.5, "test-salt") == "holdout"}
    assert 8 <= len(held) <= 32
    assert {s for statuses in by_account.values() for s in statuses} == {"holdout", "pending"}


def test_concurrent_application_of_one_batch_writes_it_once(world: Graph, settings: Settings) -> None:
    policies = _policies("""
  - {name: hot, label: Account, enter: 0.8, rearm: 0.6, daily_cap_per_owner: 3, action: webhook}
""")
    batch = [change(f"a{i}", 0.5, 0.9, i) for i in range(1, 7)]
    reports: list = []
    threads = [threading.Thread(target=lambda: reports.append(apply_score_changes(world, batch, policies, settings)))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(reports) == 3
    assert sorted(r.written for r in reports) == [0, 0, 6]
    assert _count(world, "ScoreChange") == 6
    # u1's cap of 3 holds across the racing transactions: a1..a3, then a5 (u2) and a6 (unowned).
    assert sorted(x["node"] for x in _actions(world)) == ["a1", "a2", "a3", "a5", "a6"]
    assert world.read("MATCH (q:ActionQuota {owner_id: 'u1'}) RETURN q.count AS n")[0]["n"] == 3


def test_cli_lists_and_decides_actions(world: Graph, settings: Settings, neo4j_server: Any) -> None:
    policies = _policies("""
  - {name: deal, label: Opportunity, enter: 0.7, rearm: 0.5, approval: {property: amount, above: 10000}}
""")
    apply_score_changes(world, [change("o2", 0.3, 0.8, label=Label.OPPORTUNITY)], policies, settings)
    (action,) = _actions(world)

    def kgcrm(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([KGCRM, *args], env=neo4j_server.env, capture_output=True, text=True)

    listed = kgcrm("actions", "list", "--status", "pending_approval")
    assert listed.returncode == 0 and listed.stdout.startswith(f"{action['id']}  pending_approval")
    assert "o2" in listed.stdout
    approved = kgcrm("actions", "approve", action["id"], "--reason", "good_fit", "--by", "maria")
    assert (approved.returncode, approved.stdout.strip()) == (0, f"{action['id']}: pending")
    again = kgcrm("actions", "reject", action["id"], "--reason", "not_now")
    assert again.returncode == 9
    assert again.stderr.strip() == f"kgcrm: error: action {action['id']} is pending, not pending_approval; nothing changed"
    missing = kgcrm("actions", "requeue", "act_nope")
    assert (missing.returncode, missing.stderr.strip()) == (2, "kgcrm: error: no action with id 'act_nope'")
