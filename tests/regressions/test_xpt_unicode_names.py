"""Regression: SAS transport (.xpt) residual files of data with non-ASCII variable names.

Before the fix writing ``extra_level1=["sés"]`` (or a model with ``group(sés)``, whose level-2
file holds ``EBSÉS``) to ``.xpt`` failed with pyreadstat's "A provided name contains an illegal
character"; the other formats keep the name.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import openhlm
from openhlm.data.readers import read_table


@pytest.fixture(scope="module")
def results():
    students = pd.read_csv(openhlm.datasets.path("hsb1.csv")).rename(columns={"ses": "sés"})
    schools = pd.read_csv(openhlm.datasets.path("hsb2.csv"))
    mdm = openhlm.build_mdm(students, schools, id="id")
    return openhlm.fit("mathach = B0 + B1*group(sés) + R; B0 = G00 + U0; B1 = G10 + U1", mdm)


def test_xpt_names_are_ascii(tmp_path, results):
    res1, res2 = tmp_path / "res1.xpt", tmp_path / "res2.xpt"
    results.write_residuals(level2=res2, level1=res1, extra_level1=["sés"])
    level1 = read_table(res1).data
    assert "ses" in level1.columns
    assert all(name.isascii() and len(name) <= 8 for name in level1.columns)
    np.testing.assert_allclose(level1["ses"].to_numpy(dtype=float),
                               results.level1_residuals()["sés"].to_numpy(dtype=float))
    assert all(name.isascii() for name in read_table(res2).columns)


def test_other_formats_keep_the_name(tmp_path, results):
    path = tmp_path / "res1.dta"
    results.write_residuals(level1=path, extra_level1=["sés"])
    assert "sés" in read_table(path).columns
