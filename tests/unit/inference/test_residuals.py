"""EB residuals, posterior (co)variances, MDIST and the unit statistics of the residual file,
checked against independent computations: explicit n_j x n_j marginal covariances V_j,
Henderson's mixed-model equations for the whole data set, and per-unit numpy regressions.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from scipy import linalg, stats

import openhlm
from openhlm.estimation.likelihood import evaluate
from openhlm.estimation.sufficient import unit_stats
from openhlm.inference.residuals import chi_square_order_quantiles, eb_estimates

M4 = """mathach = B0 + B1*group(ses) + R
B0 = G00 + G01*sector + G02*meanses + U0
B1 = G10 + G11*sector + G12*meanses + U1"""


@pytest.fixture(scope="module")
def hsb():
    return openhlm.datasets.hsb()


@pytest.fixture(scope="module", params=["reml", "ml"])
def model4(request, hsb):
    return openhlm.fit(M4, hsb, method=request.param)


def _blocks(design, j):
    rows = np.flatnonzero(design.unit == j)
    A = design.A()[rows]
    Z = design.Z()[rows]
    return rows, A, Z


def _explicit(est, units, precision=None):
    """u*_j, C_j (the method's form), Var(u*_j) and MDIST_j from explicit V_j for the given units."""
    d, ev = est.design, est.evaluation
    tau, s2 = ev.tau, ev.sigma2
    w = np.ones(d.n_level1) if precision is None else precision
    M = np.zeros((d.n_free_gammas, d.n_free_gammas))
    Vinv = {}
    for j in range(d.n_level2):            # independent: loops, explicit matrices
        rows, A, Z = _blocks(d, j)
        V = Z @ tau @ Z.T + np.diag(s2 / w[rows])
        Vinv[j] = np.linalg.inv(V)
        M += A.T @ Vinv[j] @ A
    rhs = sum(_blocks(d, j)[1].T @ Vinv[j] @ d.y[_blocks(d, j)[0]] for j in range(d.n_level2))
    gamma = np.linalg.solve(M, rhs)
    Minv = np.linalg.inv(M)
    out = []
    for j in units:
        rows, A, Z = _blocks(d, j)
        e = d.y[rows] - A @ gamma
        u = tau @ Z.T @ Vinv[j] @ e
        P = Vinv[j] - Vinv[j] @ A @ Minv @ A.T @ Vinv[j]
        var_u = tau @ Z.T @ P @ Z @ tau
        c = tau - var_u if est.reml else tau - tau @ Z.T @ Vinv[j] @ Z @ tau
        mdist = float(u @ np.linalg.pinv(var_u) @ u)
        out.append((u, c, var_u, mdist))
    return out


def test_mdist_and_posterior_variances_match_explicit_vj(model4):
    est = model4.estimates
    eb = eb_estimates(est)
    units = [0, 1, 57, 159]
    for j, (u, c, var_u, mdist) in zip(units, _explicit(est, units)):
        np.testing.assert_allclose(eb.eb_residuals[j], u, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(eb.eb_residual_cov[j], var_u, rtol=1e-8, atol=1e-12)
        assert eb.mdist[j] == pytest.approx(mdist, rel=1e-8)
        np.testing.assert_allclose(eb.posterior_cov[j], c, rtol=1e-8, atol=1e-12)
    assert eb.mdist_df.tolist() == [2] * 160


def test_posterior_covariances_match_hendersons_equations(hsb):
    """C_j (REML) and PVC_j from the inverse of the mixed-model-equation coefficient matrix:
    the prediction-error covariance of (gamma, u) for all 160 schools at once."""
    res = openhlm.fit(M4, hsb)
    est, eb = res.estimates, eb_estimates(res.estimates)
    d, tau, s2 = est.design, est.tau, est.sigma2
    A, Z = d.A(), d.Z()
    J, R, F = d.n_level2, d.n_random, d.n_free_gammas
    Zfull = np.zeros((d.n_level1, J * R))
    for k in range(R):
        Zfull[np.arange(d.n_level1), d.unit * R + k] = Z[:, k]
    C = np.block([[A.T @ A, A.T @ Zfull],
                  [Zfull.T @ A, Zfull.T @ Zfull + s2 * linalg.block_diag(
                      *[np.linalg.inv(tau)] * J)]])
    pev = s2 * np.linalg.inv(C)
    sol = np.linalg.solve(C, np.concatenate([A.T @ d.y, Zfull.T @ d.y]))
    np.testing.assert_allclose(sol[:F], est.evaluation.beta, rtol=1e-8)
    np.testing.assert_allclose(sol[F:].reshape(J, R), eb.eb_residuals, atol=1e-9)
    G = d.G()
    for j in (0, 33, 159):
        idx = np.r_[np.arange(F), F + j * R + np.arange(R)]
        block = pev[np.ix_(idx, idx)]
        np.testing.assert_allclose(eb.posterior_cov[j], block[F:, F:], rtol=1e-7)
        L = np.hstack([G[j][d.random_columns], np.eye(R)])     # beta_jR = G_jR gamma + u_j
        np.testing.assert_allclose(eb.coefficient_cov[j], L @ block @ L.T, rtol=1e-7)
        # MDIST's variance is T minus the prediction-error covariance
        np.testing.assert_allclose(eb.eb_residual_cov[j], tau - block[F:, F:], rtol=1e-6,
                                   atol=1e-10)


def test_ml_posterior_variance_is_conditional_on_gamma(hsb):
    res = openhlm.fit(M4, hsb, method="ml")
    eb = eb_estimates(res.estimates)
    np.testing.assert_allclose(eb.posterior_cov, eb.conditional_cov)
    reml = eb_estimates(openhlm.fit(M4, hsb).estimates)
    assert np.all(reml.posterior_cov[:, 0, 0] > reml.conditional_cov[:, 0, 0])


def test_unit_statistics_match_per_unit_numpy(model4):
    est = model4.estimates
    d = est.design
    eb = eb_estimates(est)
    for j in (0, 5, 100):
        rows = np.flatnonzero(d.unit == j)
        y, X = d.y[rows], d.X[rows]
        n = len(rows)
        assert eb.lntotvar[j] == pytest.approx(np.log(np.std(y, ddof=1)), rel=1e-12)
        coef, sse, *_ = np.linalg.lstsq(X, y, rcond=None)
        assert eb.olsrsvar[j] == pytest.approx(0.5 * np.log(sse[0] / (n - X.shape[1])), rel=1e-10)
        fitted = X @ eb.eb_coefficients[j]
        np.testing.assert_allclose(eb.level1_fitted[rows], fitted, rtol=1e-12)
        assert eb.mdrsvar[j] == pytest.approx(0.5 * np.log(np.sum((y - fitted) ** 2) / n),
                                              rel=1e-12)
        # OLS residual of the random coefficients: OLS of y on X (all coefficients random here)
        np.testing.assert_allclose(eb.ols_residuals[j], coef - eb.fitted[j], rtol=1e-9)


def test_ols_residuals_with_a_fixed_coefficient(hsb):
    """With a fixed level-1 coefficient, OL is the OLS of y - (fixed part at gamma_hat) on the
    random columns (as the chi-square test uses)."""
    res = openhlm.fit(M4.replace("+ R", "+ B2*minority + R") + "\nB2 = G20", hsb)
    d, eb = res.estimates.design, eb_estimates(res.estimates)
    assert eb.random_labels == ("INTRCPT1", "SES")
    assert eb.coefficient_labels == ("INTRCPT1", "SES", "MINORITY")
    for j in (0, 7):
        rows = np.flatnonzero(d.unit == j)
        y = d.y[rows] - d.X[rows, 2] * eb.fitted[j, 2]
        coef = np.linalg.lstsq(d.X[rows][:, :2], y, rcond=None)[0]
        np.testing.assert_allclose(eb.ols_residuals[j], coef - eb.fitted[j, :2], rtol=1e-9)
    # a fixed coefficient's EB coefficient is its fitted value
    np.testing.assert_array_equal(eb.eb_coefficients[:, 2], eb.fitted[:, 2])


def test_chipct_is_the_chi_square_quantile_of_the_rank():
    values = np.array([3.0, 0.5, 9.0, 1.0, np.nan])
    q = chi_square_order_quantiles(values, 2)
    J = 4
    expected = stats.chi2.ppf((np.array([3, 1, 4, 2]) - 0.5) / J, 2)
    np.testing.assert_allclose(q[:4], expected)
    assert np.isnan(q[4])


def test_mdist_is_chi_square_in_simulated_data():
    """Under the model, MDIST_j ~ chi-square(Q_R): mean close to Q_R on simulated data."""
    rng = np.random.default_rng(7)
    J, n = 300, 12
    unit = np.repeat(np.arange(J), n)
    x = rng.normal(size=J * n)
    u = rng.multivariate_normal([0, 0], [[4.0, 0.5], [0.5, 1.0]], size=J)
    y = 10 + u[unit, 0] + (2 + u[unit, 1]) * x + rng.normal(scale=2.0, size=J * n)
    frame = pd.DataFrame({"g": unit, "x": x, "y": y})
    res = openhlm.fit("y = B0 + B1*x + R; B0 = G00 + U0; B1 = G10 + U1", frame, id="g")
    eb = eb_estimates(res.estimates)
    assert eb.mdist.mean() == pytest.approx(2.0, abs=0.35)
    assert stats.kstest(eb.mdist, "chi2", args=(2,)).pvalue > 0.001


def test_unit_with_fewer_rows_than_random_coefficients():
    """A unit with one row: Var(u*_j) has rank 1, MDIST uses the pseudo-inverse; OLS missing."""
    rng = np.random.default_rng(3)
    unit = np.r_[np.repeat(np.arange(30), 8), 30]
    x = rng.normal(size=unit.size)
    y = 1 + 0.5 * x + rng.normal(size=31)[unit] + rng.normal(size=unit.size)
    frame = pd.DataFrame({"g": unit, "x": x, "y": y})
    res = openhlm.fit("y = B0 + B1*x + R; B0 = G00 + U0; B1 = G10 + U1", frame, id="g")
    eb = eb_estimates(res.estimates)
    assert eb.mdist_df[30] == 1 and np.isfinite(eb.mdist[30])
    assert not eb.ols_sufficient[30] and np.isnan(eb.ols_residuals[30]).all()
    assert np.isnan(eb.lntotvar[30]) and np.isnan(eb.olsrsvar[30])


def test_heterogeneous_level1_variance_uses_the_row_precision(hsb):
    """With row precisions (sigma^2 / sigma^2_ij, ``Estimates.row_precision``) on the estimates, u*_j is computed with
    V_j = Z T Z' + diag(sigma^2_ij) and SIGMA = sqrt(sigma^2_ij)."""
    res = openhlm.fit(M4, hsb)
    est = res.estimates
    d = est.design
    female = d.level1_data["female"].to_numpy(dtype=float)
    precision = np.where(female == 1, 1.25, 0.8)
    stats_h = unit_stats(d, precision=precision)
    ev = evaluate(stats_h, est.sigma2, est.tau)
    est_h = dataclasses.replace(est, stats=stats_h, evaluation=ev, fixed_evaluation=ev,
                                row_precision=precision)
    eb = eb_estimates(est_h)
    units = [0, 42]
    for j, (u, _, var_u, mdist) in zip(units, _explicit(est_h, units, precision)):
        np.testing.assert_allclose(eb.eb_residuals[j], u, rtol=1e-9, atol=1e-12)
        assert eb.mdist[j] == pytest.approx(mdist, rel=1e-8)
    np.testing.assert_allclose(eb.level1_sigma, np.sqrt(est.sigma2 / precision))
    np.testing.assert_allclose(eb.level1_sigma, np.sqrt(est_h.level1_variance))
    assert not np.allclose(eb.eb_residuals, eb_estimates(est).eb_residuals)


def test_heterogeneous_fit_end_to_end(hsb):
    """A fit with ln sigma^2_ij = alpha_0 + alpha_1 FEMALE: the EB residuals and MDIST use the
    fitted sigma^2_ij (explicit V_j = Z T Z' + diag(sigma^2_ij)), SIGMA takes two values."""
    spec = dataclasses.replace(openhlm.api.as_spec(M4, hsb), variance_predictors=("female",))
    res = openhlm.fit(spec, hsb, method="ml")
    est = res.estimates
    assert est.row_precision is not None
    eb = eb_estimates(est)
    units = [0, 99]
    for j, (u, c, var_u, mdist) in zip(units, _explicit(est, units, est.row_precision)):
        np.testing.assert_allclose(eb.eb_residuals[j], u, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(eb.posterior_cov[j], c, rtol=1e-8, atol=1e-12)
        assert eb.mdist[j] == pytest.approx(mdist, rel=1e-8)
    np.testing.assert_allclose(eb.level1_sigma, np.sqrt(est.level1_variance))
    assert len(np.unique(np.round(eb.level1_sigma, 10))) == 2
