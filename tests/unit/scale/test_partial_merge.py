"""The per-unit statistics merge exactly, whatever the split of the rows (no engine needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from openhlm.scale.partial import merge_all, merge_many, partial_from_frame


def frame(seed: int = 1, n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"g": rng.integers(0, 25, n), "x": rng.normal(size=n) + 1e6,
                         "y": rng.normal(size=n) * 3 + 1e8, "z": np.zeros(n)})


def test_any_split_merges_to_the_statistics_of_all_rows():
    data = frame()
    data.loc[[3, 50, 51], "x"] = np.nan                  # incomplete rows: counted, not used
    whole = partial_from_frame(data, "g", ("x", "y"), ("z",))
    rng = np.random.default_rng(2)
    cut = rng.integers(0, 5, len(data))
    parts = [partial_from_frame(data[cut == k], "g", ("x", "y"), ("z",)) for k in range(5)]
    pairwise = parts[0]
    for p in parts[1:]:
        pairwise = pairwise.merge(p)
    for merged in (pairwise, merge_many(parts), merge_all(parts, fan_in=2)):
        np.testing.assert_array_equal(merged.ids, whole.ids)
        np.testing.assert_array_equal(merged.rows, whole.rows)
        np.testing.assert_allclose(merged.moments.weight, whole.moments.weight)
        np.testing.assert_allclose(merged.moments.mean, whole.moments.mean, rtol=1e-15)
        # centred cross-products of data offset by 1e6 / 1e8 (sd 1 and 3): each part's mean
        # carries one rounding of the offset (ulp(1e8) = 1.5e-8), so C_j is right to about
        # 1e-8 relative, the precision of the data themselves (each value 1e8 + y is stored
        # to 7.5e-9); a raw sum of squares would have lost every digit (y^2 ~ 1e16)
        np.testing.assert_allclose(merged.moments.centred, whole.moments.centred, rtol=5e-8,
                                   atol=5e-8 * np.abs(whole.moments.centred).max())
        np.testing.assert_array_equal(merged.level2_min, whole.level2_min)
    assert whole.rows.sum() == len(data) and whole.moments.n.sum() == len(data) - 3
