"""Regression: residual files in a folder that does not exist yet.

``openhlm fit`` creates the folders of its report/JSON/HTML files, but residual files failed:
as .sav with pyreadstat's "the destination folder b'out' does not exist!", as .csv with
pandas' "Cannot save file into a non-existent directory".
"""

from __future__ import annotations

import numpy as np
import pytest

import openhlm
from openhlm.data.readers import read_table
from openhlm.errors import DataError


@pytest.fixture(scope="module")
def results():
    return openhlm.fit("mathach = B0 + B1*group(ses) + R; B0 = G00 + U0; B1 = G10 + U1",
                       openhlm.datasets.hsb())


@pytest.mark.parametrize("suffix", ["csv", "sav", "dta", "xpt", "parquet", "xlsx"])
def test_missing_folders_are_created(tmp_path, results, suffix):
    path = tmp_path / "new" / "deeper" / f"res2.{suffix}"
    results.write_residuals(level2=path)
    written = read_table(path).data
    expected = results.level2_residuals()
    assert len(written) == results.n_level2 == len(expected)
    np.testing.assert_allclose(written["EBINTRCP"].to_numpy(dtype=float),
                               expected["EBINTRCP"].to_numpy(dtype=float), rtol=1e-6)


def test_cli_residuals_into_new_folder(tmp_path, capsys):
    from openhlm.cli import main

    path = tmp_path / "out" / "res2.sav"
    assert main(["residuals", "--example", "hsb-model1", "--res2", str(path)]) == 0
    assert len(read_table(path).data) == 160


def test_a_folder_as_the_file_is_still_an_error(tmp_path, results):
    with pytest.raises(DataError, match="cannot write residual file"):
        results.write_residuals(level2=tmp_path)
