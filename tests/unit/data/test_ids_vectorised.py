"""canonical_ids: the vectorised path for integer and integral-float IDs gives what the
one-value-at-a-time canonical_id gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from openhlm.data.ids import canonical_id, canonical_ids


@pytest.mark.parametrize("values", [
    np.array([5, 3, 5, -2, 10**12]),
    np.array([1.0, 2.0, 1.0, 3.0]),
    np.array([1.0, np.nan, 2.0]),
    np.array([0.0, -0.0, 1.0]),
    np.array([2.0**60, 1.0]),
    np.array([1.5, 2.0]),
    pd.Series([3, 1, None, 3], dtype="Int64"),
    np.array([" a", "a", "b"], dtype=object),
    np.array([True, False]),
    np.array([7], dtype=np.uint8),
])
def test_vectorised_ids_equal_one_at_a_time(values):
    codes, uniques = canonical_ids(values)
    got = [None if c < 0 else uniques[c] for c in codes]
    want = [canonical_id(v) for v in pd.Series(values).astype(object)]
    assert got == want
    assert all(type(u) is str for u in uniques)
    assert len(set(uniques)) == len(uniques)
