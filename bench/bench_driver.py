"""CPU per tiny read query through the ways the Neo4j Python driver can run it, side by side.

The API runs each Cypher query through `Graph.read` (a managed, retried read transaction) in a worker
thread. This prints the client CPU and wall time per query of that path beside the driver's other
paths (auto-commit, the async driver), alternating over several rounds against one fresh local Neo4j,
so the cost of one round trip on the API's side is known apart from what GraphQL adds. It also shows
the server's side: Neo4j's own CPU per query, and what five queries in one transaction cost against
five transactions (the incremental scorer folds a pass's reads for this reason), and a transaction
function through the driver's own session (BEGIN answered before the first statement goes) against
kgcrm's `Graph`, which sends BEGIN with the first statement (graph/driver.py `_pipelined_begin`).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
from collections.abc import Callable

import neo4j
import uvloop
from neo4j import AsyncGraphDatabase, GraphDatabase, RoutingControl
from starlette.concurrency import run_in_threadpool

from benchkit import bench_settings, cpu_seconds
from kgcrm.graph.driver import Graph
from kgcrm.graph.server import LocalNeo4j

QUERY = "MATCH (a:Account {id: $id}) RETURN a.id AS id"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--queries", type=int, default=2000, help="queries per path and round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    n = args.queries
    settings = bench_settings("driver", heap="1g", pagecache="512m")
    local = LocalNeo4j(settings)
    local.start()
    server_pid = local.running_pid() or 0
    loop = uvloop.new_event_loop()
    sync = GraphDatabase.driver(settings.neo4j_uri, auth=("neo4j", settings.neo4j_password))
    async_driver = AsyncGraphDatabase.driver(settings.neo4j_uri, auth=("neo4j", settings.neo4j_password))
    graph = Graph(settings)
    try:
        sync.execute_query("UNWIND range(0, 999) AS i MERGE (:Account {id: toString(i)})")

        def managed() -> None:
            for i in range(n):
                sync.execute_query(QUERY, {"id": str(i % 1000)}, routing_=RoutingControl.READ)

        def autocommit() -> None:
            for i in range(n):
                with sync.session(default_access_mode=neo4j.READ_ACCESS) as session:
                    session.run(QUERY, id=str(i % 1000)).data()

        async def threaded() -> None:
            for i in range(n):
                await run_in_threadpool(sync.execute_query, QUERY, {"id": str(i % 1000)}, routing_=RoutingControl.READ)

        def five_in_one() -> None:
            def work(tx: neo4j.ManagedTransaction, base: int) -> None:
                for k in range(5):
                    tx.run(QUERY, id=str((base + k) % 1000)).data()

            for i in range(0, n, 5):
                with sync.session() as session:
                    session.execute_read(work, i)

        def one_query(tx: neo4j.ManagedTransaction, i: int) -> None:
            tx.run(QUERY, id=str(i % 1000)).data()

        def function_begin_answered() -> None:
            for i in range(n):
                with graph._session() as session:  # the same session as Graph's, without the switch
                    session.execute_read(one_query, i)

        def function_begin_pipelined() -> None:
            for i in range(n):
                graph.execute_read(one_query, i)

        async def async_managed() -> None:
            for i in range(n):
                await async_driver.execute_query(QUERY, {"id": str(i % 1000)}, routing_=RoutingControl.READ)

        async def async_autocommit() -> None:
            for i in range(n):
                async with async_driver.session(default_access_mode=neo4j.READ_ACCESS) as session:
                    await (await session.run(QUERY, id=str(i % 1000))).data()

        paths: dict[str, Callable[[], object]] = {
            "managed read in a worker thread (the API's path)": lambda: loop.run_until_complete(threaded()),
            "managed read, sync": managed,
            "five queries in one managed read, sync (per query)": five_in_one,
            "auto-commit, sync": autocommit,
            "transaction function, driver session (BEGIN answered first)": function_begin_answered,
            "transaction function, kgcrm Graph (BEGIN with the first statement)": function_begin_pipelined,
            "managed read, async driver": lambda: loop.run_until_complete(async_managed()),
            "auto-commit, async driver": lambda: loop.run_until_complete(async_autocommit()),
        }
        measured: dict[str, list[tuple[float, float, float]]] = {name: [] for name in paths}
        for _ in range(args.rounds):
            for name, run in paths.items():
                cpu, wall, server = time.process_time(), time.perf_counter(), cpu_seconds(server_pid)
                run()
                measured[name].append((1000 * (time.process_time() - cpu) / n, 1000 * (time.perf_counter() - wall) / n,
                                       1000 * (cpu_seconds(server_pid) - server) / n))
    finally:
        sync.close()
        graph.close()
        loop.run_until_complete(async_driver.close())
        loop.close()
        local.stop()
        shutil.rmtree(local.instance_dir, ignore_errors=True)

    print(f"## Driver paths\n- command: `python bench/bench_driver.py --queries {n} --rounds {args.rounds}`; "
          f"median of {args.rounds} rounds\n")
    print("| path | client CPU ms/query | Neo4j CPU ms/query | wall ms/query |\n|---|---|---|---|")
    for name, rows in measured.items():
        print(f"| {name} | {statistics.median(r[0] for r in rows):.3f} | {statistics.median(r[2] for r in rows):.3f} | "
              f"{statistics.median(r[1] for r in rows):.3f} |")


if __name__ == "__main__":
    main()
