"""The package layout: one import package `kgcrm`, no generic top-level modules, sound dependencies."""

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SUBPACKAGES = ("graph", "gql", "ml", "loaders", "actions")


def _probe(code: str, tmp_path: Path) -> dict:
    """Run `code` in a fresh interpreter outside the checkout, so only installed modules are visible."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_subpackages_import_under_kgcrm_and_map_to_the_root_folders(tmp_path: Path) -> None:
    code = (
        "import importlib, json\n"
        f"names = {SUBPACKAGES!r}\n"
        "print(json.dumps({n: importlib.import_module('kgcrm.' + n).__file__ for n in names}))"
    )
    files = _probe(code, tmp_path)
    for name in SUBPACKAGES:
        assert Path(files[name]).resolve().parent.name == name


def test_nothing_is_installed_under_a_generic_top_level_name(tmp_path: Path) -> None:
    code = (
        "import importlib.util, json\n"
        "specs = {n: importlib.util.find_spec(n) for n in ('graph', 'gql', 'ml', 'loaders', 'actions', 'cli')}\n"
        "print(json.dumps({n: (s.origin if s else None) for n, s in specs.items()}))"
    )
    origins = _probe(code, tmp_path)
    for name, origin in origins.items():
        if name == "gql" and origin is not None:
            # `gql` is the GraphQL client from PyPI (a test dependency), never our folder.
            assert not Path(origin).resolve().is_relative_to(REPO), origin
        else:
            assert origin is None, f"a top-level module {name!r} is importable from {origin}"


def test_dependencies_have_lower_bounds_and_the_required_versions() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    for requirement in requirements:
        assert ">=" in requirement, f"{requirement} has no lower bound"
    names = {re.split(r"[\[<>=]", r, maxsplit=1)[0].lower() for r in requirements}
    assert {"neo4j", "neo4j-rust-ext", "strawberry-graphql", "pydantic-settings"} <= names
    assert "py2neo" not in names
    strawberry = next(r for r in requirements if r.startswith("strawberry-graphql"))
    minimum = tuple(int(p) for p in strawberry.split(">=")[1].split(",")[0].split("."))
    assert minimum >= (0, 315, 7), "strawberry-graphql below 0.315.7 lets fragments bypass MaxAliasesLimiter"
    assert tuple(int(p) for p in project["requires-python"].removeprefix(">=").split(".")) >= (3, 11)


def test_the_root_has_the_documented_layout() -> None:
    for path in (*SUBPACKAGES, "tests", "bench", "docs", "docker-compose.yml", "pyproject.toml", "Makefile", "README.md", ".ci/run"):
        assert (REPO / path).exists(), f"{path} is missing"
