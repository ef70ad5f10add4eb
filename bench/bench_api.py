"""Benchmark of the GraphQL API: the standard query mix over HTTP, driven by autocannon at 1, 8 and 32 connections.

The script starts its own Neo4j (a throwaway local instance on a free port), writes a synthetic book of
business, serves the API with `kgcrm serve` and installs autocannon from bench/package.json into the
git-ignored .kgcrm/bench-node folder. `--quick` (or KGCRM_BENCH_QUICK=1) runs a small, short version.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from kgcrm.graph.driver import Graph
from kgcrm.graph.queries import api_bench as q
from kgcrm.graph.schema import apply_migrations
from kgcrm.graph.server import LocalNeo4j
from kgcrm.graph.settings import Settings
from kgcrm.gql.auth import create_api_key
from benchkit import cpu_seconds, free_port

REPO = Path(__file__).resolve().parent.parent
NODE_DIR = REPO / ".kgcrm" / "bench-node"
PASSWORD = "kgcrm-bench-password"

ACCOUNT_BY_ID = """query AccountById($id: ID!) { account(id: $id) { ... on Account { id name
  score { value model scoredAt } contacts(first: 10) { id name title }
  opportunities(open: true, first: 10) { id name stage amount } } } }"""
TOP_ACCOUNTS = """query TopAccounts { accounts(first: 50, orderBy: {field: SCORE, direction: DESC}) {
  edges { node { id name score { value } owner { id name } } } } }"""
NEIGHBORHOOD = """query Neighborhood($id: ID!) { neighborhood(id: $id, depth: 2, limit: 50) {
  ... on Neighborhood { nodes { id label name score depth } edges { source target type } } } }"""
RECORD_ACTIVITY = """mutation RecordActivity($eventId: ID!, $account: ID!) { recordActivity(input: {
  eventId: $eventId, type: WEB_VISIT, at: "2026-01-01T00:00:00Z", accountId: $account}) {
  __typename ... on ActivityRecorded { created } } }"""


def _machine() -> str:
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()}-core, {memory_gib:.0f} GiB ({platform.machine()}, Python {platform.python_version()})"


def _gid(type_name: str, key: str) -> str:
    return base64.b64encode(f"{type_name}:{key}".encode()).decode()


def install_autocannon() -> Path:
    """npm-install bench/package.json into .kgcrm/bench-node (once) and return the node_modules folder."""
    NODE_DIR.mkdir(parents=True, exist_ok=True)
    manifest = (REPO / "bench" / "package.json").read_text()
    if not (NODE_DIR / "node_modules" / "autocannon").exists() or (NODE_DIR / "package.json").read_text() != manifest:
        (NODE_DIR / "package.json").write_text(manifest)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=NODE_DIR, check=True)
    return NODE_DIR / "node_modules"


def seed(graph: Graph, accounts: int, rng: random.Random) -> tuple[list[str], int]:
    """Write 10 managers with 10 reps each and `accounts` accounts spread over the reps; returns the
    first rep's book and the number of nodes written."""
    batch = graph.settings.batch_size
    managers = [{"id": f"m-{i:02d}", "name": f"Manager {i}", "role": "manager", "region": f"R{i}"} for i in range(10)]
    reps = [{"id": f"r-{i:03d}", "name": f"Rep {i}", "role": "rep", "region": f"R{i // 10}", "manager": f"m-{i // 10:02d}"}
            for i in range(100)]
    graph.write(q.BENCH_CREATE_USERS, {"rows": managers + reps})
    graph.write(q.BENCH_LINK_MANAGERS, {"rows": reps})
    industries = ["Tech", "Retail", "Finance", "Health", "Energy", "Media"]
    account_rows, contact_rows, deal_rows, activity_rows = [], [], [], []
    for i in range(accounts):
        key = f"acc-{i:06d}"
        account_rows.append({
            "id": key, "name": f"Company {i} {rng.choice(['Corp', 'Ltd', 'GmbH', 'SA'])}",
            "industry": rng.choice(industries), "region": f"R{i % 10}", "employees": rng.randint(5, 50_000),
            "owner": reps[i % len(reps)]["id"], "score": round(rng.random(), 4),
            "drivers": json.dumps([{"feature": "recent_meetings", "contribution": round(rng.random(), 3)}]),
        })
        for j in range(3):
            contact_rows.append({"id": f"{key}-c{j}", "account": key, "name": f"Person {j} of {i}", "title": "VP",
                                 "seniority": "vp", "score": round(rng.random(), 4)})
            deal_rows.append({"id": f"{key}-o{j}", "account": key, "contact": f"{key}-c{j}", "name": f"Deal {j} of {i}",
                              "stage": "Closed Won" if j == 2 else "Prospecting", "amount": float(rng.randint(1, 100) * 1000),
                              "closed": j == 2, "won": j == 2})
        for j in range(6):
            activity_rows.append({"id": f"{key}-x{j}", "account": key, "contact": f"{key}-c{j % 3}",
                                  "type": rng.choice(["meeting", "call", "email_sent", "web_visit"]),
                                  "days_ago": rng.randint(0, 365)})
    for query, rows in ((q.BENCH_CREATE_ACCOUNTS, account_rows), (q.BENCH_CREATE_CONTACTS, contact_rows),
                        (q.BENCH_CREATE_OPPORTUNITIES, deal_rows), (q.BENCH_CREATE_ACTIVITIES, activity_rows)):
        for start in range(0, len(rows), batch):
            graph.write(query, {"rows": rows[start:start + batch]})
    rep_book = [r["id"] for r in account_rows if r["owner"] == "r-000"]
    nodes = len(managers) + len(reps) + len(account_rows) + len(contact_rows) + len(deal_rows) + len(activity_rows)
    return rep_book, nodes


def request_mix(keys: dict[str, str], rep_book: list[str]) -> dict[str, dict[str, Any]]:
    """The four requests of the standard mix, each as the caller who would make it."""
    return {
        "account by id": {"key": keys["rep"], "query": ACCOUNT_BY_ID, "variables": {},
                          "pick": {"variable": "id", "values": rep_book}},
        "top 50 by score": {"key": keys["manager"], "query": TOP_ACCOUNTS, "variables": {}},
        "neighborhood depth 2": {"key": keys["rep"], "query": NEIGHBORHOOD, "variables": {},
                                 "pick": {"variable": "id", "values": [_gid("Account", k) for k in rep_book]}},
        "recordActivity": {"key": keys["ingest"], "query": RECORD_ACTIVITY, "variables": {},
                           "pick": {"variable": "account", "values": rep_book}, "unique": "eventId"},
    }


def floor_requests(keys: dict[str, str], rep_book: list[str]) -> dict[str, dict[str, Any]]:
    """Requests that do less than any real one: what the HTTP stack, GraphQL and one Cypher query cost alone.

    If even these miss a latency goal at some concurrency, no query that reads data can meet it there.
    """
    return {
        "GET /healthz (HTTP only)": {"path": "/healthz"},
        "{ __typename } (HTTP, auth, GraphQL; no Cypher)": {"key": keys["rep"], "query": "{ __typename }", "variables": {}},
        "account(id) { id } (one small Cypher query)": {
            "key": keys["rep"], "query": "query One($id: ID!) { account(id: $id) { ... on Account { id } } }",
            "variables": {}, "pick": {"variable": "id", "values": rep_book}},
    }


def check_and_warm(url: str, mix: dict[str, dict[str, Any]], rounds: int) -> None:
    """Every request must succeed before it is timed; repeating it also fills Neo4j's plan cache."""
    with httpx.Client(base_url=url, timeout=60) as client:
        for name, template in mix.items():
            if "path" in template:
                client.get(template["path"]).raise_for_status()
                continue
            for i in range(rounds):
                variables = dict(template["variables"])
                if "pick" in template:
                    variables[template["pick"]["variable"]] = template["pick"]["values"][i % len(template["pick"]["values"])]
                if "unique" in template:
                    variables[template["unique"]] = f"warm-{i}"
                response = client.post("/graphql", json={"query": template["query"], "variables": variables},
                                       headers={"Authorization": f"Bearer {template['key']}"})
                body = response.json()
                if response.status_code != 200 or "errors" in body:
                    raise SystemExit(f"bench_api: {name} failed: {response.status_code} {body}")


def _tree_cpu_seconds(root: int) -> float:
    """CPU seconds of a process and its direct children (uvicorn's worker processes)."""
    children = subprocess.run(["pgrep", "-P", str(root)], capture_output=True, text=True).stdout.split()
    return cpu_seconds(root) + sum(cpu_seconds(int(c)) for c in children)


def load(node_modules: Path, url: str, requests: list[dict[str, Any]], connections: int, duration: int,
         run_id: str, cpu_of: dict[str, int] | None = None) -> dict[str, Any]:
    """One autocannon run; with `cpu_of` (name -> pid) it adds each process tree's CPU ms per request, and
    the load generator's own (`client`), so a saturated client or a CPU-bound server shows."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump({"url": url, "connections": connections, "duration": duration, "requests": requests,
                   "runId": run_id}, handle)
    cpu_before = {name: _tree_cpu_seconds(pid) for name, pid in (cpu_of or {}).items()}
    client_before = os.times()
    try:
        out = subprocess.run(["node", str(REPO / "bench" / "api_load.js"), handle.name], check=True,
                             capture_output=True, text=True, env={**os.environ, "NODE_PATH": str(node_modules)})
    finally:
        os.unlink(handle.name)
    client_after = os.times()
    result = json.loads(out.stdout.strip().splitlines()[-1])
    total = max(1, result["total"])
    if cpu_of:
        result["cpu_ms"] = {name: 1000 * (_tree_cpu_seconds(pid) - cpu_before[name]) / total
                            for name, pid in cpu_of.items()}
        result["cpu_ms"]["client"] = 1000 * (client_after.children_user + client_after.children_system
                                             - client_before.children_user - client_before.children_system) / total
    return result


def serve(settings: Settings, api_port: int, workers: int) -> subprocess.Popen[bytes]:
    """`kgcrm serve` in production mode with `workers` processes, once /readyz answers."""
    env = {**os.environ, "NEO4J_URI": settings.neo4j_uri, "NEO4J_PASSWORD": PASSWORD,
           "KGCRM_API_PRODUCTION": "true", "KGCRM_API_KEY_CACHE_SECONDS": "30"}
    server = subprocess.Popen([sys.executable, "-m", "kgcrm", "serve", "--port", str(api_port),
                               "--workers", str(workers)], env=env, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{api_port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/readyz").status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            server.terminate()
            raise SystemExit("bench_api: the API did not start")
        time.sleep(0.2)


def stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    quick = os.environ.get("KGCRM_BENCH_QUICK") == "1"
    parser.add_argument("--quick", action="store_true", default=quick, help="500 accounts, 3 s runs, one run")
    parser.add_argument("--accounts", type=int, default=None, help="accounts in the synthetic graph (default 5000)")
    parser.add_argument("--duration", type=int, default=None, help="seconds per load run (default 10)")
    parser.add_argument("--runs", type=int, default=None, help="runs per connection count; the median is reported")
    parser.add_argument("--connections", default="1,8,32")
    parser.add_argument("--workers", default="1",
                        help="uvicorn worker processes (kgcrm serve --workers); a list such as 1,2 measures each "
                             "on the same graph")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    accounts = args.accounts or (500 if args.quick else 5000)
    duration = args.duration or (3 if args.quick else 10)
    runs = args.runs or (1 if args.quick else 3)
    connection_counts = [int(c) for c in args.connections.split(",")]
    worker_counts = [int(w) for w in args.workers.split(",")]

    node_modules = install_autocannon()
    neo4j_port, api_port = free_port(), free_port()
    settings = Settings.load(
        NEO4J_URI=f"bolt://127.0.0.1:{neo4j_port}", NEO4J_PASSWORD=PASSWORD,
        KGCRM_HOME=os.environ.get("KGCRM_HOME", str(REPO / ".kgcrm")), KGCRM_NEO4J_INSTANCE=f"bench-api-{os.getpid()}",
        KGCRM_NEO4J_HEAP="1g", KGCRM_NEO4J_PAGECACHE="1g",
    )
    neo4j = LocalNeo4j(settings)
    server: subprocess.Popen[bytes] | None = None
    measured: dict[int, tuple[dict[int, list[dict[str, Any]]], dict[str, dict[str, Any]]]] = {}
    try:
        print(f"starting Neo4j on port {neo4j_port}", file=sys.stderr)
        neo4j.start()
        neo4j_pid = neo4j.running_pid()
        with Graph(settings) as graph:
            apply_migrations(graph)
            began = time.perf_counter()
            rep_book, nodes = seed(graph, accounts, random.Random(args.seed))
            print(f"seeded {nodes} nodes in {time.perf_counter() - began:.0f} s", file=sys.stderr)
            keys = {
                "rep": create_api_key(graph, role="account_manager", user_id="r-000", name="bench").secret_key,
                "manager": create_api_key(graph, role="manager", user_id="m-00", name="bench").secret_key,
                "ingest": create_api_key(graph, role="ingest", name="bench").secret_key,
            }
        url = f"http://127.0.0.1:{api_port}"
        mix = request_mix(keys, rep_book)
        load_before = os.getloadavg()
        for workers in worker_counts:
            server = serve(settings, api_port, workers)
            check_and_warm(url, mix, rounds=20 * workers)
            cpu_of = {"api": server.pid, **({"neo4j": neo4j_pid} if neo4j_pid else {})}
            results: dict[int, list[dict[str, Any]]] = {}
            for connections in connection_counts:
                results[connections] = []
                for run in range(runs):
                    result = load(node_modules, url, list(mix.values()), connections, duration,
                                  f"mix-{workers}-{connections}-{run}", cpu_of)
                    results[connections].append(result)
                    print(f"{workers} worker(s), {connections} connections, run {run + 1}: {json.dumps(result)}",
                          file=sys.stderr)
            per_request = {name: load(node_modules, url, [template], max(connection_counts), duration,
                                      f"one-{workers}-{i}", cpu_of)
                           for i, (name, template) in enumerate(mix.items())}
            floor = floor_requests(keys, rep_book)
            check_and_warm(url, floor, rounds=20)
            per_request.update({name: load(node_modules, url, [template], max(connection_counts), duration,
                                           f"floor-{workers}-{i}", cpu_of)
                                for i, (name, template) in enumerate(floor.items())})
            stop(server)
            server = None
            measured[workers] = (results, per_request)
        load_after = os.getloadavg()
    finally:
        if server is not None:
            stop(server)
        neo4j.stop()
        shutil.rmtree(neo4j.instance_dir, ignore_errors=True)

    print("## GraphQL API")
    print("- what: the standard mix over HTTP, in rotation per connection: account by id with contacts, open "
          "opportunities and score (account manager); top 50 accounts by score with owner (manager, a 10-rep team); "
          "neighbourhood of depth 2, limit 50 (account manager); a recordActivity mutation (ingest key, a new event each time)")
    print(f"- command: `python bench/bench_api.py --accounts {accounts} --duration {duration} --runs {runs} "
          f"--workers {args.workers}` (autocannon 9 from bench/package.json; `kgcrm serve` in production mode)")
    print(f"- graph: {nodes} nodes ({accounts} accounts, 3 contacts, 3 deals and 6 activities each; "
          "100 reps under 10 managers)")
    print(f"- machine: {_machine()}, shared with other work; load average {load_before[0]:.1f} before, "
          f"{load_after[0]:.1f} after")
    print(f"- median of {runs} run(s) of {duration} s each; CPU ms per request of the API processes, Neo4j and "
          "the load generator (autocannon) during the run")
    for workers, (results, per_request) in measured.items():
        print()
        print(f"{workers} worker process(es):")
        print()
        print("| connections | req/s | p50 ms | p99 ms | errors / non-2xx | CPU ms/req: API / Neo4j / client |")
        print("|---|---|---|---|---|---|")
        for connections, rows in results.items():
            print(f"| {connections} | {statistics.median(r['requests_per_second'] for r in rows):.0f} "
                  f"| {statistics.median(r['p50_ms'] for r in rows):.0f} "
                  f"| {statistics.median(r['p99_ms'] for r in rows):.0f} "
                  f"| {sum(r['errors'] + r['timeouts'] for r in rows)} / {sum(r['non_2xx'] for r in rows)} "
                  f"| {_cpu_cell(rows)} |")
        print()
        print(f"Each request alone at {max(connection_counts)} connections (one run; the last three are the floor: "
              "less work than any real request):")
        print()
        print("| request | req/s | p50 ms | p99 ms | CPU ms/req: API / Neo4j / client |")
        print("|---|---|---|---|---|")
        for name, r in per_request.items():
            print(f"| {name} | {r['requests_per_second']:.0f} | {r['p50_ms']:.0f} | {r['p99_ms']:.0f} "
                  f"| {_cpu_cell([r])} |")


def _cpu_cell(rows: list[dict[str, Any]]) -> str:
    parts = [statistics.median(r.get("cpu_ms", {}).get(name, float("nan")) for r in rows)
             for name in ("api", "neo4j", "client")]
    return " / ".join(f"{p:.1f}" for p in parts)


if __name__ == "__main__":
    main()
