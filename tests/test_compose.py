"""docker-compose.yml: the services users expect, a real healthcheck, and only variables kgcrm knows."""

import re
from pathlib import Path

import yaml

from kgcrm.graph.settings import Settings

COMPOSE = yaml.safe_load((Path(__file__).resolve().parent.parent / "docker-compose.yml").read_text())
# The official image's own variables: NEO4J_AUTH, and NEO4J_<setting with . as _ and _ as __>.
NEO4J_IMAGE_VARIABLE = re.compile(r"^NEO4J_(AUTH|(server|dbms|db|initial)_[A-Za-z0-9_]+)$")


def _interpolated(value: object) -> set[str]:
    return set(re.findall(r"\$\{([A-Z0-9_]+)", str(value)))


def test_services_neo4j_api_and_scheduler() -> None:
    assert {"neo4j", "api", "scheduler"} <= set(COMPOSE["services"])


def test_neo4j_uses_the_same_major_version_with_a_healthcheck_and_a_named_volume() -> None:
    neo4j = COMPOSE["services"]["neo4j"]
    assert neo4j["image"].startswith("neo4j:5.26")
    assert Settings().neo4j_version.startswith("5.26")
    assert "cypher-shell" in " ".join(neo4j["healthcheck"]["test"])
    volume_names = {v.split(":")[0] for v in neo4j["volumes"]}
    assert "neo4j-data" in volume_names and "neo4j-data" in COMPOSE["volumes"]
    for port in neo4j.get("ports", []):
        assert port.startswith("127.0.0.1:"), "Bolt must not be published on every interface"


def test_api_and_scheduler_wait_for_a_healthy_neo4j() -> None:
    for name in ("api", "scheduler"):
        assert COMPOSE["services"][name]["depends_on"]["neo4j"]["condition"] == "service_healthy"


def test_every_variable_is_one_the_settings_know() -> None:
    known = Settings.env_names()
    for name, service in COMPOSE["services"].items():
        environment = service.get("environment", {})
        for variable, value in environment.items():
            if name == "neo4j":
                assert NEO4J_IMAGE_VARIABLE.match(variable), f"neo4j sets {variable}, not an image variable"
            else:
                assert variable in known, f"{name} sets {variable}, which kgcrm's settings do not read"
            unknown = _interpolated(value) - known
            assert not unknown, f"{name}.{variable} interpolates {unknown}, which kgcrm's settings do not read"
