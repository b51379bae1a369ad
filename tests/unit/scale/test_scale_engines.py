"""Out-of-core (DuckDB) and distributed (Dask) fits equal the in-memory fit (docs/scale.md).

HS&B and a simulated set are written to several Parquet / CSV files with the rows shuffled, so
every unit is split across files and partitions; each engine's deviance must equal the
in-memory fit's to 1e-9 relative and every estimate and SE to 1e-8.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tests.unit.scale.helpers import assert_same, write_split

import openhlm
from openhlm.datasets import path as dataset_path

duckdb = pytest.importorskip("duckdb", reason="the scale extra (duckdb) is not installed")
dd = pytest.importorskip("dask.dataframe", reason="the scale extra (dask) is not installed")
pytest.importorskip("pyarrow", reason="the scale extra (pyarrow) is not installed")

# dask's Parquet reader calls reset_index(inplace=True), deprecated by pandas >= 3.1: dask's
# warning, not ours (it fails tasks under the suite's "warnings are errors")
pytestmark = pytest.mark.filterwarnings(
    "ignore:The inplace keyword in DataFrame.reset_index is deprecated")

MODEL4 = ("mathach = B0 + B1*group(ses) + R; B0 = G00 + G01*sector + G02*meanses + U0; "
          "B1 = G10 + G11*sector + U1")


@pytest.fixture(scope="module")
def hsb() -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.read_csv(dataset_path("hsb1.csv")), pd.read_csv(dataset_path("hsb2.csv"))


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_hsb_duckdb_and_dask_equal_memory(hsb, tmp_path, fmt, dask_client):
    l1, l2 = hsb
    files = write_split(l1, tmp_path, "hsb", parts=3, fmt=fmt)
    l2.to_parquet(tmp_path / "schools.parquet", index=False)
    mem = openhlm.fit(MODEL4, l1, id="id", level2=l2)
    duck = openhlm.fit(MODEL4, files, id="id", level2=str(tmp_path / "schools.parquet"),
                       engine="duckdb", quiet=True)
    dsk = openhlm.fit(MODEL4, files, id="id", level2=l2, engine="dask", quiet=True)
    assert_same(mem, duck)
    assert_same(mem, dsk)
    # the per-unit EB estimates come from the statistics (tests/unit/scale/test_scale_residuals.py)
    assert duck.eb is not None and dsk.eb is not None
    assert any("DuckDB" in n and "1 pass" in n for n in duck.notes)
    assert any("Dask" in n for n in dsk.notes)
    # the JSON says which engine made the statistics
    assert any("DuckDB" in n for n in duck.to_dict()["notes"])


def test_dask_dataframe_on_a_two_worker_cluster(hsb, dask_client):
    l1, l2 = hsb
    ddf = dd.from_pandas(l1.sample(frac=1.0, random_state=5), npartitions=7)
    mem = openhlm.fit(MODEL4, l1, id="id", level2=l2, method="ml")
    dsk = openhlm.fit(MODEL4, ddf, id="id", level2=l2, engine="dask", method="ml", quiet=True)
    assert_same(mem, dsk)
    assert len(dask_client.scheduler_info()["workers"]) == 2


def test_large_outcome_offset_is_stable(hsb, tmp_path):
    """y + 1e8: the per-unit statistics never form raw sums of squares of the offset data.

    Each stored value 1e8 + y carries a representation error of up to ulp(1e8)/2 = 7.5e-9, so
    fits on the offset data (any engine) differ from the unshifted fit by about 1e-8 relative
    in T; the engines agree with each other and with the in-memory fit on the same doubles to
    the deviance's 1e-9 and to 1e-7 in the variance components (1e-8 would test the data's
    rounding, not the engines).
    """
    l1, l2 = hsb
    shifted = l1.assign(mathach=l1.mathach + 1e8)
    files = write_split(shifted, tmp_path, "off", parts=4)
    base = openhlm.fit(MODEL4, l1, id="id", level2=l2)
    mem = openhlm.fit(MODEL4, shifted, id="id", level2=l2)
    duck = openhlm.fit(MODEL4, files, id="id", level2=l2, engine="duckdb", quiet=True)
    dsk = openhlm.fit(MODEL4, files, id="id", level2=l2, engine="dask", quiet=True)
    for r in (mem, duck, dsk):
        assert abs(r.deviance - base.deviance) <= 1e-9 * base.deviance
        np.testing.assert_allclose(r.sigma2, base.sigma2, rtol=1e-7)
        np.testing.assert_allclose(r.tau, base.tau, rtol=1e-7)
        np.testing.assert_allclose(r.fixed.rows[0].estimate, base.fixed.rows[0].estimate + 1e8,
                                   rtol=1e-15)
        for x, y in zip(base.fixed.rows[1:], r.fixed.rows[1:]):
            np.testing.assert_allclose(y.estimate, x.estimate, rtol=1e-7, atol=1e-7)
            np.testing.assert_allclose(y.se, x.se, rtol=1e-7)


def test_grand_centring_missing_values_and_level2_weights(hsb, tmp_path):
    """Grand-mean centring from the merged totals, rows with missing values deleted and counted
    as in memory (NaN in Parquet, empty fields in CSV), level-2 weights."""
    l1, l2 = hsb
    rng = np.random.default_rng(7)
    l1 = l1.copy()
    l1.loc[rng.choice(len(l1), 60, replace=False), "mathach"] = np.nan
    l1.loc[rng.choice(len(l1), 40, replace=False), "ses"] = np.nan
    l2 = l2.assign(w=rng.uniform(0.5, 2.0, len(l2)))
    model = ("mathach = B0 + B1*grand(ses) + B2*group(female) + R; B0 = G00 + G01*grand(meanses)"
             " + U0; B1 = G10 + U1; B2 = G20")
    mem = openhlm.fit(model, l1, id="id", level2=l2, level2_weight="w")
    assert mem.data.deleted_level1_rows > 0
    pq = write_split(l1, tmp_path, "miss", parts=3)
    csv = write_split(l1, tmp_path, "miss", parts=2, fmt="csv", seed=3)
    duck = openhlm.fit(model, pq, id="id", level2=l2, level2_weight="w", engine="duckdb",
                       quiet=True)
    duck_csv = openhlm.fit(model, csv, id="id", level2=l2, level2_weight="w", engine="duckdb",
                           quiet=True)
    dsk = openhlm.fit(model, pq, id="id", level2=l2, level2_weight="w", engine="dask",
                      quiet=True)
    for r in (duck, duck_csv, dsk):
        assert_same(mem, r)
        assert r.data.centering_means.keys() == mem.data.centering_means.keys()
        for k, v in mem.data.centering_means.items():
            np.testing.assert_allclose(r.data.centering_means[k], v, rtol=1e-13)


def simulated(seed: int = 11, units: int = 120) -> pd.DataFrame:
    """Units of 1 to 40 rows, a random slope, a level-2 variable stored on the level-1 rows,
    string IDs."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 40, units)
    unit = np.repeat(np.arange(units), sizes)
    z = rng.normal(size=units)
    x = rng.normal(size=unit.size) + 0.3 * rng.normal(size=units)[unit]
    u0 = rng.normal(scale=1.0, size=units)
    u1 = rng.normal(scale=0.5, size=units)
    y = 3 + 0.5 * z[unit] + (1 + u1[unit]) * x + u0[unit] + rng.normal(size=unit.size)
    return pd.DataFrame({"school": np.array([f"s{j:04d}" for j in range(units)])[unit],
                         "x": x, "y": y, "z": z[unit]})


SIM = "y = B0 + B1*x + R; B0 = G00 + G01*z + U0; B1 = G10 + U1"


def test_simulated_units_split_across_files_and_partitions(tmp_path, dask_client):
    data = simulated()
    files = write_split(data, tmp_path, "sim", parts=5, seed=2)
    mem = openhlm.fit(SIM, data, id="school")
    duck = openhlm.fit(SIM, files, id="school", engine="duckdb", quiet=True)
    dsk = openhlm.fit(SIM, dd.from_pandas(data.sample(frac=1.0, random_state=4),
                                          npartitions=6), id="school", engine="dask", quiet=True)
    folder = openhlm.fit(SIM, str(tmp_path), id="school", engine="duckdb", quiet=True)
    for r in (duck, dsk, folder):
        assert_same(mem, r)


def test_progress_on_stderr_and_quiet(hsb, tmp_path, capsys):
    l1, l2 = hsb
    files = write_split(l1, tmp_path, "p", parts=2)
    openhlm.fit(MODEL4, files, id="id", level2=l2, engine="duckdb")
    err = capsys.readouterr().err
    assert "7,185 rows read" in err and " s" in err
    openhlm.fit(MODEL4, files, id="id", level2=l2, engine="duckdb", quiet=True)
    assert capsys.readouterr().err == ""


def test_tests_out_of_core_equal_memory(hsb, tmp_path):
    """GLH, the homogeneity test and deviance tests come from the statistics: same numbers."""
    l1, l2 = hsb
    files = write_split(l1, tmp_path, "t", parts=3)
    kw = {"id": "id", "level2": l2, "method": "ml", "hypotheses": ["G01 = 0; G11 = 0"],
          "homogeneity": True, "deviance_test": {"deviance": 46600.0, "n_parameters": 4}}
    mem = openhlm.fit(MODEL4, l1, **kw)
    duck = openhlm.fit(MODEL4, files, engine="duckdb", quiet=True, **kw)
    for key in ("glh", "homogeneity", "deviance_test"):
        assert key in duck.extras
    np.testing.assert_allclose(duck.extras["glh"][0].chi2, mem.extras["glh"][0].chi2, rtol=1e-8)
    np.testing.assert_allclose(duck.extras["homogeneity"].chi2, mem.extras["homogeneity"].chi2,
                               rtol=1e-8)
    np.testing.assert_allclose(duck.extras["deviance_test"].chi2,
                               mem.extras["deviance_test"].chi2, rtol=1e-8)
    # two out-of-core fits compared: as in memory
    small = "mathach = B0 + B1*group(ses) + R; B0 = G00 + G01*sector + U0; B1 = G10 + U1"
    a_mem = openhlm.fit(small, l1, id="id", level2=l2, method="ml")
    a_duck = openhlm.fit(small, files, id="id", level2=l2, method="ml", engine="duckdb",
                         quiet=True)
    np.testing.assert_allclose(openhlm.compare(duck, a_duck).chi2,
                               openhlm.compare(mem, a_mem).chi2, rtol=1e-8)


def test_deviance_tests_refuse_what_the_statistics_cannot_show(hsb, tmp_path):
    from openhlm.errors import HypothesisError

    l1, l2 = hsb
    files = write_split(l1, tmp_path, "d", parts=2)
    other = write_split(l1.assign(mathach=l1.mathach * 1.01), tmp_path, "e", parts=2)
    small = "mathach = B0 + B1*group(ses) + R; B0 = G00 + G01*sector + U0; B1 = G10 + U1"
    a = openhlm.fit(MODEL4, files, id="id", level2=l2, engine="duckdb", quiet=True)
    b = openhlm.fit(small, files, id="id", level2=l2, engine="duckdb", quiet=True)
    c = openhlm.fit(small, other, id="id", level2=l2, engine="duckdb", quiet=True, method="ml")
    d = openhlm.fit(MODEL4, files, id="id", level2=l2, engine="duckdb", quiet=True, method="ml")
    with pytest.raises(HypothesisError, match="REML"):
        openhlm.compare(a, b)            # REML, different fixed effects
    with pytest.raises(HypothesisError, match="different outcome values"):
        openhlm.compare(d, c)            # same units and counts, other outcome values


def test_null_model_constraints_and_a_unit_with_every_row_deleted(hsb, tmp_path):
    l1, l2 = hsb
    l1 = l1.copy()
    first = l1.id.iloc[0]
    l1.loc[l1.id == first, "mathach"] = np.nan           # this unit has no complete row
    files = write_split(l1, tmp_path, "n", parts=3)
    null = "mathach = B0 + R; B0 = G00 + U0"
    constrained = ("mathach = B0 + B1*group(ses) + R; B0 = G00 + G01*sector + G02*meanses + U0;"
                   " B1 = G10 + G11*sector + G12*meanses + U1")
    for model, kw in ((null, {}), (constrained, {"constraints": ["G02 = G12"]})):
        mem = openhlm.fit(model, l1, id="id", level2=l2, **kw)
        duck = openhlm.fit(model, files, id="id", level2=l2, engine="duckdb", quiet=True, **kw)
        assert_same(mem, duck)
        assert duck.data.dropped_units == mem.data.dropped_units == (str(first),)


def test_dask_progress_per_partition_on_a_local_scheduler(hsb, capsys, monkeypatch):
    import dask

    import openhlm.scale.dask_engine as engine

    l1, l2 = hsb
    compute = engine._compute
    monkeypatch.setattr(engine, "_compute", lambda *a, **k: compute(*a, **{**k, "every": 0.0}))
    def no_client():
        raise ValueError("no client")   # as distributed says when none is running

    try:
        import distributed
    except ImportError:
        pass
    else:
        monkeypatch.setattr(distributed, "default_client", no_client)
    with dask.config.set(scheduler="threads"):
        openhlm.fit("mathach = B0 + R; B0 = G00 + U0", dd.from_pandas(l1, npartitions=3),
                    id="id", level2=l2, engine="dask")
    err = capsys.readouterr().err
    assert "(3 of 3 partitions)" in err and "7,185 rows read" in err
