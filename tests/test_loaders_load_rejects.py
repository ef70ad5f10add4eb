"""Bad input never half-writes: each kind of bad row goes to the rejects file, valid rows load, exit codes say which.

The export here is the custom mapping's (tests/fixtures/custom) with bad rows added, one kind each.
"""

from __future__ import annotations

import codecs
import csv
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kgcrm.graph.driver import Graph
from kgcrm.graph.errors import LoadFailed
from test_loaders_load import CUSTOM_MAPPING, FIXTURES, counts, load_dir, one

KGCRM = str(Path(sys.executable).parent / "kgcrm")
INJECTION = "Robert'}) MATCH (n) DETACH DELETE n //"
FORMULA = "=HYPERLINK(\"http://evil.example\",\"x\")"
LONG_NAME = "L" * 300


def _write(path: Path, lines: list[str], *, prefix: bytes = b"", extra: bytes = b"") -> None:
    path.write_bytes(prefix + "".join(line + "\n" for line in lines).encode("utf-8") + extra)


@pytest.fixture
def bad_export(tmp_path: Path) -> Path:
    """The custom export with one bad row per kind; comments give each row's number (header = 1)."""
    source = tmp_path / "export"
    shutil.copytree(FIXTURES / "custom", source)
    _write(source / "companies.csv", [
        "company_id,company,website,staff,area,customer_since",
        "C1,Harbour Freight Co,https://www.harbourfreight.example,320,Europe,15/03/2021",  # 2 valid
        "C2,Summit Dental,summit-dental.example,45,USA,02/11/2022",  # 3 valid
        ",No Key Ltd,nokey.example,10,EMEA,01/01/2020",  # 4 missing key
        "C4,Wrong Type Inc,wrongtype.example,many,EMEA,01/01/2020",  # 5 wrong type
        "C5,Bad Date GmbH,baddate.example,12,EMEA,31/02/2021",  # 6 unparseable date
        "C6,Twice Corp,twice.example,5,APAC,01/01/2020",  # 7 duplicate key ...
        "C6,Twice Corporation,twice.example,5,APAC,01/01/2020",  # 8 ... with conflicting values
        f"C7,{LONG_NAME},long.example,5,APAC,01/01/2020",  # 9 over-long field (limit 200 below)
        f"C8,\"{INJECTION}\",inject.example,7,EMEA,01/01/2020",  # 10 injection-looking: stored verbatim
        f"C9,\"{FORMULA.replace(chr(34), chr(34) * 2)}\",formula.example,7,EMEA,01/01/2020",  # 11 formula: verbatim
        "C2,Summit Dental,summit-dental.example,45,USA,02/11/2022",  # 12 identical duplicate: fine
        "C10,Mars Mining,mars.example,9,Moon,01/01/2020",  # 13 enum value not allowed
    ], prefix=codecs.BOM_UTF8, extra=b"C11,Caf\xe9 Latin-1,cafe.example,3,EMEA,01/01/2020\n")  # 14 bad encoding
    _write(source / "people.csv", [
        "person_id,first_name,last_name,email,job,company_id,joined",
        "P1,Nora,Lind,nora@harbourfreight.example,Procurement Lead,C1,01/04/2021",  # 2 valid
        "P2,Raj,Mehta,raj@summit-dental.example,Practice Manager,C2,10/11/2022",  # 3 valid
        "P3,Eva,Sousa,eva@harbourfreight.example,CFO,C1,",  # 4 valid
        "P4,Ghost,Worker,ghost@nowhere.example,Clerk,C99,",  # 5 dangling reference
        "P5,Tina,Twice,tina@twice.example,CEO,C6,",  # 6 refers to a rejected company
        "P6,Ann,Email,not-an-email,CTO,C1,",  # 7 malformed e-mail
        "P7,Ragged,Row,ragged@x.example,CTO",  # 8 too few fields
    ])
    _write(source / "deals.csv", [
        "deal_no,title,value_eur,status,closes,company_id,people",
        "D-100,Fleet tracking rollout,54000,won,30/06/2022,C1,P1;P3",  # 2 valid
        "D-101,Clinic software,12500.5,open,31/03/2024,C2,P2",  # 3 valid
        "D-102,Dangling buyer,1000,open,31/03/2024,C1,P1;P404",  # 4 one dangling target in a list
        "D-103,Odd status,1000,pending,31/03/2024,C1,P1",  # 5 enum
        "D-104,Not a number,lots,open,31/03/2024,C1,P1",  # 6 wrong type
    ])
    return source


def _rejects(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_each_kind_of_bad_row_is_rejected_with_file_row_column_value_and_reason(
    graph: Graph, bad_export: Path, tmp_path: Path
) -> None:
    report = load_dir(graph, CUSTOM_MAPPING, bad_export, tmp_path, max_field_length=200)

    rejects = _rejects(tmp_path / "rejects.csv")
    assert list(rejects[0]) == ["file", "row", "column", "value", "reason"]
    by_row = {(r["file"], int(r["row"])): r for r in rejects}
    expected = {
        ("companies.csv", 4): ("company_id", "", "the key is missing"),
        ("companies.csv", 5): ("staff", "many", "is not a whole number"),
        ("companies.csv", 6): ("customer_since", "31/02/2021", "is not a date-time"),
        ("companies.csv", 7): ("company_id", "C6", "duplicate key 'C6' with conflicting values"),
        ("companies.csv", 8): ("company_id", "C6", "duplicate key 'C6' with conflicting values"),
        ("companies.csv", 9): ("company", LONG_NAME, "more than the maximum 200"),
        ("companies.csv", 13): ("area", "Moon", "is not one of 'EMEA', 'Americas', 'APAC'"),
        ("companies.csv", 14): ("company", "Caf\\xe9 Latin-1", "not valid UTF-8"),
        ("people.csv", 5): ("company_id", "C99", "dangling reference: no Account with key 'C99'"),
        ("people.csv", 6): ("company_id", "C6", "refers to Account 'C6', whose own row was rejected"),
        ("people.csv", 7): ("email", "not-an-email", "is not an e-mail address"),
        ("people.csv", 8): ("", "", "has 5 fields, the header has 7"),
        ("deals.csv", 4): ("people", "P404", "dangling reference: no Contact with key 'P404'"),
        ("deals.csv", 5): ("status", "pending", "is not one of"),
        ("deals.csv", 6): ("value_eur", "lots", "is not a number"),
    }
    assert set(by_row) == set(expected)
    assert len(rejects) == len(expected)  # one line per problem: `status` feeds three properties, one line
    for where, (column, value, reason) in expected.items():
        row = by_row[where]
        assert row["column"] == column, where
        # Long values are shortened in the rejects file; the start is kept.
        assert row["value"] == value or (len(value) > 200 and row["value"].startswith(value[:200])), where
        assert reason in row["reason"], (where, row["reason"])
    assert report.rejected_rows == len(expected)
    assert {s.file: s.rejected for s in report.files} == {"companies.csv": 8, "people.csv": 4, "deals.csv": 3}

    # The valid rows loaded; nothing of a rejected row did.
    ids = sorted(r["id"] for r in graph.read("MATCH (a:Account) RETURN a.id AS id"))
    assert ids == ["mycrm:C1", "mycrm:C2", "mycrm:C8", "mycrm:C9"]
    assert sorted(r["id"] for r in graph.read("MATCH (c:Contact) RETURN c.id AS id")) == ["mycrm:P1", "mycrm:P2", "mycrm:P3"]
    assert sorted(r["id"] for r in graph.read("MATCH (o:Opportunity) RETURN o.id AS id")) == ["mycrm:D-100", "mycrm:D-101"]
    assert counts(graph)["WORKS_AT"] == 3 and counts(graph)["ROLE_IN"] == 3
    # Injection-looking text is data: stored verbatim, and the graph is intact.
    assert one(graph, "MATCH (a:Account {id: 'mycrm:C8'}) RETURN a.name") == INJECTION
    assert one(graph, "MATCH (a:Account {id: 'mycrm:C9'}) RETURN a.name") == FORMULA
    # The BOM did not become part of the first column's name: every company has its key.
    assert one(graph, "MATCH (a:Account) WHERE a.source_id STARTS WITH '\ufeff' RETURN count(a)") == 0


def test_a_rejected_value_that_looks_like_a_formula_is_defused_in_the_rejects_file(graph: Graph, tmp_path: Path) -> None:
    source = tmp_path / "export"
    shutil.copytree(FIXTURES / "custom", source)
    with open(source / "companies.csv", "a", encoding="utf-8") as handle:
        handle.write("C3,Formula Ltd,formula.example,=1+2,EMEA,01/01/2020\n")

    load_dir(graph, CUSTOM_MAPPING, source, tmp_path)

    [reject] = _rejects(tmp_path / "rejects.csv")
    assert (reject["row"], reject["column"], reject["value"]) == ("4", "staff", "'=1+2")


def test_a_fatal_problem_in_a_later_file_writes_nothing_at_all(graph: Graph, tmp_path: Path) -> None:
    source = tmp_path / "export"
    shutil.copytree(FIXTURES / "custom", source)
    (source / "deals.csv").write_text("title,value_eur\nNo key column,1\n")

    with pytest.raises(LoadFailed, match=r"deals.csv: no column 'deal_no' \(the key of Opportunity\)"):
        load_dir(graph, CUSTOM_MAPPING, source, tmp_path)

    assert counts(graph) == {}


def _cli(source: Path, fmt: str | Path, env: dict[str, str], cwd: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [KGCRM, "load", str(source), "--format", str(fmt), *flags],
        capture_output=True, text=True, env=env, cwd=cwd, timeout=300,
    )


def test_cli_exit_codes_clean_rejected_and_fatal_with_summary_table(
    graph: Graph, neo4j_server, bad_export: Path, tmp_path: Path
) -> None:
    clean = _cli(FIXTURES / "custom", CUSTOM_MAPPING, neo4j_server.env, tmp_path)
    assert clean.returncode == 0, clean.stderr
    table = clean.stdout.splitlines()
    assert table[0] == "loaded source 'mycrm'"
    assert table[1].split()[:5] == ["file", "label", "read", "loaded", "rejected"]
    assert table[3].split()[:5] == ["companies.csv", "Account", "2", "2", "0"]
    assert any(line.split()[:4] == ["total", "7", "7", "0"] for line in table)
    assert not (tmp_path / "mycrm-rejects.csv").exists()

    rejected = _cli(bad_export, CUSTOM_MAPPING, neo4j_server.env, tmp_path, "--max-field-length", "200")
    assert rejected.returncode == 10, rejected.stderr
    assert rejected.stderr.strip() == f"kgcrm: 15 row(s) rejected; see {Path('mycrm-rejects.csv')}"
    assert len(_rejects(tmp_path / "mycrm-rejects.csv")) == 15
    # read = loaded + rejected + skipped (the identical duplicate of C2 counts as loaded)
    assert any(line.split()[:5] == ["companies.csv", "Account", "13", "5", "8"] for line in rejected.stdout.splitlines())

    quiet = _cli(bad_export, CUSTOM_MAPPING, neo4j_server.env, tmp_path, "--quiet", "--rejects", str(tmp_path / "r.csv"))
    assert quiet.returncode == 10 and quiet.stdout == ""
    assert quiet.stderr.count("\n") == 1  # no progress bar, one line

    missing = _cli(tmp_path / "no-such-folder", "salesforce", neo4j_server.env, tmp_path, "--quiet")
    assert missing.returncode == 11
    assert missing.stderr.strip().splitlines() == [missing.stderr.strip()]
    assert missing.stderr.startswith("kgcrm: error: ") and "no such folder" in missing.stderr

    bad_mapping = tmp_path / "bad.yml"
    bad_mapping.write_text("name: x\nfiles:\n  - file: a.csv\n    label: Acount\n    key: id\n")
    invalid = _cli(FIXTURES / "custom", bad_mapping, neo4j_server.env, tmp_path, "--quiet")
    assert invalid.returncode == 11 and "files[0].label: 'Acount' is not a CRM label" in invalid.stderr
    assert "Traceback" not in invalid.stderr

    unreachable = _cli(FIXTURES / "custom", CUSTOM_MAPPING, {**neo4j_server.env, "NEO4J_URI": "bolt://127.0.0.1:9",
                                                           "KGCRM_NEO4J_CONNECT_TIMEOUT": "2"}, tmp_path, "--quiet")
    assert unreachable.returncode == 11 and "cannot reach Neo4j" in unreachable.stderr
