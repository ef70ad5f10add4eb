"""GraphQL over HTTP: the exported schema matches the code, POST and GET, status codes, content types, GraphiQL."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from kgcrm.gql.schema import schema_sdl
from test_gql_world import (  # noqa: F401 - fixtures
    ACCOUNT_KEYS,
    ApiServer,
    api_settings,
    as_,
    http,
    server,
    world,
)

REPO = Path(__file__).resolve().parent.parent
KGCRM = str(Path(sys.executable).parent / "kgcrm")


def test_the_exported_schema_file_matches_the_code() -> None:
    exported = (REPO / "gql" / "schema.graphql").read_text()
    assert exported == schema_sdl(), "gql/schema.graphql is stale: run `kgcrm graphql-schema`"


def test_the_schema_export_command_checks_the_file(tmp_path: Path) -> None:
    stale = tmp_path / "schema.graphql"
    stale.write_text("type Query { stale: Int }\n")
    check = subprocess.run([KGCRM, "graphql-schema", "--check", "--output", str(stale)],
                           capture_output=True, text=True)
    assert check.returncode == 1 and "out of date" in check.stderr
    subprocess.run([KGCRM, "graphql-schema", "--output", str(stale)], check=True, capture_output=True)
    assert stale.read_text() == schema_sdl()


def test_post_json_answers_json(as_) -> None:
    response = as_("admin").post(ACCOUNT_KEYS)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["data"]["accounts"]["totalCount"] == 6


def test_get_runs_queries_but_not_mutations(http: httpx.Client, world) -> None:
    auth = {"Authorization": f"Bearer {world.keys['admin']}"}
    ok = http.get("/graphql", params={"query": "{ me { role userId } }"}, headers=auth)
    assert ok.status_code == 200 and ok.json() == {"data": {"me": {"role": "admin", "userId": None}}}
    mutation = 'mutation { rollbackModel { __typename } }'
    refused = http.get("/graphql", params={"query": mutation}, headers=auth)
    assert refused.status_code == 405


def test_malformed_requests_get_400(http: httpx.Client, world) -> None:
    auth = {"Authorization": f"Bearer {world.keys['admin']}", "content-type": "application/json"}
    assert http.post("/graphql", content=b"{not json", headers=auth).status_code == 400
    assert http.post("/graphql", json={"variables": {}}, headers=auth).status_code == 400


def test_a_syntax_error_is_reported_with_its_location(as_) -> None:
    response = as_("admin").post("{ accounts(first: 1) { edges { node { name } }")
    body = response.json()
    assert body["errors"][0]["locations"] and "Syntax Error" in body["errors"][0]["message"]


def test_graphiql_is_served_when_enabled_and_hidden_in_production(http: httpx.Client, neo4j_server,
                                                                  _session_graph) -> None:
    page = http.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()
    production = api_settings(neo4j_server.settings, api_production=True)
    with ApiServer(production, _session_graph) as api, httpx.Client(base_url=api.url) as client:
        assert client.get("/graphql", headers={"accept": "text/html"}).status_code == 404


def test_introspection_is_off_in_production(neo4j_server, _session_graph, world) -> None:
    production = api_settings(neo4j_server.settings, api_production=True)
    auth = {"Authorization": f"Bearer {world.keys['admin']}"}
    with ApiServer(production, _session_graph) as api, httpx.Client(base_url=api.url) as client:
        body = client.post("/graphql", json={"query": "{ __schema { types { name } } }"}, headers=auth).json()
        assert "introspection" in body["errors"][0]["message"].lower()
        assert client.post("/graphql", json={"query": "{ me { role } }"}, headers=auth).json()["data"]["me"]
