"""Heterogeneous sigma^2: the standard errors of alpha, sigma^2 and T are formed in the
working basis and mapped back (inference/heterogeneous.py), so an outcome offset, a change of
a random predictor's units or an offset of it leaves them unchanged (T's transformed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import openhlm
from openhlm.inference.heterogeneous import _covariance, heterogeneous_sigma2

M4_UNCENTRED = """mathach = B0 + B1*ses + R
B0 = G00 + G01*sector + G02*meanses + U0
B1 = G10 + G11*sector + G12*meanses + U1"""


def run(l1, l2):
    res = openhlm.fit(M4_UNCENTRED, openhlm.build_mdm(l1, l2, id="id"), method="ml",
                      heterogeneous_sigma2=["female"])
    assert res.converged
    return res


@pytest.fixture(scope="module")
def base():
    l1 = pd.read_csv(openhlm.datasets.path("hsb1.csv"))
    l2 = pd.read_csv(openhlm.datasets.path("hsb2.csv"))
    return l1, l2, run(l1, l2)


def vech_jacobian(B, pairs):
    """d vech(B T B') / d vech T."""
    Jac = np.zeros((len(pairs), len(pairs)))
    for a, (k, l) in enumerate(pairs):
        for b, (m, n) in enumerate(pairs):
            Jac[a, b] = B[k, m] * B[l, n] + (B[k, n] * B[l, m] if m != n else 0.0)
    return Jac


@pytest.mark.parametrize("transform", [("y+", 1e8), ("x*", 1e6), ("x*", 1e-6), ("x+", 1e3),
                                       ("x+", 1e6)])
def test_heterogeneous_standard_errors_are_invariant(base, transform):
    l1, l2, b = base
    kind, value = transform
    if kind == "y+":
        # compared with the same rounded data shifted back ((y + c) - c is exact): y + 1e8
        # itself keeps ~8 digits of y, and the optimiser's stopping point in the flat tau_11
        # direction then moves at ~1e-5
        y = l1["mathach"] + value
        b = run(l1.assign(mathach=y - value), l2)
        new = run(l1.assign(mathach=y), l2)
        B = np.eye(2)
    elif kind == "x*":
        new = run(l1.assign(ses=l1["ses"] * value), l2)
        B = np.diag([1.0, 1.0 / value])
    else:
        new = run(l1.assign(ses=l1["ses"] + value), l2)
        B = np.array([[1.0, -value], [0.0, 1.0]])
    # the per-unit means of y + 1e8 are stored in y's units (~1e-8 absolute), and the
    # optimiser stops within its Newton-decrement tolerance (1e-10 deviance units) at points
    # that differ by ~1e-5 in the flat tau_11 direction: the SEs follow at ~4e-7
    tol = 2e-6 if kind == "y+" else 1e-9
    ha, hb = heterogeneous_sigma2(new.estimates), heterogeneous_sigma2(b.estimates)
    np.testing.assert_allclose([r.se for r in ha.rows], [r.se for r in hb.rows], rtol=tol)
    assert new.sigma2_se == pytest.approx(b.sigma2_se, rel=tol)
    Ka = len(hb.rows)
    pairs = [(0, 0), (1, 0), (1, 1)]
    Jac = vech_jacobian(B, pairs)
    cov_b = _covariance(b.estimates, Ka, pinv=False)[Ka:, Ka:]
    expected = np.sqrt(np.diag(Jac @ cov_b @ Jac.T))
    # scale of each transformed SE: its largest term
    scale = np.sqrt(np.abs(Jac) ** 2 @ np.diag(cov_b))
    got = np.array([new.tau_se[k, l] for k, l in pairs])
    assert np.all(np.abs(got - expected) <= tol * expected + 1e-9 * scale), (got, expected)
    # residual-file quantities and the slope's reliability (formed in the working basis too)
    np.testing.assert_allclose(new.eb.mdist, b.eb.mdist, rtol=0,
                               atol=10 * tol * b.eb.mdist.max())
    err = np.abs(new.eb.level1_residuals - b.eb.level1_residuals)
    assert err.max() <= 10 * tol * np.abs(b.eb.level1_residuals).max()
    assert new.reliability["SES"] == pytest.approx(b.reliability["SES"], rel=10 * tol)


RI_SLOPE = """mathach = B0 + B1*ses + R
B0 = G00 + G01*sector + U0
B1 = G10 + U1"""


def run_v(l1, l2):
    res = openhlm.fit(RI_SLOPE, openhlm.build_mdm(l1, l2, id="id"), method="ml",
                      heterogeneous_sigma2=["v"])
    assert res.converged
    return res


@pytest.mark.parametrize("offset", [1e2, 1e4])
def test_variance_predictor_offset(base, offset):
    """A continuous variance predictor stored with an offset: the optimiser works with centred,
    scaled variance predictors (before: v + 1e4 stopped unconverged 1.75 deviance units above
    the optimum, v + 1e6 'converged' with alpha_1 ~ 0).  alpha_0 absorbs -c alpha_1."""
    l1, l2, _ = base
    l1 = l1.assign(v=l1["ses"])
    b = run_v(l1, l2)
    n = run_v(l1.assign(v=l1["v"] + offset), l2)
    ab, an = b.estimates.heterogeneous.alpha, n.estimates.heterogeneous.alpha
    assert n.deviance == pytest.approx(b.deviance, rel=1e-10)
    assert an[1] == pytest.approx(ab[1], rel=1e-8)
    assert an[0] == pytest.approx(ab[0] - offset * ab[1], rel=1e-8)
    np.testing.assert_allclose(n.tau, b.tau, rtol=1e-8)
    np.testing.assert_allclose(n.tau_se, b.tau_se, rtol=1e-8)
    np.testing.assert_allclose(n.estimates.heterogeneous.level1_variance,
                               b.estimates.heterogeneous.level1_variance, rtol=1e-8)
    hb, hn = heterogeneous_sigma2(b.estimates), heterogeneous_sigma2(n.estimates)
    assert hn.rows[1].se == pytest.approx(hb.rows[1].se, rel=1e-8)


def test_variance_predictor_far_from_zero_is_refused_with_the_cause(base):
    l1, l2, _ = base
    with pytest.raises(openhlm.errors.EstimationError, match="centre the variance predictors"):
        openhlm.fit(RI_SLOPE, openhlm.build_mdm(l1.assign(v=l1["ses"] + 1e6), l2, id="id"),
                    method="ml", heterogeneous_sigma2=["v"])
