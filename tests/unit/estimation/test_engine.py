"""The estimation engine against independent dense computations and invariances."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import openhlm
from openhlm.api import as_spec
from openhlm.estimation.design import build_design
from openhlm.estimation.fit import estimate, estimates_at
from openhlm.estimation.likelihood import evaluate, profiled_deviance
from openhlm.estimation.sufficient import unit_stats


def simulate(J=30, seed=0, slope_sd=0.6, n_range=(3, 12)):
    rng = np.random.default_rng(seed)
    n = rng.integers(*n_range, size=J)
    g = np.repeat(np.arange(J), n)
    w = rng.normal(size=J)
    x = rng.normal(size=len(g))
    u0 = rng.normal(scale=1.0, size=J)
    u1 = rng.normal(scale=slope_sd, size=J)
    y = 1 + 0.5 * w[g] + (0.8 + 0.3 * w[g] + u1[g]) * x + u0[g] + rng.normal(size=len(g))
    l1 = pd.DataFrame({"g": g, "x": x, "y": y})
    l2 = pd.DataFrame({"g": np.arange(J), "w": w})
    return openhlm.build_mdm(l1, l2, id="g")


MODEL = "y = B0 + B1*x + R; B0 = G00 + G01*w + U0; B1 = G10 + G11*w + U1"


def dense_loglik(design, sigma2, tau, reml):
    """Log-likelihood with explicit V_j matrices (no Woodbury, no sufficient statistics)."""
    A, Z, y = design.A(), design.Z(), design.y
    blocks = [np.flatnonzero(design.unit == j) for j in range(design.n_level2)]
    Vinv = [np.linalg.inv(Z[b] @ tau @ Z[b].T + sigma2 * np.eye(len(b))) for b in blocks]
    M = sum(A[b].T @ Vi @ A[b] for b, Vi in zip(blocks, Vinv))
    beta = np.linalg.solve(M, sum(A[b].T @ Vi @ y[b] for b, Vi in zip(blocks, Vinv)))
    ll = 0.0
    for b, Vi in zip(blocks, Vinv):
        e = y[b] - A[b] @ beta
        ll -= 0.5 * (len(b) * np.log(2 * np.pi) - np.linalg.slogdet(Vi)[1] + e @ Vi @ e)
    if reml:
        ll += 0.5 * A.shape[1] * np.log(2 * np.pi) - 0.5 * np.linalg.slogdet(M)[1]
    return ll, beta, np.linalg.inv(M)


@pytest.fixture(scope="module")
def design():
    mdm = simulate()
    return build_design(as_spec(MODEL, mdm), mdm)


@pytest.mark.parametrize("reml", [True, False])
def test_likelihood_matches_dense_computation(design, reml):
    tau = np.array([[1.3, 0.2], [0.2, 0.4]])
    ev = evaluate(unit_stats(design), 0.9, tau)
    ll, beta, cov = dense_loglik(design, 0.9, tau, reml)
    assert ev.loglik(reml) == pytest.approx(ll, rel=1e-12)
    np.testing.assert_allclose(ev.beta, beta, rtol=1e-10)
    np.testing.assert_allclose(ev.beta_cov, cov, rtol=1e-10)


@pytest.mark.parametrize("reml", [True, False])
def test_profiled_gradient_matches_finite_differences(design, reml):
    stats = unit_stats(design)
    theta = np.array([0.9, 0.15, 0.5])
    _, _, grad = profiled_deviance(theta, stats, reml, gradient=True)
    h = 1e-6
    num = [(profiled_deviance(theta + h * e, stats, reml)[0]
            - profiled_deviance(theta - h * e, stats, reml)[0]) / (2 * h) for e in np.eye(3)]
    np.testing.assert_allclose(grad, num, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("reml", [True, False])
def test_exact_mode_is_a_stationary_point_of_the_dense_likelihood(design, reml):
    est = estimate(design, method="reml" if reml else "ml")
    base = dense_loglik(design, est.sigma2, est.tau, reml)[0]
    assert est.loglik == pytest.approx(base, rel=1e-12)
    # no direction in (sigma2, tau) improves the likelihood
    for d in ([1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]):
        for step in (1e-4, -1e-4):
            s2 = est.sigma2 + step * d[0]
            tau = est.tau + step * np.array([[d[1], d[2]], [d[2], d[3]]])
            assert dense_loglik(design, s2, tau, reml)[0] <= base + 1e-9


def test_em_and_exact_agree_when_em_runs_long(design):
    exact = estimate(design, method="reml")
    em = estimate(design, method="reml", mode="hlm", max_iterations=5000, tolerance=1e-12)
    assert em.deviance == pytest.approx(exact.deviance, abs=1e-6)
    np.testing.assert_allclose(em.tau, exact.tau, rtol=1e-3, atol=1e-5)


def test_results_do_not_depend_on_row_or_unit_order():
    mdm = simulate(seed=3)
    res = openhlm.fit(MODEL, mdm)
    l1 = pd.DataFrame(mdm.level1).assign(g=np.asarray(mdm.unit_ids)[mdm.unit_index])
    l2 = pd.DataFrame(mdm.level2).assign(g=np.asarray(mdm.unit_ids))
    shuffled = openhlm.build_mdm(l1.sample(frac=1, random_state=1),
                                 l2.sample(frac=1, random_state=2), id="g")
    res2 = openhlm.fit(MODEL, shuffled)
    assert res2.deviance == pytest.approx(res.deviance, abs=1e-8)
    np.testing.assert_allclose(res2.gamma.to_numpy(), res.gamma.to_numpy(), rtol=1e-7)


def test_boundary_optimum_is_reached_and_noted_not_a_crash():
    """No slope variance in the data: the ML optimum is a singular T (rank 1; checked by a
    separate optimisation with L_11 fixed at 0, which reaches the same deviance)."""
    mdm = simulate(J=40, seed=5, slope_sd=0.0, n_range=(4, 8))
    res = openhlm.fit(MODEL, mdm, method="ml")
    assert res.converged
    assert np.isfinite(res.deviance)
    assert res.deviance == pytest.approx(678.3302715320215, abs=1e-7)
    assert np.linalg.eigvalsh(res.tau)[0] < 1e-8 * res.tau[0, 0]
    assert any("singular" in n for n in res.notes)
    assert all(np.isfinite([r.se for r in res.fixed]))


def test_zero_variance_component_is_noted():
    mdm = simulate(J=40, seed=5, slope_sd=0.0, n_range=(4, 8))
    spec = "y = B0 + B1*x + R; B0 = G00 + G01*w + U0; B1 = G10 + G11*w + U1"
    # force the intercept-slope covariance to vanish with a design whose slope has no signal:
    # the fixed-parameter route checks the note wording for an exactly zero variance
    design = build_design(as_spec(spec, mdm), mdm)
    est = estimates_at(design, 1.0, np.array([[0.8, 0.0], [0.0, 0.0]]), method="ml")
    from openhlm.inference.infer import infer

    notes = infer(est).notes
    assert any("variance of X slope is estimated at zero" in n for n in notes)


def test_fixed_parameter_estimates_reproduce_exact_fit(design):
    exact = estimate(design, method="ml")
    again = estimates_at(design, exact.sigma2, exact.tau, method="ml")
    assert again.deviance == pytest.approx(exact.deviance, abs=1e-9)


def test_hlm_mode_non_convergence_warns_with_advice(design):
    with pytest.warns(openhlm.ConvergenceWarning, match="raise max_iterations or use mode='exact'"):
        est = estimate(design, mode="hlm", max_iterations=2)
    assert not est.converged
    assert "maximum number of iterations" in est.stop_reason


def test_exact_mode_non_convergence_warns_with_advice(design):
    # max_iterations counts Newton iterations; one is not enough from the moment start
    with pytest.warns(openhlm.ConvergenceWarning, match="did not converge"):
        est = estimate(design, max_iterations=1)
    assert not est.converged


@pytest.mark.parametrize("reml", [True, False])
def test_variance_component_standard_errors_match_dense_information(design, reml):
    """SE(sigma^2), SE(tau) from the expected information, against 1/2 tr(P dV_a P dV_b) (REML)
    or 1/2 tr(V^-1 dV_a V^-1 dV_b) (ML) built from explicit N x N matrices."""
    from scipy.linalg import block_diag

    from openhlm.inference.variance_se import variance_standard_errors

    sigma2, tau = 0.9, np.array([[1.3, 0.2], [0.2, 0.4]])
    est = estimates_at(design, sigma2, tau, method="reml" if reml else "ml")
    se_s2, se_tau = variance_standard_errors(est)

    A, Z = design.A(), design.Z()
    blocks = [np.flatnonzero(design.unit == j) for j in range(design.n_level2)]
    V = block_diag(*[Z[b] @ tau @ Z[b].T + sigma2 * np.eye(len(b)) for b in blocks])
    Zfull = block_diag(*[Z[b] for b in blocks])            # N x (J*2)
    Vinv = np.linalg.inv(V)
    P = Vinv - Vinv @ A @ np.linalg.inv(A.T @ Vinv @ A) @ A.T @ Vinv if reml else Vinv
    J = design.n_level2
    derivs = [np.eye(len(design.y))]
    for k, l in [(0, 0), (1, 0), (1, 1)]:
        E = np.zeros((2, 2))
        E[k, l] = E[l, k] = 1.0
        derivs.append(Zfull @ np.kron(np.eye(J), E) @ Zfull.T)
    info = np.array([[0.5 * np.trace(P @ a @ P @ b) for b in derivs] for a in derivs])
    se = np.sqrt(np.diag(np.linalg.inv(info)))
    assert se_s2 == pytest.approx(se[0], rel=1e-9)
    np.testing.assert_allclose([se_tau[0, 0], se_tau[1, 0], se_tau[1, 1]], se[1:], rtol=1e-9)
