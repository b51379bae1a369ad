"""MDM descriptive statistics against independent pandas computations on the CSV files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from openhlm.data import build_mdm
from openhlm.datasets import hsb


@pytest.fixture(scope="module")
def stats() -> pd.DataFrame:
    return hsb().describe()


def test_columns_and_counts(stats: pd.DataFrame) -> None:
    assert list(stats.columns) == [
        "level",
        "variable",
        "label",
        "N",
        "mean",
        "SD",
        "minimum",
        "maximum",
    ]
    assert stats.loc[stats["level"] == 1, "N"].eq(7185).all()
    assert stats.loc[stats["level"] == 2, "N"].eq(160).all()


def test_level1_variable_against_pandas(stats: pd.DataFrame, hsb1_csv: pd.DataFrame) -> None:
    row = stats.set_index("variable").loc["mathach"]
    assert row["mean"] == pytest.approx(hsb1_csv["mathach"].mean(), rel=1e-12)
    assert row["mean"] == pytest.approx(12.74785, abs=5e-6)
    assert row["SD"] == pytest.approx(hsb1_csv["mathach"].std(ddof=1), rel=1e-12)
    assert (row["minimum"], row["maximum"]) == (
        hsb1_csv["mathach"].min(),
        hsb1_csv["mathach"].max(),
    )
    assert row["label"] == "Mathematics achievement score"


def test_level2_variable_against_pandas(stats: pd.DataFrame, hsb2_csv: pd.DataFrame) -> None:
    row = stats.set_index("variable").loc["meanses"]
    assert row["mean"] == pytest.approx(hsb2_csv["meanses"].mean(), rel=1e-12)  # over 160 schools
    assert row["SD"] == pytest.approx(hsb2_csv["meanses"].std(ddof=1), rel=1e-12)
    assert (row["minimum"], row["maximum"]) == (
        hsb2_csv["meanses"].min(),
        hsb2_csv["meanses"].max(),
    )


def test_text_layout() -> None:
    text = hsb().describe_text()
    lines = text.splitlines()
    assert "level-1 records: 7185" in lines and "level-2 units: 160" in lines
    i1 = next(i for i, line in enumerate(lines) if line.strip() == "LEVEL-1 DESCRIPTIVE STATISTICS")
    i2 = next(i for i, line in enumerate(lines) if line.strip() == "LEVEL-2 DESCRIPTIVE STATISTICS")
    assert i1 < i2
    assert lines[i1 + 2].split() == ["VARIABLE", "NAME", "N", "MEAN", "SD", "MINIMUM", "MAXIMUM"]
    assert lines[i1 + 6].split() == ["MATHACH", "7185", "12.75", "6.88", "-2.83", "24.99"]
    assert lines[i2 + 3].split() == ["SIZE", "160", "1097.83", "629.51", "100.00", "2713.00"]


def test_missing_values_counted_per_variable(
    hsb1_csv: pd.DataFrame, hsb2_csv: pd.DataFrame
) -> None:
    level1 = hsb1_csv.copy()
    level1.loc[:9, "ses"] = np.nan
    mdm = build_mdm(level1, hsb2_csv, id="id")
    row = mdm.describe().set_index("variable").loc["ses"]
    assert row["N"] == 7175
    assert row["mean"] == pytest.approx(level1["ses"].mean(), rel=1e-12)  # pandas skips NaN too
    assert "deleted at analysis time" in mdm.describe_text()
