"""Residual files and the exploratory analysis of out-of-core fits equal the in-memory ones.

The level-2 residual file and the exploratory analysis come from the per-unit statistics; the
level-1 residual file is streamed in a second pass (DuckDB ``COPY`` of a join, Dask
``map_partitions``).  Every unit is split across files and partitions; the in-memory fit of the
same rows is the reference (its own residual files are checked against lme4 and direct
computations in tests/reference and tests/unit/inference), to 1e-8 relative.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tests.unit.scale.helpers import write_split

import openhlm
from openhlm.datasets import path as dataset_path
from openhlm.errors import SpecError

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


def assert_frames_close(a: pd.DataFrame, b: pd.DataFrame, rel: float = 1e-8) -> None:
    assert list(a.columns) == list(b.columns)
    assert len(a) == len(b)
    for c in a.columns:
        x, y = a[c].to_numpy(dtype=float), b[c].to_numpy(dtype=float)
        assert np.array_equal(np.isnan(x), np.isnan(y)), c
        ok = ~np.isnan(x)
        scale = max(float(np.abs(x[ok]).max()), 1e-300) if ok.any() else 1.0
        np.testing.assert_allclose(y[ok], x[ok], rtol=rel, atol=rel * scale, err_msg=c)


def read(path) -> pd.DataFrame:
    return pd.read_parquet(path) if str(path).endswith(".parquet") else pd.read_csv(path)


def by_row(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("row").reset_index(drop=True)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_hsb_residual_files_and_exploratory_equal_memory(hsb, tmp_path, fmt, dask_client):
    l1, l2 = hsb
    files = write_split(l1, tmp_path, "hsb", parts=3, fmt=fmt)
    mem = openhlm.fit(MODEL4, l1, id="id", level2=l2, exploratory=["size", "pracad"])
    ref2 = mem.level2_residuals(extra=["pracad", "himinty"])
    ref1 = by_row(mem.level1_residuals(extra=["row", "minority", "size"]))
    for engine in ("duckdb", "dask"):
        res = openhlm.fit(MODEL4, files, id="id", level2=l2, engine=engine, quiet=True,
                          exploratory=["size", "pracad"])
        assert_frames_close(ref2, res.level2_residuals(extra=["pracad", "himinty"]))
        ea, eb = mem.extras["exploratory"], res.extras["exploratory"]
        assert ea.candidates == eb.candidates
        for name in ("estimate", "se", "t", "intercept"):
            np.testing.assert_allclose(getattr(eb, name), getattr(ea, name), rtol=1e-8)
        for kind in ("parquet", "csv"):
            out = res.write_residuals(level2=tmp_path / f"{engine}2.{kind}",
                                      level1=tmp_path / f"{engine}1.{kind}",
                                      extra_level1=["row", "minority", "size"],
                                      extra_level2=["pracad", "himinty"])
            assert_frames_close(ref2, read(out["level2"]))
            assert_frames_close(ref1, by_row(read(out["level1"])))


def test_dask_dataframe_residuals_on_a_two_worker_cluster(hsb, tmp_path, dask_client):
    l1, l2 = hsb
    ddf = dd.from_pandas(l1.sample(frac=1.0, random_state=5), npartitions=7)
    mem = openhlm.fit(MODEL4, l1, id="id", level2=l2, method="ml")
    res = openhlm.fit(MODEL4, ddf, id="id", level2=l2, engine="dask", method="ml", quiet=True)
    out = res.write_residuals(level1=tmp_path / "r1.parquet", extra_level1=["row"])
    assert_frames_close(by_row(mem.level1_residuals(extra=["row"])),
                        by_row(pd.read_parquet(out["level1"])))
    # the labels travel with the Parquet file, as from the in-memory writer
    import pyarrow.parquet as pq

    field = pq.read_schema(out["level1"]).field("FITVAL")
    assert field.metadata[b"label"] == b"Fitted value with EB coefficients"
    assert len(dask_client.scheduler_info()["workers"]) == 2


def simulated(seed: int = 3, J: int = 60) -> pd.DataFrame:
    """Units of 1..30 rows, an outcome with an offset, missing values, a level-2 variable
    stored on the rows (constant within the unit) and a candidate w."""
    rng = np.random.default_rng(seed)
    n = rng.integers(1, 31, size=J)
    unit = np.repeat(np.arange(J) * 7 + 100, n)
    z = rng.normal(size=J)
    w = z + rng.normal(size=J)
    x = rng.normal(2.0, 1.5, size=n.sum()) + np.repeat(rng.normal(size=J), n)
    u0, u1 = rng.normal(0, 1.0, size=J), rng.normal(0, 0.4, size=J)
    y = (1e4 + 2.0 + 0.5 * np.repeat(z, n) + np.repeat(u0, n)
         + (1.0 + np.repeat(u1, n)) * x + rng.normal(0, 1.3, size=n.sum()))
    frame = pd.DataFrame({"school": unit, "row": np.arange(n.sum()), "y": y, "x": x,
                          "z": np.repeat(z, n), "w": np.repeat(w, n),
                          "x2": rng.normal(size=n.sum())})
    frame.loc[rng.choice(len(frame), 15, replace=False), "x"] = np.nan
    return frame


@pytest.mark.parametrize("centring", ["grand(x)", "group(x)", "x"])
def test_simulated_split_without_level2_table(tmp_path, centring, dask_client):
    data = simulated()
    model = f"y = B0 + B1*{centring} + R; B0 = G00 + G01*z + U0; B1 = G10 + U1"
    mem = openhlm.fit(model, data.drop(columns=["w", "z"]), id="school",
                      level2=data.groupby("school", as_index=False)[["z", "w"]].first(),
                      method="ml", exploratory=["w"])
    files = write_split(data, tmp_path, "sim", parts=4, seed=7)
    ref1 = by_row(mem.level1_residuals(extra=["row", "x2", "w"]))
    ref2 = mem.level2_residuals(extra=["w"])
    for engine in ("duckdb", "dask"):
        res = openhlm.fit(model, files, id="school", engine=engine, method="ml", quiet=True,
                          exploratory=["w"])
        np.testing.assert_allclose(res.extras["exploratory"].estimate,
                                   mem.extras["exploratory"].estimate, rtol=1e-8)
        out = res.write_residuals(level2=tmp_path / f"{engine}.csv",
                                  level1=tmp_path / f"{engine}.parquet",
                                  extra_level1=["row", "x2", "w"], extra_level2=["w"])
        got1 = by_row(pd.read_parquet(out["level1"]))
        # the row file has w on every row (a level-1 column), memory the unit's value: same
        assert_frames_close(ref1, got1)
        assert_frames_close(ref2, pd.read_csv(out["level2"]))
        # FITVAL + L1RESID = outcome; only the analysis rows (x missing: deleted)
        assert len(got1) == res.n_level1 == int(data.x.notna().sum())


def test_pass_count_and_refused_formats(hsb, tmp_path):
    l1, l2 = hsb
    files = write_split(l1, tmp_path, "p", parts=2)
    from openhlm.runner import run
    from openhlm.spec.options import FitOptions, Residuals

    options = FitOptions(engine="duckdb", quiet=True)
    res = run(MODEL4, files, options.replace(residuals=Residuals(level1=tmp_path / "r1.csv")),
              id="id", level2=l2)
    assert any("in 1 pass" in n and "1 more pass for the level-1 residual file" in n
               for n in res.notes)
    with pytest.raises(SpecError, match=r"^the level-1 residual file .*r1\.sav.* streamed to "
                                        r"Parquet or CSV; sav needs the whole table"):
        res.write_residuals(level1=tmp_path / "r1.sav")
    with pytest.raises(SpecError, match="dta needs the whole table in memory"):
        run(MODEL4, files, options.replace(residuals=Residuals(level1=tmp_path / "r1.dta")),
            id="id", level2=l2)
    with pytest.raises(SpecError, match="not in memory: write the level-1 residual file"):
        res.level1_residuals()
    # the level-2 file has one row per unit: every format works
    pytest.importorskip("pyreadstat")
    res.write_residuals(level2=tmp_path / "r2.sav")
    assert (tmp_path / "r2.sav").exists()


def test_graphs_of_the_eb_estimates_work_out_of_core(hsb, tmp_path):
    pytest.importorskip("matplotlib")
    from openhlm import plots

    l1, l2 = hsb
    files = write_split(l1, tmp_path, "g", parts=2)
    mem = openhlm.fit(MODEL4, l1, id="id", level2=l2)
    res = openhlm.fit(MODEL4, files, id="id", level2=l2, engine="duckdb", quiet=True)
    a = plots.qq_mdist(mem).axes[0].collections[0].get_offsets()
    b = plots.qq_mdist(res).axes[0].collections[0].get_offsets()
    np.testing.assert_allclose(b, a, rtol=1e-8)
    # the graphs of the rows: tests/unit/scale/test_scale_completeness.py
