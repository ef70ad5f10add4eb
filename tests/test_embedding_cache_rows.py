"""The embedding cache's own sparse row products equal scipy's, whichever path they take."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from kgcrm.actions.embedding_cache import FEW_ROWS, MANY_ROWS, _row_products


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
