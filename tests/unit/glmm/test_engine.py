"""The HGLM engine against direct computations: per-unit modes, quadrature, PQL's scale,
the CR0 sandwich."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, optimize
from tests.unit.glmm._cases import data, reference

from openhlm.estimation.design import build_design
from openhlm.estimation.glmm import family, fit_ml, fit_pql, glmm_data
from openhlm.estimation.glmm.quadrature import (
    conditional_modes,
    gh_grid,
    lambda_matrix,
    unit_loglik,
)
from openhlm.runner.inputs import as_mdm, as_spec


def _data(name: str):
    m = reference()[name]
    mdm = as_mdm(data(m["data"]), id=m["id"])
    spec = as_spec(m["openhlm"], mdm, (), residual=False)
    design = build_design(spec, mdm)
    tr = design.level1_data[m["trials"]].to_numpy(float) if "trials" in m else None
    ex = design.level1_data[m["exposure"]].to_numpy(float) if "exposure" in m else None
    return glmm_data(design, family(m["distribution"]), tr, ex)


@pytest.fixture(scope="module")
def contra():
    return _data("contra_ri")


@pytest.fixture(scope="module")
def epil_rs():
    return _data("epil_rs")


def test_batched_modes_equal_unit_by_unit_optimisation(epil_rs):
    d = epil_rs
    beta = np.array([1.1, 0.0, -0.6, 0.0, -0.3])
    Lam = lambda_matrix(np.array([0.7, 0.1, 0.45]), 2)
    modes = conditional_modes(d, beta, Lam)
    for j in (0, 7, 30):
        rows = d.unit == j

        def neg(b, rows=rows):
            eta = d.A[rows] @ beta + d.Z[rows] @ Lam @ b + d.offset[rows]
            return -(d.family.kernel(eta, d.y[rows], d.n[rows]).sum() - 0.5 * b @ b)

        res = optimize.minimize(neg, np.zeros(2), method="BFGS", options={"gtol": 1e-10})
        np.testing.assert_allclose(modes.b[j], res.x, atol=1e-6)


def test_agq_converges_to_the_integral(contra):
    """Scalar random effect: AGQ with 30 nodes = numerical integration unit by unit."""
    d = contra
    beta = np.array([-0.85, 0.66, 0.0087, 0.57])
    Lam = np.array([[0.42]])
    modes = conditional_modes(d, beta, Lam)
    agq = unit_loglik(d, beta, Lam, modes, 30)
    for j in (0, 5, 40):
        rows = d.unit == j

        def g(b, rows=rows):
            eta = d.A[rows] @ beta + d.Z[rows, 0] * Lam[0, 0] * b + d.offset[rows]
            return d.family.kernel(eta, d.y[rows], d.n[rows]).sum() - 0.5 * b * b

        top = g(modes.b[j, 0])
        val, _ = integrate.quad(lambda b, top=top: np.exp(g(b) - top) / np.sqrt(2 * np.pi), -12, 12,
                                epsabs=1e-13, epsrel=1e-12, limit=200)
        assert agq[j] == pytest.approx(top + np.log(val), abs=1e-9)


def test_agq_with_one_node_is_laplace(epil_rs):
    d = epil_rs
    beta = np.array([1.1, 0.0, -0.6, 0.0, -0.3])
    Lam = lambda_matrix(np.array([0.7, 0.1, 0.45]), 2)
    modes = conditional_modes(d, beta, Lam)
    np.testing.assert_allclose(unit_loglik(d, beta, Lam, modes, 1),
                               unit_loglik(d, beta, Lam, modes, 1), rtol=0)
    x, lw = gh_grid(1, 2)
    assert x.shape == (1, 2) and np.allclose(x, 0) and np.allclose(lw, 0)


def test_two_dimensional_agq_settles_as_nodes_grow(epil_rs):
    d = epil_rs
    beta = np.array([1.1, 0.0, -0.6, 0.0, -0.3])
    Lam = lambda_matrix(np.array([0.7, 0.1, 0.45]), 2)
    modes = conditional_modes(d, beta, Lam)
    v = [unit_loglik(d, beta, Lam, modes, k).sum() for k in (5, 9, 15)]
    assert abs(v[2] - v[1]) < 1e-4
    assert abs(v[1] - v[0]) < 1e-2


def test_two_dimensional_agq_fit_is_close_to_laplace(epil_rs):
    lap = fit_ml(epil_rs, 1)
    agq = fit_ml(epil_rs, 5)
    assert agq.converged
    np.testing.assert_allclose(agq.beta, lap.beta, atol=0.05)
    assert abs(agq.deviance - lap.deviance) < 5


def test_robust_se_is_the_cr0_sandwich(contra):
    """CR0: A^{-1} (sum_j s_j s_j') A^{-1}, s_j = d log L_j / d beta, A = -d2 log L / d beta2,
    computed here unit by unit with its own finite differences."""
    est = fit_ml(contra, 1)
    d = contra
    p = d.p
    Lam = lambda_matrix(est.theta, 1)

    def unit_ll(beta):
        modes = conditional_modes(d, beta, Lam)
        return unit_loglik(d, beta, Lam, modes, 1)

    h = 1e-5
    S = np.zeros((d.J, p))
    for i in range(p):
        e = np.zeros(p)
        e[i] = h * max(1, abs(est.beta[i]))
        S[:, i] = (unit_ll(est.beta + e) - unit_ll(est.beta - e)) / (2 * e[i])
    Hs = np.zeros((p, p))
    for i in range(p):
        e = np.zeros(p)
        e[i] = 1e-4 * max(1, abs(est.beta[i]))
        gp = np.array([(unit_ll(est.beta + e + ek) - unit_ll(est.beta + e - ek)).sum()
                       / (2 * ek[k]) for k, ek in enumerate(np.eye(p) * 1e-5)])
        gm = np.array([(unit_ll(est.beta - e + ek) - unit_ll(est.beta - e - ek)).sum()
                       / (2 * ek[k]) for k, ek in enumerate(np.eye(p) * 1e-5)])
        Hs[:, i] = -(gp - gm) / (2 * e[i])
    A = (Hs + Hs.T) / 2
    Ainv = np.linalg.inv(A)
    direct = Ainv @ (S.T @ S) @ Ainv
    np.testing.assert_allclose(np.sqrt(np.diag(est.cov_beta_robust)),
                               np.sqrt(np.diag(direct)), rtol=1e-3)


def test_pql_scale_fixed_at_one_and_reml(contra):
    ml = fit_pql(contra)
    reml = fit_pql(contra, reml=True)
    assert ml.sigma2 is None and ml.deviance is None and ml.converged
    assert reml.tau[0, 0] > ml.tau[0, 0]       # REML corrects the ML variance upward
    od = fit_pql(contra, overdispersion=True)
    ref = reference()["contra_ri"]["pql"]["pql_tight"]
    assert od.sigma2 == pytest.approx(ref["sigma2"], rel=1e-5)
    np.testing.assert_allclose(od.beta, [ref["fixef"][k] for k in
                                         ("(Intercept)", "durban", "age", "urban")], rtol=1e-4)


def test_pql_robust_se_is_the_linearised_sandwich(contra):
    """Robust PQL SEs: (A'V^-1A)^-1 sum_j A_j'V_j^-1 r_j r_j'V_j^-1 A_j (A'V^-1A)^-1 with
    V_j = W_j^-1 + Z_j T Z_j', built densely unit by unit."""
    est = fit_pql(contra)
    d = contra
    eta = d.A @ est.beta + d.Z[:, 0] * est.u[d.unit, 0] + d.offset
    s, w = d.family.score_weight(eta, d.y, d.n)
    z = eta - d.offset + s / w
    bread = np.zeros((d.p, d.p))
    meat = np.zeros((d.p, d.p))
    for j in range(d.J):
        rows = d.unit == j
        A, Z = d.A[rows], d.Z[rows]
        V = np.diag(1 / w[rows]) + Z @ est.tau @ Z.T
        Vi = np.linalg.inv(V)
        bread += A.T @ Vi @ A
        a = A.T @ Vi @ (z[rows] - A @ est.beta)
        meat += np.outer(a, a)
    Bi = np.linalg.inv(bread)
    np.testing.assert_allclose(est.cov_beta_robust, Bi @ meat @ Bi, rtol=1e-6)
    np.testing.assert_allclose(est.cov_beta, Bi, rtol=1e-6)


@pytest.mark.parametrize("name", ["contra_ri", "epil_rs", "cbpp"])
def test_laplace_gradient_is_exact(name):
    """The analytic Laplace gradient against central differences of the deviance."""
    from openhlm.estimation.glmm.ml import Objective

    d = _data(name)
    p = d.p
    phi = np.concatenate([np.linspace(-0.5, 0.3, p), [0.6, 0.1, 0.4][: d.R * (d.R + 1) // 2]])
    obj = Objective(d, 1)
    obj(phi, keep=True)
    _, grad = obj.value_and_gradient(phi)
    h = 1e-6
    num = np.array([(obj(phi + h * e) - obj(phi - h * e)) / (2 * h)
                    for e in np.eye(phi.size)])
    np.testing.assert_allclose(grad, num, rtol=1e-5, atol=1e-5)


def test_population_average_solves_its_estimating_equations(contra):
    """PQL's population-average model: sum_j A_j' V_j^-1 (y_j - mu_j) / w_j = 0 at the
    marginal mean, V_j = W_j^-1 + Z_j T Z_j' (T from the unit-specific fit), and the CR0
    sandwich, both built densely unit by unit."""
    est = fit_pql(contra)
    g, cov, rcov = est.population_average
    d = contra
    eta = d.A @ g + d.offset
    s, w = d.family.score_weight(eta, d.y, d.n)
    ee = np.zeros(d.p)
    bread = np.zeros((d.p, d.p))
    meat = np.zeros((d.p, d.p))
    for j in range(d.J):
        rows = d.unit == j
        A, Z = d.A[rows], d.Z[rows]
        Vi = np.linalg.inv(np.diag(1 / w[rows]) + Z @ est.tau @ Z.T)
        a = A.T @ Vi @ (s[rows] / w[rows])
        ee += a
        bread += A.T @ Vi @ A
        meat += np.outer(a, a)
    assert np.max(np.abs(ee)) < 1e-7
    Bi = np.linalg.inv(bread)
    np.testing.assert_allclose(cov, Bi, rtol=1e-6)
    np.testing.assert_allclose(rcov, Bi @ meat @ Bi, rtol=1e-6)
    # attenuated towards 0 relative to the unit-specific effects (logit link)
    assert np.all(np.abs(g[[0, 3]]) < np.abs(est.beta[[0, 3]]))
