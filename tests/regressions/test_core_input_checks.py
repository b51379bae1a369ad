"""Bad inputs to the estimation core get clear errors; HLM mode does not depend on units."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import openhlm

M4 = ("mathach = B0 + B1*group(ses) + R; B0 = G00 + G01*sector + G02*meanses + U0;"
      " B1 = G10 + G11*sector + G12*meanses + U1")


@pytest.fixture(scope="module")
def frames():
    return (pd.read_csv(openhlm.datasets.path("hsb1.csv")),
            pd.read_csv(openhlm.datasets.path("hsb2.csv")))


def test_infinite_predictor_names_variable_and_unit(frames):
    l1, l2 = frames
    l1 = l1.copy()
    l1.loc[0, "ses"] = np.inf
    with pytest.raises(openhlm.DataError, match=r"level-1 variable 'ses'.*unit\(s\) 1224"):
        openhlm.fit("mathach = B0 + B1*ses + R; B0 = G00 + U0", l1, id="id", level2=l2)


def test_infinite_level2_predictor_names_variable_and_unit(frames):
    l1, l2 = frames
    l2 = l2.copy()
    l2.loc[1, "meanses"] = -np.inf
    with pytest.raises(openhlm.DataError, match=r"level-2 variable 'meanses'.*unit\(s\) 1288"):
        openhlm.fit("mathach = B0 + R; B0 = G00 + G01*meanses + U0", l1, id="id", level2=l2)


@pytest.mark.parametrize("tolerance", [-1.0, 0.0, float("nan")])
def test_tolerance_must_be_positive(tolerance):
    with pytest.raises(openhlm.EstimationError, match="tolerance must be a positive number"):
        openhlm.fit("mathach = B0 + R; B0 = G00 + U0", openhlm.datasets.hsb(), mode="hlm",
                    tolerance=tolerance)


def test_to_json_creates_folders_and_refuses_a_folder(tmp_path):
    res = openhlm.fit("mathach = B0 + R; B0 = G00 + U0", openhlm.datasets.hsb())
    res.to_json(tmp_path / "new" / "m1.json")
    assert (tmp_path / "new" / "m1.json").read_text().startswith("{")
    with pytest.raises(openhlm.DataError, match="it is a folder"):
        res.to_json(tmp_path)


def test_hlm_mode_start_does_not_depend_on_the_outcome_scale(frames):
    """Model 4's moment start needs a repair (negative slope variance); the repaired start, and
    so HLM mode's path, must scale with the outcome (it used an absolute floor of 1e-6)."""
    l1, l2 = frames
    small = l1.assign(mathach=l1.mathach * 1e-6)
    with pytest.warns(openhlm.ConvergenceWarning):   # 5 iterations: stopped on purpose
        base = openhlm.fit(M4, l1, id="id", level2=l2, mode="hlm", max_iterations=5)
    with pytest.warns(openhlm.ConvergenceWarning):
        scaled = openhlm.fit(M4, small, id="id", level2=l2, mode="hlm", max_iterations=5)
    np.testing.assert_allclose(scaled.tau * 1e12, base.tau, rtol=1e-4)


def test_residuals_cli_refuses_stdout(tmp_path, monkeypatch, capsys):
    from openhlm.cli.main import main

    monkeypatch.chdir(tmp_path)
    assert main(["residuals", "--example", "hsb-model1", "--res2", "-"]) == 2
    assert "not to standard output" in capsys.readouterr().err
    assert not (tmp_path / "-").exists()
