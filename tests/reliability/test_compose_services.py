"""docker-compose.yml checked structurally (no Docker here): every production process, healthchecks, shared
volumes, real `kgcrm` commands, loopback-only ports, and a Prometheus config that scrapes what exists.

tests/test_compose.py checks the Neo4j service and the variable names; this covers the rest of the file.
"""

from __future__ import annotations

from pathlib import Path

import click
import pytest
import yaml

from conftest import REPO_ROOT
from kgcrm.main import cli

COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
KGCRM_SERVICES = ("api", "scorer", "dispatcher", "scheduler")


def _command_exists(argv: list[str]) -> bool:
    """Whether `argv` (after `kgcrm`) names a real command of the CLI, and its options parse."""
    ctx = click.Context(cli)
    command: click.Command = cli
    args = list(argv)
    while isinstance(command, click.Group) and args and not args[0].startswith("-"):
        sub = command.get_command(ctx, args[0])
        if sub is None:
            return False
        command, args = sub, args[1:]
    command.make_context(command.name, args, resilient_parsing=False)
    return True


def test_every_production_process_is_a_service() -> None:
    assert {"neo4j", *KGCRM_SERVICES, "prometheus"} <= set(SERVICES)
    assert SERVICES["prometheus"]["profiles"] == ["monitoring"]  # optional


@pytest.mark.parametrize("name", KGCRM_SERVICES)
def test_kgcrm_services_run_real_commands_on_the_shared_state_after_neo4j_is_healthy(name: str) -> None:
    service = SERVICES[name]
    command = service["command"]
    assert command[0] == "kgcrm"
    if name == "scheduler":  # kgcrm schedule -- kgcrm retrain ...
        split = command.index("--")
        assert _command_exists(command[1:]) and command[split + 1] == "kgcrm" and _command_exists(command[split + 2:])
        assert command[split + 2] == "retrain"
    else:
        assert _command_exists(command[1:])
    assert service["depends_on"]["neo4j"]["condition"] == "service_healthy"
    assert service["restart"] == "unless-stopped"
    mounts = {v.split(":")[0]: v.split(":")[1] for v in service["volumes"]}
    home = service["environment"]["KGCRM_HOME"]
    assert mounts.get("kgcrm-state") == home and "kgcrm-state" in COMPOSE["volumes"]
    assert service["environment"]["KGCRM_MODEL_DIR"].startswith(home + "/")  # every scorer sees the same model files
    assert service["environment"]["NEO4J_URI"] == "bolt://neo4j:7687"


@pytest.mark.parametrize("name", ["neo4j", "api", "dispatcher"])
def test_long_running_servers_have_healthchecks(name: str) -> None:
    check = SERVICES[name]["healthcheck"]
    assert check["test"][0] in ("CMD", "CMD-SHELL") and check["retries"] >= 3 and "interval" in check
    if name == "api":
        assert "/readyz" in " ".join(check["test"])


def test_ports_are_published_on_loopback_only() -> None:
    for name, service in SERVICES.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"


def test_neo4j_keeps_data_and_backups_on_named_volumes() -> None:
    mounts = {v.split(":")[1]: v.split(":")[0] for v in SERVICES["neo4j"]["volumes"]}
    assert mounts["/data"] in COMPOSE["volumes"] and mounts["/backups"] in COMPOSE["volumes"]


def test_prometheus_scrapes_the_api_and_the_dispatcher_where_they_listen() -> None:
    mount = next(v for v in SERVICES["prometheus"]["volumes"] if "prometheus.yml" in v)
    config = yaml.safe_load((REPO_ROOT / Path(mount.split(":")[0])).read_text())
    targets = {t for job in config["scrape_configs"] for group in job["static_configs"] for t in group["targets"]}
    dispatcher = SERVICES["dispatcher"]["command"]
    assert targets == {"api:8000", f"dispatcher:{dispatcher[dispatcher.index('--metrics-port') + 1]}"}
    assert "--port" in SERVICES["api"]["command"] and SERVICES["api"]["command"][-1] == "8000"
    # The dispatcher's metrics listen on KGCRM_API_HOST: it must be reachable from the prometheus container.
    assert SERVICES["dispatcher"]["environment"]["KGCRM_API_HOST"] == "0.0.0.0"
