"""Loading every built-in format and a custom mapping into a real Neo4j: counts, values, idempotency, updates, prune.

Helpers here (`load_dir`, `graph_state`) are shared with the other test_loaders_load_* modules.
"""

from __future__ import annotations

import csv
import hashlib
import shutil
from datetime import date
from pathlib import Path
from typing import Any

from kgcrm.graph.driver import Graph
from kgcrm.loaders.load import LoadOptions, LoadReport, load
from kgcrm.loaders.mapping import load_mapping

FIXTURES = Path(__file__).parent / "fixtures"
CUSTOM_MAPPING = FIXTURES / "custom" / "mapping.yml"


def load_dir(graph: Graph, fmt: str, source: Path, tmp_path: Path, **options: Any) -> LoadReport:
    """Load `source` with a built-in format or mapping path; rejects go to tmp_path/rejects.csv."""
    mapping, _ = load_mapping(str(fmt))
    return load(graph, mapping, source, LoadOptions(rejects_path=tmp_path / "rejects.csv", **options))


def counts(graph: Graph) -> dict[str, int]:
    """Nodes per label and relationships per type (the migration log left out)."""
    nodes = graph.read("MATCH (n) WHERE NOT n:SchemaMigration RETURN labels(n)[0] AS k, count(*) AS c")
    rels = graph.read("MATCH ()-[r]->() RETURN type(r) AS k, count(*) AS c")
    return {row["k"]: row["c"] for row in nodes + rels}


def graph_state(graph: Graph, *, skip: tuple[str, ...] = ()) -> tuple[dict[str, int], str]:
    """Counts and a checksum of every node's and relationship's properties (minus `skip`)."""
    def canonical(props: dict[str, Any]) -> list[tuple[str, str]]:
        return sorted((k, repr(v)) for k, v in props.items() if k not in skip)

    digest = hashlib.sha256()
    nodes = graph.read("MATCH (n) WHERE NOT n:SchemaMigration RETURN labels(n) AS l, properties(n) AS p")
    for line in sorted(repr((sorted(row["l"]), canonical(row["p"]))) for row in nodes):
        digest.update(line.encode())
    rels = graph.read("MATCH (a)-[r]->(b) RETURN a.id AS a, type(r) AS t, b.id AS b, properties(r) AS p")
    for line in sorted(repr((row["a"], row["t"], row["b"], canonical(row["p"]))) for row in rels):
        digest.update(line.encode())
    return counts(graph), digest.hexdigest()


def one(graph: Graph, query: str, **params: Any) -> Any:
    rows = graph.read(query, params)
    assert len(rows) == 1, rows
    return next(iter(rows[0].values()))


def test_maven_loads_with_the_data_sets_exact_counts(graph: Graph, maven_crm_dir: Path, tmp_path: Path) -> None:
    report = load_dir(graph, "maven", maven_crm_dir, tmp_path)

    assert report.rejected_rows == 0
    found = counts(graph)
    assert found["Account"] == 85
    assert found["Product"] == 7  # "GTX Pro" and "GTXPro" are one product
    assert found["Opportunity"] == 8800
    assert one(graph, "MATCH (u:User {role: 'rep'}) RETURN count(u)") == 35
    assert one(graph, "MATCH (u:User {role: 'manager'}) RETURN count(u)") == 6
    assert found["REPORTS_TO"] == 35
    assert found["SUBSIDIARY_OF"] == 15
    assert one(graph, "MATCH (:Account {name: 'Bluth Company'})-[:SUBSIDIARY_OF]->(p) RETURN p.name") == "Acme Corporation"
    # 1,425 open deals have no account: loaded, without FOR_ACCOUNT.
    assert one(graph, "MATCH (o:Opportunity) WHERE NOT (o)-[:FOR_ACCOUNT]->() RETURN count(o)") == 1425
    assert found["FOR_ACCOUNT"] == 8800 - 1425
    assert found["OWNS"] == 8800 and found["INCLUDES"] == 8800
    assert one(graph, "MATCH (:Opportunity)-[:INCLUDES]->(p:Product {name: 'GTX Pro'}) RETURN count(*)") == 1480
    assert one(graph, "MATCH (o:Opportunity {is_won: true}) RETURN count(o)") == 4238
    assert one(graph, "MATCH (o:Opportunity {is_closed: true, is_won: false}) RETURN count(o)") == 2473
    assert one(graph, "MATCH (o:Opportunity {is_closed: false}) RETURN count(o)") == 1589 + 500
    deal = graph.read("MATCH (o:Opportunity {id: 'maven:Z063OYW0'}) RETURN o {.*} AS o")[0]["o"]
    assert deal["stage"] == "Closed Won" and deal["amount"] == 4514.0 and deal["source"] == "maven"
    assert deal["close_date"].to_native() == date(2017, 3, 11)
    assert deal["created_at"].to_native().isoformat() == "2016-10-25T00:00:00+00:00"
    assert one(graph, "MATCH (o:Opportunity) RETURN min(o.created_at).year * 10000 + min(o.created_at).month * 100 + min(o.created_at).day") == 20161020
    stats = {s.file: s for s in report.files if s.label == "Opportunity"}
    assert stats["sales_pipeline.csv"].rows_read == 8800 and stats["sales_pipeline.csv"].nodes_created == 8800


def test_salesforce_export_loads_with_polymorphic_references_and_history(graph: Graph, tmp_path: Path) -> None:
    report = load_dir(graph, "salesforce", FIXTURES / "salesforce", tmp_path)

    assert report.rejected_rows == 0
    found = counts(graph)
    assert {k: found[k] for k in ("User", "Account", "Contact", "Opportunity", "Campaign", "Product", "Activity")} == {
        "User": 3, "Account": 3, "Contact": 4, "Opportunity": 3, "Campaign": 1, "Product": 2, "Activity": 5,
    }
    # WhatId resolves by prefix: 006 -> Opportunity, 001 -> Account, 701 -> Campaign.
    about = {row["a"]: row["l"] for row in graph.read(
        "MATCH (a:Activity)-[:ABOUT]->(t) RETURN a.source_id AS a, labels(t)[0] AS l")}
    assert about == {
        "00T000000000001AAA": "Opportunity", "00T000000000002AAA": "Account", "00T000000000003AAA": "Campaign",
        "00T000000000004AAA": "Account", "00U000000000001AAA": "Opportunity",
    }
    types = {row["id"]: row["t"] for row in graph.read("MATCH (a:Activity) RETURN a.source_id AS id, a.type AS t")}
    assert types == {"00T000000000001AAA": "email_sent", "00T000000000002AAA": "email_opened",
                     "00T000000000003AAA": "form_submitted", "00T000000000004AAA": "task", "00U000000000001AAA": "meeting"}
    assert one(graph, "MATCH (:Activity {id: 'salesforce:00T000000000001AAA'})-[:PERFORMED_BY]->(u:User) RETURN u.name") == "Omar Castell"
    # A champion who moved company keeps the old WORKS_AT with `until` and gains the new one.
    jobs = graph.read(
        "MATCH (:Contact {id: 'salesforce:003000000000003AAA'})-[w:WORKS_AT]->(a) "
        "RETURN a.name AS a, w.until IS NOT NULL AS ended, w.title AS title ORDER BY ended"
    )
    assert jobs == [{"a": "Pelican Health", "ended": False, "title": "VP Operations"},
                    {"a": "Kestrel Dynamics", "ended": True, "title": None}]
    roles = {row["r"] for row in graph.read("MATCH ()-[r:ROLE_IN]->() RETURN r.role AS r")}
    assert roles == {"economic_buyer", "champion", "decision_maker", "Gatekeeper"}
    assert one(graph, "MATCH ()-[i:INCLUDES]->(:Product {name: 'Line Sensor S1'}) RETURN i.quantity") == 30
    assert one(graph, "MATCH (o:Opportunity) WHERE o.closed_at IS NOT NULL RETURN count(o)") == 2
    assert one(graph, "MATCH (a:Account {id: 'salesforce:001000000000002AAA'}) RETURN a.domain") == "kestrel-robotics.example"
    assert one(graph, "MATCH (c:Contact {id: 'salesforce:003000000000004AAA'}) RETURN c.email") == "jonah.weiss@pelican-health.example"
    assert one(graph, "MATCH (:Opportunity)-[:INFLUENCED_BY]->(c:Campaign) RETURN c.name") == "Factory Automation Webinar"
    assert one(graph, "MATCH (u:User)-[:REPORTS_TO]->(:User {name: 'Harriet Vance'}) RETURN count(u)") == 2
    assert found["MEMBER_OF"] == 2 and found["OWNS"] == 3 + 4 + 3


def test_hubspot_export_loads_owners_and_multi_valued_associations(graph: Graph, tmp_path: Path) -> None:
    report = load_dir(graph, "hubspot", FIXTURES / "hubspot", tmp_path)

    assert report.rejected_rows == 0
    found = counts(graph)
    assert (found["Account"], found["Contact"], found["Opportunity"], found["User"]) == (3, 4, 4, 2)
    employers = [row["a"] for row in graph.read(
        "MATCH (:Contact {id: 'hubspot:7002'})-[:WORKS_AT]->(a) RETURN a.name AS a ORDER BY a")]
    assert employers == ["Northwind Logistics", "Northwind Traders"]
    committee = [row["c"] for row in graph.read(
        "MATCH (c:Contact)-[:ROLE_IN]->(:Opportunity {name: 'Northwind renewal 2023'}) RETURN c.name AS c ORDER BY c")]
    assert committee == ["Mira Holt", "Tobias Renn"]
    assert one(graph, "MATCH (:Account {name: 'Northwind Logistics'})-[:SUBSIDIARY_OF]->(p) RETURN p.name") == "Northwind Traders"
    assert one(graph, "MATCH (u:User {name: 'Avery Quinn'})-[:OWNS]->(n) RETURN count(n)") == 2 + 2 + 2
    deal = graph.read("MATCH (o:Opportunity {id: 'hubspot:9003'}) RETURN o {.*} AS o")[0]["o"]
    assert (deal["is_closed"], deal["is_won"], deal["stage"]) == (True, False, "Closed Lost")
    assert deal["closed_at"] is not None
    open_deal = graph.read("MATCH (o:Opportunity {id: 'hubspot:9002'}) RETURN o {.*} AS o")[0]["o"]
    assert (open_deal["is_closed"], open_deal["is_won"], open_deal.get("closed_at")) == (False, False, None)
    assert one(graph, "MATCH (c:Contact {id: 'hubspot:7001'}) RETURN c.email") == "mira.holt@northwind-traders.example"
    assert one(graph, "MATCH (o:Opportunity {id: 'hubspot:9004'}) WHERE NOT (o)--(:Account) RETURN count(o)") == 1
    owners = {s.file: s.skipped for s in report.files if s.label == "User"}
    assert owners == {"companies.csv": 0, "contacts.csv": 1, "deals.csv": 1}


def test_a_custom_mapping_loads_enums_aliases_formats_and_relationship_properties(graph: Graph, tmp_path: Path) -> None:
    report = load_dir(graph, CUSTOM_MAPPING, FIXTURES / "custom", tmp_path)

    assert report.rejected_rows == 0 and report.source == "mycrm"
    assert [row["r"] for row in graph.read("MATCH (a:Account) RETURN a.region AS r ORDER BY a.id")] == ["EMEA", "Americas"]
    since = one(graph, "MATCH (:Contact {id: 'mycrm:P1'})-[w:WORKS_AT]->() RETURN w.since")
    assert since.to_native().date() == date(2021, 4, 1)
    assert one(graph, "MATCH (c:Contact)-[:ROLE_IN]->(:Opportunity {id: 'mycrm:D-100'}) RETURN count(c)") == 2
    assert one(graph, "MATCH (o:Opportunity {id: 'mycrm:D-101'}) RETURN o.stage") == "Open"
    assert one(graph, "MATCH (o:Opportunity {id: 'mycrm:D-100'})-[:FOR_ACCOUNT]->(a) RETURN a.domain") == "harbourfreight.example"


def test_loading_the_same_input_twice_changes_nothing(graph: Graph, tmp_path: Path) -> None:
    for fmt in ("salesforce", "hubspot"):
        load_dir(graph, fmt, FIXTURES / fmt, tmp_path)
    before = graph_state(graph)

    again = [load_dir(graph, fmt, FIXTURES / fmt, tmp_path) for fmt in ("salesforce", "hubspot")]

    # updated_at included: a node that did not change keeps its time.
    assert graph_state(graph) == before
    for report in again:
        total = report.totals
        assert (total.nodes_created, total.nodes_updated, total.rels_created, total.rels_updated, total.rels_deleted) == (0, 0, 0, 0, 0)
        assert total.loaded == total.rows_read - total.skipped


def _edit_csv(path: Path, key: str, key_value: str, **changes: str) -> None:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert any(row[key] == key_value for row in rows)
    for row in rows:
        if row[key] == key_value:
            row.update(changes)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_changed_input_updates_in_place(graph: Graph, tmp_path: Path) -> None:
    source = tmp_path / "export"
    shutil.copytree(FIXTURES / "salesforce", source)
    load_dir(graph, "salesforce", source, tmp_path)
    before_counts, _ = graph_state(graph)
    stamps = {row["id"]: row["at"] for row in graph.read("MATCH (n) WHERE n.updated_at IS NOT NULL RETURN n.id AS id, n.updated_at AS at")}

    _edit_csv(source / "Opportunity.csv", "Id", "006000000000002AAA", Amount="47500.00", StageName="Closed Won",
              IsClosed="true", IsWon="true", OwnerId="005000000000003AAA", CampaignId="")
    _edit_csv(source / "Account.csv", "Id", "001000000000003AAA", NumberOfEmployees="", Industry="Medical Devices")
    report = load_dir(graph, "salesforce", source, tmp_path)

    assert report.totals.nodes_created == 0 and report.totals.nodes_updated == 2
    deal = graph.read("MATCH (o:Opportunity {id: 'salesforce:006000000000002AAA'}) RETURN o {.*} AS o")[0]["o"]
    assert (deal["amount"], deal["stage"], deal["is_won"]) == (47500.0, "Closed Won", True)
    assert deal["closed_at"] is not None
    assert one(graph, "MATCH (u:User)-[:OWNS]->(:Opportunity {id: 'salesforce:006000000000002AAA'}) RETURN collect(u.name)") == ["Lena Brandt"]
    assert one(graph, "MATCH (:Opportunity {id: 'salesforce:006000000000002AAA'})-[r:INFLUENCED_BY]->() RETURN count(r)") == 0
    account = graph.read("MATCH (a:Account {id: 'salesforce:001000000000003AAA'}) RETURN a {.*} AS a")[0]["a"]
    assert "employees" not in account and account["industry"] == "Medical Devices"
    after_counts, _ = graph_state(graph)
    assert after_counts["Opportunity"] == before_counts["Opportunity"]
    assert after_counts.get("INFLUENCED_BY", 0) == before_counts["INFLUENCED_BY"] - 1
    assert after_counts["OWNS"] == before_counts["OWNS"]
    changed = {row["id"]: row["at"] for row in graph.read("MATCH (n) WHERE n.updated_at IS NOT NULL RETURN n.id AS id, n.updated_at AS at")}
    moved = {node_id for node_id in stamps if changed[node_id] != stamps[node_id]}
    assert moved == {"salesforce:006000000000002AAA", "salesforce:001000000000003AAA"}


def test_prune_removes_only_this_sources_nodes_absent_from_the_input_and_only_when_asked(graph: Graph, tmp_path: Path) -> None:
    source = tmp_path / "export"
    shutil.copytree(FIXTURES / "hubspot", source)
    load_dir(graph, "hubspot", source, tmp_path)
    load_dir(graph, CUSTOM_MAPPING, FIXTURES / "custom", tmp_path)
    lines = (source / "deals.csv").read_text().splitlines(keepends=True)
    (source / "deals.csv").write_text("".join(line for line in lines if not line.startswith("9003,")))

    load_dir(graph, "hubspot", source, tmp_path)
    assert one(graph, "MATCH (o:Opportunity {id: 'hubspot:9003'}) RETURN count(o)") == 1

    report = load_dir(graph, "hubspot", source, tmp_path, prune=True)
    assert report.pruned == {"Opportunity": 1}
    assert one(graph, "MATCH (o:Opportunity {id: 'hubspot:9003'}) RETURN count(o)") == 0
    assert one(graph, "MATCH (o:Opportunity {source: 'hubspot'}) RETURN count(o)") == 3
    # Another source's nodes are never pruned by this one.
    assert one(graph, "MATCH (o:Opportunity {source: 'mycrm'}) RETURN count(o)") == 2
