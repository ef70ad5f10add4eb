"""The API's side of the explorer (no browser): static files only, no data in what it serves, the graph library
from node_modules, a clear page when the files are missing, and the demo's sign-in link."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest

from kgcrm.graph.driver import Graph
from kgcrm.graph.errors import InvalidInput
from kgcrm.gql.explorer import create_demo_sign_in, explorer_dir, explorer_url
from test_gql_world import ApiServer, World, api_settings

LIBRARY = Path("node_modules/cytoscape/dist/cytoscape.min.js")


@pytest.fixture(scope="module")
def client(explorer_server: ApiServer):  # noqa: ANN201
    with httpx.Client(base_url=explorer_server.url, timeout=60) as http:
        http.settings = explorer_server.settings
        yield http


def test_the_page_is_static_and_holds_no_data(client: httpx.Client) -> None:
    for path in ("/explorer", "/explorer/"):
        page = client.get(path)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert '<script type="module" src="/explorer/static/app.js">' in page.text
        assert "Acme" not in page.text and "kgcrm_" not in page.text
        policy = page.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    script = client.get("/explorer/static/app.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert client.get("/explorer/static/../../pyproject.toml").status_code == 404


def test_the_graph_library_comes_from_node_modules_and_nothing_else_does(client: httpx.Client) -> None:
    if not (explorer_dir(client.settings) / LIBRARY).is_file():
        pytest.skip("explorer/node_modules is not installed: run make install (npm ci in explorer/)")
    library = client.get("/explorer/vendor/cytoscape.min.js")
    assert library.status_code == 200 and library.headers["content-type"].startswith("text/javascript")
    assert "cytoscape" in library.text[:2000].lower()
    assert client.get("/explorer/vendor/package.json").status_code == 404
    assert client.get("/explorer/vendor/..%2Fpackage-lock.json").status_code == 404


def test_missing_files_answer_with_what_to_do(neo4j_server, _session_graph: Graph, tmp_path: Path) -> None:
    settings = api_settings(neo4j_server.settings, explorer_dir=tmp_path)
    with ApiServer(settings, _session_graph) as api, httpx.Client(base_url=api.url) as empty:
        page = empty.get("/explorer/")
        assert page.status_code == 503 and "make install" in page.text
        library = empty.get("/explorer/vendor/cytoscape.min.js")
        assert library.status_code == 404 and "npm ci" in library.text


def test_the_url_carries_the_key_in_the_fragment(neo4j_server) -> None:
    settings = neo4j_server.settings.model_copy(update={"api_host": "0.0.0.0", "api_port": 8123})
    assert explorer_url(settings) == "http://127.0.0.1:8123/explorer/"
    url = explorer_url(settings, key="kgcrm_ab_c+d/e", port=9000)
    assert url.startswith("http://127.0.0.1:9000/explorer/#key=") and unquote(url.split("#key=")[1]) == "kgcrm_ab_c+d/e"


def test_the_demo_signs_in_the_owner_of_the_hottest_account(_session_graph: Graph, explorer_world: World,
                                                            client: httpx.Client) -> None:
    demo = create_demo_sign_in(_session_graph, client.settings)
    assert (demo.user_id, demo.user_name, demo.accounts) == ("u-alice", "Alice Rep", 3)  # Acme Corp, 0.9
    me = client.post("/graphql", json={"query": "{ me { role userId } }"}, headers={"Authorization": f"Bearer {demo.key}"})
    assert me.json() == {"data": {"me": {"role": "account_manager", "userId": demo.user_id}}}
    assert demo.url.endswith("/explorer/#key=" + demo.key)


def test_the_demo_needs_an_owned_account(graph: Graph, neo4j_server) -> None:
    with pytest.raises(InvalidInput, match="no User owns an Account"):
        create_demo_sign_in(graph, neo4j_server.settings)
