"""Bad inputs and what an out-of-core fit cannot do give one clear error (docs/scale.md)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import openhlm
from openhlm.datasets import path as dataset_path
from openhlm.errors import DataError, MDMError, SpecError
from openhlm.spec.options import FitOptions

pytest.importorskip("duckdb", reason="the scale extra (duckdb) is not installed")
pytest.importorskip("dask.dataframe", reason="the scale extra (dask) is not installed")
pytest.importorskip("pyarrow", reason="the scale extra (pyarrow) is not installed")

pytestmark = pytest.mark.filterwarnings(
    "ignore:The inplace keyword in DataFrame.reset_index is deprecated")

MODEL = "mathach = B0 + B1*group(ses) + R; B0 = G00 + G01*sector + U0; B1 = G10 + U1"
ONE_FILE = "y = B0 + B1*x + R; B0 = G00 + G01*z + U0; B1 = G10"


@pytest.fixture(scope="module")
def hsb() -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.read_csv(dataset_path("hsb1.csv")), pd.read_csv(dataset_path("hsb2.csv"))


@pytest.fixture
def split(hsb, tmp_path):
    l1, l2 = hsb
    l1.iloc[::2].to_parquet(tmp_path / "a.parquet", index=False)
    l1.iloc[1::2].to_parquet(tmp_path / "b.parquet", index=False)
    (tmp_path / "level2").mkdir()
    l2.to_parquet(tmp_path / "level2" / "l2.parquet", index=False)
    return tmp_path


def small(units: int = 30, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    unit = np.repeat(np.arange(units), 8)
    z = rng.normal(size=units)
    x = rng.normal(size=unit.size)
    y = z[unit] + x + rng.normal(size=units)[unit] + rng.normal(size=unit.size)
    return pd.DataFrame({"g": unit, "x": x, "y": y, "z": z[unit]})


@pytest.mark.parametrize("engine", ["duckdb", "dask"])
def test_missing_id_column_in_one_file(hsb, tmp_path, engine):
    l1, l2 = hsb
    l1.iloc[::2].to_parquet(tmp_path / "a.parquet", index=False)
    l1.iloc[1::2].rename(columns={"id": "school"}).to_parquet(tmp_path / "b.parquet", index=False)
    with pytest.raises(MDMError, match=r"b\.parquet.*has no ID variable 'id'"):
        openhlm.fit(MODEL, str(tmp_path / "*.parquet"), id="id", level2=l2, engine=engine,
                    quiet=True)


@pytest.mark.parametrize("engine", ["duckdb", "dask"])
def test_level2_variable_varying_within_a_unit_across_two_files(tmp_path, engine):
    data = small()
    first, second = data.iloc[::2].copy(), data.iloc[1::2].copy()
    second.loc[second.g == 4, "z"] += 1.0           # unit 4's z differs between the files
    first.to_parquet(tmp_path / "a.parquet", index=False)
    second.to_parquet(tmp_path / "b.parquet", index=False)
    with pytest.raises(MDMError, match=r"level-2 variable 'z' varies within unit\(s\) 4\b"):
        openhlm.fit(ONE_FILE, str(tmp_path / "*.parquet"), id="g", engine=engine, quiet=True)
    # consistent values: fine, and equal to the in-memory fit
    data.iloc[1::2].to_parquet(tmp_path / "b.parquet", index=False)
    fit = openhlm.fit(ONE_FILE, str(tmp_path / "*.parquet"), id="g", engine=engine, quiet=True)
    mem = openhlm.fit(ONE_FILE, data, id="g")
    assert abs(fit.deviance - mem.deviance) <= 1e-9 * abs(mem.deviance)


@pytest.mark.parametrize("engine", ["duckdb", "dask"])
def test_unreadable_file(split, engine):
    (split / "c.parquet").write_bytes(b"this is not parquet")
    with pytest.raises(DataError, match=r"cannot read .*c\.parquet"):
        openhlm.fit(MODEL, str(split / "*.parquet"), id="id",
                    level2=str(split / "level2" / "l2.parquet"), engine=engine, quiet=True)


@pytest.mark.parametrize("engine", ["duckdb", "dask"])
def test_schema_differs_between_files(hsb, tmp_path, engine):
    l1, l2 = hsb
    l1.iloc[::2].to_parquet(tmp_path / "a.parquet", index=False)
    l1.iloc[1::2].assign(id=lambda d: d.id.astype(str)).to_parquet(tmp_path / "b.parquet",
                                                                   index=False)
    with pytest.raises(MDMError, match=r"schema differs between files: 'id' is text in "
                                       r".*b\.parquet.* but number in .*a\.parquet"):
        openhlm.fit(MODEL, str(tmp_path / "*.parquet"), id="id", level2=l2, engine=engine,
                    quiet=True)


def test_non_numeric_variable(hsb, tmp_path):
    l1, l2 = hsb
    l1.assign(ses=l1.ses.astype(str)).to_parquet(tmp_path / "a.parquet", index=False)
    with pytest.raises(MDMError, match="variable 'ses' in .*a.parquet.* is not numeric"):
        openhlm.fit(MODEL, str(tmp_path / "a.parquet"), id="id", level2=l2, engine="duckdb",
                    quiet=True)


def test_level1_ids_without_level2_record_and_missing_ids(hsb, split):
    l1, l2 = hsb
    with pytest.raises(MDMError, match=r"level-1 ID\(s\) have no record in the level-2 table"):
        openhlm.fit(MODEL, str(split / "*.parquet"), id="id", level2=l2.iloc[5:],
                    engine="duckdb", quiet=True)
    l1.assign(id=l1.id.where(l1.index != 3)).to_parquet(split / "b.parquet", index=False)
    with pytest.raises(MDMError, match="have a missing ID"):
        openhlm.fit(MODEL, str(split / "b.parquet"), id="id", level2=l2, engine="duckdb",
                    quiet=True)


def test_infinite_value(hsb, tmp_path):
    l1, l2 = hsb
    l1.assign(mathach=l1.mathach.where(l1.index != 10, np.inf)).to_parquet(
        tmp_path / "a.parquet", index=False)
    for engine in ("duckdb", "dask"):
        with pytest.raises(DataError, match="'mathach' has 1 infinite value"):
            openhlm.fit(MODEL, str(tmp_path / "a.parquet"), id="id", level2=l2, engine=engine,
                        quiet=True)


def test_no_such_files(tmp_path):
    with pytest.raises(SpecError, match="no file matches"):
        openhlm.fit(MODEL, str(tmp_path / "*.parquet"), id="id", engine="duckdb")
    with pytest.raises(DataError, match="no such file"):
        openhlm.fit(MODEL, str(tmp_path / "x.parquet"), id="id", engine="duckdb")
    (tmp_path / "x.sav").write_bytes(b"")
    with pytest.raises(SpecError, match="Parquet .* or CSV"):
        openhlm.fit(MODEL, str(tmp_path / "x.sav"), id="id", engine="duckdb")


@pytest.mark.parametrize("kwargs, cause", [
    ({"heterogeneous_sigma2": "ses", "method": "ml", "level1_weight": "ses"},
     "heterogeneous sigma\\^2 with level-1 or precision weights"),
    ({"heterogeneous_sigma2": "ses", "method": "ml", "mode": "hlm"},
     "heterogeneous sigma\\^2 in mode='hlm'"),
])
def test_what_cannot_work_out_of_core_is_refused(split, kwargs, cause):
    with pytest.raises(SpecError, match=rf"^engine='duckdb': .*{cause}.*engine='memory'$"):
        openhlm.fit(MODEL, str(split / "*.parquet"), id="id", level2=str(split / "level2" / "l2.parquet"),
                    engine="duckdb", quiet=True, **kwargs)


def test_residual_files_refused_and_engine_checked(split):
    from openhlm.runner import run

    options = FitOptions(engine="duckdb", quiet=True).with_overrides()
    options = options.replace(residuals=options.residuals.__class__(level1=split / "r1.xpt"))
    with pytest.raises(SpecError, match="^engine='duckdb': the level-1 residual file .* is "
                                        "streamed to Parquet or CSV; xpt needs the whole table"):
        run(MODEL, str(split / "*.parquet"), options, id="id", level2=str(split / "level2" / "l2.parquet"))
    with pytest.raises(SpecError, match="engine must be 'memory' or 'duckdb' or 'dask'"):
        FitOptions(engine="spark")
    with pytest.raises(SpecError, match="needs engine='dask'"):
        dd = pytest.importorskip("dask.dataframe")
        openhlm.fit(MODEL, dd.from_pandas(pd.DataFrame({"id": [1]}), npartitions=1), id="id",
                    engine="duckdb")
