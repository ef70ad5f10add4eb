"""Watch a running Neo4j for blocked and long transactions, to tell lock waits from other stalls.

Polls `SHOW TRANSACTIONS` and prints one line per sample of a transaction that is blocked by another or
has run longer than --slower-than milliseconds: its status (with the blocker), elapsed and lock-wait
time, locks held, and its current statement's state (parsing, planning, running, waiting), elapsed,
CPU (when the server tracks it: db.track_query_cpu_time) and idle time, and the statement's start. Run it beside a benchmark, for example

    python bench/bench_events.py --nodes 100000 --seconds 60 --rates 200 &
    python bench/watch_transactions.py --instance-glob '.kgcrm/bench-events-*' --password kgcrm-bench-password

(`--uri` instead of `--instance-glob` for any Neo4j). The polling itself costs the server some CPU.
"""

from __future__ import annotations

import argparse
import glob
import re
import sys
import time
from pathlib import Path

from neo4j import GraphDatabase
from neo4j.exceptions import Neo4jError, ServiceUnavailable

WATCH = """
SHOW TRANSACTIONS YIELD transactionId, status, elapsedTime, waitTime, activeLockCount, currentQuery,
     currentQueryStatus, currentQueryElapsedTime, currentQueryCpuTime, currentQueryIdleTime, currentQueryPageFaults
WHERE status STARTS WITH 'Blocked' OR elapsedTime.milliseconds > $slower_than
RETURN transactionId AS id, status, elapsedTime.milliseconds AS ms, waitTime.milliseconds AS wait_ms,
       activeLockCount AS locks, left(currentQuery, 70) AS query, currentQueryStatus AS query_status,
       currentQueryElapsedTime.milliseconds AS query_ms, currentQueryCpuTime.milliseconds AS query_cpu_ms,
       currentQueryIdleTime.milliseconds AS query_idle_ms, currentQueryPageFaults AS faults
"""


def bolt_uri_of(instance_glob: str, timeout: float) -> str:
    """The Bolt address in the newest matching local instance's neo4j.conf, once it is written."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for conf in sorted(glob.glob(f"{instance_glob}/conf/neo4j.conf"), key=lambda p: Path(p).stat().st_mtime)[::-1]:
            found = re.search(r"^server\.bolt\.listen_address=(.+)$", Path(conf).read_text(), re.M)
            if found:
                return f"bolt://{found.group(1).strip()}"
        time.sleep(1)
    raise SystemExit(f"no Neo4j instance matching {instance_glob} within {timeout:g} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--uri", help="bolt://host:port of the Neo4j to watch")
    where.add_argument("--instance-glob", help="a local instance folder (glob) whose neo4j.conf names the port")
    parser.add_argument("--user", default="neo4j")
    parser.add_argument("--password", required=True)
    parser.add_argument("--interval", type=float, default=0.05, help="seconds between polls")
    parser.add_argument("--slower-than", type=int, default=100, help="also print transactions older than this (ms)")
    parser.add_argument("--seconds", type=float, default=3600, help="stop after this long")
    args = parser.parse_args()
    uri = args.uri or bolt_uri_of(args.instance_glob, 600)
    blocked = 0
    stop_at = time.monotonic() + args.seconds
    with GraphDatabase.driver(uri, auth=(args.user, args.password)) as driver:
        print(f"watching {uri}", file=sys.stderr)
        while time.monotonic() < stop_at:
            try:
                records = driver.execute_query(WATCH, slower_than=args.slower_than).records
            except (ServiceUnavailable, Neo4jError) as exc:  # a restart in between: try again
                print(f"{time.strftime('%H:%M:%S')} not answering: {exc}", file=sys.stderr)
                time.sleep(2)
                continue
            stamp = time.strftime("%H:%M:%S") + f".{int(time.time() % 1 * 1000):03d}"
            for r in records:
                if "SHOW TRANSACTIONS" in (r["query"] or ""):
                    continue
                blocked += r["status"].startswith("Blocked")
                query = " ".join((r["query"] or "").split())
                print(f"{stamp} {r['id']} {r['status']} elapsed {r['ms']} ms, waiting {r['wait_ms']} ms, "
                      f"{r['locks']} locks; statement {r['query_status']} {r['query_ms']} ms, "
                      f"cpu {r['query_cpu_ms']} ms, idle {r['query_idle_ms']} ms, {r['faults']} page faults: "
                      f"{query}", flush=True)
            time.sleep(args.interval)
    print(f"{blocked} samples of a blocked transaction", file=sys.stderr)


if __name__ == "__main__":
    main()
