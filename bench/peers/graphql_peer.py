"""kgcrm's GraphQL API against the Neo4j GraphQL Library: the same graph, mix and load generator, runs alternated.

Reuses bench_api's world (`seed`), API keys, request mix, warm-up and autocannon driver; the peer is
bench/peers/neo4j-graphql (Apollo Server + @neo4j/graphql), npm-installed into the git-ignored
.kgcrm/bench-peer-graphql folder. Both servers run at once on the same Neo4j; the load runs alternate
kgcrm, peer, kgcrm, peer, ... so both see the same machine load.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

import bench_api
from kgcrm.graph.driver import Graph
from kgcrm.graph.schema import apply_migrations
from kgcrm.graph.server import LocalNeo4j
from kgcrm.graph.settings import Settings
from kgcrm.gql.auth import create_api_key

PEER_SRC = Path(__file__).resolve().parent / "neo4j-graphql"
PEER_DIR = bench_api.REPO / ".kgcrm" / "bench-peer-graphql"
PEER_FILES = ("package.json", "package-lock.json", "typeDefs.graphql", "server.mjs")

# The same four requests as bench_api's mix. The peer has no per-user authorisation, so each query
# carries the caller's scope as an explicit filter: the rep r-000's book, the manager m-00's team.
PEER_ACCOUNT_BY_ID = """query AccountById($id: ID!) { accounts(where: {id: {eq: $id}, owner: {some: {id: {eq: "r-000"}}}}) {
  id name intent_score intent_model intent_scored_at contacts(limit: 10) { id name title }
  opportunities(where: {is_closed: {eq: false}}, limit: 10) { id name stage amount } } }"""
PEER_TOP_ACCOUNTS = """query TopAccounts { accounts(limit: 50, sort: [{intent_score: DESC}],
  where: {owner: {some: {manager: {some: {id: {eq: "m-00"}}}}}}) { id name intent_score owner { id name } } }"""
PEER_NEIGHBORHOOD = """query Neighborhood($id: ID!) { accounts(where: {id: {eq: $id}, owner: {some: {id: {eq: "r-000"}}}}) {
  neighborhood(limit: 50) { nodes { id label name score depth } edges { source target type } } } }"""
PEER_RECORD_ACTIVITY = """mutation RecordActivity($eventId: ID!, $account: ID!) { createActivities(input: [{
  id: $eventId, type: "web_visit", at: "2026-01-01T00:00:00Z", source: "api",
  about: {connect: [{where: {node: {id: {eq: $account}}}}]}}]) { info { nodesCreated } } }"""


@dataclass
class ApiComparison:
    accounts: int
    nodes: int
    duration: int
    runs: int
    versions: dict[str, str]
    load_before: float = 0.0
    load_after: float = 0.0
    results: dict[int, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)


def install_peer() -> Path:
    """npm-install the peer into .kgcrm/bench-peer-graphql (`npm ci` from the lock file) and copy its sources."""
    PEER_DIR.mkdir(parents=True, exist_ok=True)
    stale = any(not (PEER_DIR / name).exists() or (PEER_DIR / name).read_bytes() != (PEER_SRC / name).read_bytes()
                for name in ("package.json", "package-lock.json"))
    for name in PEER_FILES:
        shutil.copyfile(PEER_SRC / name, PEER_DIR / name)
    if stale or not (PEER_DIR / "node_modules" / "@neo4j" / "graphql").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=PEER_DIR, check=True)
    return PEER_DIR


def peer_versions() -> dict[str, str]:
    """Installed versions of the peer's packages and of node."""
    versions = {"node": subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()}
    for package in ("@neo4j/graphql", "@apollo/server", "graphql", "neo4j-driver"):
        manifest = PEER_DIR / "node_modules" / package / "package.json"
        versions[package] = json.loads(manifest.read_text())["version"]
    autocannon = bench_api.NODE_DIR / "node_modules" / "autocannon" / "package.json"
    versions["autocannon"] = json.loads(autocannon.read_text())["version"]
    return versions


def peer_mix(rep_book: list[str]) -> dict[str, dict[str, Any]]:
    """The peer's four requests in bench_api's template form (no key: the peer reads no Authorization)."""
    return {
        "account by id": {"key": "none", "query": PEER_ACCOUNT_BY_ID, "variables": {},
                          "pick": {"variable": "id", "values": rep_book}},
        "top 50 by score": {"key": "none", "query": PEER_TOP_ACCOUNTS, "variables": {}},
        "neighborhood depth 2": {"key": "none", "query": PEER_NEIGHBORHOOD, "variables": {},
                                 "pick": {"variable": "id", "values": rep_book}},
        "recordActivity": {"key": "none", "query": PEER_RECORD_ACTIVITY, "variables": {},
                           "pick": {"variable": "account", "values": rep_book}, "unique": "eventId"},
    }


def _wait_http(url: str, process: subprocess.Popen[bytes], what: str, probe: str) -> None:
    deadline = time.monotonic() + 90
    while True:
        try:
            httpx.get(f"{url}{probe}", timeout=5)
            return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            raise SystemExit(f"bench_peers: {what} did not start")
        time.sleep(0.3)


def compare_api(accounts: int, duration: int, runs: int, connection_counts: list[int], seed: int) -> ApiComparison:
    """Seed one graph, serve it with kgcrm and with the peer, and alternate the load runs between them."""
    node_modules = bench_api.install_autocannon()
    peer_dir = install_peer()
    neo4j_port, api_port, peer_port = bench_api.free_port(), bench_api.free_port(), bench_api.free_port()
    settings = Settings.load(
        NEO4J_URI=f"bolt://127.0.0.1:{neo4j_port}", NEO4J_PASSWORD=bench_api.PASSWORD,
        KGCRM_HOME=os.environ.get("KGCRM_HOME", str(bench_api.REPO / ".kgcrm")),
        KGCRM_NEO4J_INSTANCE=f"bench-peers-api-{os.getpid()}", KGCRM_NEO4J_HEAP="1g", KGCRM_NEO4J_PAGECACHE="1g",
    )
    neo4j = LocalNeo4j(settings)
    servers: list[subprocess.Popen[bytes]] = []
    try:
        print(f"bench_peers: starting Neo4j on port {neo4j_port}", file=sys.stderr)
        neo4j.start()
        with Graph(settings) as graph:
            apply_migrations(graph)
            rep_book, nodes = bench_api.seed(graph, accounts, random.Random(seed))
            keys = {
                "rep": create_api_key(graph, role="account_manager", user_id="r-000", name="bench").secret_key,
                "manager": create_api_key(graph, role="manager", user_id="m-00", name="bench").secret_key,
                "ingest": create_api_key(graph, role="ingest", name="bench").secret_key,
            }
        env = {**os.environ, "NEO4J_URI": settings.neo4j_uri, "NEO4J_USER": settings.neo4j_user,
               "NEO4J_PASSWORD": bench_api.PASSWORD, "KGCRM_API_PRODUCTION": "true",
               "KGCRM_API_KEY_CACHE_SECONDS": "30", "NODE_ENV": "production"}
        servers.append(subprocess.Popen([sys.executable, "-m", "kgcrm", "serve", "--port", str(api_port), "--workers", "1"],
                                        env=env, stderr=subprocess.DEVNULL))
        servers.append(subprocess.Popen(["node", "server.mjs", str(peer_port)], cwd=peer_dir, env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        urls = {"kgcrm": f"http://127.0.0.1:{api_port}", "peer": f"http://127.0.0.1:{peer_port}"}
        _wait_http(urls["kgcrm"], servers[0], "kgcrm serve", "/readyz")
        _wait_http(urls["peer"], servers[1], "the peer", "/")
        mixes = {"kgcrm": bench_api.request_mix(keys, rep_book), "peer": peer_mix(rep_book)}
        # The peer first: its create refuses an event id kgcrm's idempotent recordActivity already stored.
        for name in ("peer", "kgcrm"):
            bench_api.check_and_warm(urls[name], mixes[name], rounds=20)
        comparison = ApiComparison(accounts, nodes, duration, runs, peer_versions(), load_before=os.getloadavg()[0])
        for connections in connection_counts:
            comparison.results[connections] = {"kgcrm": [], "peer": []}
            for run in range(runs):
                for name in ("kgcrm", "peer"):
                    result = bench_api.load(node_modules, urls[name], list(mixes[name].values()), connections, duration,
                                            f"{name}-{connections}-{run}")
                    comparison.results[connections][name].append(result)
                    print(f"bench_peers: {name} {connections} connections run {run + 1}: {json.dumps(result)}", file=sys.stderr)
        comparison.load_after = os.getloadavg()[0]
        return comparison
    finally:
        for server in servers:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
        neo4j.stop()
        shutil.rmtree(neo4j.instance_dir, ignore_errors=True)


def _spread(values: list[float], digits: int = 0) -> str:
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def api_section(c: ApiComparison) -> list[str]:
    """Markdown lines: what, command, versions, and one table with medians, min-max and the ratios."""
    versions = ", ".join(f"{k} {v}" for k, v in c.versions.items())
    lines = [
        "### API: kgcrm vs the Neo4j GraphQL Library",
        f"- command: `python bench/bench_peers.py --part api --accounts {c.accounts} --duration {c.duration} --runs {c.runs}`",
        f"- graph: bench_api's world, {c.nodes} nodes ({c.accounts} accounts); both servers on the same Neo4j at "
        "the same time, one process each (`kgcrm serve --workers 1`, production mode; `node server.mjs`, Apollo "
        "standalone); runs alternate kgcrm, peer, kgcrm, peer, ...",
        f"- versions: {versions}",
        f"- machine: {bench_api._machine()}, shared with other work; load average {c.load_before:.1f} before, "
        f"{c.load_after:.1f} after",
        f"- median (min-max) of {c.runs} run(s) of {c.duration} s; ratio = kgcrm / peer (goal: >= 1.0 req/s, <= 1.0 p99)",
        "",
        "| connections | kgcrm req/s | peer req/s | ratio req/s | kgcrm p50 ms | peer p50 ms | kgcrm p99 ms "
        "| peer p99 ms | ratio p99 | errors+non-2xx k / p |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for connections, by in c.results.items():
        k, p = by["kgcrm"], by["peer"]
        med = {name: {m: statistics.median(r[m] for r in rows) for m in ("requests_per_second", "p50_ms", "p99_ms")}
               for name, rows in by.items()}
        bad = {name: sum(r["errors"] + r["timeouts"] + r["non_2xx"] for r in rows) for name, rows in by.items()}
        rps_ratio = med["kgcrm"]["requests_per_second"] / max(med["peer"]["requests_per_second"], 1e-9)
        p99_ratio = med["kgcrm"]["p99_ms"] / max(med["peer"]["p99_ms"], 1e-9)
        lines.append(
            f"| {connections} | {_spread([r['requests_per_second'] for r in k], 1)} | {_spread([r['requests_per_second'] for r in p], 1)} "
            f"| {rps_ratio:.2f} | {_spread([r['p50_ms'] for r in k])} | {_spread([r['p50_ms'] for r in p])} "
            f"| {_spread([r['p99_ms'] for r in k])} | {_spread([r['p99_ms'] for r in p])} | {p99_ratio:.2f} "
            f"| {bad['kgcrm']} / {bad['peer']} |"
        )
    return lines


FAIRNESS = [
    "What differs (read the ratios with it):",
    "- Authorisation: kgcrm checks an API key (cached 30 s) and applies the caller's scope inside every query "
    "(a rep sees the accounts they own and what hangs off them; a manager the team's book). The peer has no "
    "authorisation (no `@authorization`, no JWT): its queries carry the same scope as plain `where` filters "
    "(owner `r-000`, the owners reporting to `m-00`), so both read the same rows, but the peer skips key lookups "
    "and per-node visibility checks on hanging nodes.",
    "- Neighbourhood: the library has no generic traversal; the peer's is a `@cypher` field (depth 2, 50 nodes, "
    "edges between them) without kgcrm's per-node visibility filter and without de-duplicating nodes reached twice.",
    "- recordActivity: kgcrm's is idempotent (MERGE on the event id, links account and contact, returns created); "
    "the peer's `createActivities` is a plain CREATE with one `about` connect.",
    "- scoredAt: the library's DateTime output needs APOC, which the bench Neo4j lacks; the peer reads it through "
    "a `@cypher` field returning `toString(...)`.",
    "- kgcrm runs Strawberry on one uvicorn worker (Python); the peer Apollo Server on one Node.js process.",
]
