"""Identity resolution against the real server: matching, thresholds, decisions, exact unmerge, the CLI."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kgcrm.graph.driver import Graph
from kgcrm.graph.errors import DecisionConflict, DecisionNotFound, InvalidInput
from kgcrm.graph.model import Label
from kgcrm.loaders.identity import Thresholds, accept, decision_id, reject, resolve, unmerge

KGCRM = str(Path(sys.executable).parent / "kgcrm")
DEFAULT = Thresholds(auto=0.95, review=0.80)

# Two sources describing overlapping companies and people, plus what hangs off them.
WORLD = """
CREATE (acme:Account {id: 'crm:a1', source: 'crm', source_id: 'a1', name: 'Acme, Inc.', domain: 'acme.com',
                      created_at: datetime('2019-01-01T00:00:00Z'), employees: 120})
CREATE (acme2:Account {id: 'erp:7', source: 'erp', source_id: '7', name: 'ACME Corporation',
                       website: 'HTTPS://www.Acme.com/about-us', created_at: datetime('2021-05-01T00:00:00Z')})
CREATE (globex:Account {id: 'crm:a2', source: 'crm', source_id: 'a2', name: 'Globex Logistics', domain: 'globex.io'})
CREATE (initech:Account {id: 'crm:a3', source: 'crm', source_id: 'a3', name: 'Initech Systems', domain: 'initech.com',
                         created_at: datetime('2019-03-01T00:00:00Z')})
CREATE (john:Contact {id: 'crm:c1', source: 'crm', source_id: 'c1', name: 'John Smith', email: 'john.smith@acme.com',
                      created_at: datetime('2019-02-01T00:00:00Z')})
CREATE (john2:Contact {id: 'erp:c9', source: 'erp', source_id: 'c9', name: 'JOHN SMITH', email: '  John.Smith@ACME.com ',
                       created_at: datetime('2021-06-01T00:00:00Z')})
CREATE (mary:Contact {id: 'crm:c2', source: 'crm', source_id: 'c2', name: 'Mary Jones', email: 'mary@globex.io'})
CREATE (user:User {id: 'crm:u1', source: 'crm', name: 'Rep One'})
CREATE (opp:Opportunity {id: 'erp:o1', source: 'erp', name: 'Acme renewal', amount: 1200.5, stage: 'Negotiation'})
CREATE (act:Activity {id: 'erp:t1', source: 'erp', type: 'call', at: datetime('2022-01-01T10:00:00Z')})
CREATE (john)-[:WORKS_AT {since: datetime('2019-02-01T00:00:00Z'), title: 'CTO'}]->(acme)
CREATE (john2)-[:WORKS_AT {since: datetime('2021-06-01T00:00:00Z')}]->(acme2)
CREATE (mary)-[:WORKS_AT {since: datetime('2020-01-01T00:00:00Z')}]->(globex)
CREATE (opp)-[:FOR_ACCOUNT]->(acme2)
CREATE (john2)-[:ROLE_IN {role: 'champion', is_primary: true}]->(opp)
CREATE (act)-[:PERFORMED_BY]->(john2)
CREATE (act)-[:ABOUT]->(acme2)
CREATE (user)-[:OWNS]->(acme2)
CREATE (acme2)-[:SUBSIDIARY_OF]->(acme)
CREATE (john2)-[:KNOWS {since: datetime('2020-01-01T00:00:00Z')}]->(john2)
CREATE (john2)-[:KNOWS {since: datetime('2021-01-01T00:00:00Z')}]->(mary)
"""


def checksum(graph: Graph) -> str:
    """Every node (labels, properties) and relationship (type, ends, properties) except SAME_AS."""
    nodes = graph.read("MATCH (n) RETURN elementId(n) AS key, labels(n) AS labels, properties(n) AS props")
    ids = {row["key"]: row["props"].get("id") for row in nodes}
    rels = graph.read(
        "MATCH (a)-[r]->(b) WHERE type(r) <> 'SAME_AS' "
        "RETURN elementId(a) AS a, type(r) AS type, elementId(b) AS b, properties(r) AS props"
    )
    canonical = sorted(
        [json.dumps(["node", sorted(r["labels"]), r["props"]], sort_keys=True, default=str) for r in nodes]
        + [json.dumps(["rel", ids[r["a"]], r["type"], ids[r["b"]], r["props"]], sort_keys=True, default=str) for r in rels]
    )
    return hashlib.sha256("\n".join(canonical).encode()).hexdigest()


def same_as(graph: Graph) -> list[dict[str, Any]]:
    return graph.read(
        "MATCH (a)-[r:SAME_AS]->(b) RETURN a.id AS from_id, b.id AS to_id, r.id AS id, r.method AS method, "
        "r.confidence AS confidence, r.status AS status, r.decided_at IS :: ZONED DATETIME AS timed "
        "ORDER BY from_id, to_id"
    )


def merged_into(graph: Graph, node_id: str) -> str | None:
    rows = graph.read("MATCH (n {id: $id}) RETURN n:Merged AS merged, n.merged_into AS into", {"id": node_id})
    assert rows, node_id
    assert rows[0]["merged"] == (rows[0]["into"] is not None)
    return rows[0]["into"]


def run_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([KGCRM, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_domain_match_merges_website_and_domain_into_the_older_account(graph: Graph) -> None:
    graph.write(WORLD)
    report = resolve(graph, Label.ACCOUNT, DEFAULT)
    assert report.auto_merged == 1
    decisions = same_as(graph)
    assert [(d["from_id"], d["to_id"], d["method"], d["status"]) for d in decisions] == [
        ("erp:7", "crm:a1", "domain", "auto_merged")
    ]
    assert decisions[0]["confidence"] >= 0.95 and decisions[0]["timed"]
    assert merged_into(graph, "erp:7") == "crm:a1"
    # Readers see the canonical account: the opportunity, activity and owner now point at it.
    linked = graph.read(
        "MATCH (a:Account {id: 'crm:a1'})<-[r]-(x) WHERE type(r) <> 'SAME_AS' RETURN type(r) AS t, x.id AS x ORDER BY t, x"
    )
    assert [(r["t"], r["x"]) for r in linked] == [
        ("ABOUT", "erp:t1"), ("FOR_ACCOUNT", "erp:o1"), ("OWNS", "crm:u1"), ("SUBSIDIARY_OF", "crm:a1"),
        ("WORKS_AT", "crm:c1"), ("WORKS_AT", "erp:c9"),
    ]
    assert graph.read("MATCH (a:Account {id: 'erp:7'})-[r]-() WHERE type(r) <> 'SAME_AS' RETURN count(r) AS n")[0]["n"] == 0


def test_email_match_ignores_case_and_spaces_and_moves_relationships(graph: Graph) -> None:
    graph.write(WORLD)
    resolve(graph, Label.CONTACT, DEFAULT)
    decisions = same_as(graph)
    assert [(d["from_id"], d["to_id"], d["method"], d["status"]) for d in decisions] == [
        ("erp:c9", "crm:c1", "email", "auto_merged")
    ]
    assert merged_into(graph, "erp:c9") == "crm:c1"
    roles = graph.read("MATCH (:Contact {id: 'crm:c1'})-[r:ROLE_IN]->(o) RETURN r.role AS role, o.id AS opp")
    assert roles == [{"role": "champion", "opp": "erp:o1"}]
    # The self-relationship follows too: it is now the canonical contact's own.
    assert graph.read("MATCH (c:Contact {id: 'crm:c1'})-[:KNOWS]->(c) RETURN count(*) AS n")[0]["n"] == 1


def test_gmail_dots_and_plus_tags_are_one_mailbox(graph: Graph) -> None:
    graph.write(
        "CREATE (:Contact {id: 'a:1', source: 'a', name: 'Ann Lee', email: 'ann.lee+news@gmail.com'}), "
        "(:Contact {id: 'b:1', source: 'b', name: 'Ann Lee', email: 'AnnLee@googlemail.com'}), "
        "(:Contact {id: 'c:1', source: 'c', name: 'Ann Lee', email: 'ann.lee@outlook.com'}), "
        # At a company's own domain a dot may tell two people apart.
        "(:Contact {id: 'd:1', source: 'd', name: 'Bo Lee', email: 'a.nnlee@acme.com'}), "
        "(:Contact {id: 'e:1', source: 'e', name: 'Cy Park', email: 'annlee@acme.com'})"
    )
    resolve(graph, Label.CONTACT, DEFAULT)
    assert [(d["from_id"], d["to_id"], d["method"]) for d in same_as(graph)] == [("b:1", "a:1", "email_mailbox")]


def test_name_plus_account_domain_match_is_queued_for_review(graph: Graph) -> None:
    graph.write(
        "CREATE (a:Account {id: 'a:1', source: 'a', name: 'Umbrella', domain: 'umbrella.com'}), "
        "(b:Account {id: 'b:1', source: 'b', name: 'Umbrella Pharma', domain: 'umbrella-pharma.com'}), "
        "(:Contact {id: 'a:c1', source: 'a', name: 'Jill Valentine', email: 'jill@umbrella.com'})-[:WORKS_AT]->(a), "
        "(:Contact {id: 'b:c1', source: 'b', name: 'jill  valentine'})-[:WORKS_AT]->(a), "
        # The same name at another company is another person.
        "(:Contact {id: 'b:c2', source: 'b', name: 'Jill Valentine', email: 'jill@umbrella-pharma.com'})-[:WORKS_AT]->(b)"
    )
    resolve(graph, Label.CONTACT, DEFAULT)
    decisions = same_as(graph)
    assert [(d["from_id"], d["to_id"], d["method"], d["status"]) for d in decisions] == [
        ("b:c1", "a:c1", "name_domain", "pending")
    ]
    assert 0.8 <= decisions[0]["confidence"] < 0.95
    assert merged_into(graph, "b:c1") is None


def test_fuzzy_company_names_exact_after_normalising_merge_typos_wait(graph: Graph) -> None:
    graph.write(
        "CREATE (:Account {id: 'a:1', source: 'a', name: 'Wayne Enterprises, Inc.', domain: 'wayne.com'}), "
        "(:Account {id: 'b:1', source: 'b', name: 'WAYNE ENTERPRISES LLC'}), "
        "(:Account {id: 'a:2', source: 'a', name: 'Stark Industries Corporation', domain: 'stark.com'}), "
        "(:Account {id: 'b:2', source: 'b', name: 'Strak Industries'}), "
        "(:Account {id: 'a:3', source: 'a', name: 'International Business Machines', domain: 'ibm.com'}), "
        "(:Account {id: 'b:3', source: 'b', name: 'IBM Corp'}), "
        # Siblings that share a word are different firms.
        "(:Account {id: 'a:4', source: 'a', name: 'Wayne Foods', domain: 'waynefoods.com'})"
    )
    resolve(graph, Label.ACCOUNT, DEFAULT)
    found = {(d["from_id"], d["to_id"]): (d["method"], d["status"]) for d in same_as(graph)}
    assert found == {
        ("b:1", "a:1"): ("name_exact", "auto_merged"),
        ("b:2", "a:2"): ("name_fuzzy", "pending"),
        ("b:3", "a:3"): ("acronym", "pending"),
    }


def test_thresholds_decide_between_merge_queue_and_nothing(graph: Graph) -> None:
    graph.write(
        "CREATE (:Account {id: 'a:2', source: 'a', name: 'Stark Industries', domain: 'stark.com'}), "
        "(:Account {id: 'b:2', source: 'b', name: 'Strak Industries'})"
    )
    assert resolve(graph, Label.ACCOUNT, Thresholds(auto=0.95, review=0.9)).pending == 0
    assert same_as(graph) == []
    report = resolve(graph, Label.ACCOUNT, Thresholds(auto=0.85, review=0.8))
    assert report.auto_merged == 1
    assert [d["status"] for d in same_as(graph)] == ["auto_merged"]
    assert merged_into(graph, "b:2") == "a:2"
    with pytest.raises(InvalidInput):
        Thresholds(auto=0.7, review=0.8)


def test_accept_merges_and_reject_keeps_apart_for_good(graph: Graph) -> None:
    graph.write(WORLD)
    graph.write(
        "CREATE (:Account {id: 'b:2', source: 'b', name: 'Globex Logistic'}), "
        "(:Account {id: 'b:3', source: 'b', name: 'Initech Sytems'})"
    )
    resolve(graph, Label.ACCOUNT, DEFAULT)
    pending = {d["from_id"]: d["id"] for d in same_as(graph) if d["status"] == "pending"}
    assert set(pending) == {"b:2", "b:3"}
    assert pending["b:2"] == decision_id("b:2", "crm:a2")

    result = accept(graph, pending["b:2"])
    assert result["canonical_id"] == "crm:a2" and merged_into(graph, "b:2") == "crm:a2"
    reject(graph, pending["b:3"])
    assert merged_into(graph, "b:3") is None
    statuses = {d["from_id"]: d["status"] for d in same_as(graph)}
    assert statuses["b:2"] == "accepted" and statuses["b:3"] == "rejected"

    # Decided pairs stay decided: a re-run proposes nothing new.
    again = resolve(graph, Label.ACCOUNT, DEFAULT)
    assert again.auto_merged == 0 and again.pending == 0
    assert len(same_as(graph)) == 3
    with pytest.raises(DecisionConflict):
        reject(graph, pending["b:2"])
    with pytest.raises(DecisionConflict):
        accept(graph, pending["b:2"])
    with pytest.raises(DecisionNotFound):
        accept(graph, "sa-does-not-exist")


def test_unmerge_restores_the_exact_prior_graph(graph: Graph) -> None:
    graph.write(WORLD)
    before = checksum(graph)
    resolve(graph, Label.ACCOUNT, DEFAULT)
    resolve(graph, Label.CONTACT, DEFAULT)
    assert merged_into(graph, "erp:7") == "crm:a1" and merged_into(graph, "erp:c9") == "crm:c1"
    assert checksum(graph) != before

    assert unmerge(graph, "erp:c9")["restored"] == 5
    assert unmerge(graph, "erp:7")["restored"] == 5
    assert checksum(graph) == before
    assert {d["status"] for d in same_as(graph)} == {"rejected"}

    # What a person undid stays undone when resolution runs again.
    resolve(graph, Label.ACCOUNT, DEFAULT)
    resolve(graph, Label.CONTACT, DEFAULT)
    assert checksum(graph) == before
    with pytest.raises(DecisionConflict):
        unmerge(graph, "erp:7")
    with pytest.raises(DecisionNotFound):
        unmerge(graph, "nobody:1")


def test_unmerge_in_either_order_after_accounts_and_contacts_merged(graph: Graph) -> None:
    graph.write(WORLD)
    before = checksum(graph)
    resolve(graph, Label.ACCOUNT, DEFAULT)
    resolve(graph, Label.CONTACT, DEFAULT)
    unmerge(graph, "erp:7")
    unmerge(graph, "erp:c9")
    assert checksum(graph) == before


def test_a_canonical_merged_later_takes_its_members_along_and_both_unmerge_exactly(graph: Graph) -> None:
    graph.write(
        "CREATE (a:Account {id: 'a:1', source: 'a', name: 'Hooli Networks', domain: 'hooli.com', created_at: datetime('2018-01-01T00:00:00Z')}), "
        "(c:Account {id: 'c:1', source: 'c', name: 'Hoolie Networks'}), "
        "(:Opportunity {id: 'o:1'})-[:FOR_ACCOUNT]->(c), (:Opportunity {id: 'o:2'})-[:FOR_ACCOUNT]->(a)"
    )
    resolve(graph, Label.ACCOUNT, DEFAULT)
    [pending] = same_as(graph)
    assert (pending["from_id"], pending["to_id"], pending["status"]) == ("c:1", "a:1", "pending")
    # A third record arrives that is surely c:1; c:1 becomes a canonical with a member.
    graph.write(
        "CREATE (x:Account {id: 'x:1', source: 'x', name: 'HOOLIE NETWORKS, INC.'}) "
        "CREATE (:Opportunity {id: 'o:3'})-[:FOR_ACCOUNT]->(x) "
        "WITH x MATCH (c:Account {id: 'c:1'}) CREATE (x)-[:SUBSIDIARY_OF]->(c)"
    )
    before = checksum(graph)
    resolve(graph, Label.ACCOUNT, DEFAULT)
    assert merged_into(graph, "x:1") == "c:1"
    # Accepting c:1 = a:1 merges c:1 into a:1, and x:1 follows.
    accept(graph, pending["id"])
    assert merged_into(graph, "c:1") == "a:1" and merged_into(graph, "x:1") == "a:1"
    assert graph.read("MATCH (:Account {id: 'a:1'})<-[:FOR_ACCOUNT]-(o) RETURN count(o) AS n")[0]["n"] == 3
    unmerge(graph, "c:1")
    unmerge(graph, "x:1")
    assert checksum(graph) == before


def test_resolve_is_idempotent(graph: Graph) -> None:
    graph.write(WORLD)
    first = [resolve(graph, label, DEFAULT) for label in (Label.ACCOUNT, Label.CONTACT)]
    assert sum(r.auto_merged for r in first) == 2
    snapshot, decisions = checksum(graph), same_as(graph)
    second = [resolve(graph, label, DEFAULT) for label in (Label.ACCOUNT, Label.CONTACT)]
    assert sum(r.auto_merged + r.pending for r in second) == 0
    assert checksum(graph) == snapshot
    assert same_as(graph) == decisions
    assert graph.read("MATCH ()-[r:SAME_AS]->() RETURN count(DISTINCT r.id) AS ids, count(r) AS n")[0] == {"ids": 2, "n": 2}


def test_cli_resolve_review_accept_reject_unmerge(graph: Graph, neo4j_server, tmp_path: Path) -> None:
    graph.write(WORLD)
    graph.write(
        "CREATE (:Account {id: 'b:2', source: 'b', name: 'Globex Logistic'}), "
        "(:Account {id: 'b:3', source: 'b', name: 'Initech Sytems'})"
    )
    env = neo4j_server.env

    result = run_cli("identity", "resolve", "--label", "Account", "--auto-threshold", "0.95", "--review-threshold", "0.8", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Account: 6 records" in result.stdout and "1 merged, 2 queued for review" in result.stdout
    assert "Contact" not in result.stdout

    review = run_cli("identity", "review", env=env, cwd=tmp_path)
    assert review.returncode == 0, review.stderr
    globex = decision_id("b:2", "crm:a2")
    initech = decision_id("b:3", "crm:a3")
    assert globex in review.stdout and initech in review.stdout and "name_fuzzy" in review.stdout
    assert "name=Globex Logistic" in review.stdout and "domain=globex.io" in review.stdout
    assert "2 pending" in review.stdout

    assert run_cli("identity", "accept", globex, env=env, cwd=tmp_path).returncode == 0
    assert merged_into(graph, "b:2") == "crm:a2"
    assert run_cli("identity", "reject", initech, env=env, cwd=tmp_path).returncode == 0
    assert run_cli("identity", "review", env=env, cwd=tmp_path).stdout.strip() == "no pending identity decisions"

    undo = run_cli("identity", "unmerge", "b:2", env=env, cwd=tmp_path)
    assert undo.returncode == 0 and "unmerged b:2 from crm:a2" in undo.stdout
    assert merged_into(graph, "b:2") is None

    missing = run_cli("identity", "accept", "sa-nope", env=env, cwd=tmp_path)
    assert missing.returncode == 2 and missing.stderr.startswith("kgcrm: error: no identity decision")
    assert "Traceback" not in missing.stderr
    conflict = run_cli("identity", "unmerge", "b:2", env=env, cwd=tmp_path)
    assert conflict.returncode == 9 and "is not merged" in conflict.stderr
    bad = run_cli("identity", "resolve", "--auto-threshold", "0.5", "--review-threshold", "0.8", env=env, cwd=tmp_path)
    assert bad.returncode == 2 and "thresholds must satisfy" in bad.stderr
    bad_env = run_cli("identity", "resolve", env={**env, "KGCRM_IDENTITY_AUTO_THRESHOLD": "2"}, cwd=tmp_path)
    assert bad_env.returncode == 2 and "invalid identity settings" in bad_env.stderr


def test_precision_and_recall_on_injected_duplicates_stay_above_their_floors(graph: Graph) -> None:
    from kgcrm.loaders.identity_eval import EVAL_SOURCES, EvalConfig, evaluate

    graph.write("CREATE (:Account {id: 'crm:keep', source: 'crm', name: 'Zentora Labs', domain: 'zentora.com'})")
    result = evaluate(graph, EvalConfig(seed=7, accounts=300, contacts_per_account=2), DEFAULT)

    scores = {s.label: s for s in result.scores}
    assert set(scores) == {"Account", "Contact"}
    for label, s in scores.items():
        assert s.true_pairs > 80, label
        # Automatic merges must be right; the review queue must catch most of the rest.
        assert s.merged_precision >= 0.98, (label, s)
        assert s.merged_recall >= 0.4, (label, s)
        assert s.queued_precision >= 0.9, (label, s)
        assert s.queued_recall >= 0.8, (label, s)
    # Every injected kind (typos, case, aliases, a second source) is found at least sometimes.
    assert all(recall > 0.5 for recall, _ in scores["Account"].recall_by_kind.values())
    assert all(recall > 0.5 for recall, _ in scores["Contact"].recall_by_kind.values())
    # The evaluation cleans up after itself and leaves other sources alone.
    left = graph.read("MATCH (n) WHERE n.source IN $s RETURN count(n) AS c", {"s": list(EVAL_SOURCES)})[0]["c"]
    assert left == 0
    assert graph.read("MATCH (a:Account {id: 'crm:keep'}) WHERE NOT (a)-[:SAME_AS]-() RETURN count(a) AS c")[0]["c"] == 1


def _relationships(graph: Graph) -> list[str]:
    """Every relationship but SAME_AS as (type, start id, end id, properties), sorted: a multiset."""
    rows = graph.read(
        "MATCH (a)-[r]->(b) WHERE type(r) <> 'SAME_AS' "
        "RETURN type(r) AS t, a.id AS a, b.id AS b, properties(r) AS p"
    )
    return sorted(json.dumps([r["t"], r["a"], r["b"], r["p"]], sort_keys=True, default=str) for r in rows)


def test_reloading_an_export_after_merges_is_undone_by_the_next_resolve_and_unmerge_stays_exact(graph: Graph, tmp_path: Path) -> None:
    from kgcrm.loaders.generate import SECOND_SOURCE_DIR, WorldParams, generate_world
    from kgcrm.loaders.load import LoadOptions, load
    from kgcrm.loaders.mapping import load_mapping

    # A generated world and a second source (HubSpot) re-describing some of its companies and people.
    world = tmp_path / "world"
    generate_world(WorldParams(accounts=40, seed=4, duplicates=0.3), world, quiet=True)

    def load_world() -> None:
        for fmt, folder in (("salesforce", world), ("hubspot", world / SECOND_SOURCE_DIR)):
            report = load(graph, load_mapping(fmt)[0], folder, LoadOptions(rejects_path=tmp_path / "rejects.csv"))
            assert report.rejected_rows == 0

    load_world()
    before_merges = _relationships(graph)
    for label in (Label.ACCOUNT, Label.CONTACT):
        assert resolve(graph, label, DEFAULT).auto_merged > 0, label
    merged = [row["id"] for row in graph.read("MATCH (n:Merged) RETURN n.id AS id ORDER BY id")]
    after_merges = _relationships(graph)

    load_world()
    stray = "MATCH (n:Merged)-[r]-() WHERE type(r) <> 'SAME_AS' RETURN count(r) AS c"
    assert graph.read(stray)[0]["c"] > 0, "the re-load should give the duplicates their relationships back"
    rehomed = sum(resolve(graph, label, DEFAULT).rehomed for label in (Label.ACCOUNT, Label.CONTACT))
    assert rehomed > 0
    assert graph.read(stray)[0]["c"] == 0
    assert _relationships(graph) == after_merges

    for node_id in merged:
        unmerge(graph, node_id)
    assert _relationships(graph) == before_merges


def test_a_name_shared_by_companies_of_different_domains_is_never_merged_automatically(graph: Graph) -> None:
    graph.write(
        "CREATE (:Account {id: 'sf:1', source: 'sf', name: 'Cedarpoint Inc', domain: 'cedarpoint.com'}), "
        "(:Account {id: 'sf:2', source: 'sf', name: 'Cedarpoint Inc', domain: 'cedarpoint-inc.com'}), "
        "(:Account {id: 'hs:9', source: 'hs', name: 'CEDARPOINT, Inc.'})"
    )
    report = resolve(graph, Label.ACCOUNT, DEFAULT)
    assert report.auto_merged == 0 and report.pending == 3
    assert graph.read("MATCH (n:Merged) RETURN count(n) AS c")[0]["c"] == 0


def test_a_generated_world_with_a_second_source_resolves_with_high_precision(graph: Graph, tmp_path: Path) -> None:
    from kgcrm.loaders.generate import SECOND_SOURCE_DIR, WorldParams, generate_world
    from kgcrm.loaders.identity_eval import evaluate_world
    from kgcrm.loaders.load import LoadOptions, load
    from kgcrm.loaders.mapping import load_mapping

    world = tmp_path / "world"
    generate_world(WorldParams(accounts=100, seed=3, duplicates=0.2), world, quiet=True)
    for fmt, folder in (("salesforce", world), ("hubspot", world / SECOND_SOURCE_DIR)):
        report = load(graph, load_mapping(fmt)[0], folder, LoadOptions(rejects_path=tmp_path / f"{fmt}-rejects.csv"))
        assert report.rejected_rows == 0, fmt

    scores = {s.label: s for s in evaluate_world(graph, world, DEFAULT).scores}
    assert scores["Account"].true_pairs >= 20 and scores["Contact"].true_pairs >= 100
    for s in scores.values():
        assert s.merged_precision >= 0.98, s
        assert s.merged_recall >= 0.4, s
    assert scores["Account"].queued_recall >= 0.9
    assert scores["Contact"].queued_recall >= 0.6
    assert scores["Contact"].recall_by_kind["email_case"][0] == 1.0


def test_namesakes_at_two_accounts_waiting_for_review_are_queued_too(graph: Graph) -> None:
    graph.write(
        "CREATE (a:Account {id: 'crm:x', source: 'crm', name: 'Globex Logistics', domain: 'globex.io'}), "
        "(b:Account {id: 'hs:x', source: 'hs', name: 'Globex Logistic'}), "
        "(:Contact {id: 'crm:p', source: 'crm', name: 'Mary Jones'})-[:WORKS_AT]->(a), "
        "(:Contact {id: 'hs:p', source: 'hs', name: 'MARY JONES'})-[:WORKS_AT]->(b), "
        "(:Contact {id: 'hs:q', source: 'hs', name: 'Mary Jonse'})-[:WORKS_AT]->(b)"
    )
    assert resolve(graph, Label.ACCOUNT, DEFAULT).pending == 1
    report = resolve(graph, Label.CONTACT, DEFAULT)
    assert report.auto_merged == 0 and report.pending == 3
    rows = {(r["from_id"], r["to_id"]): (r["method"], r["confidence"], r["status"]) for r in same_as(graph)
            if r["from_id"].endswith((":p", ":q")) or r["to_id"].endswith((":p", ":q"))}
    methods = {m for m, _, _ in rows.values()}
    assert methods == {"name_linked_account", "name_fuzzy_linked_account", "name_fuzzy_domain"}
    assert all(status == "pending" and confidence < 0.95 for _, confidence, status in rows.values())
