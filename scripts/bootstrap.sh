#!/usr/bin/env bash
# Creates (once) the virtual environment with every Python package kgcrm needs, then installs this
# checkout into it in editable mode. The environment lives in a cache outside the clone, keyed by
# the dependency lists in pyproject.toml, so a fresh clone on the same machine reuses it; nothing
# depends on the cache being there.
set -euo pipefail

PYTHON=${PYTHON:-python3}
VENV=${VENV:?VENV must name the virtual environment folder}
here=$(pwd)

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "kgcrm needs Python 3.11 or newer; '$PYTHON' is $("$PYTHON" --version 2>&1 || echo missing)." >&2
    echo "Set PYTHON=/path/to/python3.11 and run make again." >&2
    exit 2
fi

mkdir -p "$(dirname "$VENV")"
# One installer at a time per environment (several checkouts or agents may share it).
exec 9>"$VENV.lock"
flock 9

if [ ! -f "$VENV/.kgcrm-deps-complete" ]; then
    echo "==> creating the Python environment in $VENV (first run only; torch makes it a few GB)"
    [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip "setuptools>=69" wheel
    # The project's dependencies (with extras), without the project itself.
    "$VENV/bin/python" - <<'PY' > "$VENV/requirements.txt"
import tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
for requirement in project["dependencies"]:
    print(requirement)
for extra in project.get("optional-dependencies", {}).values():
    for requirement in extra:
        print(requirement)
PY
    "$VENV/bin/python" -m pip install --progress-bar off -r "$VENV/requirements.txt"
    touch "$VENV/.kgcrm-deps-complete"
    # Environments for older dependency lists: keep the two most recent, remove the rest.
    ls -dt "$(dirname "$VENV")"/venv-* 2>/dev/null | grep -v '\.lock$' | tail -n +3 | while read -r old; do
        [ "$old" = "$VENV" ] || rm -rf "$old" "$old.lock"
    done
fi

# The editable install must point at this checkout (another clone may have installed itself last).
installed=$("$VENV/bin/python" -c 'import kgcrm, os; print(os.path.dirname(os.path.abspath(kgcrm.__file__)))' 2>/dev/null || true)
if [ "$installed" != "$here/cli" ]; then
    # setuptools warns loudly about editable installs; keep its output for when it fails.
    if ! "$VENV/bin/python" -m pip install --quiet --no-deps --no-build-isolation -e . > "$VENV/editable-install.log" 2>&1; then
        cat "$VENV/editable-install.log" >&2
        exit 1
    fi
fi
