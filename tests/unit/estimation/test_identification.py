"""Refusals of unidentifiable or degenerate designs (issue 12), each naming its cause.

Every case was a silent "converged" fit, a NaN, a numpy warning or a traceback before
:mod:`openhlm.estimation.identification` (values in the issue).  The scale-free collinearity
test must not call a shifted or rescaled predictor collinear.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import openhlm
from openhlm.cli.main import main
from openhlm.errors import DataError, EstimationError
from openhlm.estimation.design import build_design
from openhlm.estimation.fit import _free_labels, estimate, estimates_at
from openhlm.estimation.identification import (
    check_design,
    check_fixed_effects,
    within_unit_deviations,
)

J, N_PER = 30, 10
NULL = "y = B0 + R; B0 = G00 + U0"
SLOPE = "y = B0 + B1*x + R; B0 = G00 + U0; B1 = G10 + U1"


def _data(seed: int = 1, J: int = J, n: int = N_PER) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(J), n)
    x = rng.normal(size=J * n)
    y = 1 + 0.5 * x + rng.normal(size=J)[g] + rng.normal(size=J * n)
    return pd.DataFrame({"g": g, "x": x, "y": y, "w": rng.normal(size=J)[g]})


def _fit(frame: pd.DataFrame, eq: str, l1: tuple[str, ...], l2: tuple[str, ...] = (),
         **kw):
    mdm = openhlm.build_mdm(frame, id="g", level1_variables=list(l1),
                            level2_variables=list(l2))
    return openhlm.fit(eq, mdm, **kw)


def _design(frame: pd.DataFrame, eq: str, l1: tuple[str, ...], l2: tuple[str, ...] = ()):
    mdm = openhlm.build_mdm(frame, id="g", level1_variables=list(l1),
                            level2_variables=list(l2))
    return build_design(openhlm.api.as_spec(eq, mdm), mdm)


# -- variance components ---------------------------------------------------------------------

@pytest.mark.parametrize("method", ["reml", "ml"])
@pytest.mark.parametrize("mode", ["exact", "hlm"])
def test_one_record_per_unit_is_refused(method, mode):
    one = _data().groupby("g").head(1)
    with pytest.raises(EstimationError, match=r"every level-2 unit has only one level-1 "
                       r"record \(N = J = 30\): sigma\^2 and tau00 are not separately "
                       "identified"):
        _fit(one, NULL, ("y",), method=method, mode=mode)


def test_no_unit_larger_than_the_number_of_random_coefficients_is_refused():
    two = _data().groupby("g").head(2)   # n_j = 2 = number of random coefficients
    with pytest.raises(EstimationError, match=r"sigma\^2 is not identified: no level-2 unit has "
                       r"more level-1 records than random coefficients \(2: INTRCPT1, X slope"):
        _fit(two, SLOPE, ("y", "x"))


def test_some_units_of_size_one_are_fine():
    frame = _data()
    frame = frame[(frame.g >= 10) | (frame.groupby("g").cumcount() == 0)]   # 10 units of 1 row
    res = _fit(frame, SLOPE, ("y", "x"))
    assert res.converged and np.isfinite(res.deviance)


def test_one_level2_unit_is_refused():
    frame = _data()
    with pytest.raises(DataError, match=r"only one level-2 unit \(ID 0\): the level-2 variance "
                       r"\(tau\) cannot be estimated"):
        _fit(frame[frame.g == 0], NULL, ("y",))


@pytest.mark.parametrize("offset", [0.0, 1e9])
def test_outcome_constant_within_every_unit_is_refused(offset):
    frame = _data()
    frame["y"] = frame["g"] * 1.7 + offset
    with pytest.raises(DataError, match=r"the outcome 'y' is constant within every level-2 unit, "
                       r"so the level-1 variance sigma\^2 is 0"):
        _fit(frame, NULL, ("y",))


def test_outcome_exactly_linear_in_the_random_slope_within_units_is_refused():
    frame = _data()
    rng = np.random.default_rng(3)
    frame["y"] = rng.normal(size=J)[frame.g] + rng.normal(size=J)[frame.g] * frame.x
    with pytest.raises(DataError, match=r"'y' is an exact linear function of x within every "
                       r"level-2 unit, so the level-1 variance sigma\^2 is 0"):
        _fit(frame, SLOPE, ("y", "x"))


def test_constant_outcome_is_refused():
    frame = _data()
    frame["y"] = 3.0
    with pytest.raises(DataError, match=r"the outcome 'y' is constant \(every value is 3\)"):
        _fit(frame, NULL, ("y",))


def test_random_slope_constant_within_every_unit_is_refused():
    frame = _data()
    eq = "y = B0 + B1*w + R; B0 = G00 + U0; B1 = G10 + U1"
    with pytest.raises(EstimationError, match=r"the random slope of 'w' \(B1\) is not identified: "
                       r"'w' is constant within every level-2 unit.*make B1 fixed"):
        _fit(frame, eq, ("y", "w"))


def test_fixed_slope_constant_within_every_unit_is_fine():
    res = _fit(_data(), "y = B0 + B1*w + R; B0 = G00 + U0; B1 = G10", ("y", "w"))
    assert res.converged


def test_estimates_at_refuses_too():
    design = _design(_data().groupby("g").head(1), NULL, ("y",))
    with pytest.raises(EstimationError, match="not separately identified"):
        estimates_at(design, 1.0, [[1.0]])


def test_heterogeneous_sigma2_refuses_too():
    frame = _data().groupby("g").head(1)
    with pytest.raises(EstimationError, match="not separately identified"):
        _fit(frame, NULL, ("y", "x"), method="ml", heterogeneous_sigma2="x")


def test_offsets_are_not_mistaken_for_constancy():
    frame = _data()
    frame["y"] = frame["y"] + 1e9
    frame["x"] = frame["x"] + 1e8
    check_design(_design(frame, SLOPE, ("y", "x")))


def test_within_unit_deviations_are_exact_for_identical_values():
    unit = np.array([1, 0, 1, 0, 1])
    values = np.array([0.1, 1e9 + 0.3, 0.1, 1e9 + 0.3, 0.1])
    assert np.all(within_unit_deviations(values, unit, 2) == 0.0)
    shifted = within_unit_deviations(values + np.array([0, 1, 0, -1, 0]), unit, 2)
    np.testing.assert_allclose(shifted, [0, 1, 0, -1, 0], atol=1e-6)


# -- fixed effects ---------------------------------------------------------------------------

def _fixed_frame() -> pd.DataFrame:
    frame = _data()
    rng = np.random.default_rng(5)
    frame["x2"] = 2 * frame.x + 1
    frame["x3"] = frame.x * 1e-12
    frame["xo"] = frame.x + 1e5
    frame["xo8"] = frame.x + 1e8
    frame["year"] = rng.integers(1990, 2020, size=len(frame)).astype(float)
    frame["big"] = rng.normal(size=len(frame)) * 1e12
    frame["w2"] = 2 * frame.w + 3
    frame["wo"] = frame.w + 1e7
    return frame


L1 = ("y", "x", "x2", "x3", "xo", "xo8", "year", "big")
L2 = ("w", "w2", "wo")


@pytest.mark.parametrize("eq", [
    "y = B0 + B1*xo + R; B0 = G00 + U0; B1 = G10",
    "y = B0 + B1*xo8 + R; B0 = G00 + U0; B1 = G10",
    "y = B0 + B1*year + R; B0 = G00 + G01*wo + U0; B1 = G10 + G11*w",
    "y = B0 + B1*big + B2*x + R; B0 = G00 + U0; B1 = G10; B2 = G20 + G21*wo",
    # x + 1e8 in a cross-level interaction: (x + c) w = x w + c w, c w in B0's equation
    "y = B0 + B1*xo8 + R; B0 = G00 + G01*wo + U0; B1 = G10 + G11*wo",
])
def test_shifted_or_rescaled_predictors_are_not_collinear(eq):
    design = _design(_fixed_frame(), eq, L1, L2)
    check_fixed_effects(design, _free_labels(design))


@pytest.mark.parametrize("eq,named", [
    ("y = B0 + B1*x + B2*x2 + R; B0 = G00 + U0; B1 = G10; B2 = G20", "G10, G20"),
    ("y = B1*x + B2*x3 + R; B1 = G10 + U1; B2 = G20", "G10, G20"),
    ("y = B0 + R; B0 = G00 + G01*w + G02*w2 + U0", "G01, G02"),
    ("y = B0 + B1*xo8 + R; B0 = G00 + G01*w + G02*wo + U0; B1 = G10", "G01, G02"),
])
def test_true_collinearity_is_refused_naming_the_gammas(eq, named):
    design = _design(_fixed_frame(), eq, L1, L2)
    with pytest.raises(EstimationError, match=f"the columns for {named} are constant, zero or "
                       "collinear"):
        estimate(design)


def test_shifted_predictor_is_fitted_without_warnings():
    frame = _data()
    frame["x"] = frame["x"] + 1e5   # was refused as collinear before the scale-free test
    res = _fit(frame, "y = B0 + B1*x + R; B0 = G00 + U0; B1 = G10", ("y", "x"))
    assert res.converged


def test_zero_predictor_is_refused():
    frame = _data()
    frame["z"] = 0.0
    frame.loc[frame.index[0], "z"] = np.nan   # keeps z a level-1 variable in the MDM
    with pytest.raises(EstimationError, match="the columns for G10 are constant, zero"):
        _fit(frame.fillna({"z": 0.0}), "y = B0 + B1*z + R; B0 = G00 + U0; B1 = G10",
             ("y", "z"))


# -- CLI -------------------------------------------------------------------------------------

def _two_file_one_record(tmp_path: Path) -> Path:
    one = _data().groupby("g").head(1)
    one[["g", "y"]].to_csv(tmp_path / "l1.csv", index=False)
    one[["g", "w"]].to_csv(tmp_path / "l2.csv", index=False)
    model = tmp_path / "model.toml"
    model.write_text(f'''[data]
level1 = "{(tmp_path / "l1.csv").as_posix()}"
level2 = "{(tmp_path / "l2.csv").as_posix()}"
id = "g"

[model]
equations = "y = B0 + R; B0 = G00 + G01*w + U0"
''')
    return model


def test_cli_prints_one_line_without_traceback(tmp_path, capsys):
    code = main(["fit", str(_two_file_one_record(tmp_path))])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "not separately identified" in err and "Traceback" not in err


def test_cli_subprocess_has_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "openhlm", "fit",
                           str(_two_file_one_record(tmp_path))],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert "every level-2 unit has only one level-1 record" in lines[0]
