"""Regression: ``build_mdm(..., level1_variables="mathach")``.

Before the fix the string was iterated letter by letter and the error said "the level-1 data
has no variable 'm'".
"""

from __future__ import annotations

import pandas as pd

from openhlm import datasets
from openhlm.data import build_mdm


def test_single_names_as_strings():
    students = pd.read_csv(datasets.path("hsb1.csv"))
    schools = pd.read_csv(datasets.path("hsb2.csv"))
    mdm = build_mdm(students, schools, id="id", level1_variables="MathAch",
                    level2_variables="sector")
    assert mdm.level1_variables == ("mathach",)
    assert mdm.level2_variables == ("sector",)
    assert mdm.level1["mathach"].tolist() == students["mathach"].tolist()


def test_single_name_one_file():
    one = pd.read_csv(datasets.path("hsb1.csv")).merge(
        pd.read_csv(datasets.path("hsb2.csv")), on="id")
    mdm = build_mdm(one, id="id", level1_variables="ses", level2_variables="meanses")
    assert (mdm.level1_variables, mdm.level2_variables) == (("ses",), ("meanses",))
