"""Residual-file tables and writers: HLM's names, labels, and round trips through pyreadstat
(SPSS, Stata, SAS transport) and pyarrow (Parquet)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyreadstat
import pytest

import openhlm
from openhlm.errors import SpecError
from openhlm.inference.residuals import eb_estimates
from openhlm.report.residual_files import (
    level1_residual_table,
    level2_residual_table,
    residual_format,
    write_table,
)

M4 = """mathach = B0 + B1*group(ses) + R
B0 = G00 + G01*sector + G02*meanses + U0
B1 = G10 + G11*sector + G12*meanses + U1"""

HLM_LEVEL2 = ["L2ID", "NJ", "CHIPCT", "MDIST", "LNTOTVAR", "OLSRSVAR", "MDRSVAR", "EBINTRCP",
              "EBSES", "OLINTRCP", "OLSES", "FVINTRCP", "FVSES", "ECINTRCP", "ECSES", "PV0_0",
              "PV0_1", "PV1_1", "PVC0_0", "PVC0_1", "PVC1_1", "sector", "meanses"]

READERS = {".sav": pyreadstat.read_sav, ".dta": pyreadstat.read_dta,
           ".xpt": pyreadstat.read_xport}


@pytest.fixture(scope="module")
def results():
    return openhlm.fit(M4, openhlm.datasets.hsb())


def test_level2_columns_follow_hlm(results):
    table = level2_residual_table(results, extra=["pracad", "size", "meanses"])
    assert list(table.frame.columns) == HLM_LEVEL2 + ["pracad", "size"]   # meanses not twice
    assert len(table.frame) == 160
    assert set(table.labels) == set(table.frame.columns)
    assert all(table.labels.values())
    assert table.labels["pracad"].startswith("pracad: Proportion of students")
    assert "U0" in table.labels["EBINTRCP"] and "INTRCPT1" in table.labels["EBINTRCP"]
    eb = eb_estimates(results.estimates)
    np.testing.assert_array_equal(table.frame["MDIST"], eb.mdist)
    np.testing.assert_array_equal(table.frame["PV0_1"], eb.posterior_cov[:, 0, 1])
    assert table.frame["L2ID"].tolist()[:3] == [1224, 1288, 1296]
    np.testing.assert_allclose(table.frame["ECSES"], table.frame["FVSES"] + table.frame["EBSES"])


def test_level1_columns(results):
    frame = results.level1_residuals(extra=["female", "pracad"])
    assert list(frame.columns) == ["L2ID", "FITVAL", "L1RESID", "SIGMA", "mathach", "ses",
                                   "sector", "meanses", "female", "pracad"]
    assert len(frame) == 7185
    np.testing.assert_allclose(frame["FITVAL"] + frame["L1RESID"], frame["mathach"])
    np.testing.assert_allclose(frame["SIGMA"], np.sqrt(results.sigma2))
    assert "group-centred" in frame.attrs["labels"]["ses"]
    # level-2 values repeated on each row of the unit
    first = frame[frame["L2ID"] == 1224]
    assert (first["pracad"] == 0.35).all() and len(first) == 47


def test_unknown_extra_variable_names_the_variable(results):
    with pytest.raises(SpecError, match="'pracadd'.*available"):
        level2_residual_table(results, extra=["pracadd"])


@pytest.mark.parametrize("suffix", [".sav", ".dta", ".xpt"])
def test_round_trip_through_pyreadstat_with_labels(results, tmp_path, suffix):
    table = level2_residual_table(results, extra=["pracad", "disclim"])
    path = write_table(table, tmp_path / f"res2{suffix}")
    back, meta = READERS[suffix](path)
    assert list(back.columns) == list(table.frame.columns)
    assert len(back) == 160
    for column in table.frame.columns:
        np.testing.assert_allclose(back[column].to_numpy(dtype=float),
                                   table.frame[column].to_numpy(dtype=float), rtol=1e-14,
                                   equal_nan=True, err_msg=column)
        label = meta.column_names_to_labels[column]
        if suffix == ".xpt":
            assert len(label) <= 40
            assert table.labels[column].startswith(label.removesuffix("..."))
        else:
            assert label == table.labels[column]


def test_xpt_names_are_cut_to_eight_characters(tmp_path):
    frame = pd.DataFrame({"g": np.repeat(np.arange(20), 5)})
    rng = np.random.default_rng(1)
    frame["longpredictor"] = rng.normal(size=100)
    frame["longpredictor2"] = rng.normal(size=100)
    frame["y"] = frame["longpredictor"] + rng.normal(size=20)[frame["g"]] + rng.normal(size=100)
    res = openhlm.fit("y = B0 + B1*longpredictor + R; B0 = G00 + U0; B1 = G10", frame, id="g")
    table = level1_residual_table(res, extra=["longpredictor2"])
    path = write_table(table, tmp_path / "res1.xpt")
    back, _meta = pyreadstat.read_xport(path)
    assert list(back.columns) == ["L2ID", "FITVAL", "L1RESID", "SIGMA", "y", "longpred",
                                  "longpre2"]
    assert all(len(c) <= 8 for c in back.columns)
    np.testing.assert_allclose(back["longpre2"], frame["longpredictor2"])
    # the Level-2 file of this model: EB columns only for the random intercept, FV/EC for both
    l2 = level2_residual_table(res).frame
    assert [c for c in l2.columns[7:] if c[:2] in ("EB", "OL", "FV", "EC")] == [
        "EBINTRCP", "OLINTRCP", "FVINTRCP", "FVLONGPR", "ECINTRCP", "ECLONGPR"]


def test_csv_and_parquet(results, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    table = level2_residual_table(results)
    csv = write_table(table, tmp_path / "res2.csv")
    back = pd.read_csv(csv)
    assert list(back.columns) == HLM_LEVEL2
    np.testing.assert_allclose(back["MDIST"], table.frame["MDIST"], rtol=1e-15)
    parquet = write_table(table, tmp_path / "res2.parquet")
    arrow = pq.read_table(parquet)
    assert arrow.column_names == HLM_LEVEL2
    labels = {f.name: f.metadata[b"label"].decode() for f in arrow.schema}
    assert labels == table.labels
    np.testing.assert_array_equal(arrow.to_pandas()["EBSES"], table.frame["EBSES"])


def test_xlsx_has_a_labels_sheet(results, tmp_path):
    pytest.importorskip("openpyxl")
    table = level2_residual_table(results)
    path = write_table(table, tmp_path / "res2.xlsx")
    sheets = pd.read_excel(path, sheet_name=None)
    np.testing.assert_allclose(sheets["residuals"]["MDIST"], table.frame["MDIST"], rtol=1e-15)
    assert dict(zip(sheets["labels"]["variable"], sheets["labels"]["label"])) == table.labels


def test_write_residuals_uses_hlm_file_types(results, tmp_path):
    written = results.write_residuals(level2=tmp_path / "r2", level1=tmp_path / "r1",
                                      format="SPSS", extra_level2=["pracad"])
    back, meta = pyreadstat.read_sav(written["level2"])
    assert "pracad" in back.columns and meta.number_rows == 160
    back1, _ = pyreadstat.read_sav(written["level1"])
    assert len(back1) == 7185
    assert residual_format("x.dat") == "csv" and residual_format("resfil2") == "csv"
    assert residual_format("x", "stata") == "dta" and residual_format("x", "SAS") == "xpt"
    with pytest.raises(SpecError, match="suffix"):
        residual_format("x.foo")
    with pytest.raises(SpecError, match="unknown residual file type"):
        residual_format("x.csv", "lotus")
    with pytest.raises(SpecError, match="name a level-2"):
        results.write_residuals()
