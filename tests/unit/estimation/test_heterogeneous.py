"""Heterogeneous level-1 variance: the estimator against dense, independent computations.

Every check here recomputes the quantity from scratch with dense per-unit matrices
(V_j = Z_j T Z_j' + diag(sigma^2_ij), no Woodbury, no sufficient statistics) on a subset of
the HS&B data, and compares it with the engine's vectorised value.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import openhlm
from openhlm.errors import ConvergenceWarning, EstimationError
from openhlm.inference.heterogeneous import variance_information
from openhlm.report.heterogeneous_sections import hetero_p_value, heterogeneous_text

M4 = """mathach = B0 + B1*group(ses) + R
B0 = G00 + G01*sector + G02*meanses + U0
B1 = G10 + G11*sector + G12*meanses + U1"""


def _tables(n_units: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    l1 = pd.read_csv(openhlm.datasets.path("hsb1.csv"))
    l2 = pd.read_csv(openhlm.datasets.path("hsb2.csv"))
    if n_units is not None:
        ids = l2["id"].iloc[:n_units]
        l1, l2 = l1[l1["id"].isin(ids)].copy(), l2[l2["id"].isin(ids)].copy()
    return l1, l2


@pytest.fixture(scope="module")
def small():
    """Model 4 with log sigma^2 = alpha0 + alpha1 FEMALE + alpha2 SES, all 160 schools (ML).

    (On small subsets T tends to a correlation of +-1, the boundary, where the deviance's
    slopes in T need not vanish; on the full data T is well inside.)"""
    l1, l2 = _tables()
    mdm = openhlm.build_mdm(l1, l2, id="id")
    res = openhlm.fit(M4, mdm, method="ml", heterogeneous_sigma2=["female", "ses"])
    return res


def _dense_parts(est):
    d = est.design
    A = d.A()
    Z = d.X[:, d.random_columns]
    s2 = est.heterogeneous.level1_variance
    units = [np.flatnonzero(d.unit == j) for j in range(d.n_level2)]
    return d, A, Z, s2, units


def _dense_deviance(est, alpha: np.ndarray, tau: np.ndarray) -> float:
    """ML deviance with gamma at its GLS value, from dense V_j."""
    d, A, Z, _, units = _dense_parts(est)
    C = est.heterogeneous.variance.C
    s2 = np.exp(C @ alpha)
    Vs = [Z[i] @ tau @ Z[i].T + np.diag(s2[i]) for i in units]
    Vi = [np.linalg.inv(V) for V in Vs]
    M = sum(A[i].T @ W @ A[i] for i, W in zip(units, Vi))
    b = sum(A[i].T @ W @ d.y[i] for i, W in zip(units, Vi))
    gamma = np.linalg.solve(M, b)
    dev = 0.0
    for i, V, W in zip(units, Vs, Vi):
        e = d.y[i] - A[i] @ gamma
        dev += len(i) * np.log(2 * np.pi) + np.linalg.slogdet(V)[1] + e @ W @ e
    return float(dev)


def test_deviance_matches_dense_likelihood(small) -> None:
    est = small.estimates
    dense = _dense_deviance(est, est.heterogeneous.alpha, est.tau)
    assert est.deviance == pytest.approx(dense, abs=1e-7)
    # the rows' sigma^2_ij are exp(C alpha), and sigma^2 is exp(alpha0)
    C = est.heterogeneous.variance.C
    np.testing.assert_allclose(est.level1_variance, np.exp(C @ est.heterogeneous.alpha), rtol=1e-12)
    assert small.sigma2 == pytest.approx(np.exp(est.heterogeneous.alpha[0]), rel=1e-12)


def test_estimates_are_the_ml_optimum(small) -> None:
    """Every alpha and tau direction of the dense deviance is flat at the estimates."""
    est = small.estimates
    alpha, tau = est.heterogeneous.alpha, est.tau
    h = 1e-4
    for k in range(alpha.size):
        e = np.zeros(alpha.size)
        e[k] = h
        slope = (_dense_deviance(est, alpha + e, tau) - _dense_deviance(est, alpha - e, tau)) / (2 * h)
        assert abs(slope) < 1e-3, (k, slope)
    for r, s in ((0, 0), (0, 1), (1, 1)):
        E = np.zeros((2, 2))
        E[r, s] = E[s, r] = h
        slope = (_dense_deviance(est, alpha, tau + E) - _dense_deviance(est, alpha, tau - E)) / (2 * h)
        assert abs(slope) < 1e-3, ((r, s), slope)
    # and the optimum beats a homogeneous sigma^2 on the same rows
    assert small.extras["heterogeneous_sigma2"].test.chi2 > 0


def test_expected_information_matches_dense_traces(small) -> None:
    est = small.estimates
    info, pairs = variance_information(est)
    _, _, Z, s2, units = _dense_parts(est)
    C = est.heterogeneous.variance.C
    Ka = C.shape[1]
    tau = est.tau
    dense = np.zeros_like(info)
    for i in units:
        V = Z[i] @ tau @ Z[i].T + np.diag(s2[i])
        W = np.linalg.inv(V)
        dV = [np.diag(C[i, a] * s2[i]) for a in range(Ka)]
        for k, l in pairs:
            E = np.zeros((2, 2))
            E[k, l] = E[l, k] = 1.0
            dV.append(Z[i] @ E @ Z[i].T)
        WdV = [W @ D for D in dV]
        dense += 0.5 * np.array([[np.sum(a * b.T) for b in WdV] for a in WdV])
    np.testing.assert_allclose(info, dense, rtol=1e-9, atol=1e-9)


def test_alpha_table_uses_the_full_inverse(small) -> None:
    block = small.extras["heterogeneous_sigma2"]
    info, _ = variance_information(small.estimates)
    se = np.sqrt(np.diag(np.linalg.inv(info))[:3])
    np.testing.assert_allclose(block.alpha_se, se, rtol=1e-12)
    for row in block.rows:
        assert row.z == pytest.approx(row.estimate / row.se)
    assert [r.label for r in block.rows] == ["INTRCPT1", "FEMALE", "SES"]
    # FEMALE is categorical (two values): implied variances exp(alpha0 + alpha1 v)
    fem = [iv for iv in block.implied if iv.predictor == "FEMALE"]
    assert [iv.value for iv in fem] == [0.0, 1.0]
    assert fem[1].variance == pytest.approx(np.exp(block.alpha[0] + block.alpha[1]))
    assert not [iv for iv in block.implied if iv.predictor == "SES"]   # continuous
    assert small.n_parameters == 3 + 3 + 6
    assert block.test.df == 2


def test_hlm_mode_macro_iterations_approach_the_optimum() -> None:
    """HLM's alternating scheme (EM for T, Fisher scoring for alpha, HLM's stopping value
    1e-6) ends near the exact ML optimum, never below its deviance."""
    l1, l2 = _tables(40)
    mdm = openhlm.build_mdm(l1, l2, id="id")
    exact = openhlm.fit(M4, mdm, method="ml", heterogeneous_sigma2="female")
    # the homogeneous HLM-mode EM (HLM's starting point) may stop on its iteration limit; that
    # warning belongs to the homogeneous fit and is not what this test is about
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hlm = openhlm.fit(M4, mdm, method="ml", mode="hlm", heterogeneous_sigma2="female")
    assert not [w for w in caught if "heterogeneous level-1" in str(w.message)]
    assert hlm.extras["heterogeneous_sigma2"].converged
    a_exact = exact.extras["heterogeneous_sigma2"].alpha
    a_hlm = hlm.extras["heterogeneous_sigma2"].alpha
    np.testing.assert_allclose(a_hlm, a_exact, atol=5e-3)
    assert exact.deviance - 1e-7 <= hlm.deviance <= exact.deviance + 0.05


def test_constant_variance_predictor_is_refused() -> None:
    l1, l2 = _tables(20)
    l1["one"] = 1.0
    mdm = openhlm.build_mdm(l1, l2, id="id")
    with pytest.raises(EstimationError, match=r"'one' is constant .* remove it"):
        openhlm.fit(M4, mdm, method="ml", heterogeneous_sigma2=["one"])


def test_collinear_variance_predictors_are_refused() -> None:
    l1, l2 = _tables(20)
    l1["male"] = 1.0 - l1["female"]
    mdm = openhlm.build_mdm(l1, l2, id="id")
    with pytest.raises(EstimationError, match=r"female, male are collinear"):
        openhlm.fit(M4, mdm, method="ml", heterogeneous_sigma2=["female", "male"])


def test_reml_is_refused_with_a_clear_message() -> None:
    mdm = openhlm.build_mdm(*_tables(20), id="id")
    with pytest.raises(EstimationError, match=r"full maximum likelihood only.*method='ml'"):
        openhlm.fit(M4, mdm, heterogeneous_sigma2=["female"])


def test_unknown_variance_predictor_is_a_spec_error() -> None:
    mdm = openhlm.build_mdm(*_tables(20), id="id")
    with pytest.raises(openhlm.errors.SpecError, match="nosuch"):
        openhlm.fit(M4, mdm, method="ml", heterogeneous_sigma2=["nosuch"])


def test_non_convergence_warns() -> None:
    mdm = openhlm.build_mdm(*_tables(20), id="id")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = openhlm.fit(M4, mdm, method="ml", mode="hlm", heterogeneous_sigma2=["female"],
                          max_iterations=1)
    messages = [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert any("heterogeneous level-1 variance model did not converge" in m for m in messages)
    assert not res.converged
    assert not res.extras["heterogeneous_sigma2"].converged


# -- report --------------------------------------------------------------------------------------

SEED_BLOCK = """\
RESULTS FOR HETEROGENEOUS SIGMA-SQUARED
(macro iteration 4)

 Var(R) = Sigma_squared and
 log(Sigma_squared) = alpha0 + alpha1(FEMALE)


 Model for level-1 variance
 --------------------------------------------------------------------
                                      Standard
    Parameter        Coefficient      Error       Z-ratio   P-value
 --------------------------------------------------------------------
 INTRCPT1    ,alpha0     3.66570      0.024718    148.301     0.000
   FEMALE    ,alpha1    -0.12106      0.033936     -3.567     0.001
 --------------------------------------------------------------------

Summary of Model Fit

 -------------------------------------------------------------------
 Model                                Number of         Deviance
                                      Parameters
 -------------------------------------------------------------------
 1. Homogeneous sigma_squared             10          46494.59261
 2. Heterogeneous sigma_squared           11          46482.09334
 -------------------------------------------------------------------
 Model Comparison                 Chi-square       df    P-value
 -------------------------------------------------------------------
 Model 1 vs Model 2                  12.49926       1     0.001"""


def test_text_block_reproduces_hlm_layout() -> None:
    """The seed's block (HLM 6.08, verbatim) from its own printed numbers."""
    from scipy import stats as st

    from openhlm.inference.heterogeneous import AlphaRow, HeterogeneityTest, HeterogeneousSigma2

    rows = tuple(AlphaRow(label=lab, parameter=f"alpha{k}", estimate=a, se=s, z=a / s,
                          p=float(2 * st.norm.sf(abs(a / s))))
                 for k, (lab, a, s) in enumerate((("INTRCPT1", 3.66570, 0.024718),
                                                  ("FEMALE", -0.12106, 0.033936))))
    test = HeterogeneityTest(homogeneous_parameters=10, heterogeneous_parameters=11,
                             homogeneous_deviance=46494.59261, heterogeneous_deviance=46482.09334,
                             chi2=12.49926, df=1, p=float(st.chi2.sf(12.49926, 1)),
                             convention="hlm")
    block = HeterogeneousSigma2(predictors=("FEMALE",), rows=rows, covariance=np.eye(2),
                                implied=(), test=test, macro_iterations=4, micro_iterations=2,
                                converged=True, mode="hlm")
    assert "\n".join(heterogeneous_text(block)) == SEED_BLOCK


def test_p_values_of_the_block() -> None:
    assert hetero_p_value(0.00036) == "0.001"      # HLM: Z = -3.567 prints 0.001
    assert hetero_p_value(0.0) == "0.000"          # Z = 148.3 (underflow) prints 0.000
    assert hetero_p_value(0.0123) == "0.012"


def test_report_and_json_carry_the_block(small) -> None:
    text = small.report()
    assert "RESULTS FOR HETEROGENEOUS SIGMA-SQUARED" in text
    assert " log(Sigma_squared) = alpha0 + alpha1(FEMALE) + alpha2(SES)" in text
    data = small.to_dict()["heterogeneous_sigma2"]
    block = small.extras["heterogeneous_sigma2"]
    assert [a["label"] for a in data["alpha"]] == ["INTRCPT1", "FEMALE", "SES"]
    assert [a["estimate"] for a in data["alpha"]] == pytest.approx(list(block.alpha))
    assert [a["se"] for a in data["alpha"]] == pytest.approx(list(block.alpha_se))
    assert data["homogeneous_deviance"] == pytest.approx(block.test.homogeneous_deviance)
    assert data["heterogeneity_test"]["df"] == 2
    assert data["heterogeneity_test"]["chi2"] == pytest.approx(
        block.test.homogeneous_deviance - block.test.heterogeneous_deviance)


def test_tau_standard_errors_come_from_the_joint_information(small) -> None:
    info, pairs = variance_information(small.estimates)
    se = np.sqrt(np.diag(np.linalg.inv(info)))
    Ka = 3
    for t, (k, l) in enumerate(pairs):
        assert small.tau_se[k, l] == pytest.approx(se[Ka + t], rel=1e-10)
    assert small.sigma2_se == pytest.approx(small.sigma2 * se[0], rel=1e-10)


def test_text_report_places_the_block_like_hlm(small) -> None:
    """HLM prints the block in place of "Sigma_squared =", before Tau, and no level-1 row."""
    text = small.report()
    assert text.count("RESULTS FOR HETEROGENEOUS SIGMA-SQUARED") == 1
    assert text.index("RESULTS FOR HETEROGENEOUS") < text.index("\n Tau\n")
    assert " Sigma_squared =" not in text
    assert "level-1,       R" not in text


def test_imputed_data_with_heterogeneous_sigma2_is_refused() -> None:
    l1, l2 = _tables(20)
    with pytest.raises(openhlm.errors.SpecError, match="heterogeneous_sigma2 is not supported"):
        openhlm.fit(M4, [l1, l1], id="id", level2=l2, method="ml", heterogeneous_sigma2="female")


def test_integer_design_weights_equal_repeated_rows() -> None:
    """A level-1 design weight of 2 (not normalised) is the row entered twice.

    (SES uncentred here: group means of the repeated rows would differ from the weighted
    rows' unweighted group means.)"""
    model = M4.replace("group(ses)", "ses")
    l1, l2 = _tables(60)
    rng = np.random.default_rng(7)
    l1["w"] = rng.integers(1, 3, size=len(l1)).astype(float)
    doubled = pd.concat([l1, l1[l1["w"] == 2]]).sort_values("id", kind="stable")
    weighted = openhlm.fit(model, openhlm.build_mdm(l1, l2, id="id"), method="ml",
                           heterogeneous_sigma2="female", level1_weight="w",
                           normalize_weights=False)
    repeated = openhlm.fit(model, openhlm.build_mdm(doubled, l2, id="id"), method="ml",
                           heterogeneous_sigma2="female")
    np.testing.assert_allclose(weighted.extras["heterogeneous_sigma2"].alpha,
                               repeated.extras["heterogeneous_sigma2"].alpha, atol=1e-6)
    np.testing.assert_allclose(weighted.extras["heterogeneous_sigma2"].alpha_se,
                               repeated.extras["heterogeneous_sigma2"].alpha_se, rtol=1e-5)
    assert weighted.deviance == pytest.approx(repeated.deviance, abs=1e-6)
