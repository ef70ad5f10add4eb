"""`kgcrm generate`: determinism, the export contract's shape, a separate ground truth, and the planted signal."""

from __future__ import annotations

import csv
import datetime as dt
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from click.testing import CliRunner

from kgcrm.graph.driver import Graph
from kgcrm.loaders.generate import EXPORT_FILES, GROUND_TRUTH_DIR, WorldParams, generate_world
from kgcrm.loaders.generate_export import PREFIXES
from kgcrm.loaders.generate_report import measure_signal
from kgcrm.main import cli

START = dt.date(2024, 1, 1)
CONTRACT_TASK_TYPES = {"Email", "Email Opened", "Email Replied", "Call", "Web Visit", "Content Download", "Webinar",
                       "Form", "Support Ticket", "Product Usage"}
# (file, column) → the objects whose ids it may hold.
REFERENCES: dict[tuple[str, str], tuple[str, ...]] = {
    ("User", "ManagerId"): ("User",),
    ("Account", "ParentId"): ("Account",),
    ("Account", "OwnerId"): ("User",),
    ("Contact", "AccountId"): ("Account",),
    ("Contact", "OwnerId"): ("User",),
    ("AccountContactRelation", "AccountId"): ("Account",),
    ("AccountContactRelation", "ContactId"): ("Contact",),
    ("Opportunity", "AccountId"): ("Account",),
    ("Opportunity", "OwnerId"): ("User",),
    ("Opportunity", "CampaignId"): ("Campaign",),
    ("OpportunityContactRole", "OpportunityId"): ("Opportunity",),
    ("OpportunityContactRole", "ContactId"): ("Contact",),
    ("OpportunityLineItem", "OpportunityId"): ("Opportunity",),
    ("OpportunityLineItem", "Product2Id"): ("Product2",),
    ("Campaign", "OwnerId"): ("User",),
    ("CampaignMember", "CampaignId"): ("Campaign",),
    ("CampaignMember", "ContactId"): ("Contact",),
    ("Task", "WhoId"): ("Contact",),
    ("Task", "WhatId"): ("Account", "Opportunity", "Campaign"),
    ("Task", "OwnerId"): ("User",),
    ("Event", "WhoId"): ("Contact",),
    ("Event", "WhatId"): ("Account", "Opportunity", "Campaign"),
    ("Event", "OwnerId"): ("User",),
}
DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _rows(folder: Path, name: str) -> list[dict[str, str]]:
    with (folder / name).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


class World:
    """A generated folder, read once."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.tables = {name.removesuffix(".csv"): _rows(folder, name) for name in EXPORT_FILES}
        truth = folder / GROUND_TRUTH_DIR
        self.opportunity_events = _rows(truth, "opportunity_events.csv")
        self.mechanism_events = _rows(truth, "mechanism_events.csv")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    folder = tmp_path_factory.mktemp("world")
    generate_world(WorldParams(accounts=400, seed=11), folder, quiet=True)
    return World(folder)


@pytest.fixture(scope="module")
def big_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """Big enough for rates of the planted mechanisms to be clear (about 2 s)."""
    folder = tmp_path_factory.mktemp("big_world")
    generate_world(WorldParams(accounts=3000, seed=5), folder, quiet=True)
    return World(folder)


def _file_bytes(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def test_the_same_seed_writes_the_same_bytes_and_another_seed_does_not(tmp_path: Path) -> None:
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        generate_world(WorldParams(accounts=150, seed=seed), tmp_path / name, quiet=True)
    first, again, other = (_file_bytes(tmp_path / name) for name in "abc")
    assert first == again
    assert first.keys() == other.keys()
    assert all(first[name] != other[name] for name in ("Account.csv", "Contact.csv", "Task.csv", "Opportunity.csv"))


def test_every_file_of_the_contract_is_written_and_the_ground_truth_is_apart(world: World) -> None:
    top = {path.name for path in world.folder.iterdir()}
    assert top == set(EXPORT_FILES) | {GROUND_TRUTH_DIR}
    truth = {path.name for path in (world.folder / GROUND_TRUTH_DIR).iterdir()}
    assert truth == {"accounts_intent.csv", "opportunity_events.csv", "mechanism_events.csv", "README.txt"}
    assert not truth & set(EXPORT_FILES)
    for name, rows in world.tables.items():
        assert rows, f"{name}.csv is empty"
        assert not {"Intent", "Cause", "Mechanism"} & set(rows[0]), f"{name}.csv carries ground truth"


def test_ids_are_18_characters_unique_and_carry_their_object_prefix(world: World) -> None:
    for name, rows in world.tables.items():
        keys = [row["Id"] for row in rows]
        assert len(set(keys)) == len(keys), f"{name} has repeated ids"
        assert all(len(key) == 18 and key.startswith(PREFIXES[name]) for key in keys), name


def test_every_reference_points_to_an_existing_id_of_the_right_object(world: World) -> None:
    known = {name: {row["Id"] for row in rows} for name, rows in world.tables.items()}
    for (name, column), targets in REFERENCES.items():
        values = [row[column] for row in world.tables[name] if row[column]]
        assert values or column in ("ManagerId", "ParentId", "CampaignId"), f"{name}.{column} is always blank"
        for value in values:
            target = next((t for t in targets if value.startswith(PREFIXES[t])), None)
            assert target is not None, f"{name}.{column}={value} has the prefix of none of {targets}"
            assert value in known[target], f"{name}.{column}={value} points to no {target}"
    assert {row["WhatId"][:3] for row in world.tables["Task"]} == {PREFIXES[t] for t in ("Account", "Opportunity", "Campaign")}


def test_values_have_the_contract_formats(world: World) -> None:
    for name, column in (("Account", "CreatedDate"), ("Task", "CreatedDate"), ("Event", "StartDateTime"),
                         ("Opportunity", "CreatedDate"), ("CampaignMember", "CreatedDate"), ("User", "CreatedDate")):
        assert all(DATETIME.match(row[column]) for row in world.tables[name]), f"{name}.{column}"
    for name, column in (("Opportunity", "CloseDate"), ("Task", "ActivityDate"), ("Campaign", "StartDate"),
                         ("AccountContactRelation", "StartDate")):
        assert all(DATE.match(row[column]) for row in world.tables[name]), f"{name}.{column}"
    for name, column in (("Opportunity", "IsWon"), ("AccountContactRelation", "IsActive"), ("OpportunityContactRole", "IsPrimary")):
        assert {row[column] for row in world.tables[name]} == {"true", "false"}, f"{name}.{column}"
    assert {row["Type"] for row in world.tables["Task"]} >= CONTRACT_TASK_TYPES
    assert {row["Type"] for row in world.tables["Opportunity"]} == {"New Business", "Expansion", "Renewal"}
    assert {row["UserRole"] for row in world.tables["User"]} == {"rep", "manager", "admin"}
    assert {row["Role"] for row in world.tables["OpportunityContactRole"]} >= {"Decision Maker", "Economic Buyer", "Champion"}


def test_buying_committees_have_3_to_12_contacts_and_one_primary(world: World) -> None:
    members: Counter[str] = Counter(row["OpportunityId"] for row in world.tables["OpportunityContactRole"])
    primaries: Counter[str] = Counter(row["OpportunityId"] for row in world.tables["OpportunityContactRole"] if row["IsPrimary"] == "true")
    assert set(members) == {row["Id"] for row in world.tables["Opportunity"]}
    assert min(members.values()) >= 3 and max(members.values()) <= 12
    assert max(members.values()) > 5
    assert set(primaries.values()) == {1}


def test_subsidiary_trees_are_acyclic_and_cover_about_an_eighth_of_accounts(world: World) -> None:
    parent = {row["Id"]: row["ParentId"] for row in world.tables["Account"]}
    for account in parent:
        seen = {account}
        while parent[account]:
            account = parent[account]
            assert account not in seen, "a cycle in ParentId"
            seen.add(account)
    share = sum(1 for value in parent.values() if value) / len(parent)
    assert 0.08 <= share <= 0.18


def test_employment_history_has_one_active_relation_matching_the_contacts_account(world: World) -> None:
    current = {row["Id"]: row["AccountId"] for row in world.tables["Contact"]}
    by_contact = defaultdict(list)
    for row in world.tables["AccountContactRelation"]:
        by_contact[row["ContactId"]].append(row)
    assert by_contact.keys() == current.keys()
    moved = 0
    for contact, rows in by_contact.items():
        active = [row for row in rows if row["IsActive"] == "true"]
        assert len(active) == 1 and active[0]["AccountId"] == current[contact] and not active[0]["EndDate"]
        for old in (row for row in rows if row["IsActive"] == "false"):
            moved += 1
            assert old["EndDate"] and old["StartDate"] <= old["EndDate"] == active[0]["StartDate"]
            assert old["AccountId"] != active[0]["AccountId"]
    assert moved > 0


def test_activities_are_done_by_people_working_at_the_account_then(world: World) -> None:
    stints = defaultdict(list)
    for row in world.tables["AccountContactRelation"]:
        stints[row["ContactId"]].append((row["AccountId"], row["StartDate"], row["EndDate"] or "9999-12-31"))
    checked = 0
    for task in world.tables["Task"]:
        if task["WhatId"].startswith(PREFIXES["Account"]):
            day = task["ActivityDate"]
            assert any(a == task["WhatId"] and s <= day < e for a, s, e in stints[task["WhoId"]]), task["Id"]
            checked += 1
    assert checked > 1000


def test_there_are_fewer_activities_at_weekends(world: World) -> None:
    weekdays = Counter(dt.date.fromisoformat(row["ActivityDate"]).weekday() for row in world.tables["Task"])
    weekday_mean = sum(weekdays[d] for d in range(5)) / 5
    weekend_mean = (weekdays[5] + weekdays[6]) / 2
    assert weekend_mean < 0.6 * weekday_mean


def test_per_account_activity_is_heavy_tailed(world: World) -> None:
    per_account = Counter(row["WhatId"] for row in world.tables["Task"] if row["WhatId"].startswith(PREFIXES["Account"]))
    counts = sorted(per_account.values(), reverse=True)
    top_decile = sum(counts[: len(counts) // 10])
    assert top_decile > 0.25 * sum(counts)


def test_every_caused_opening_comes_after_its_mechanism_fired_at_that_account(world: World) -> None:
    fired = defaultdict(list)
    for event in world.mechanism_events:
        fired[(event["AccountId"], event["Mechanism"])].append(event["Date"])
    checked = 0
    for opp in world.opportunity_events:
        if opp["Cause"] in ("baseline", "history", "renewal_schedule"):
            continue
        for mechanism in opp["Cause"].split("+"):
            assert any(day <= opp["CreatedDate"] for day in fired[(opp["AccountId"], mechanism)]), (opp, mechanism)
            checked += 1
    assert checked > 20


def _opening_rate_after(world: World, pairs: list[tuple[str, dt.date]], horizon_days: int = 60) -> float:
    opened = defaultdict(list)
    for opp in world.opportunity_events:
        if opp["Type"] in ("New Business", "Expansion") and opp["Cause"] != "history":
            opened[opp["AccountId"]].append(dt.date.fromisoformat(opp["CreatedDate"]))
    horizon = dt.timedelta(days=horizon_days)
    hits = sum(any(day < created <= day + horizon for created in opened[account]) for account, day in pairs)
    return hits / len(pairs)


def test_accounts_where_a_planted_mechanism_fired_open_deals_far_more_often(big_world: World) -> None:
    last = START + dt.timedelta(days=420)
    events = defaultdict(list)
    for event in big_world.mechanism_events:
        day = dt.date.fromisoformat(event["Date"])
        if day < last:
            events[event["Mechanism"]].append((event["AccountId"], day))
    accounts = [row["Id"] for row in big_world.tables["Account"]]
    every_day = [(accounts[i % len(accounts)], START + dt.timedelta(days=(i * 37) % 420)) for i in range(6000)]
    rate = {name: _opening_rate_after(big_world, pairs) for name, pairs in events.items()}
    background = _opening_rate_after(big_world, every_day)
    assert min(len(pairs) for pairs in events.values()) >= 100, {k: len(v) for k, v in events.items()}
    # (a) several committee members engaging beats the same activity from one contact.
    assert rate["committee_engagement"] > 2 * rate["single_contact_engagement"]
    assert rate["committee_engagement"] > 2.5 * background
    # (b) a former champion arriving beats any other newcomer.
    assert rate["champion_arrival"] > 2 * rate["non_champion_arrival"]
    assert rate["champion_arrival"] > 2.5 * background
    # (c) a purchase in the family.
    assert rate["family_purchase"] > 2.5 * background
    # The controls carry (almost) nothing.
    assert rate["non_champion_arrival"] < 1.6 * background


def test_the_signal_report_shows_each_mechanism_beating_its_control_and_fading(big_world: World) -> None:
    report = measure_signal(big_world.folder)
    lift = {m.mechanism: m.lifts for m in report.mechanisms}
    assert min(m.events for m in report.mechanisms) >= 100
    assert lift["committee_engagement"][0] > 2 * lift["single_contact_engagement"][0]
    assert lift["champion_arrival"][0] > 2 * lift["non_champion_arrival"][0]
    assert lift["family_purchase"][0] > 1.5
    assert 0.5 < lift["non_champion_arrival"][0] < 1.6
    # Intent decays with the half-life: the first month after a burst is the strongest.
    assert lift["committee_engagement"][0] > 1.5 * lift["committee_engagement"][2]
    # Signal in the account's own row: bigger companies open more deals.
    assert report.by_size[-1][2] > 1.2 * report.by_size[0][2]
    assert sum(report.causes.values()) == report.openings and report.causes["committee_engagement"] > 0


def test_the_cli_writes_a_world_and_reports_its_size(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["generate", "--accounts", "50", "--seed", "2", "--quiet", "--report", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "nodes" in result.output and "ground_truth" in result.output
    assert "| committee_engagement |" in result.output and "largest quarter" in result.output
    assert (tmp_path / "out" / "Account.csv").read_text().count("\n") == 51


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--accounts", "3"], "--accounts must be at least 10"),
        (["--accounts", "50", "--months", "0"], "--months must be from 1 to 120"),
        (["--accounts", "50", "--half-life-days", "0"], "--half-life-days must be from 0.5"),
    ],
)
def test_bad_flags_fail_with_one_line_and_exit_code_2(tmp_path: Path, args: list[str], message: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "kgcrm", "generate", *args, "--quiet", str(tmp_path / "out")],
        capture_output=True, text=True,
    )
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [f"kgcrm: error: {out.stderr.strip().removeprefix('kgcrm: error: ')}"]
    assert message in out.stderr


def test_an_outdir_that_is_a_file_is_rejected(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    result = CliRunner().invoke(cli, ["generate", "--accounts", "20", "--quiet", str(target)])
    assert result.exit_code == 2


def test_a_generated_world_loads_through_the_salesforce_format_with_no_rejects(graph: Graph, neo4j_server, tmp_path: Path) -> None:
    world_dir = tmp_path / "world"
    generate_world(WorldParams(accounts=30, seed=9), world_dir, quiet=True)
    kgcrm = str(Path(sys.executable).parent / "kgcrm")
    rejects = tmp_path / "rejects.csv"
    out = subprocess.run(
        [kgcrm, "load", str(world_dir), "--format", "salesforce", "--quiet", "--rejects", str(rejects)],
        capture_output=True, text=True, env=neo4j_server.env, cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert not rejects.exists() or len(rejects.read_text().splitlines()) <= 1

    def count(query: str) -> int:
        return graph.read(query)[0]["c"]

    rows = {name: _rows(world_dir, name) for name in EXPORT_FILES}
    for label, files in (("Account", ["Account.csv"]), ("Contact", ["Contact.csv"]), ("User", ["User.csv"]),
                         ("Opportunity", ["Opportunity.csv"]), ("Product", ["Product2.csv"]),
                         ("Campaign", ["Campaign.csv"]), ("Activity", ["Task.csv", "Event.csv"])):
        expected = sum(len(rows[name]) for name in files)
        assert count(f"MATCH (n:{label}) RETURN count(n) AS c") == expected, label
    assert count("MATCH ()-[r:ROLE_IN]->() RETURN count(r) AS c") == len(rows["OpportunityContactRole.csv"])
    assert count("MATCH ()-[r:INCLUDES]->() RETURN count(r) AS c") == len(rows["OpportunityLineItem.csv"])
    assert count("MATCH ()-[r:MEMBER_OF]->() RETURN count(r) AS c") == len(rows["CampaignMember.csv"])
    assert count("MATCH ()-[r:SUBSIDIARY_OF]->() RETURN count(r) AS c") == sum(1 for r in rows["Account.csv"] if r["ParentId"])
    assert count("MATCH (:Activity)-[r:ABOUT]->() RETURN count(r) AS c") == len(rows["Task.csv"]) + len(rows["Event.csv"])
    moved = sum(1 for r in rows["AccountContactRelation.csv"] if r["EndDate"])
    assert moved > 0
    assert count("MATCH (:Contact)-[w:WORKS_AT]->(:Account) WHERE w.until IS NOT NULL RETURN count(w) AS c") == moved
    # The ground truth stays out of the graph.
    assert count("MATCH (n) WHERE n.intent IS NOT NULL OR n.cause IS NOT NULL OR n.mechanism IS NOT NULL RETURN count(n) AS c") == 0


def test_duplicates_write_a_hubspot_second_source_and_keep_which_is_which_in_the_ground_truth(tmp_path: Path) -> None:
    folder = tmp_path / "world"
    generate_world(WorldParams(accounts=120, seed=1, duplicates=0.2), folder, quiet=True)
    second = folder / "hubspot"
    assert {path.name for path in second.iterdir()} == {"companies.csv", "contacts.csv", "deals.csv"}
    companies, people = _rows(second, "companies.csv"), _rows(second, "contacts.csv")
    truth = _rows(folder / GROUND_TRUTH_DIR, "duplicates.csv")
    assert len(truth) == len(companies) + len(people) and len(companies) >= 10 and len(people) >= 30
    assert not {"Kind", "OriginalId"} & (set(companies[0]) | set(people[0]))
    originals = {f"salesforce:{row['Id']}" for name in ("Account.csv", "Contact.csv") for row in _rows(folder, name)}
    assert all(row["OriginalId"] in originals for row in truth)
    kinds = Counter(row["Kind"] for row in truth)
    assert set(kinds) == {"same_domain", "case_and_suffix", "name_typo", "email_case", "same_name_same_company",
                          "name_typo_same_company"}
    # Without the flag there is no second source.
    generate_world(WorldParams(accounts=120, seed=1), tmp_path / "plain", quiet=True)
    assert not (tmp_path / "plain" / "hubspot").exists()
    bad = CliRunner().invoke(cli, ["generate", "--accounts", "20", "--duplicates", "0.9", "--quiet", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "--duplicates must be from 0 to 0.5" in bad.output
