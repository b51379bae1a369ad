"""Heterogeneous sigma^2 out of core equals the in-memory fit (docs/scale.md).

ln sigma^2_ij = alpha_0 + sum_k alpha_k C_kij is fitted by DuckDB and Dask from passes over the
rows (a pass per trial value of alpha); the in-memory fit of the same rows is the reference
(itself checked against HLM's printed HS&B example and nlme in tests/reference), to 1e-9 on the
deviance and 1e-8 on every estimate and standard error, with every unit split across files and
partitions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tests.unit.scale.helpers import write_split

import openhlm
from openhlm.datasets import path as dataset_path
from openhlm.errors import EstimationError, SpecError

pytest.importorskip("duckdb", reason="the scale extra (duckdb) is not installed")
dd = pytest.importorskip("dask.dataframe", reason="the scale extra (dask) is not installed")
pytest.importorskip("pyarrow", reason="the scale extra (pyarrow) is not installed")

pytestmark = pytest.mark.filterwarnings(
    "ignore:The inplace keyword in DataFrame.reset_index is deprecated")

MODEL4 = ("mathach = B0 + B1*group(ses) + R; B0 = G00 + G01*sector + G02*meanses + U0; "
          "B1 = G10 + G11*sector + U1")


@pytest.fixture(scope="module")
def hsb() -> tuple[pd.DataFrame, pd.DataFrame]:
    l1 = pd.read_csv(dataset_path("hsb1.csv"))
    l1.insert(1, "row", np.arange(len(l1)))
    return l1, pd.read_csv(dataset_path("hsb2.csv"))


def assert_same_heterogeneous(a, b, rel: float = 1e-8) -> None:
    assert abs(a.deviance - b.deviance) <= 1e-9 * abs(a.deviance)
    ha, hb = a.extras["heterogeneous_sigma2"], b.extras["heterogeneous_sigma2"]
    for x, y in zip(ha.rows, hb.rows, strict=True):
        assert x.label == y.label
        np.testing.assert_allclose(y.estimate, x.estimate, rtol=rel, atol=rel * x.se)
        np.testing.assert_allclose(y.se, x.se, rtol=rel)
    assert [(i.value, i.n_rows) for i in ha.implied] == [(i.value, i.n_rows) for i in hb.implied]
    np.testing.assert_allclose([i.variance for i in hb.implied],
                               [i.variance for i in ha.implied], rtol=rel)
    np.testing.assert_allclose(hb.test.chi2, ha.test.chi2, rtol=1e-7)
    np.testing.assert_allclose(b.tau, a.tau, rtol=rel, atol=rel * np.abs(a.tau).max())
    np.testing.assert_allclose(b.sigma2_se, a.sigma2_se, rtol=rel)
    np.testing.assert_allclose(b.tau_se, a.tau_se, rtol=rel, atol=rel * np.abs(a.tau_se).max())
    for x, y in zip(a.fixed.rows, b.fixed.rows, strict=True):
        np.testing.assert_allclose(y.estimate, x.estimate, rtol=rel, atol=rel * x.se)
        np.testing.assert_allclose(y.se, x.se, rtol=rel)
        np.testing.assert_allclose(y.robust_se, x.robust_se, rtol=rel)
    for k in a.reliability:
        np.testing.assert_allclose(b.reliability[k], a.reliability[k], rtol=rel)
    for name in ("eb_residuals", "posterior_cov", "mdist", "mdrsvar", "olsrsvar"):
        x, y = getattr(a.eb, name), getattr(b.eb, name)
        np.testing.assert_allclose(y, x, rtol=rel, atol=rel * np.nanmax(np.abs(x)), err_msg=name)


def test_hsb_female_duckdb_and_dask_equal_memory(hsb, tmp_path, dask_client):
    l1, l2 = hsb
    files = write_split(l1, tmp_path, "hsb")
    mem = openhlm.fit(MODEL4, l1, id="id", level2=l2, method="ml",
                      heterogeneous_sigma2=["female"])
    ref1 = mem.level1_residuals(extra=["row"]).sort_values("row").reset_index(drop=True)
    for engine in ("duckdb", "dask"):
        res = openhlm.fit(MODEL4, files, id="id", level2=l2, engine=engine, method="ml",
                          heterogeneous_sigma2=["female"], quiet=True)
        assert_same_heterogeneous(mem, res)
        note = next(n for n in res.notes if "Per-unit statistics" in n)
        passes = int(note.split("; ")[1].split()[0])
        assert f"{passes} more passes for heterogeneous sigma^2" in note and passes >= 3
        # the level-1 residual file: SIGMA_ij = sqrt(sigma^2_ij) streamed from the rows
        out = res.write_residuals(level1=tmp_path / f"{engine}" / "r1.parquet",
                                  extra_level1=["row"])
        got = pd.read_parquet(out["level1"]).sort_values("row").reset_index(drop=True)
        assert list(got.columns) == list(ref1.columns)
        for c in ("FITVAL", "L1RESID", "SIGMA"):
            np.testing.assert_allclose(got[c], ref1[c], rtol=1e-8,
                                       atol=1e-8 * np.abs(ref1[c]).max())
        assert sorted(np.unique(got.SIGMA.round(8))) == sorted(
            np.round([np.sqrt(i.variance) for i in res.extras["heterogeneous_sigma2"].implied],
                     8))


def simulated(seed: int = 11, J: int = 80) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = rng.integers(2, 25, size=J)
    unit = np.repeat(np.arange(J), n)
    N = int(n.sum())
    x = rng.normal(size=N) + np.repeat(rng.normal(size=J), n)
    c1 = rng.normal(5.0, 2.0, size=N)          # continuous, offset from 0
    c2 = rng.integers(0, 3, size=N).astype(float)
    sd = np.exp(0.5 * (0.2 + 0.15 * (c1 - 5.0) - 0.3 * c2))
    y = (3.0 + np.repeat(rng.normal(0, 1.0, size=J), n)
         + (0.8 + np.repeat(rng.normal(0, 0.3, size=J), n)) * x + rng.normal(size=N) * sd)
    return pd.DataFrame({"g": unit, "y": y, "x": x, "c1": c1, "c2": c2,
                         "z": np.repeat(rng.normal(size=J), n)})


def test_simulated_two_predictors_split_over_files_and_partitions(tmp_path, dask_client):
    data = simulated()
    model = "y = B0 + B1*grand(x) + R; B0 = G00 + G01*z + U0; B1 = G10 + U1"
    l2 = data.groupby("g", as_index=False)[["z"]].first()
    mem = openhlm.fit(model, data.drop(columns="z"), id="g", level2=l2, method="ml",
                      heterogeneous_sigma2=["c1", "c2"])
    files = write_split(data, tmp_path, "sim", parts=4, seed=3)
    duck = openhlm.fit(model, files, id="g", engine="duckdb", method="ml",
                       heterogeneous_sigma2=["c1", "c2"], quiet=True)
    assert_same_heterogeneous(mem, duck)
    ddf = dd.from_pandas(data.sample(frac=1.0, random_state=4), npartitions=5)
    dsk = openhlm.fit(model, ddf, id="g", engine="dask", method="ml",
                      heterogeneous_sigma2=["c1", "c2"], quiet=True)
    assert_same_heterogeneous(mem, dsk)
    # c2 has 3 values: its implied variances are reported from the pass's counts
    assert len(duck.extras["heterogeneous_sigma2"].implied) == 3


def test_refusals_as_in_memory(hsb, tmp_path):
    l1, l2 = hsb
    bad = l1.assign(female=l1.female.where(l1.index != 5))   # a missing variance predictor
    files = write_split(bad, tmp_path, "bad", parts=2)
    with pytest.raises(EstimationError, match="full maximum likelihood only"):
        openhlm.fit(MODEL4, files, id="id", level2=l2, engine="duckdb",
                    heterogeneous_sigma2=["female"], quiet=True)
    with pytest.raises(EstimationError, match="variance predictor 'female' has missing"):
        openhlm.fit(MODEL4, files, id="id", level2=l2, engine="duckdb", method="ml",
                    heterogeneous_sigma2=["female"], quiet=True)
    const = write_split(l1.assign(one=1.0), tmp_path, "const", parts=2)
    with pytest.raises(EstimationError, match="variance predictor 'one' is constant"):
        openhlm.fit(MODEL4, const, id="id", level2=l2, engine="dask", method="ml",
                    heterogeneous_sigma2=["one"], quiet=True)
    with pytest.raises(SpecError, match="must be a column of the level-1 data"):
        openhlm.fit(MODEL4, const, id="id", level2=l2, engine="duckdb", method="ml",
                    heterogeneous_sigma2=["size"], quiet=True)
