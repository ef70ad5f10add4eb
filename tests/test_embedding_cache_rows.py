"""The embedding cache's own sparse row products and reach equal scipy's, whichever path they take."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from kgcrm.actions.embedding_cache import FEW_ROWS, MANY_ROWS, _row_products, _spread


@pytest.mark.parametrize("count", [0, 1, 3, FEW_ROWS, FEW_ROWS + 1, 200, MANY_ROWS + 1])
def test_row_products_equal_selecting_the_rows_then_multiplying(count: int) -> None:
    rng = np.random.default_rng(count)
    # Duplicate entries (a relationship twice) sum to 2; rows 0-99 have no entries at all.
    size = max(400, count + 100)
    src = rng.integers(0, 50, 3000)
    dst = rng.integers(100, size, 3000)
    matrix = sparse.csr_matrix((np.ones(3000, np.float32), (dst, src)), shape=(size, 50))
    values = rng.standard_normal((50, 8)).astype(np.float32)
    rows = rng.choice(size, count, replace=False).astype(np.int64)  # unsorted, some empty
    got = _row_products(matrix, rows, values)
    assert got.shape == (count, 8) and got.dtype == np.float32
    np.testing.assert_allclose(got, matrix[rows] @ values, rtol=1e-6, atol=1e-6)
    if count:
        empty = rows < 100
        assert not got[empty].any()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_spreading_reach_a_hop_equals_the_whole_graph_matrix_product(seed: int) -> None:
    rng = np.random.default_rng(seed)
    size, events = 500, 4
    a, b = rng.integers(0, size, 800), rng.integers(0, size, 800)
    adjacency = sparse.csr_matrix((np.ones(1600, np.float32), (np.r_[a, b], np.r_[b, a])), shape=(size, size))
    hits = rng.integers(0, size, 6)
    whole = np.zeros((size, events), dtype=bool)
    whole[hits, rng.integers(0, events, 6)] = True
    rows = np.flatnonzero(whole.any(axis=1))
    reached = whole[rows]
    for _ in range(2):
        whole = (whole + adjacency @ whole.astype(np.float32)) > 0
        rows, reached = _spread(adjacency, rows, reached)
        assert np.array_equal(rows, np.flatnonzero(whole.any(axis=1)))
        expected = np.zeros((size, events), dtype=bool)
        expected[rows] = reached
        assert np.array_equal(expected, whole)
