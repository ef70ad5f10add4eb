"""The embedding cache's sparse row products against scipy's row selection, side by side.

Each rescoring pass multiplies some rows of an (incoming neighbours x nodes) matrix by the cached
embeddings, once per relationship type and layer: `matrix[rows] @ values`. scipy's row selection
builds the selected matrix through its generic indexing; `_row_products` gathers the rows' entries
itself (actions/embedding_cache.py). This times both on a random matrix shaped like the 100k-node
benchmark's (3 entries a row, hidden 64), alternating, and prints medians and their ratio per row count.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from scipy import sparse

from kgcrm.actions.embedding_cache import _row_products


def _median_us(work, repeats: int) -> float:
    took = []
    for _ in range(repeats):
        clock = time.perf_counter()
        work()
        took.append(time.perf_counter() - clock)
    return statistics.median(took) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=100_000)
    parser.add_argument("--rows", default="8,16,64,300,2000,8000", help="row counts to time")
    parser.add_argument("--repeats", type=int, default=200, help="timings per row count and path (median)")
    parser.add_argument("--rounds", type=int, default=3, help="alternations of the two paths")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    entries = 3 * args.nodes
    matrix = sparse.csr_matrix((np.ones(entries, np.float32), (rng.integers(0, args.nodes, entries),
                                                               rng.integers(0, args.nodes, entries))),
                               shape=(args.nodes, args.nodes))
    values = rng.standard_normal((args.nodes, 64)).astype(np.float32)
    print("| rows | scipy `matrix[rows] @ values` us | `_row_products` us | ratio |\n|---|---|---|---|")
    for count in (int(r) for r in args.rows.split(",")):
        rows = np.sort(rng.choice(args.nodes, count, replace=False))
        np.testing.assert_allclose(_row_products(matrix, rows, values), matrix[rows] @ values, rtol=1e-5, atol=1e-5)
        scipy_us, ours_us = [], []
        for _ in range(args.rounds):
            scipy_us.append(_median_us(lambda: matrix[rows] @ values, args.repeats))
            ours_us.append(_median_us(lambda: _row_products(matrix, rows, values), args.repeats))
        a, b = statistics.median(scipy_us), statistics.median(ours_us)
        print(f"| {count} | {a:.0f} | {b:.0f} | {b / a:.2f} |")


if __name__ == "__main__":
    main()
