"""Regression: ``openhlm mdm build -o new/x.mdmz`` and ``openhlm plot ... -o new/x.png``.

``openhlm fit`` creates the folders of its output files; these two failed with "No such file or
directory" instead.
"""

from __future__ import annotations

import numpy as np

import openhlm
from openhlm.cli.main import main
from openhlm.datasets import path as bundled


def test_mdm_build_into_new_folder(tmp_path, capsys):
    out = tmp_path / "new" / "hsb.mdmz"
    code = main(["mdm", "build", "--level1", str(bundled("hsb1.csv")), "--level2",
                 str(bundled("hsb2.csv")), "--id", "id", "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    loaded = openhlm.MDM.load(out)
    reference = openhlm.datasets.hsb()
    assert loaded.n_level1 == reference.n_level1
    np.testing.assert_allclose(loaded.level1["mathach"], reference.level1["mathach"])


def test_plot_into_new_folder(tmp_path, capsys):
    out = tmp_path / "figs" / "qq.png"
    assert main(["plot", "qq-mdist", "--example", "hsb-model1", "-o", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_mdm_save_onto_a_folder_is_still_an_error(tmp_path):
    import pytest

    from openhlm.errors import MDMError

    with pytest.raises(MDMError, match="cannot write MDM file"):
        openhlm.datasets.hsb().save(tmp_path)
