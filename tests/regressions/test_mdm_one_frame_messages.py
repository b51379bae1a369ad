"""Regression: messages about a single in-memory data set said "the data data"."""

from __future__ import annotations

import pandas as pd
import pytest

from openhlm import datasets
from openhlm.data import build_mdm
from openhlm.errors import MDMError


def test_one_dataframe_messages_say_the_data():
    one = pd.read_csv(datasets.path("hsb1.csv")).merge(
        pd.read_csv(datasets.path("hsb2.csv")), on="id")
    one.loc[0, "sector"] = 1 - one.loc[0, "sector"]
    with pytest.raises(MDMError) as info:
        build_mdm(one, id="id", level2_variables=["sector"])
    message = str(info.value)
    assert "not constant within units of the data (it varies in 1 units: 1224)" in message
    assert "data data" not in message
