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
REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A loopback port nothing listens on right now (for a benchmark's own Neo4j, API or receiver)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bench_settings(name: str, heap: str = "2g", pagecache: str = "1g", **overrides: object) -> Settings:
    """Settings for a benchmark's own Neo4j instance (`bench-NAME-PID` under KGCRM_HOME) on a free port."""
    return Settings.load(
        NEO4J_URI=f"bolt://127.0.0.1:{free_port()}", NEO4J_PASSWORD=f"bench-{name}-password",
        KGCRM_HOME=os.environ.get("KGCRM_HOME", str(REPO / ".kgcrm")),
        KGCRM_NEO4J_INSTANCE=f"bench-{name}-{os.getpid()}", KGCRM_NEO4J_HEAP=heap, KGCRM_NEO4J_PAGECACHE=pagecache,
        **overrides,
    )


def stat_cpu_seconds(stat: str) -> float:
    """User + system CPU seconds from the text of a /proc/<pid>/stat or /proc/<pid>/task/<tid>/stat file."""
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process so far (0 once it is gone)."""
    try:
        return stat_cpu_seconds(Path(f"/proc/{pid}/stat").read_text())
    except (FileNotFoundError, ProcessLookupError):
        return 0.0


def compiler_seconds(pid: int) -> float:
    """CPU seconds so far of a JVM's JIT compiler threads (C1 and C2; Linux /proc), NaN when unreadable."""
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return float("nan")
    total = 0.0
    for thread in threads:
        try:
            stat = Path(f"/proc/{pid}/task/{thread}/stat").read_text()
        except OSError:
            continue
        if "CompilerThre" in stat[stat.index("(") + 1:stat.rindex(")")]:
            total += stat_cpu_seconds(stat)
    return total


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
