"""The per-unit statistics merge exactly, whatever the split of the rows (no engine needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

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


@pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.reset_index is deprecated")
def test_one_statistics_interface_gives_the_engines_moments(tmp_path):
    """DuckDB, Dask and in-memory numpy statistics of a model are the moments the estimator
    forms from the design's rows (estimation.sufficient.design_moments)."""
    pytest.importorskip("duckdb")
    pytest.importorskip("dask.dataframe")
    import openhlm
    from openhlm.datasets import path as dataset_path
    from openhlm.estimation.design import build_design
    from openhlm.estimation.sufficient import design_moments
    from openhlm.scale.run import unit_statistics
    from openhlm.spec.options import FitOptions

    l1, l2 = pd.read_csv(dataset_path("hsb1.csv")), pd.read_csv(dataset_path("hsb2.csv"))
    model = ("mathach = B0 + B1*group(ses) + B2*grand(female) + R; B0 = G00 + G01*sector + U0;"
             " B1 = G10 + U1; B2 = G20")
    mdm = openhlm.MDM.from_tables(l1, l2, id="id")
    from openhlm.runner.inputs import as_spec

    reference = design_moments(build_design(as_spec(model, mdm), mdm))
    l1.sample(frac=1.0, random_state=0).to_parquet(tmp_path / "a.parquet", index=False)
    for engine, data in (("memory", l1), ("duckdb", str(tmp_path / "a.parquet")),
                         ("dask", str(tmp_path / "a.parquet"))):
        design, mom = unit_statistics(model, data, FitOptions(engine=engine, quiet=True),
                                      id="id", level2=l2)
        assert design.engine == engine and design.n_level1 == len(l1)
        np.testing.assert_array_equal(design.unit_ids, np.asarray(mdm.unit_ids))
        np.testing.assert_allclose(mom.weight, reference.weight)
        np.testing.assert_allclose(mom.mean, reference.mean, rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(mom.centred, reference.centred, rtol=1e-11, atol=1e-10)
