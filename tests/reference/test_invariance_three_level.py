"""Three-level fits do not depend on the units of measurement.

The outcome shifted by 1e8, or a random-slope variable in units 1e6 times larger or smaller:
every fit converges, with no warning, to the same model (mapped by the change of units: a
slope variance in units of year^-2 scales by 1e-12 when year is measured 1e6 times larger).
Before the optimiser worked over unit-free parameters (``theta_scales``) the rescaled fits
stopped at the iteration limit 0.08 deviance units above the optimum.  A level-3 predictor
shifted by 1e6 gives the same estimates (convergence is not asserted there: see below)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import openhlm

EG = Path(__file__).parent / "data" / "egsingle.csv"
MODEL = """math = P0 + P1*year + E
P0 = B00 + B01*female + R0
P1 = B10 + R1
B00 = G000 + G001*lowinc + U00
B10 = G100 + G101*lowinc + U10"""


def _fit(data: pd.DataFrame, method: str):
    mdm = openhlm.build_mdm(data, id=("childid", "schoolid"), level1_variables=["year", "math"],
                            level2_variables=["female"], level3_variables=["lowinc"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return openhlm.fit(MODEL, mdm, method=method)


@pytest.fixture(scope="module")
def egsingle() -> pd.DataFrame:
    return pd.read_csv(EG)


@pytest.mark.parametrize("method", ["reml", "ml"])
def test_outcome_shift_and_predictor_units(egsingle, method):
    base = _fit(egsingle, method)
    assert base.converged
    shifted = _fit(egsingle.assign(math=egsingle["math"] + 1e8), method)
    assert shifted.converged
    assert shifted.deviance == pytest.approx(base.deviance, rel=1e-9)
    np.testing.assert_allclose(shifted.tau_pi, base.tau_pi, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(shifted.tau_beta, base.tau_beta, rtol=1e-8, atol=1e-12)
    for factor in (1e6, 1e-6):
        res = _fit(egsingle.assign(year=egsingle["year"] * factor), method)
        assert res.converged, res.message
        unit = np.array([1.0, 1.0 / factor])       # intercept, year slope
        np.testing.assert_allclose(res.sigma2, base.sigma2, rtol=1e-9)
        np.testing.assert_allclose(res.tau_pi, base.tau_pi * np.outer(unit, unit), rtol=1e-7)
        np.testing.assert_allclose(res.tau_beta, base.tau_beta * np.outer(unit, unit),
                                   rtol=1e-7)
        if method == "ml":       # REML's criterion moves by log|A'V^-1A|, a constant
            assert res.deviance == pytest.approx(base.deviance, rel=1e-12)
        # the reliabilities and chi-squares count the same units as invertible
        np.testing.assert_allclose(res.reliability_level2, base.reliability_level2, rtol=1e-7)
        np.testing.assert_allclose(res.reliability_level3, base.reliability_level3, rtol=1e-7)


@pytest.mark.xfail(strict=False, reason="the three-level engine does not yet re-centre "
                   "fixed-effect columns (docs/three-level.md): with threaded BLAS a fit with "
                   "a level-3 predictor + 1e6 stops ~2e-5 deviance units short and says it did "
                   "not converge")
@pytest.mark.parametrize("method", ["reml", "ml"])
def test_level3_predictor_far_from_zero(egsingle, method):
    base = _fit(egsingle, method)
    moved = _fit(egsingle.assign(lowinc=egsingle["lowinc"] + 1e6), method)
    assert moved.deviance == pytest.approx(base.deviance, rel=1e-8)
    assert moved.converged, moved.message
    np.testing.assert_allclose(moved.tau_pi, base.tau_pi, rtol=1e-5)
    np.testing.assert_allclose(moved.tau_beta, base.tau_beta, rtol=1e-5)
