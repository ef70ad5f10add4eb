"""Small helpers every benchmark script shares."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kgcrm.graph.settings import Settings

KGCRM = str(Path(sys.executable).parent / "kgcrm")


def free_port() -> int:
    """A loopback port nothing listens on right now (for a benchmark's own Neo4j, API or receiver)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def kgcrm_env(settings: Settings) -> dict[str, str]:
    """The environment that points `kgcrm` child processes at a benchmark's own Neo4j and model folder."""
    return {
        **os.environ, "NEO4J_URI": settings.neo4j_uri, "NEO4J_PASSWORD": settings.neo4j_password,
        "KGCRM_HOME": str(settings.home), "KGCRM_NEO4J_INSTANCE": settings.neo4j_instance,
        "KGCRM_MODEL_DIR": str(settings.model_dir), "KGCRM_ML_THREADS": str(settings.ml_threads),
    }


def run_kgcrm(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS of this very child in GiB, stdout) of one kgcrm command."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        child = subprocess.Popen([KGCRM, *args], env=env, stdout=out, stderr=err, text=True)
        # wait4 gives this child's own resource usage, not the maximum over every earlier child.
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if child.returncode != 0:
        raise SystemExit(f"kgcrm {' '.join(args)} failed ({child.returncode}): {stderr.strip()[-500:]}")
    return wall, usage.ru_maxrss / 2**20, stdout
