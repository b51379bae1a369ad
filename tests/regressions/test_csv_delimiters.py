"""Regression: semicolon-delimited "CSV" files (spreadsheets in decimal-comma locales).

Before the fix a ``.csv`` with ``;`` separators was read as one column named
``id;minority;...`` and building an MDM failed with "has no ID variable 'id'".
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from openhlm import datasets
from openhlm.data import build_mdm
from openhlm.data.readers import read_table


@pytest.fixture(scope="module")
def students() -> pd.DataFrame:
    return pd.read_csv(datasets.path("hsb1.csv"))


@pytest.mark.parametrize("decimal", [".", ","])
def test_semicolon_csv_reads_like_pandas(tmp_path, students, decimal):
    path = tmp_path / "hsb1_semicolon.csv"
    students.to_csv(path, sep=";", decimal=decimal, index=False)
    table = read_table(path)
    expected = pd.read_csv(path, sep=";", decimal=decimal)
    assert table.columns == tuple(expected.columns)
    for name in expected.columns:
        np.testing.assert_allclose(table.data[name].to_numpy(dtype=float),
                                   expected[name].to_numpy(dtype=float))


def test_semicolon_txt_is_sniffed(tmp_path):
    path = tmp_path / "small.txt"
    path.write_text("id;x;label\n1;2,5;a\n2;;b\n3;-0,75;c\n", encoding="utf-8")
    data = read_table(path).data
    assert list(data.columns) == ["id", "x", "label"]
    np.testing.assert_allclose(data["x"].to_numpy(dtype=float), [2.5, np.nan, -0.75])
    assert data["label"].tolist() == ["a", "b", "c"]   # text stays text


def test_comma_csv_with_semicolons_in_text_is_unchanged(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text('id,note,x\n1,"a;b",1.5\n2,"c",2.5\n', encoding="utf-8")
    data = read_table(path).data
    assert list(data.columns) == ["id", "note", "x"]
    assert data["note"].tolist() == ["a;b", "c"]


def test_mdm_from_semicolon_files(tmp_path, students):
    path = tmp_path / "hsb1.csv"
    students.to_csv(path, sep=";", decimal=",", index=False)
    mdm = build_mdm(path, datasets.path("hsb2.csv"), id="id")
    reference = build_mdm(datasets.path("hsb1.csv"), datasets.path("hsb2.csv"), id="id")
    assert mdm.n_level1 == reference.n_level1 == len(students)
    np.testing.assert_allclose(mdm.level1["ses"], reference.level1["ses"])
