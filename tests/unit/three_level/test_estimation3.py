"""Exact three-level estimation: the nested Woodbury likelihood against a dense computation,
robust SEs against a direct sandwich, invariance to the outcome's location, the design."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

import openhlm
from openhlm.estimation.three_level.design import build_design3
from openhlm.estimation.three_level.fit import estimate3
from openhlm.estimation.three_level.likelihood import evaluate, unpack
from openhlm.estimation.three_level.statistics import unit_statistics
from openhlm.inference.three_level import infer3
from openhlm.spec.equations3 import parse_model3

from .conftest import simulate

MODEL = """y = P0 + P1*t + E
P0 = B00 + B01*x2 + R0
P1 = B10 + R1
B00 = G000 + G001*w + U00
B10 = G100 + G101*w + U10"""


@pytest.fixture(scope="module")
def design():
    m = openhlm.build_mdm(simulate(), id=("child", "school"), level1_variables=["t", "y"],
                          level2_variables=["x2"], level3_variables=["w"])
    spec = parse_model3(MODEL, level1_variables=m.level1_variables,
                        level2_variables=m.level2_variables,
                        level3_variables=m.level3_variables)
    return build_design3(spec, m)


def _dense_vrel(design, theta):
    L2, L3 = unpack(theta, design.Z2.shape[1], design.Z3.shape[1])
    same2 = design.unit_index[:, None] == design.unit_index[None, :]
    row3 = design.row_level3_index
    same3 = row3[:, None] == row3[None, :]
    return (np.eye(design.n1) + same2 * (design.Z2 @ L2 @ L2.T @ design.Z2.T)
            + same3 * (design.Z3 @ L3 @ L3.T @ design.Z3.T))


@pytest.mark.parametrize("reml", [True, False])
def test_nested_woodbury_equals_dense(design, reml):
    rng = np.random.default_rng(3)
    stats = unit_statistics(design)
    for _ in range(3):
        theta = rng.normal(size=6)
        theta[[0, 2, 3, 5]] = np.abs(theta[[0, 2, 3, 5]])
        V = _dense_vrel(design, theta)
        A, y = design.A, design.y
        Vi = np.linalg.inv(V)
        H = A.T @ Vi @ A
        gamma = np.linalg.solve(H, A.T @ Vi @ y)
        r = y - A @ gamma
        Q = float(r @ Vi @ r)
        n, f = A.shape
        if reml:
            s2 = Q / (n - f)
            dense = (np.linalg.slogdet(V)[1] + np.linalg.slogdet(H)[1]
                     + (n - f) * (1 + np.log(2 * np.pi * s2)))
        else:
            s2 = Q / n
            dense = -2 * sps.multivariate_normal(A @ gamma, s2 * V).logpdf(y)
        assert evaluate(stats, theta, reml).deviance == pytest.approx(dense, rel=1e-11)


def test_robust_se_is_the_direct_sandwich(design):
    est = estimate3(design, method="reml")
    T2, T3 = est.tau_pi, est.tau_beta
    A, y = design.A, design.y
    H = np.zeros((A.shape[1],) * 2)
    scores = []
    row3 = design.row_level3_index
    for k in np.unique(row3):
        rows = row3 == k
        u2 = design.unit_index[rows]
        Z2, Z3 = design.Z2[rows], design.Z3[rows]
        V = (est.sigma2 * np.eye(rows.sum()) + (u2[:, None] == u2[None, :]) * (Z2 @ T2 @ Z2.T)
             + Z3 @ T3 @ Z3.T)
        Vi = np.linalg.inv(V)
        H += A[rows].T @ Vi @ A[rows]
        scores.append(A[rows].T @ Vi @ (y[rows] - A[rows] @ est.gamma))
    S = np.array(scores)
    Hi = np.linalg.inv(H)
    np.testing.assert_allclose(est.cov_gamma_robust, Hi @ S.T @ S @ Hi, rtol=1e-8, atol=1e-14)
    np.testing.assert_allclose(est.cov_gamma, Hi, rtol=1e-8)


def test_location_invariance(design):
    import dataclasses

    est = estimate3(design, method="ml")
    shifted = dataclasses.replace(design, y=design.y + 1000.0)
    est2 = estimate3(shifted, method="ml")
    assert est2.deviance == pytest.approx(est.deviance, abs=1e-6)
    assert est2.gamma[0] == pytest.approx(est.gamma[0] + 1000.0, rel=1e-9)
    np.testing.assert_allclose(est2.gamma[1:], est.gamma[1:], rtol=1e-5, atol=1e-7)


def test_group_centring_at_level2_and_level1(design):
    m = design.mdm
    spec = parse_model3("y = P0 + P1*group(t) + E; P0 = B00 + B01*group(x2) + R0", level1_variables=m.level1_variables, level2_variables=m.level2_variables, level3_variables=m.level3_variables)
    d = build_design3(spec, m)
    t = d.A[:, 2]
    assert np.allclose(np.bincount(d.unit_index, weights=t), 0)
    x2 = d.A[:, 1]
    # the level-2 value of each unit, centred within its level-3 unit
    first = np.searchsorted(d.unit_index, np.arange(d.n2))
    assert np.allclose(np.bincount(d.level3_index, weights=x2[first]), 0)


def test_reliability_and_chi2_shapes(design):
    res = infer3(estimate3(design, method="reml"))
    assert len(res.reliability_level2) == 2 and len(res.reliability_level3) == 2
    assert all(0 <= r <= 1 for r in res.reliability_level2 + res.reliability_level3)
    level3 = [c for c in res.variance_components if c.level == 3]
    assert [c.effect for c in level3] == ["U00", "U10"]
    assert level3[0].df == design.n3 - 2


def test_random_intercepts_only_and_no_level3_random(design):
    m = design.mdm
    names = {"level1_variables": m.level1_variables, "level2_variables": m.level2_variables,
                 "level3_variables": m.level3_variables}
    for text in ("y = P0 + E; P0 = B00 + R0; B00 = G000 + U00",
                 "y = P0 + P1*t + E; P0 = B00 + R0",
                 "y = P0 + P1*t + E; B00 = G000 + U00"):
        res = infer3(estimate3(build_design3(parse_model3(text, **names), m), method="reml"))
        assert np.isfinite(res.deviance)


@pytest.mark.parametrize("text", [
    MODEL,
    "y = P0 + E; P0 = B00 + R0; B00 = G000 + U00",
    "y = P0 + P1*t + E; P0 = B00 + R0",
    "y = P0 + P1*t + E; B10 = G100 + U10",
    "y = P0 + P1*t + E; P0 = R0; P1 = B10 + R1; B10 = U10",
])
@pytest.mark.parametrize("reml", [True, False])
def test_analytic_gradient_equals_finite_differences(design, text, reml):
    from openhlm.estimation.three_level.likelihood import deviance_and_gradient

    m = design.mdm
    spec = parse_model3(text, level1_variables=m.level1_variables,
                        level2_variables=m.level2_variables,
                        level3_variables=m.level3_variables)
    stats = unit_statistics(build_design3(spec, m))
    k = stats.n_r2 * (stats.n_r2 + 1) // 2 + stats.n_r3 * (stats.n_r3 + 1) // 2
    theta = np.abs(np.random.default_rng(0).normal(size=k)) + 0.1
    value, grad = deviance_and_gradient(stats, theta, reml)
    assert value == pytest.approx(evaluate(stats, theta, reml).deviance, rel=1e-12)
    h = 1e-6
    fd = [(evaluate(stats, theta + h * e, reml).deviance
           - evaluate(stats, theta - h * e, reml).deviance) / (2 * h) for e in np.eye(k)]
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-6)


def test_empirical_bayes_equals_dense(design, tmp_path):
    est = estimate3(design, method="reml")
    res = infer3(est)
    T2, T3 = est.tau_pi, est.tau_beta
    A, y = design.A, design.y
    e = y - A @ est.gamma
    row3 = design.row_level3_index
    r_dense = np.zeros((design.n2, T2.shape[0]))
    u_dense = np.zeros((design.n3, T3.shape[0]))
    for k in np.unique(row3):
        rows = np.flatnonzero(row3 == k)
        u2 = design.unit_index[rows]
        Z2, Z3 = design.Z2[rows], design.Z3[rows]
        V = (est.sigma2 * np.eye(len(rows)) + (u2[:, None] == u2[None, :]) * (Z2 @ T2 @ Z2.T)
             + Z3 @ T3 @ Z3.T)
        Ve = np.linalg.solve(V, e[rows])
        u_dense[k] = T3 @ Z3.T @ Ve
        for j in np.unique(u2):
            mine = u2 == j
            r_dense[j] = T2 @ Z2[mine].T @ Ve[mine]
    np.testing.assert_allclose(res.eb_level2, r_dense, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(res.eb_level3, u_dense, rtol=1e-7, atol=1e-10)
    l3 = res.level3_residuals()
    assert list(l3.columns)[:10] == ["L3ID", "NK", "CHIPCT", "MDIST", "FVB00", "EBU00",
                                     "ECB00", "FVB10", "EBU10", "ECB10"]
    w = design.mdm.level3["w"].to_numpy()
    g = dict(zip([r.gamma for r in res.fixed], [r.estimate for r in res.fixed], strict=True))
    np.testing.assert_allclose(l3["FVB00"], g["G000"] + g["G001"] * w)
    l2 = res.level2_residuals()
    assert list(l2.columns)[:10] == ["L2ID", "L3ID", "NJ", "CHIPCT", "MDIST", "LNTOTVAR",
                                     "OLSRSVAR", "MDRSVAR", "EBR0", "EBR1"]
    assert l2.NJ.sum() == design.n1
    written = res.write_residuals(level2=tmp_path / "l2.csv", level3=tmp_path / "l3.sav")
    assert set(written) == {"level2", "level3"} and (tmp_path / "l3.sav").exists()


@pytest.mark.parametrize("method", ["reml", "ml"])
def test_variance_component_ses_equal_dense_information(method):
    """SEs of sigma^2, tau(pi), tau(beta): twice the inverse Hessian of a dense deviance in
    (sigma^2, vech tau(pi), vech tau(beta)), numerically differentiated (a data set with an
    interior optimum)."""
    m = openhlm.build_mdm(simulate(n3=20, n2=6, n1=4, seed=2), id=("child", "school"),
                          level1_variables=["t", "y"], level2_variables=["x2"],
                          level3_variables=["w"])
    design = build_design3(parse_model3(MODEL, level1_variables=m.level1_variables,
                                        level2_variables=m.level2_variables,
                                        level3_variables=m.level3_variables), m)
    est = estimate3(design, method=method)
    res = infer3(est)
    A, y = design.A, design.y
    same2 = design.unit_index[:, None] == design.unit_index[None, :]
    row3 = design.row_level3_index
    same3 = row3[:, None] == row3[None, :]
    low = np.tril_indices(2)

    def sym(v):
        m = np.zeros((2, 2))
        m[low] = v
        return m + np.tril(m, -1).T

    def dev(psi):
        T2, T3 = sym(psi[1:4]), sym(psi[4:7])
        V = (psi[0] * np.eye(design.n1) + same2 * (design.Z2 @ T2 @ design.Z2.T)
             + same3 * (design.Z3 @ T3 @ design.Z3.T))
        Vi = np.linalg.inv(V)
        H = A.T @ Vi @ A
        gamma = np.linalg.solve(H, A.T @ Vi @ y)
        r = y - A @ gamma
        out = np.linalg.slogdet(V)[1] + r @ Vi @ r
        return out + (np.linalg.slogdet(H)[1] if method == "reml" else 0.0)

    psi = np.concatenate([[est.sigma2], est.tau_pi[low], est.tau_beta[low]])
    k = len(psi)
    h = 1e-4 * np.maximum(np.abs(psi), 1e-2)
    H = np.zeros((k, k))
    for i in range(k):
        for j in range(i, k):
            e_i, e_j = np.eye(k)[i] * h[i], np.eye(k)[j] * h[j]
            H[i, j] = H[j, i] = (dev(psi + e_i + e_j) - dev(psi + e_i - e_j)
                                 - dev(psi - e_i + e_j) + dev(psi - e_i - e_j)) / (
                4 * h[i] * h[j])
    se = np.sqrt(np.diag(2 * np.linalg.inv(H)))
    np.testing.assert_allclose(res.sigma2_se, se[0], rtol=2e-3)
    np.testing.assert_allclose(res.tau_pi_se[low], se[1:4], rtol=2e-3)
    np.testing.assert_allclose(res.tau_beta_se[low], se[4:7], rtol=2e-3)
