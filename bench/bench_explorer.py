"""Benchmark of the explorer page: time to first render of a 1,000-node neighbourhood in headless Chromium.

The script starts its own Neo4j (a throwaway local instance on a free port), writes the API benchmark's
synthetic book of business, serves the API in-process, and assembles a neighbourhood of `--nodes` nodes
the way the page's "Expand all" does (neighborhood(id, depth: 1, limit: 200) per node, breadth first, as
an admin). Each run then opens the page in a fresh tab and times, inside the page, from handing it the
neighbourhood to the first frame Cytoscape.js draws (layout included), and records the longest main-thread
task (the page is frozen for that long). `--quick` (or KGCRM_BENCH_QUICK=1) runs a small version.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import statistics
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from bench_api import _gid, _machine, seed
from benchkit import free_port
from kgcrm.graph.driver import Graph
from kgcrm.graph.schema import apply_migrations
from kgcrm.graph.server import LocalNeo4j
from kgcrm.graph.settings import Settings
from kgcrm.gql.app import create_app
from kgcrm.gql.auth import create_api_key

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "kgcrm-bench-password"
NEIGHBORHOOD = """query N($id: ID!) { neighborhood(id: $id, depth: 1, limit: 200) {
  ... on Neighborhood { nodes { id label name score depth } edges { source target type } } } }"""
# Expanded nodes: owners and accounts (their contacts, deals and activities arrive with them).
HUBS = ("User", "Account")
# Time from handing the page a neighbourhood to its first drawn frame, and the longest task meanwhile.
RENDER = """async (neighborhood) => {
  const tasks = [];
  const observer = new PerformanceObserver((list) => list.getEntries().forEach((e) => tasks.push(e.duration)));
  observer.observe({ type: "longtask" });
  const result = await window.kgcrmExplorer.renderNeighborhood(neighborhood);
  await new Promise((resolve) => setTimeout(resolve, 50));
  observer.disconnect();
  return { ...result, longestTask: Math.max(0, ...tasks) };
}"""


def assemble(url: str, key: str, start: str, size: int) -> tuple[dict[str, Any], int, float]:
    """Breadth-first expansions of users and accounts from `start` until `size` nodes; returns the
    neighbourhood, the number of requests and the seconds they took."""
    nodes: dict[str, dict[str, Any]] = {}
    edges: dict[tuple[str, str, str], dict[str, Any]] = {}
    queue, requests, began = deque([(start, 0)]), 0, time.perf_counter()
    with httpx.Client(base_url=url, timeout=60, headers={"Authorization": f"Bearer {key}"}) as client:
        while queue and len(nodes) < size:
            node_id, depth = queue.popleft()
            body = client.post("/graphql", json={"query": NEIGHBORHOOD, "variables": {"id": node_id}}).json()
            requests += 1
            if "errors" in body:
                raise SystemExit(f"bench_explorer: neighbourhood failed: {body['errors']}")
            result = body["data"]["neighborhood"]
            for node in result.get("nodes", []):
                if node["id"] not in nodes and len(nodes) < size:
                    nodes[node["id"]] = {**node, "depth": 0 if node["id"] == start else depth + 1}
                    if node["label"] in HUBS:
                        queue.append((node["id"], depth + 1))
            for edge in result.get("edges", []):
                edges[(edge["source"], edge["type"], edge["target"])] = edge
    kept = [e for e in edges.values() if e["source"] in nodes and e["target"] in nodes]
    return {"start": start, "nodes": list(nodes.values()), "edges": kept, "truncated": False}, requests, \
        time.perf_counter() - began


def serve(settings: Settings, graph: Graph) -> tuple[uvicorn.Server, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings, graph), host="127.0.0.1", port=port,
                                           log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise SystemExit("bench_explorer: the API did not start")
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}"


def chromium() -> str:
    path = os.environ.get("KGCRM_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        raise SystemExit("bench_explorer: no Chromium; run scripts/browser.sh")
    return path


def time_renders(url: str, key: str, neighborhood: dict[str, Any], runs: int) -> list[dict[str, Any]]:
    from playwright.sync_api import sync_playwright

    results = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            for _ in range(runs):
                page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
                page.goto(f"{url}/explorer/#key={key}")
                page.get_by_test_id("account-row").first.wait_for(timeout=60_000)
                results.append(page.evaluate(RENDER, neighborhood))
                page.context.close()
        finally:
            browser.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    quick = os.environ.get("KGCRM_BENCH_QUICK") == "1"
    parser.add_argument("--quick", action="store_true", default=quick, help="200 nodes, 3 runs")
    parser.add_argument("--nodes", type=int, default=None, help="neighbourhood size (default 1000)")
    parser.add_argument("--runs", type=int, default=None, help="renders timed; the median is reported (default 9)")
    parser.add_argument("--accounts", type=int, default=None,
                        help="accounts in the synthetic book (default 1000, so that one manager's team holds 1,300 nodes)")
    args = parser.parse_args()
    size = args.nodes or (200 if args.quick else 1000)
    runs = args.runs or (3 if args.quick else 9)
    accounts = args.accounts or (200 if args.quick else 1000)

    neo4j_port = free_port()
    settings = Settings.load(
        NEO4J_URI=f"bolt://127.0.0.1:{neo4j_port}", NEO4J_PASSWORD=PASSWORD,
        KGCRM_HOME=os.environ.get("KGCRM_HOME", str(REPO / ".kgcrm")), KGCRM_NEO4J_INSTANCE=f"bench-explorer-{os.getpid()}",
        KGCRM_NEO4J_HEAP="1g", KGCRM_NEO4J_PAGECACHE="1g", KGCRM_API_KEY_CACHE_SECONDS="60",
    )
    neo4j = LocalNeo4j(settings)
    server = None
    try:
        print(f"starting Neo4j on port {neo4j_port}", file=sys.stderr)
        neo4j.start()
        with Graph(settings) as graph:
            apply_migrations(graph)
            seed(graph, accounts, random.Random(1))
            key = create_api_key(graph, role="admin", name="bench-explorer").secret_key
            server, url = serve(settings, graph)
            neighborhood, requests, seconds = assemble(url, key, _gid("User", "m-00"), size)
            print(f"assembled {len(neighborhood['nodes'])} nodes, {len(neighborhood['edges'])} edges "
                  f"from {requests} requests in {seconds:.1f} s", file=sys.stderr)
            load_before = os.getloadavg()
            results = time_renders(url, key, neighborhood, runs)
            load_after = os.getloadavg()
    finally:
        if server is not None:
            server.should_exit = True
        neo4j.stop()
        shutil.rmtree(neo4j.instance_dir, ignore_errors=True)

    for i, r in enumerate(results):
        print(f"run {i + 1}: {r['ms']:.0f} ms to first frame ({r['firstNodes']} nodes), {r['completeMs']:.0f} ms to "
              f"all {r['nodes']} nodes, longest task {r['longestTask']:.0f} ms", file=sys.stderr)
    print("## Explorer")
    print(f"- what: time to first render of a {len(neighborhood['nodes'])}-node, {len(neighborhood['edges'])}-edge "
          "neighbourhood in the explorer's graph view (Cytoscape.js, canvas): from handing the page the "
          "neighbourhood to the first frame drawn (the inner rings: the page adds 250 nodes a frame, innermost "
          "first), layout included, timed inside the page; the time until every node is drawn; and the longest "
          "main-thread task meanwhile (how long the page cannot respond)")
    print(f"- command: `python bench/bench_explorer.py --nodes {size} --runs {runs} --accounts {accounts}` (headless Chromium "
          f"from the system's packages, 1280x800, a fresh tab per run)")
    print(f"- data: the API benchmark's synthetic book ({accounts} accounts), neighbourhood assembled as an admin "
          f"by {requests} `neighborhood(depth: 1, limit: 200)` requests (users and accounts expanded) "
          f"from a manager's User node ({seconds:.1f} s over the API), as the page's Expand all does")
    print(f"- machine: {_machine()}, shared with other work; load average {load_before[0]:.1f} before, "
          f"{load_after[0]:.1f} after")
    print(f"- median of {runs} runs: **{statistics.median(r['ms'] for r in results):.0f} ms** to first render "
          f"(min {min(r['ms'] for r in results):.0f}, max {max(r['ms'] for r in results):.0f}); "
          f"{statistics.median(r['completeMs'] for r in results):.0f} ms until all nodes are drawn; longest task "
          f"median {statistics.median(r['longestTask'] for r in results):.0f} ms")


if __name__ == "__main__":
    main()
