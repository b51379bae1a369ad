"""Regression: arguments of ``results.write_residuals``.

* ``extra_level2="size"`` was iterated letter by letter ("extra variable 's' ... is not in the
  data");
* ``level2="res.csv", level1="res.csv"`` silently wrote the level-1 file over the level-2 file.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import openhlm
from openhlm.errors import SpecError


@pytest.fixture(scope="module")
def results():
    return openhlm.fit("mathach = B0 + R; B0 = G00 + U0", openhlm.datasets.hsb())


def test_single_extra_name_as_string(tmp_path, results):
    path = tmp_path / "res2.csv"
    results.write_residuals(level2=path, extra_level2="SIZE", extra_level1="ses",
                            level1=tmp_path / "res1.csv")
    written = pd.read_csv(path)
    schools = pd.read_csv(openhlm.datasets.path("hsb2.csv"))
    np.testing.assert_array_equal(written["size"].to_numpy(), schools["size"].to_numpy())
    assert "ses" in pd.read_csv(tmp_path / "res1.csv").columns


def test_same_file_for_both_levels_is_refused(tmp_path, results, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SpecError, match="are the same file 'res.csv'"):
        results.write_residuals(level2="res.csv", level1=tmp_path / "res.csv")
    assert not (tmp_path / "res.csv").exists()
