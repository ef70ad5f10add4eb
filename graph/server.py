"""The local Neo4j Community server that kgcrm installs from Maven Central and runs without Docker.

Layout under KGCRM_HOME (git-ignored):
    neo4j-<version>/lib/      the server's jars, resolved once by Maven and shared by every instance
    <instance>/conf|data|logs|run|plugins|import
                              one server's configuration and state (the test run uses its own)
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from kgcrm.graph.driver import Graph
from kgcrm.graph.errors import GraphAuthError, GraphError, PortInUse, ServerError
from kgcrm.graph.settings import Settings

logger = logging.getLogger(__name__)

ENTRY_POINT = "org.neo4j.server.CommunityEntryPoint"
ADMIN_TOOL = "org.neo4j.cli.AdminTool"
MIN_JAVA = 17

# The JVM flags Neo4j's own launcher passes; we start the JVM directly, so we pass them ourselves.
JVM_FLAGS = (
    "-XX:+UseG1GC",
    "-XX:-OmitStackTraceInFastThrow",
    "-XX:+UnlockExperimentalVMOptions",
    "-XX:+TrustFinalNonStaticFields",
    "-XX:+DisableExplicitGC",
    "-Djdk.nio.maxCachedBufferSize=1024",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Djdk.tls.ephemeralDHKeySize=2048",
    "-Djdk.tls.rejectClientInitiatedRenegotiation=true",
    "-Dlog4j2.disable.jmx=true",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--enable-native-access=ALL-UNNAMED",
)


@dataclass(frozen=True)
class ServerStatus:
    running: bool
    pid: int | None
    installed_version: str | None
    server_version: str | None
    uri: str
    instance_dir: Path

    def describe(self) -> str:
        state = f"running (pid {self.pid})" if self.running else "stopped"
        version = self.server_version or self.installed_version or "not installed"
        return f"neo4j {state}; version {version}; uri {self.uri}; instance {self.instance_dir}"


class LocalNeo4j:
    """Install, start, stop and inspect one local Neo4j instance described by the settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.home = settings.home.resolve()
        self.install_dir = self.home / f"neo4j-{settings.neo4j_version}"
        self.lib_dir = self.install_dir / "lib"
        self.instance_dir = self.home / settings.neo4j_instance
        self.conf_dir = self.instance_dir / "conf"
        self.pid_file = self.instance_dir / "run" / "kgcrm-neo4j.pid"
        self.console_log = self.instance_dir / "logs" / "console.log"

    # -- install ---------------------------------------------------------------------------------

    @property
    def installed(self) -> bool:
        return (self.install_dir / ".installed").exists()

    def install(self) -> bool:
        """Resolve Neo4j's jars with Maven into the install folder; False when already installed."""
        if self.installed:
            return False
        _require_java()
        mvn = shutil.which("mvn")
        if mvn is None:
            raise ServerError("Maven (mvn) is not on PATH; install Maven to fetch Neo4j, or use docker-compose.yml")
        build_dir = self.install_dir / "build"
        build_dir.mkdir(parents=True, exist_ok=True)
        pom = build_dir / "pom.xml"
        pom.write_text(resources.files("kgcrm.graph").joinpath("neo4j-pom.xml").read_text())
        staging = self.install_dir / "lib.partial"
        shutil.rmtree(staging, ignore_errors=True)
        logger.info("resolving Neo4j %s from Maven Central", self.settings.neo4j_version)
        command = [
            mvn, "-B", "-q", "-f", str(pom), "package",
            f"-Dneo4j.version={self.settings.neo4j_version}", f"-Dkgcrm.lib={staging}",
        ]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0 or not any(staging.glob("neo4j-*.jar")):
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
            raise ServerError(f"Maven could not resolve Neo4j {self.settings.neo4j_version}:\n{tail}")
        shutil.rmtree(self.lib_dir, ignore_errors=True)
        staging.rename(self.lib_dir)
        shutil.rmtree(build_dir / "target", ignore_errors=True)
        (self.install_dir / ".installed").write_text(self.settings.neo4j_version + "\n")
        return True

    # -- start / stop ----------------------------------------------------------------------------

    def running_pid(self) -> int | None:
        """The PID of this instance's server if it is alive (a stale PID file is removed)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        if _is_our_server(pid, self.instance_dir):
            return pid
        self.pid_file.unlink(missing_ok=True)
        return None

    def start(self) -> bool:
        """Start the server in the background and wait until Bolt accepts the password.

        Returns False when it was already running. Installs Neo4j first when it is missing.
        """
        if self.running_pid() is not None:
            return False
        host, port = self._loopback_bind()
        if _port_is_open(host, port):
            raise PortInUse(
                f"cannot start Neo4j on {self.settings.neo4j_uri}: port {port} on {host} is already in use "
                "by another process; stop it or set NEO4J_URI to a free port"
            )
        self.install()
        _require_java()
        for sub in ("conf", "data", "logs", "run", "plugins", "import"):
            (self.instance_dir / sub).mkdir(parents=True, exist_ok=True)
        (self.conf_dir / "neo4j.conf").write_text(self._config(host, port))
        if not (self.instance_dir / "data" / "dbms" / "auth.ini").exists():
            self._set_initial_password()

        command = [
            "java", f"-Xms{self.settings.neo4j_heap}", f"-Xmx{self.settings.neo4j_heap}", *JVM_FLAGS,
            "-cp", f"{self.lib_dir}/*:{self.instance_dir / 'plugins'}/*",
            ENTRY_POINT, f"--home-dir={self.instance_dir}", f"--config-dir={self.conf_dir}",
        ]
        with open(self.console_log, "ab") as log:
            process = subprocess.Popen(
                command, cwd=self.instance_dir, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True, env=self._java_env(),
            )
        self.pid_file.write_text(f"{process.pid}\n")
        self._wait_until_ready(process)
        return True

    def stop(self, timeout: float = 90.0) -> bool:
        """Stop the server by its PID, politely first; False when it was not running."""
        pid = self.running_pid()
        if pid is None:
            return False
        os.kill(pid, signal.SIGTERM)
        if not _wait_for_exit(pid, timeout):
            logger.warning("Neo4j (pid %s) did not stop within %ss; killing it", pid, timeout)
            os.kill(pid, signal.SIGKILL)
            _wait_for_exit(pid, 30)
        self.pid_file.unlink(missing_ok=True)
        return True

    def kill(self) -> bool:
        """Kill the server with SIGKILL, as a crash would (for fault tests)."""
        pid = self.running_pid()
        if pid is None:
            return False
        os.kill(pid, signal.SIGKILL)
        _wait_for_exit(pid, 30)
        self.pid_file.unlink(missing_ok=True)
        return True

    def status(self) -> ServerStatus:
        pid = self.running_pid()
        server_version = None
        if pid is not None:
            try:
                with Graph(self.settings) as graph:
                    server_version = graph.verify().removeprefix("Neo4j/")
            except GraphError:
                server_version = None
        installed = (self.install_dir / ".installed").read_text().strip() if self.installed else None
        return ServerStatus(
            running=pid is not None, pid=pid, installed_version=installed,
            server_version=server_version, uri=self.settings.neo4j_uri, instance_dir=self.instance_dir,
        )

    # -- internals -------------------------------------------------------------------------------

    def _loopback_bind(self) -> tuple[str, int]:
        host = self.settings.bolt_host
        address = "127.0.0.1" if host == "localhost" else host
        try:
            loopback = ipaddress.ip_address(address).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ServerError(
                f"NEO4J_URI {self.settings.neo4j_uri} is not a loopback address; the local server only "
                "listens on loopback (use bolt://127.0.0.1:PORT, or point NEO4J_URI at your own Neo4j)"
            )
        return address, self.settings.bolt_port

    def _config(self, host: str, port: int) -> str:
        directories = {sub: self.instance_dir / sub for sub in ("data", "logs", "run", "plugins", "import")}
        lines = [
            "# Written by `kgcrm neo4j start` from kgcrm's settings; edits are overwritten.",
            f"server.default_listen_address={host}",
            f"server.default_advertised_address={host}",
            f"server.bolt.listen_address={host}:{port}",
            f"server.bolt.advertised_address={host}:{port}",
            "server.bolt.tls_level=DISABLED",
            "server.http.enabled=false",
            "server.https.enabled=false",
            f"server.memory.heap.initial_size={self.settings.neo4j_heap}",
            f"server.memory.heap.max_size={self.settings.neo4j_heap}",
            f"server.memory.pagecache.size={self.settings.neo4j_pagecache}",
            "dbms.security.auth_enabled=true",
            "dbms.usage_report.enabled=false",
            "db.tx_log.rotation.retention_policy=2 files",
            # A client that hangs (rather than dies) would hold its transaction's locks forever by
            # default and stall every writer; the same bounds as docker-compose.yml.
            "db.transaction.timeout=10m",
            "db.lock.acquisition.timeout=2m",
            *(f"server.directories.{name}={path}" for name, path in directories.items()),
        ]
        return "\n".join(lines) + "\n"

    def _java_env(self) -> dict[str, str]:
        return {**os.environ, "NEO4J_HOME": str(self.instance_dir), "NEO4J_CONF": str(self.conf_dir)}

    def _set_initial_password(self) -> None:
        command = [
            "java", "-cp", f"{self.lib_dir}/*", ADMIN_TOOL,
            "dbms", "set-initial-password", self.settings.neo4j_password,
        ]
        result = subprocess.run(command, capture_output=True, text=True, env=self._java_env(), cwd=self.instance_dir)
        if result.returncode != 0:
            detail = (result.stdout + result.stderr).strip().splitlines()[-1:]
            raise ServerError(f"could not set Neo4j's initial password: {' '.join(detail)}")

    def _wait_until_ready(self, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + self.settings.neo4j_start_timeout_seconds
        last_error = "no answer yet"
        with Graph(self.settings) as graph:
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    self.pid_file.unlink(missing_ok=True)
                    raise ServerError(
                        f"Neo4j exited with code {process.returncode} while starting; "
                        f"last lines of {self.console_log}:\n{_tail(self.console_log)}"
                    )
                try:
                    graph.verify()
                    return
                except GraphAuthError:
                    raise ServerError(
                        f"Neo4j started but refused NEO4J_PASSWORD; the data in {self.instance_dir / 'data'} "
                        "was created with another password"
                    ) from None
                except GraphError as exc:
                    last_error = str(exc)
                time.sleep(0.5)
        raise ServerError(
            f"Neo4j did not accept connections on {self.settings.neo4j_uri} within "
            f"{self.settings.neo4j_start_timeout_seconds:.0f}s ({last_error}); see {self.instance_dir / 'logs'}"
        )


def _require_java() -> None:
    java = shutil.which("java")
    if java is None:
        raise ServerError(f"Java {MIN_JAVA}+ is not on PATH; install a JDK to run Neo4j, or use docker-compose.yml")
    output = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    match = re.search(r'version "(\d+)', output)
    if match and int(match.group(1)) < MIN_JAVA:
        raise ServerError(f"Neo4j needs Java {MIN_JAVA} or newer; `java -version` says {match.group(1)}")


def _is_our_server(pid: int, instance_dir: Path) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return ENTRY_POINT in cmdline and f"--home-dir={instance_dir}" in cmdline


def _port_is_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


def _wait_for_exit(pid: int, timeout: float) -> bool:
    """Wait until `pid` has exited; reaps it when this process started it, so no zombie lingers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            reaped, _ = os.waitpid(pid, os.WNOHANG)
            if reaped == pid:
                return True
        except ChildProcessError:
            # Not our child (started by another `kgcrm neo4j start`): watch it instead.
            if not _is_alive(pid):
                return True
        time.sleep(0.2)
    return False


def _is_alive(pid: int) -> bool:
    """True while any thread of `pid` runs.

    A JVM's main thread turns zombie before its other threads have exited and before its sockets
    close, so a zombie leader with live threads still holds the Bolt port: it counts as alive.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        threads = len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z" or threads > 1


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no output)"
