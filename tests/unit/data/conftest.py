"""Fixtures for the data-layer tests: the bundled HS&B files read independently with pandas."""

from __future__ import annotations

import pandas as pd
import pytest

from openhlm.datasets import path


@pytest.fixture(scope="session")
def hsb1_csv() -> pd.DataFrame:
    """Level-1 HS&B file (7185 students) read with plain pandas."""
    return pd.read_csv(path("hsb1.csv"))


@pytest.fixture(scope="session")
def hsb2_csv() -> pd.DataFrame:
    """Level-2 HS&B file (160 schools) read with plain pandas."""
    return pd.read_csv(path("hsb2.csv"))
