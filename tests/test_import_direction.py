"""The layers import in one direction: graph/ nothing of ours; the others graph/; the API stays light."""

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ALLOWED = {
    "graph": {"graph"},
    "loaders": {"graph", "loaders"},
    "ml": {"graph", "ml"},
    "actions": {"graph", "ml", "actions"},
    "gql": {"graph", "actions", "gql"},
}
PART_OF = {"kgcrm." + name: name for name in ALLOWED}


def _kgcrm_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return {name for name in found if name == "kgcrm" or name.startswith("kgcrm.")}


def test_each_layer_imports_only_what_it_builds_on() -> None:
    problems = []
    for layer, allowed in ALLOWED.items():
        for path in (REPO / layer).rglob("*.py"):
            for module in _kgcrm_imports(path):
                target = next((part for prefix, part in PART_OF.items() if module == prefix or module.startswith(prefix + ".")), None)
                if target not in allowed:
                    problems.append(f"{path.relative_to(REPO)} imports {module}")
    assert not problems, "\n".join(problems)


def test_the_api_and_the_cli_start_without_torch() -> None:
    modules = ["kgcrm.main"] + sorted(
        "kgcrm.gql." + ".".join(p.relative_to(REPO / "gql").with_suffix("").parts)
        for p in (REPO / "gql").rglob("*.py")
        if p.name != "__init__.py"
    )
    code = "import importlib, sys\n" + "".join(f"importlib.import_module({m!r})\n" for m in modules) + "print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO / "tests", capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", "importing the API or the CLI loads torch"
