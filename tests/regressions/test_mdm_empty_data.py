"""Regression: data without records.

Before the fix an empty level-1 DataFrame gave an MDM with 0 records and 0 units (after a
warning that all 160 schools were dropped), and an empty level-2 DataFrame or listwise deletion
of every record likewise produced an empty MDM that only failed later, at fit time.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from openhlm import datasets
from openhlm.data import build_mdm
from openhlm.errors import DataWarning, MDMError


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.read_csv(datasets.path("hsb1.csv")), pd.read_csv(datasets.path("hsb2.csv"))


def test_empty_level1_frame(frames):
    students, schools = frames
    with pytest.raises(MDMError, match="the level-1 data has no records"):
        build_mdm(students.iloc[:0], schools, id="id")


def test_empty_level2_frame(frames):
    students, schools = frames
    with pytest.raises(MDMError, match="the level-2 data has no records"):
        build_mdm(students, schools.iloc[:0], id="id")


def test_empty_single_frame(frames):
    students, _ = frames
    with pytest.raises(MDMError, match="the data has no records"):
        build_mdm(students.iloc[:0], id="id")


def test_listwise_deletion_of_every_record(frames):
    students, schools = frames
    with (pytest.warns(DataWarning, match="listwise deletion removed 7185"),
          pytest.warns(DataWarning, match="160 level-2 units lost all"),
          pytest.raises(MDMError, match=r"no level-2 units of the level-2 data are left "
                                        r"\(160 dropped: 1224, 1288")):
        # ses named: a default choice leaves an all-blank variable out (see test_left_out.py)
        build_mdm(students.assign(ses=np.nan), schools, id="id", missing="listwise",
                  level1_variables=["ses", "mathach"])
