"""Bad-input corpus for `kgcrm load`: each kind of malformed CSV gives a clear error that says where and why,
the good rows load, and nothing is half-written.

Each case starts from the custom mapping's small export (tests/fixtures/custom: companies C1, C2; people
P1-P3; deals D-100, D-101), breaks one thing, and runs the real `kgcrm load` command (click, in-process,
so the corpus stays fast). The kinds already covered by tests/test_loaders_load_rejects.py (missing key,
wrong int/float, bad date, conflicting duplicate keys, over-long field, Latin-1 byte, enum, dangling
reference, bad e-mail, ragged row, missing key column) are not repeated here.
"""

from __future__ import annotations

import codecs
import csv
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from kgcrm.graph.driver import Graph
from kgcrm.main import cli

FIXTURES = Path(__file__).parent.parent / "fixtures"
MAPPING = FIXTURES / "custom" / "mapping.yml"
HEADER = "company_id,company,website,staff,area,customer_since"
C1 = "C1,Harbour Freight Co,https://www.harbourfreight.example,320,Europe,15/03/2021"
C2 = "C2,Summit Dental,summit-dental.example,45,USA,02/11/2022"
CLEAN_ACCOUNTS = {"mycrm:C1", "mycrm:C2"}
CLEAN_CONTACTS = {"mycrm:P1", "mycrm:P2", "mycrm:P3"}
CLEAN_DEALS = {"mycrm:D-100", "mycrm:D-101"}
CYPHER = "C3'}) MATCH (n) DETACH DELETE n //"
HTML = "<script>alert('x')</script><img src=x onerror=alert(1)>"
FORMULA_KEY = "=cmd|' /C calc'!A0"


def companies(*rows: str, header: str = HEADER, newline: str = "\n") -> bytes:
    return "".join(line + newline for line in (header, *rows)).encode("utf-8")


@dataclass
class Case:
    """One kind of bad input: how the export is broken and what `kgcrm load` must do about it."""

    kind: str
    files: dict[str, bytes]  # file name -> new content (replaces the fixture's file)
    exit_code: int
    fatal: str = ""  # for exit 11: a fragment of the one error line
    rejects: list[tuple[str, int, str, str]] = field(default_factory=list)  # file, row, column, reason fragment
    accounts: set[str] = field(default_factory=lambda: set(CLEAN_ACCOUNTS))
    contacts: set[str] = field(default_factory=lambda: set(CLEAN_CONTACTS))
    deals: set[str] = field(default_factory=lambda: set(CLEAN_DEALS))
    check: Callable[[Graph], None] | None = None

    def __post_init__(self) -> None:
        if self.exit_code == 11:  # fatal: nothing at all may have been written
            self.accounts, self.contacts, self.deals = set(), set(), set()


def _name_of(graph: Graph, key: str) -> str:
    return graph.read("MATCH (a:Account {id: $id}) RETURN a.name AS name", {"id": key})[0]["name"]


def _stored(key: str, value: str) -> Callable[[Graph], None]:
    def check(graph: Graph) -> None:
        assert _name_of(graph, key) == value

    return check


CAFE = "Café Straße Łódź 東京"
CASES = [
    Case("utf-16-le with BOM", {"companies.csv": codecs.BOM_UTF16_LE + f"{HEADER}\n{C1}\nC2,{CAFE},x.example,4,USA,02/11/2022\n".encode("utf-16-le")},
         0, check=_stored("mycrm:C2", CAFE)),
    Case("utf-16-be with BOM", {"companies.csv": codecs.BOM_UTF16_BE + f"{HEADER}\n{C1}\nC2,{CAFE},x.example,4,USA,02/11/2022\n".encode("utf-16-be")},
         0, check=_stored("mycrm:C2", CAFE)),
    Case("utf-16 BOM but truncated mid-character", {"companies.csv": codecs.BOM_UTF16_LE + f"{HEADER}\n{C1}\n".encode("utf-16-le") + b"C"},
         11, fatal="companies.csv: starts with a UTF-16 byte-order mark but is not valid UTF-16"),
    Case("utf-16 without BOM", {"companies.csv": f"{HEADER}\n{C1}\n{C2}\n".encode("utf-16-le")},
         11, fatal="companies.csv: no column 'company_id'"),
    Case("two UTF-8 BOMs", {"companies.csv": codecs.BOM_UTF8 * 2 + companies(C1, C2)},
         11, fatal="companies.csv: no column 'company_id'"),
    Case("mixed CRLF, LF and CR newlines", {"companies.csv": f"{HEADER}\r\n{C1}\r{C2}\n".encode()}, 0),
    Case("blank lines between and after rows", {"companies.csv": f"{HEADER}\n\n{C1}\n\n\n{C2}\n\n".encode()}, 0),
    Case("a blank line before the header", {"companies.csv": f"\n{HEADER}\n{C1}\n{C2}\n".encode()},
         11, fatal="companies.csv: no column 'company_id' (the key of Account); the header has (none)"),
    Case("quoted field with embedded newlines keeps later row numbers right", {
        "companies.csv": companies('C1,"Harbour\nFreight\r\nCo",h.example,320,Europe,15/03/2021', C2,
                                   "C3,Bad Staff,b.example,lots,EMEA,01/01/2020")},
         10, rejects=[("companies.csv", 4, "staff", "is not a whole number")],  # rows are records, as a spreadsheet shows
         check=_stored("mycrm:C1", "Harbour\nFreight\r\nCo")),
    Case("huge field beyond the csv module's 128 KiB limit", {
        "companies.csv": companies(C1, C2, "C3," + "H" * 300_000 + ",h.example,1,EMEA,01/01/2020")},
         10, rejects=[("companies.csv", 4, "company", "more than the maximum 10,000")]),
    Case("unterminated quote swallows the rest of the file", {
        "companies.csv": companies(C1, C2, 'C3,"Never closed,u.example,1,EMEA,01/01/2020', "C4,Swallowed,s.example,1,EMEA,01/01/2020")},
         10, rejects=[("companies.csv", 4, "", "has 2 fields, the header has 6")]),
    Case("truncated file: last row cut mid-field", {"companies.csv": companies(C1, C2) + b"C3,Cut Sho"},
         10, rejects=[("companies.csv", 4, "", "has 2 fields, the header has 6")]),
    Case("stray quote inside an unquoted field", {"companies.csv": companies(C1, 'C2,Summit "Dental",s.example,45,USA,02/11/2022')},
         0, check=_stored("mycrm:C2", 'Summit "Dental"')),
    Case("a PNG image instead of a CSV", {"companies.csv": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40},
         11, fatal="companies.csv: the header row is not valid UTF-8"),
    Case("control characters instead of a header", {"companies.csv": bytes(range(32)) * 40},
         11, fatal="companies.csv: no column 'company_id' (the key of Account); the header has '\\x00\\x01"),
    Case("empty file", {"companies.csv": b""},
         11, fatal="companies.csv: the file is empty (no header row)", accounts=set(), contacts=set(), deals=set()),
    Case("header only: every reference to a company dangles", {"companies.csv": companies()},
         10, rejects=[("people.csv", r, "company_id", "dangling reference") for r in (2, 3, 4)]
         + [("deals.csv", r, "company_id", "dangling reference") for r in (2, 3)]
         + [("deals.csv", r, "people", "whose own row was rejected") for r in (2, 3)],
         accounts=set(), contacts=set(), deals=set()),
    Case("duplicate header column", {"companies.csv": companies(C1 + ",x", C2 + ",y", header=HEADER + ",company")},
         11, fatal="companies.csv: column 'company' appears twice in the header",
         accounts=set(), contacts=set(), deals=set()),
    Case("duplicate header column the mapping does not read", {"companies.csv": companies(C1 + ",x,y", C2 + ",x,y", header=HEADER + ",notes,notes")}, 0),
    Case("wrong delimiter (semicolons)", {"companies.csv": companies(C1.replace(",", ";"), header=HEADER.replace(",", ";"))},
         11, fatal="companies.csv: no column 'company_id'", accounts=set(), contacts=set(), deals=set()),
    Case("NUL byte inside a field (stored verbatim)", {"companies.csv": companies(C1, "C2,Summit\x00Dental,s.example,45,USA,02/11/2022")},
         0, check=_stored("mycrm:C2", "Summit\x00Dental")),
    Case("overlong UTF-8 encoding and encoded surrogate", {
        "companies.csv": companies(C1, C2) + b"C3,Slash \xc0\xaf Ltd,s.example,45,USA,02/11/2022\n"
        + b"C4,Half \xed\xa0\x80 pair,h.example,1,EMEA,01/01/2020\n"},
         10, rejects=[("companies.csv", 4, "company", "not valid UTF-8"), ("companies.csv", 5, "company", "not valid UTF-8")]),
    Case("integer beyond 64 bits", {"companies.csv": companies(C1, C2, "C3,Big,b.example,99999999999999999999999,USA,02/11/2022")},
         10, rejects=[("companies.csv", 4, "staff", "is too large for a 64-bit integer")]),
    Case("NaN and infinity as amounts", {"deals.csv": (
        "deal_no,title,value_eur,status,closes,company_id,people\n"
        "D-100,Fleet,NaN,won,30/06/2022,C1,P1;P3\nD-101,Clinic,inf,open,31/03/2024,C2,P2\n"
        "D-102,Fine,-12.5e3,open,31/03/2024,C2,P2\n").encode()},
         10, rejects=[("deals.csv", 2, "value_eur", "is not a finite number"), ("deals.csv", 3, "value_eur", "is not a finite number")],
         deals={"mycrm:D-102"}),
    Case("a decimal where a whole number belongs", {"companies.csv": companies(C1, C2, "C3,Half,h.example,4.5,USA,02/11/2022")},
         10, rejects=[("companies.csv", 4, "staff", "is not a whole number")]),
    Case("duplicate key in the second file with conflicting values", {"people.csv": (
        "person_id,first_name,last_name,email,job,company_id,joined\n"
        "P1,Nora,Lind,nora@h.example,Lead,C1,01/04/2021\nP2,Raj,Mehta,raj@s.example,PM,C2,\n"
        "P3,Eva,Sousa,eva@h.example,CFO,C1,\nP2,Raj,Mehta,raj@s.example,PM,C1,\n").encode()},
         10, rejects=[("people.csv", 3, "person_id", "conflicting values"), ("people.csv", 5, "person_id", "conflicting values"),
                      ("deals.csv", 3, "people", "whose own row was rejected")],
         contacts={"mycrm:P1", "mycrm:P3"}, deals={"mycrm:D-100"}),
    Case("whitespace around keys and references", {"companies.csv": companies("  C1  ,Harbour,h.example,1,EMEA,01/01/2020", C2)}, 0,
         check=lambda g: (_name_of(g, "mycrm:C1") == "Harbour") or pytest.fail("C1 not keyed without its spaces")),
    Case("empty parts in a list of references", {"deals.csv": (
        "deal_no,title,value_eur,status,closes,company_id,people\n"
        "D-100,Fleet,1,won,30/06/2022,C1,;P1;;P3;\nD-101,Clinic,2,open,31/03/2024,C2, P2 ;\n").encode()}, 0,
         check=lambda g: g.read("MATCH (:Contact)-[r:ROLE_IN]->() RETURN count(r) AS c")[0]["c"] == 3
         or pytest.fail("expected 3 ROLE_IN")),
    Case("a reference to itself that is not in the input", {"people.csv": (
        "person_id,first_name,last_name,email,job,company_id,joined\n"
        "P1,Nora,Lind,nora@h.example,Lead,P1,\nP2,Raj,Mehta,raj@s.example,PM,C2,\nP3,Eva,Sousa,eva@h.example,CFO,C1,\n").encode()},
         10, rejects=[("people.csv", 2, "company_id", "dangling reference: no Account with key 'P1'"),
                      ("deals.csv", 2, "people", "whose own row was rejected")],
         contacts={"mycrm:P2", "mycrm:P3"}, deals={"mycrm:D-101"}),
    Case("Cypher injection as a key and a reference", {
        "companies.csv": companies(C1, C2, f'"{CYPHER}",Injected,i.example,1,EMEA,01/01/2020'),
        "people.csv": ("person_id,first_name,last_name,email,job,company_id,joined\n"
                       "P1,Nora,Lind,nora@h.example,Lead,C1,\nP2,Raj,Mehta,raj@s.example,PM,C2,\n"
                       f"P3,Eva,Sousa,eva@h.example,CFO,\"{CYPHER}\",\n").encode()},
         0, accounts=CLEAN_ACCOUNTS | {f"mycrm:{CYPHER}"},
         check=lambda g: g.read("MATCH (:Contact {id: 'mycrm:P3'})-[:WORKS_AT]->(a) RETURN a.source_id AS k")[0]["k"] == CYPHER
         or pytest.fail("the injected key is not stored verbatim")),
    Case("HTML and script in text fields", {"companies.csv": companies(C1, f'C2,"{HTML}",s.example,45,USA,02/11/2022')},
         0, check=_stored("mycrm:C2", HTML)),
    Case("formula as a key (stored as data)", {"companies.csv": companies(C1, C2, f'"{FORMULA_KEY}",Formula,f.example,1,EMEA,01/01/2020')},
         0, accounts=CLEAN_ACCOUNTS | {f"mycrm:{FORMULA_KEY}"}),
    Case("bidi override and zero-width characters", {"companies.csv": companies(C1, "C2,Summit\u202e\u200bDental\ufeff,s.example,45,USA,02/11/2022")},
         0, check=_stored("mycrm:C2", "Summit\u202e\u200bDental\ufeff")),
    Case("ten thousand columns in one row", {"companies.csv": companies(C1, C2, "C3" + ",x" * 10_000)},
         10, rejects=[("companies.csv", 4, "", "has 10001 fields, the header has 6")]),
]


def _rejects(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _ids(graph: Graph, label: str) -> set[str]:
    return {row["id"] for row in graph.read(f"MATCH (n:{label}) RETURN n.id AS id")}


def test_the_corpus_has_at_least_twenty_kinds() -> None:
    assert len({case.kind for case in CASES}) == len(CASES) >= 20


@pytest.mark.parametrize("case", CASES, ids=[case.kind for case in CASES])
def test_bad_csv_gives_a_clear_error_loads_the_good_rows_and_half_writes_nothing(
    graph: Graph, neo4j_server, tmp_path: Path, case: Case
) -> None:
    source = tmp_path / "export"
    shutil.copytree(FIXTURES / "custom", source)
    for name, content in case.files.items():
        (source / name).write_bytes(content)
    rejects_path = tmp_path / "rejects.csv"

    result = CliRunner().invoke(cli, ["load", str(source), "--format", str(MAPPING), "--quiet",
                                      "--rejects", str(rejects_path)], env=neo4j_server.env)

    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exc_info
    assert result.exit_code == case.exit_code, (result.exit_code, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == (0 if case.exit_code == 0 else 1), result.stderr  # one line when anything went wrong
    if case.exit_code == 11:
        assert lines[0].startswith("kgcrm: error: ") and case.fatal in lines[0], lines[0]
    rejects = _rejects(rejects_path)
    got = {(r["file"], int(r["row"]), r["column"]) for r in rejects}
    assert got == {(f, row, column) for f, row, column, _ in case.rejects}, rejects
    for file, row, column, reason in case.rejects:
        reasons = [r["reason"] for r in rejects if (r["file"], int(r["row"]), r["column"]) == (file, row, column)]
        assert any(reason in text for text in reasons), (file, row, column, reasons, reason)
    # Good rows loaded; nothing of a rejected row, and nothing at all after a fatal error.
    assert _ids(graph, "Account") == case.accounts
    assert _ids(graph, "Contact") == case.contacts
    assert _ids(graph, "Opportunity") == case.deals
    dangling = graph.read("MATCH (n) WHERE NOT n:SchemaMigration AND n.id IS NULL RETURN count(n) AS c")[0]["c"]
    assert dangling == 0
    if case.check:
        case.check(graph)
