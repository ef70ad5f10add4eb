"""kgcrm beside the tools users would pick instead: the Neo4j GraphQL Library (API) and Neo4j Graph Data Science (scoring).

Each part starts its own throwaway Neo4j, installs its peer from the package registries (npm, Maven),
runs kgcrm and the peer on the same graph and prints one markdown table for bench/RESULTS.md's
`## Peers` section. `--quick` (or KGCRM_BENCH_QUICK=1) runs a small, short version; `--part api|gds`
runs one part. The full run is sized to finish in about 15 minutes on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers import gds_peer, graphql_peer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    quick = os.environ.get("KGCRM_BENCH_QUICK") == "1"
    parser.add_argument("--quick", action="store_true", default=quick, help="small graphs, short runs, one run each")
    parser.add_argument("--part", choices=("all", "api", "gds"), default="all")
    parser.add_argument("--accounts", type=int, default=None, help="API graph's accounts (default 5000; quick 500)")
    parser.add_argument("--duration", type=int, default=None, help="seconds per load run (default 10; quick 3)")
    parser.add_argument("--runs", type=int, default=None, help="load runs per server and connection count (default 3)")
    parser.add_argument("--connections", default="1,8,32")
    parser.add_argument("--world-accounts", type=int, default=None,
                        help="accounts of the generated world for the scoring part (default 400; quick 300)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    began = time.perf_counter()
    lines = ["## Peers"]
    if args.part in ("all", "api"):
        comparison = graphql_peer.compare_api(
            accounts=args.accounts or (500 if args.quick else 5000), duration=args.duration or (3 if args.quick else 10),
            runs=args.runs or (1 if args.quick else 3), connection_counts=[int(c) for c in args.connections.split(",")],
            seed=args.seed,
        )
        lines += ["", *graphql_peer.api_section(comparison), "", *graphql_peer.FAIRNESS]
    if args.part in ("all", "gds"):
        result = gds_peer.compare_scoring(accounts=args.world_accounts or (300 if args.quick else 400), seed=args.seed)
        lines += ["", *gds_peer.scoring_section(result)]
    print("\n".join(lines))
    print(f"bench_peers: done in {time.perf_counter() - began:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
