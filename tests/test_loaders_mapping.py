"""The mapping format and the value parsers, without a database: validation messages, types, CSV reading."""

from __future__ import annotations

import codecs
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from kgcrm.graph.errors import LoadFailed, MappingError
from kgcrm.loaders.csvfile import open_csv, undecodable
from kgcrm.loaders.mapping import BUILTIN_FORMATS, PropertySpec, load_mapping, parse_mapping
from kgcrm.loaders.values import (
    Problem,
    compile_key,
    compile_key_column,
    compile_property,
    compile_property_column,
    scalar_converter,
    to_bool,
    to_date,
    to_datetime,
    to_int,
)

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize("name", BUILTIN_FORMATS)
def test_built_in_formats_are_valid_mappings_named_after_their_source(name: str) -> None:
    mapping, origin = load_mapping(name)
    assert mapping.name == name
    assert "built-in" in origin
    assert mapping.files and all(spec.file.endswith(".csv") for spec in mapping.files)


def test_a_custom_mapping_file_loads_by_path() -> None:
    mapping, origin = load_mapping(str(FIXTURES / "custom" / "mapping.yml"))
    assert mapping.name == "mycrm"
    assert origin.endswith("mapping.yml")
    assert [spec.label.value for spec in mapping.files] == ["Account", "Contact", "Opportunity"]


_VALID_FILE = "  - file: a.csv\n    label: Account\n    key: id\n"


@pytest.mark.parametrize(
    ("text", "path", "why"),
    [
        ("name: Bad Name\nfiles:\n" + _VALID_FILE, "name", "lower-case letter"),
        ("name: x\nfiles: []\n", "files", "at least 1 item"),
        ("name: x\nfiles:\n  - file: a.csv\n    label: Acount\n    key: id\n", "files[0].label", "'Acount' is not a CRM label"),
        ("name: x\nfiles:\n  - file: a.csv\n    label: SchemaMigration\n    key: id\n", "files[0].label", "not a CRM label"),
        ("name: x\nfiles:\n  - file: a.csv\n    label: Account\n", "files[0]", "needs `key`"),
        ("name: x\nfiles:\n  - file: ../a.csv\n    label: Account\n    key: id\n", "files[0].file", "inside the source folder"),
        (
            "name: x\nfiles:\n" + _VALID_FILE + "    properties:\n      employees: {column: e, type: money}\n",
            "files[0].properties.employees.type", "'string'",
        ),
        (
            "name: x\nfiles:\n" + _VALID_FILE + "    properties:\n      stage: {column: s, type: enum}\n",
            "files[0].properties.stage", "an enum needs `values`",
        ),
        (
            "name: x\nfiles:\n" + _VALID_FILE + "    properties:\n      stage: {column: s, type: enum, values: [a], aliases: {b: c}}\n",
            "files[0].properties.stage", "alias 'b' points to 'c'",
        ),
        (
            "name: x\nfiles:\n" + _VALID_FILE + "    properties:\n      updated_at: u\n",
            "files[0].properties", "set by the loader itself",
        ),
        (
            "name: x\nfiles:\n" + _VALID_FILE + "    properties:\n      n: {column: a, value: b}\n",
            "files[0].properties.n", "exactly one of column",
        ),
        (
            "name: x\nfiles:\n" + _VALID_FILE + "    relationships:\n      - {type: OWNS_IT, column: o, to: User}\n",
            "files[0].relationships[0].type", "'WORKS_AT'",
        ),
        (
            "name: x\nfiles:\n" + _VALID_FILE
            + "    relationships:\n      - {type: ABOUT, column: w, to: [Account], resolve: prefix, prefixes: {'701': Campaign}}\n",
            "files[0].relationships[0]", "not among this reference's labels",
        ),
        ("name: x\nfiles:\n" + _VALID_FILE + "    colour: red\n", "files[0].colour", "Extra inputs are not permitted"),
        ("name: x\nfiles: [\n", "not valid YAML", ""),
    ],
)
def test_mapping_errors_name_the_file_the_path_and_why(text: str, path: str, why: str) -> None:
    with pytest.raises(MappingError) as error:
        parse_mapping(text, "my-mapping.yml")
    message = str(error.value)
    assert message.startswith("my-mapping.yml: ")
    assert f"my-mapping.yml: {path}" in message
    assert why in message


def test_an_unknown_format_that_is_not_a_file_is_a_mapping_error() -> None:
    with pytest.raises(MappingError, match="neither a built-in format"):
        load_mapping("dynamics365")


def _get(spec: dict, header: list[str], row: list[str], max_length: int = 100):
    return compile_property("p", PropertySpec.model_validate(spec), {h: i for i, h in enumerate(header)}, max_length)(row)


def test_scalar_types_parse_or_say_why_not() -> None:
    assert to_int("42") == 42 and to_int("-7") == -7 and to_int("30.00") == 30
    for bad in ("4.5", "12a", "1e999"):
        with pytest.raises(ValueError):
            to_int(bad)
    assert to_bool("TRUE") is True and to_bool("no") is False
    with pytest.raises(ValueError, match="not a boolean"):
        to_bool("maybe")
    assert to_date("2017-03-01") == date(2017, 3, 1)
    assert to_date("2017-03-01T23:10:00.000Z") == date(2017, 3, 1)
    assert to_date("31/12/2023", "%d/%m/%Y") == date(2023, 12, 31)
    with pytest.raises(ValueError, match="is not a date"):
        to_date("2017-02-30")
    assert to_datetime("2017-03-01T14:05:00.000Z") == datetime(2017, 3, 1, 14, 5, tzinfo=UTC)
    assert to_datetime("2023-01-15 10:23") == datetime(2023, 1, 15, 10, 23, tzinfo=UTC)
    assert to_datetime("2023-01-15T12:00:00+02:00") == datetime(2023, 1, 15, 10, 0, tzinfo=UTC)
    assert to_datetime("2016-10-20") == datetime(2016, 10, 20, tzinfo=UTC)
    with pytest.raises(ValueError, match="is not a number"):
        scalar_converter(PropertySpec(column="a", type="float"))("n/a")
    with pytest.raises(ValueError, match="finite"):
        scalar_converter(PropertySpec(column="a", type="float"))("nan")


def test_enums_map_values_and_aliases_case_insensitively() -> None:
    spec = {"column": "p", "type": "enum", "values": ["GTX Pro", "MG Special"], "aliases": {"GTXPro": "GTX Pro"}}
    assert _get(spec, ["p"], ["gtxpro"]) == "GTX Pro"
    assert _get(spec, ["p"], [" MG Special "]) == "MG Special"
    with pytest.raises(Problem, match="is not one of 'GTX Pro', 'MG Special'"):
        _get(spec, ["p"], ["GTX Ultra"])
    mapped = {"column": "s", "type": "enum", "values": {"Won": True, "Lost": True}, "other": False}
    assert _get(mapped, ["s"], ["won"]) is True
    assert _get(mapped, ["s"], ["Engaging"]) is False
    kept = {"column": "r", "type": "enum", "values": {"Champion": "champion"}, "keep_unknown": True}
    assert _get(kept, ["r"], ["Gatekeeper"]) == "Gatekeeper"


def test_property_options_blank_default_required_join_when_transform_and_length() -> None:
    assert _get({"column": "a"}, ["a"], ["  "]) is None
    assert _get({"column": "a", "default": "task"}, ["a"], [""]) == "task"
    with pytest.raises(Problem, match="a value is required"):
        _get({"column": "a", "required": True}, ["a"], [""])
    assert _get({"columns": ["f", "l"]}, ["f", "l"], ["Ada ", " Lovelace"]) == "Ada Lovelace"
    assert _get({"columns": ["f", "l"]}, ["f", "l"], ["", "Lovelace"]) == "Lovelace"
    assert _get({"column": "d", "type": "date", "when": {"column": "c", "in": [True]}}, ["d", "c"], ["2020-01-02", "false"]) is None
    assert _get({"column": "d", "type": "date", "when": {"column": "c", "in": [True]}}, ["d", "c"], ["2020-01-02", "TRUE"]) == date(2020, 1, 2)
    assert _get({"column": "e", "transform": "email"}, ["e"], [" Ada@Example.COM "]) == "ada@example.com"
    assert _get({"column": "w", "transform": "domain"}, ["w"], ["https://www.Acme.com/about"]) == "acme.com"
    with pytest.raises(Problem, match="is not a company web domain"):
        _get({"column": "w", "transform": "domain"}, ["w"], ["acme..com"])
    with pytest.raises(Problem, match="more than the maximum 5"):
        _get({"column": "a"}, ["a"], ["abcdefgh"], max_length=5)
    assert _get({"column": "missing_column"}, ["a"], ["x"]) is None
    assert _get({"value": "manager"}, ["a"], ["x"]) == "manager"


# Columns of good and bad cells: the column-wise path must give exactly what the row-by-row path gives.
_COLUMN_SPECS = [
    {"column": "a"},
    {"column": "a", "type": "int"},
    {"column": "a", "type": "float"},
    {"column": "a", "type": "bool"},
    {"column": "a", "type": "date"},
    {"column": "a", "type": "datetime"},
    {"column": "a", "type": "datetime", "format": "%d/%m/%Y"},
    {"column": "a", "type": "datetime", "required": True},
    {"column": "a", "default": "task"},
    {"column": "a", "type": "enum", "values": {"x": 1, "y": 2}, "other": 0},
    {"column": "a", "type": "enum", "values": ["x", "Y"]},
    {"column": "a", "transform": "email"},
    {"columns": ["a", "b"]},
    {"column": "a", "type": "datetime", "when": {"column": "b", "in": [True]}},
    {"column": "a", "type": "int", "when": {"column": "b", "in": [True]}, "default": 5},
    {"column": "a", "type": "float", "when": {"column": "missing", "in": ["x"]}},
    {"column": "missing"},
    {"value": "constant"},
]
_COLUMN_CELLS = [
    ["1", "true"], [" 2 ", "TRUE"], ["", "false"], ["3.0", ""], ["4.5", "true"], ["nan", "x"], ["inf", "true"],
    ["2020-01-02", "true"], ["2020-01-02T03:04:05Z", "true"], ["2020-02-30", "true"], ["02/03/2021", "true"],
    ["yes", "true"], ["x", "y"], ["Y", "true"], ["ada@example.com", "b"], ["a" * 30, "true"], ["1e400", "true"],
]


@pytest.mark.parametrize("spec", _COLUMN_SPECS, ids=[str(i) for i in range(len(_COLUMN_SPECS))])
def test_column_wise_conversion_equals_row_by_row_conversion(spec: dict) -> None:
    index = {"a": 0, "b": 1}
    parsed = PropertySpec.model_validate(spec)
    one = compile_property("p", parsed, index, 20)
    column = compile_property_column("p", parsed, index, 20)
    for rows in ([r for r in _COLUMN_CELLS if r[0] and len(r[0]) < 5][:3], _COLUMN_CELLS, []):
        expected_values, expected_problems = [], []
        for position, row in enumerate(rows):
            try:
                expected_values.append(one(row))
            except Problem as problem:
                expected_values.append(None)
                expected_problems.append((position, problem.column, problem.value, problem.reason))
        values, problems = column(rows)
        assert values == expected_values
        assert [(i, p.column, p.value, p.reason) for i, p in problems] == expected_problems


def test_column_wise_keys_equal_row_by_row_keys() -> None:
    rows = [["K1"], [" K2 "], [""], ["K" * 30]]
    for optional in (False, True):
        one = compile_key("id", {"id": 0}, 20, optional=optional)
        values, problems = compile_key_column("id", {"id": 0}, 20, optional=optional)(rows)
        assert values[:2] == ["K1", "K2"] and values[3] is None
        assert values[2] is None and one(rows[2]) is None if optional else True
        assert [i for i, _ in problems] == ([3] if optional else [2, 3])
        assert compile_key_column("id", {"id": 0}, 20)(rows[:2]) == (["K1", "K2"], [])


def test_csv_reading_drops_a_utf8_bom_reads_utf16_and_flags_bad_bytes(tmp_path: Path) -> None:
    bom = tmp_path / "bom.csv"
    bom.write_bytes(codecs.BOM_UTF8 + "id,name\n1,Zoë\n".encode())
    info, rows = open_csv(bom, ",")
    assert info.header == ["id", "name"] and info.valid_utf8
    assert list(rows) == [(2, ["1", "Zoë"])]

    utf16 = tmp_path / "utf16.csv"
    utf16.write_bytes("id,name\r\n1,Zoë\r\n".encode("utf-16"))
    info, rows = open_csv(utf16, ",")
    assert info.header == ["id", "name"]
    assert list(rows) == [(2, ["1", "Zoë"])]

    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes(b"id,name\n1,ok\n2,Zo\xeb\n\n3,\"multi\nline\"\n4,a,b\n")
    info, rows = open_csv(latin1, ",")
    assert not info.valid_utf8
    read = list(rows)
    assert read[0] == (2, ["1", "ok"])
    assert read[1][0] == 3 and undecodable(read[1][1])
    assert read[2] == (5, ["3", "multi\nline"])
    assert read[3] == (6, "has 3 fields, the header has 2")


def test_an_empty_file_or_a_header_with_bad_bytes_is_fatal(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(LoadFailed, match="empty"):
        open_csv(empty, ",")
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"id,n\xe4me\n1,x\n")
    with pytest.raises(LoadFailed, match="header row is not valid UTF-8"):
        open_csv(bad, ",")


def test_a_replace_rule_skips_its_delete_on_new_nodes_only_when_no_other_rule_makes_that_relationship(tmp_path: Path) -> None:
    from kgcrm.loaders.load import LoadOptions, Loader

    def alone(text: str) -> dict[tuple[str, str, str], bool]:
        loader = Loader(None, parse_mapping(text, "m.yml"), FIXTURES / "custom",
                        LoadOptions(dry_run=True, rejects_path=tmp_path / "rejects.csv"))
        loader.run()
        return {(c.spec.file, r.rel_type.value, r.target.endpoint.column): r.alone for c in loader.files for r in c.rules}

    base = (FIXTURES / "custom" / "mapping.yml").read_text("utf-8")
    assert alone(base)[("people.csv", "WORKS_AT", "company_id")] is True
    # A second WORKS_AT from the same contacts to accounts: each rule's delete must see the other's relationships.
    doubled = base.replace("""    relationships:
      - type: WORKS_AT
""", """    relationships:
      - type: WORKS_AT
        column: company_id
        to: Account
      - type: WORKS_AT
""")
    assert doubled != base
    flags = alone(doubled)
    assert flags[("people.csv", "WORKS_AT", "company_id")] is False
    assert flags[("deals.csv", "FOR_ACCOUNT", "company_id")] is True
    # Made from the other end (an Account file's rule pointing at contacts) counts too.
    reverse = base.replace("""    properties:
      name: company
""", """    relationships:
      - type: WORKS_AT
        column: company_id
        to: Contact
        direction: in
    properties:
      name: company
""")
    assert reverse != base
    assert alone(reverse)[("people.csv", "WORKS_AT", "company_id")] is False


def test_batches_prepared_ahead_arrive_in_order_and_a_failure_while_preparing_reaches_the_writer() -> None:
    from kgcrm.loaders.load import _prepared_ahead

    assert list(_prepared_ahead(iter(range(50)), depth=2)) == list(range(50))

    def failing():
        yield 1
        raise ValueError("bad batch")

    seen = []
    with pytest.raises(ValueError, match="bad batch"):
        for item in _prepared_ahead(failing()):
            seen.append(item)
    assert seen == [1]
    # A writer that stops early (Neo4j failed) stops the preparing thread too.
    ahead = _prepared_ahead(iter(range(1000)), depth=2)
    assert next(ahead) == 0
    ahead.close()
