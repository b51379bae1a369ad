"""HLM mode for three-level models (HLM3's EM, full ML): the E-step against a dense N x N
computation, the EM's fixed point against lme4's ML optimum
(tests/reference/crosscheck/egsingle3), HLM's stopping rule, and the report's wording."""

from __future__ import annotations

import numpy as np
import pytest
from tests.reference.crosscheck._load import load_case
from tests.unit.three_level.conftest import simulate

import openhlm
from openhlm.errors import SpecError
from openhlm.estimation.three_level.design import build_design3
from openhlm.estimation.three_level.em import (
    em3_step,
    estep3,
    run_em3,
    starting_values3,
)
from openhlm.estimation.three_level.statistics import unit_statistics
from openhlm.spec.equations3 import parse_model3

REF = load_case("egsingle3")["models"]

SMALL = """y = P0 + P1*t + E
P0 = B00 + B01*x2 + R0
P1 = B10 + R1
B00 = G000 + G001*w + U00
B10 = G100 + U10
"""


def _design(eq, mdm):
    spec = parse_model3(eq.replace("; ", "\n"), level1_variables=mdm.level1_variables,
                        level2_variables=mdm.level2_variables,
                        level3_variables=mdm.level3_variables)
    return build_design3(spec, mdm)


@pytest.fixture(scope="module")
def small():
    from openhlm.data.mdm3 import build_mdm3

    mdm = build_mdm3(simulate(seed=3), id=("child", "school"))
    return _design(SMALL, mdm)


def _dense(design, sigma2, tp, tb):
    """Dense N x N: GLS gamma, ML log-likelihood and E(b | y), Cov(b | y) for
    b = (u_1..u_K, r_1..r_J) (Henderson: G Z'V^-1 e, G - G Z'V^-1 Z G)."""
    N, J, K = design.n1, design.n2, design.n3
    r2, r3 = design.Z2.shape[1], design.Z3.shape[1]
    unit, school = design.unit_index, design.row_level3_index
    Z = np.zeros((N, K * r3 + J * r2))
    for i in range(N):
        Z[i, school[i] * r3:(school[i] + 1) * r3] = design.Z3[i]
        Z[i, K * r3 + unit[i] * r2:K * r3 + (unit[i] + 1) * r2] = design.Z2[i]
    G = np.zeros((Z.shape[1],) * 2)
    for k in range(K):
        G[k * r3:(k + 1) * r3, k * r3:(k + 1) * r3] = tb
    for j in range(J):
        s = K * r3 + j * r2
        G[s:s + r2, s:s + r2] = tp
    V = sigma2 * np.eye(N) + Z @ G @ Z.T
    Vi = np.linalg.inv(V)
    A, y = design.A, design.y
    gamma = np.linalg.solve(A.T @ Vi @ A, A.T @ Vi @ y)
    e = y - A @ gamma
    loglik = -0.5 * (N * np.log(2 * np.pi) + np.linalg.slogdet(V)[1] + e @ Vi @ e)
    mean = G @ Z.T @ Vi @ e
    cov = G - G @ Z.T @ Vi @ Z @ G
    return gamma, loglik, mean, cov, Z, e


def test_estep_equals_dense_computation(small):
    stats = unit_statistics(small)
    sigma2 = 0.7
    tp = np.array([[0.9, 0.1], [0.1, 0.2]])
    tb = np.array([[0.5, -0.05], [-0.05, 0.1]])
    e = estep3(stats, sigma2, tp, tb)
    gamma, loglik, mean, cov, Z, res = _dense(small, sigma2, tp, tb)
    K, J = small.n3, small.n2
    gamma_e, _ = stats.to_original(e.gamma, np.eye(len(e.gamma)))
    np.testing.assert_allclose(gamma_e, gamma, rtol=1e-9, atol=1e-10)
    assert e.loglik == pytest.approx(loglik, rel=1e-11)
    np.testing.assert_allclose(e.u.ravel(), mean[:K * 2], atol=1e-10)
    np.testing.assert_allclose(e.r.ravel(), mean[K * 2:], atol=1e-10)
    for k in range(K):
        np.testing.assert_allclose(e.var_u[k], cov[2 * k:2 * k + 2, 2 * k:2 * k + 2],
                                   atol=1e-10)
    k_of = small.level3_index
    for j in range(J):
        s = 2 * K + 2 * j
        np.testing.assert_allclose(e.var_r[j], cov[s:s + 2, s:s + 2], atol=1e-10)
        k = k_of[j]
        np.testing.assert_allclose(e.cov_ru[j], cov[s:s + 2, 2 * k:2 * k + 2], atol=1e-10)
    # the M-step's sigma^2: E(e'e | y) / N, with Cov(e | y) = Cov(Zb | y)
    fitted_b = res - Z @ mean
    expected = (fitted_b @ fitted_b + np.trace(Z @ cov @ Z.T)) / small.n1
    s2_new, tp_new, tb_new = em3_step(stats, e)
    assert s2_new == pytest.approx(expected, rel=1e-10)
    r_mean = mean[2 * K:].reshape(J, 2)
    tp_dense = (r_mean.T @ r_mean + sum(cov[2 * K + 2 * j:2 * K + 2 * j + 2,
                                            2 * K + 2 * j:2 * K + 2 * j + 2]
                                        for j in range(J))) / J
    np.testing.assert_allclose(tp_new, tp_dense, atol=1e-10)
    u_mean = mean[:2 * K].reshape(K, 2)
    tb_dense = (u_mean.T @ u_mean + sum(cov[2 * k:2 * k + 2, 2 * k:2 * k + 2]
                                        for k in range(K))) / K
    np.testing.assert_allclose(tb_new, tb_dense, atol=1e-10)


@pytest.mark.parametrize("key", ["null_ml", "growth_ml", "predictors_ml"])
def test_em_fixed_point_is_lme4s_ml_optimum(key, eg_mdm):
    """Plain EM run to a tight tolerance reaches lme4's ML estimates; the likelihood never
    falls (EM's ascent property)."""
    ref = REF[key]
    design = _design(ref["equations"], eg_mdm)
    stats = unit_statistics(design)
    sol = run_em3(stats, starting_values3(design), max_iterations=20000, tolerance=1e-13,
                  accelerator_frequency=None)
    assert sol.converged
    assert np.diff(sol.loglik_history).min() > -1e-9
    assert -2 * sol.loglik_history[-1] <= ref["deviance"] + 1e-6
    assert sol.sigma2 == pytest.approx(ref["sigma2"], rel=1e-5)
    np.testing.assert_allclose(sol.tau_pi, np.array(ref["tau_pi"]).reshape(sol.tau_pi.shape),
                               rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(sol.tau_beta,
                               np.array(ref["tau_beta"]).reshape(sol.tau_beta.shape),
                               rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("key", ["null_ml", "growth_ml", "predictors_ml"])
def test_hlm_mode_stops_by_hlms_rule_near_the_optimum(key, eg_mdm):
    ref = REF[key]
    res = openhlm.fit(ref["equations"].replace("; ", "\n"), eg_mdm, method="ml", mode="hlm")
    em = None
    assert res.converged and res.mode == "hlm"
    # the stop rule: the E-step likelihood changed by less than 1e-8 of itself at the last
    # iteration and by more at every earlier one (from iteration 2)
    design = _design(ref["equations"], eg_mdm)
    stats = unit_statistics(design)
    em = run_em3(stats, starting_values3(design))
    h = np.array(em.loglik_history)
    rel = np.abs(np.diff(h)) / np.abs(h[1:])
    assert rel[-1] < 1e-8 and np.all(rel[:-1] >= 1e-8)
    assert res.iterations == em.iterations == len(h)
    # HLM's rule stops near, not at, the optimum: the deviance is within 0.01 of lme4's and
    # the gammas within a few thousandths of a standard error
    assert 0 <= res.deviance - ref["deviance"] < 0.01
    gammas = np.array([r.estimate for r in res.fixed])
    ses = np.array([r.se for r in res.fixed])
    exact = openhlm.fit(ref["equations"].replace("; ", "\n"), eg_mdm, method="ml")
    ex = np.array([r.estimate for r in exact.fixed])
    assert np.max(np.abs(gammas - ex) / ses) < 5e-3
    text = str(res)
    assert "Iterations stopped due to small change in likelihood function" in text
    assert f"******* ITERATION {res.iterations} *******" in text


def test_hlm_mode_iteration_limit(eg_mdm):
    ref = REF["growth_ml"]
    res = openhlm.fit(ref["equations"].replace("; ", "\n"), eg_mdm, method="ml", mode="hlm",
                      max_iterations=3)
    assert not res.converged and res.iterations == 3
    text = str(res)
    assert "Iterations stopped due to reaching the maximum number of iterations" in text
    assert "WARNING: the iterations stopped before convergence" in text


def test_hlm_mode_needs_ml(eg_mdm):
    with pytest.raises(SpecError, match="full maximum likelihood only: pass method='ml'"):
        openhlm.fit(REF["null_ml"]["equations"].replace("; ", "\n"), eg_mdm, mode="hlm")
