"""QA regression: +-inf in a data file.

Before the fix an infinite value was stored in the MDM as a number and fitting a model that used
the variable ended in numpy's ``LinAlgError: SVD did not converge`` traceback.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from openhlm import datasets
from openhlm.data import build_mdm
from openhlm.errors import MDMError


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.read_csv(datasets.path("hsb1.csv")), pd.read_csv(datasets.path("hsb2.csv"))


def test_infinite_level1_value_is_an_error_naming_variable_and_row(frames):
    students, schools = frames
    bad = students.copy()
    bad.loc[[4, 9], "ses"] = [np.inf, -np.inf]
    with pytest.raises(MDMError, match=r"'ses' in the level-1 data has 2 infinite values "
                                       r"\(rows 5, 10\)"):
        build_mdm(bad, schools, id="id")


def test_infinite_text_value_in_csv_is_an_error(tmp_path, frames):
    students, schools = frames
    path = tmp_path / "l2.csv"
    schools.assign(meanses=schools["meanses"].astype(object)).assign(
        meanses=lambda d: d["meanses"].where(d.index != 2, "inf")).to_csv(path, index=False)
    with pytest.raises(MDMError, match=r"'meanses' in the level-2 file l2.csv has 1 infinite"):
        build_mdm(students, path, id="id")


def test_finite_data_unchanged(frames):
    students, schools = frames
    mdm = build_mdm(students, schools, id="id")
    assert np.isfinite(mdm.level1.to_numpy(dtype=float)).all()
    assert mdm.n_level1 == len(students)
