"""Invariance of exact-mode fits to the units and offsets of level-2 predictors (issue 12).

Adding c to a level-2 predictor W_s is an exact reparameterisation when every equation that
holds W_s has an intercept gamma_q0 (a free effect of its own): gamma_q0 absorbs -c gamma_qs.
Multiplying W_s by s rescales gamma_qs by 1/s.  The ML deviance (1e-8 relative), sigma^2, T,
the mapped gammas, every standard error (model-based and robust) must be unchanged, with
converged=True and no warning (pytest turns warnings into errors); the REML criterion moves by
2 n log s for n fixed columns multiplied by s, and not at all for a shift.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import openhlm
from openhlm.inference.fixed import robust_covariance

M4 = """mathach = B0 + B1*group(ses) + R
B0 = G00 + G01*sector + G02*meanses + U0
B1 = G10 + G11*sector + G12*meanses + U1"""
# a cross-level interaction on an uncentred level-1 predictor (ses x sector, ses x himinty),
# with sector only in the slope equation
CROSS = """mathach = B0 + B1*ses + R
B0 = G00 + G01*meanses + G02*himinty + U0
B1 = G10 + G11*sector + G12*himinty + U1"""


def data():
    return (pd.read_csv(openhlm.datasets.path("hsb1.csv")),
            pd.read_csv(openhlm.datasets.path("hsb2.csv")))


def fit(equations, method, l2_transform=None, constraints=()):
    l1, l2 = data()
    if l2_transform is not None:
        var, kind, value = l2_transform
        l2 = l2.assign(**{var: l2[var] + value if kind == "+" else l2[var] * value})
    res = openhlm.fit(equations, openhlm.build_mdm(l1, l2, id="id"), method=method,
                      constraints=list(constraints))
    assert res.converged, (l2_transform, res.convergence.stop_reason)
    return res


def gamma_map(labels, equations, var, kind, value, alias):
    """(L, n_scaled): gamma_new = L gamma (free effects; ``alias`` maps a tied gamma to the
    one that carries it), and how many fixed columns are multiplied."""
    F = len(labels)
    L = np.eye(F)
    lines = [ln for ln in equations.splitlines()[1:]]
    n = 0
    for q, line in enumerate(lines):
        for term in line.split("=")[1].split("+"):
            term = term.strip()
            if term.endswith("*" + var):
                g = term.split("*")[0]
                k = labels.index(alias.get(g, g))
                if kind == "*":
                    n += L[k, k] == 1.0
                    L[k, k] = 1.0 / value
                else:   # G_q0 new = G_q0 - c G_qs
                    L[labels.index(f"G{q}0"), k] = -value
    return L, n


CASES = [("model4", M4, ()), ("cross_level", CROSS, ()),
         ("model4_constraint", M4, ("G02 = G12",))]
TRANSFORMS = [("meanses", "+", 1e6), ("meanses", "*", 1e6), ("meanses", "*", 1e-6),
              ("sector", "*", 1e6), ("sector", "+", 1e6), ("himinty", "+", 1e6)]


@pytest.mark.parametrize("method", ["ml", "reml"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c[0])
def test_fit_is_invariant_to_level2_units_and_offsets(case, method):
    name, equations, constraints = case
    base = fit(equations, method, constraints=constraints)
    labels = list(base.gamma.index)
    for var, kind, value in TRANSFORMS:
        if var not in equations:
            continue
        tag = f"{name} {method} {var}{kind}{value:g}"
        new = fit(equations, method, (var, kind, value), constraints)
        alias = {c.split("=")[1].strip(): c.split("=")[0].strip() for c in constraints}
        L, n_scaled = gamma_map(labels, equations, var, kind, value, alias)
        change = 2.0 * n_scaled * np.log(value) if (method == "reml" and kind == "*") else 0.0
        assert new.deviance == pytest.approx(base.deviance + change, rel=1e-8, abs=1e-7), tag
        assert new.sigma2 == pytest.approx(base.sigma2, rel=1e-8), tag
        np.testing.assert_allclose(new.tau, base.tau, rtol=1e-7,
                                   atol=1e-9 * np.abs(base.tau).max(), err_msg=tag)
        g_old = base.gamma.to_numpy()
        g = L @ g_old
        scale_g = np.abs(L) @ np.abs(g_old)
        err = np.abs(new.gamma.to_numpy() - g)
        assert np.all(err <= 1e-8 * np.abs(g) + 1e-9 * scale_g), (tag, err, g)
        cov = L @ base.gamma_cov.to_numpy() @ L.T
        se = np.sqrt(np.diag(cov))
        # a shifted gamma's SE is known to the accuracy of its largest term
        scale_se = np.abs(L) @ base.fixed_effects["se"].to_numpy()
        err = np.abs(new.fixed_effects["se"].to_numpy() - se)
        assert np.all(err <= 1e-7 * se + 1e-9 * scale_se), (tag, err, se)
        assert new.sigma2_se == pytest.approx(base.sigma2_se, rel=1e-8), tag
        np.testing.assert_allclose(new.tau_se, base.tau_se, rtol=1e-7, err_msg=tag)
        # robust SEs: the sandwich transforms as L Cov L' (formed in the working basis)
        rcov = L @ robust_covariance(base.estimates) @ L.T
        robust = np.sqrt(np.diag(rcov))
        scale_r = np.abs(L) @ base.fixed_effects["robust_se"].to_numpy()
        err = np.abs(new.fixed_effects["robust_se"].to_numpy() - robust)
        assert np.all(err <= 1e-7 * robust + 1e-9 * scale_r), (tag, err, robust)
        for k, v in base.reliability.items():
            assert new.reliability[k] == pytest.approx(v, rel=1e-8), (tag, k)
        chi = [r.chi2 for r in new.variance.rows if r.chi2 is not None]
        np.testing.assert_allclose(chi, [r.chi2 for r in base.variance.rows
                                         if r.chi2 is not None], rtol=1e-8, err_msg=tag)
