"""General linear hypotheses and deviance tests: reading hypotheses, the Wald statistic against
independent computations (t-ratios, invariance), every refusal, and the fit/report plumbing.

Reference values (R, the seed) are in ``tests/reference/test_hypotheses_reference.py``.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

import openhlm
from openhlm.errors import HypothesisError
from openhlm.inference.hypotheses import (
    parse_hypothesis_rows,
    requested_tests,
    wald_test,
    with_tests,
)

M4 = """mathach = B0 + B1*group(ses) + R
B0 = G00 + G01*sector + G02*meanses + U0
B1 = G10 + G11*sector + G12*meanses + U1"""
M4_FIXED_SLOPE = M4.replace(" + U1", "")
GAMMAS = ("G00", "G01", "G02", "G10", "G11", "G12")


@pytest.fixture(scope="module")
def mdm() -> openhlm.MDM:
    return openhlm.datasets.hsb()


@pytest.fixture(scope="module")
def m4(mdm) -> openhlm.HLMResults:
    return openhlm.fit(M4, mdm)


@pytest.fixture(scope="module")
def m4_fixed_slope(mdm) -> openhlm.HLMResults:
    return openhlm.fit(M4_FIXED_SLOPE, mdm)


# -- reading hypotheses ----------------------------------------------------------------------

@pytest.mark.parametrize("text, C, d", [
    ("G01 = 0; G11 = 0", [[0, 1, 0, 0, 0, 0], [0, 0, 0, 0, 1, 0]], [0, 0]),
    ("G01 - G11 = 0", [[0, 1, 0, 0, -1, 0]], [0]),
    ("G02 = G12", [[0, 0, 1, 0, 0, -1]], [0]),
    ("2*G10 + G11 = 1", [[0, 0, 0, 2, 1, 0]], [1]),
    ("g01 + 0.5*g02 - 3 = -G12", [[0, 1, 0.5, 0, 0, 1]], [3]),
    ("-G00 + 1.5e1 = 0\nG12 = 0", [[-1, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 1]], [-15, 0]),
])
def test_parse_rows(text, C, d):
    got_C, got_d, rows = parse_hypothesis_rows(text, GAMMAS)
    np.testing.assert_allclose(got_C, C)
    np.testing.assert_allclose(got_d, d)
    assert len(rows) == len(C)


@pytest.mark.parametrize("text, fragment", [
    ("G07 = 0", "unknown gamma 'G07'"),
    ("G01 = = 0", "expected a gamma"),
    ("G01 + = 0", "expected a gamma"),
    ("G01 G11 = 0", "unexpected 'G11'"),
    ("G01 = 0 ; ", None),   # a trailing separator is fine
    ("G01 ^ 2 = 0", "unexpected character"),
    ("G01 = G11 = 0", "one '='"),
    ("G10", "a row is an equation"),
    ("", "empty"),
])
def test_parse_errors(text, fragment):
    if fragment is None:
        C, _, _ = parse_hypothesis_rows(text, GAMMAS)
        assert C.shape == (1, 6)
        return
    with pytest.raises(HypothesisError, match=fragment):
        parse_hypothesis_rows(text, GAMMAS)


def test_unknown_gamma_lists_the_model_gammas(m4):
    with pytest.raises(HypothesisError, match=r"(?s)unknown gamma 'G21'.*G00, G01, G02"):
        openhlm.glh(m4, "G21 = 0")
    with pytest.raises(HypothesisError, match="G99"):
        openhlm.glh(m4, {"G99": 1})


# -- the statistic ---------------------------------------------------------------------------

def test_all_input_forms_agree(m4):
    forms = [
        "G01 = 0; G11 = 0",
        [["G01 = 0", "G11 = 0"]],
        [{"G01": 1}, {"G11": 1}],
        [[0, 1, 0, 0, 0, 0], [0, 0, 0, 0, 1, 0]],
        np.eye(6)[[1, 4]],
    ]
    values = [openhlm.glh(m4, f).chi2 for f in forms]
    np.testing.assert_allclose(values, values[0], rtol=1e-12)
    assert openhlm.glh(m4, forms[0]).df == 2


def test_single_row_is_the_squared_t_ratio(m4):
    """Independent check: one row selecting a gamma gives t^2 from the fixed-effects table."""
    for fe in m4.fixed:
        h = openhlm.glh(m4, f"{fe.gamma} = 0", robust=False)[0]
        assert h.chi2 == pytest.approx(fe.t**2, rel=1e-10)
        assert h.robust.chi2 == pytest.approx(fe.robust_t**2, rel=1e-10)
        assert h.se[0] == pytest.approx(fe.se, rel=1e-12)
        assert h.robust_se[0] == pytest.approx(fe.robust_se, rel=1e-12)
        # chi-square(1) tail = two-sided normal tail of the t-ratio
        assert h.p == pytest.approx(2 * norm.sf(abs(fe.t)), rel=1e-9)


def test_invariant_to_rewriting_the_rows(m4):
    """C and A C (A invertible) state the same hypothesis: same chi-square."""
    a = openhlm.glh(m4, "G01 = 0; G11 = 0")[0]
    b = openhlm.glh(m4, "G01 + G11 = 0; 2*G01 - G11 = 0")[0]
    assert b.model.chi2 == pytest.approx(a.model.chi2, rel=1e-10)
    assert b.robust.chi2 == pytest.approx(a.robust.chi2, rel=1e-10)


def test_wald_formula_by_hand(m4):
    g = m4.gamma.to_numpy()
    V = m4.fixed.covariance
    C = np.array([[0, 1, 0, 0, 0, 0], [0, 0, 0, 0, 1, 0.0]])
    e = C @ g
    expected = e @ np.linalg.inv(C @ V @ C.T) @ e
    h = openhlm.glh(m4, "G01 = 0; G11 = 0")[0]
    assert h.model.chi2 == pytest.approx(expected, rel=1e-10)
    np.testing.assert_allclose(h.estimate, e)
    # a non-zero right-hand side shifts the estimate
    h1 = openhlm.glh(m4, "G01 = 1")[0]
    assert h1.estimate[0] == pytest.approx(g[1] - 1)
    assert h1.model.chi2 == pytest.approx((g[1] - 1) ** 2 / V[1, 1], rel=1e-10)


def test_primary_version(m4):
    h = openhlm.glh(m4, "G01 = 0; G11 = 0")
    assert h.chi2 == h[0].robust.chi2          # HLM 6 prints the robust version
    assert openhlm.glh(m4, "G01 = 0; G11 = 0", robust=True).chi2 == h[0].robust.chi2
    assert openhlm.glh(m4, "G01 = 0; G11 = 0", robust=False).chi2 == h[0].model.chi2
    assert h[0].model.chi2 != h[0].robust.chi2


def test_several_hypotheses(m4):
    res = openhlm.glh(m4, ["G01 = 0; G11 = 0", "G02 = G12", [{"G10": 1}]])
    assert [h.df for h in res] == [2, 1, 1]
    frame = res.to_frame()
    assert list(frame["df"]) == [2, 1, 1]
    with pytest.raises(AttributeError, match="3 hypotheses"):
        _ = res.chi2


@pytest.mark.parametrize("hypothesis, fragment", [
    ("G01 = 0; G11 = 0; G01 + G11 = 0", "linearly dependent"),
    ([[0, 1, 0, 0, 0, 0], [0, 2, 0, 0, 0, 0]], "linearly dependent"),
    ("G01 - G01 = 0", "does not involve any gamma"),
    ([[0, 0, 0, 0, 0, 0]], "identically zero"),
    ([[0, 1, 0, 0, 0]], "5 columns.*6 printed gammas"),
    ([[0, 1, 0, 0, 0, np.nan, 0]], "NaN|7 columns"),
    ({}, "empty"),
    ({"G01": "one"}, "must be a number"),
    ([], "no hypothesis"),
    (3.5, "cannot read a hypothesis"),
])
def test_refusals(m4, hypothesis, fragment):
    with pytest.raises(HypothesisError, match=fragment):
        openhlm.glh(m4, hypothesis)


def test_wald_test_singular_covariance():
    with pytest.raises(HypothesisError, match="singular"):
        wald_test(np.array([1.0, 2.0]), np.diag([1.0, 0.0]), np.array([[0.0, 1.0]]))


def test_constraints(mdm):
    res = openhlm.fit(M4, mdm, constraints=["G02 = G12"], method="ml")
    printed = [fe.gamma for fe in res.fixed]
    assert printed == ["G00", "G01", "G02", "G10", "G11"]
    # G12 is G02: naming either tests the shared parameter
    a = openhlm.glh(res, "G12 = 0")
    b = openhlm.glh(res, "G02 = 0")
    assert a.chi2 == pytest.approx(b.chi2, rel=1e-12)
    # a matrix over the printed gammas, or over all gammas (HLM's command-file layout)
    c = openhlm.glh(res, [[0, 0, 1, 0, 0]])
    d = openhlm.glh(res, [[0, 0, 0, 0, 0, 1]])
    assert c.chi2 == pytest.approx(b.chi2, rel=1e-12)
    assert d.chi2 == pytest.approx(b.chi2, rel=1e-12)
    with pytest.raises(HypothesisError, match="identically zero under the model's equality"):
        openhlm.glh(res, "G02 = G12")


# -- deviance tests --------------------------------------------------------------------------

def test_compare_same_fixed_effects(m4, m4_fixed_slope):
    t = openhlm.compare(m4, m4_fixed_slope)
    assert t.chi2 == pytest.approx(abs(m4.deviance - m4_fixed_slope.deviance), rel=1e-12)
    assert t.df == 2
    assert t.p > 0.5
    assert t.title == "Variance-Covariance components test"
    assert "P-value                      = >.500" in str(t)
    # symmetric
    assert openhlm.compare(m4_fixed_slope, m4).chi2 == pytest.approx(t.chi2)


def test_compare_refuses_reml_with_different_fixed_effects(mdm, m4):
    m2 = openhlm.fit("mathach = B0 + R; B0 = G00 + G01*meanses + U0", mdm)
    with pytest.raises(HypothesisError, match="refit both with method='ml'"):
        openhlm.compare(m4, m2)
    # under ML the same comparison is fine
    a = openhlm.fit(M4, mdm, method="ml")
    b = openhlm.fit("mathach = B0 + R; B0 = G00 + G01*meanses + U0", mdm, method="ml")
    t = openhlm.compare(a, b)
    assert t.df == 10 - 4
    assert t.title == "Model comparison test"


def test_compare_accepts_reparametrised_fixed_effects(mdm):
    """Same fixed-effects space written differently (grand-mean centred meanses): comparable."""
    a = openhlm.fit(M4, mdm)
    b = openhlm.fit(M4_FIXED_SLOPE.replace("G02*meanses", "G02*grand(meanses)"), mdm)
    t = openhlm.compare(a, b)
    assert t.df == 2


def test_compare_refuses_different_data(mdm, m4):
    l1 = pd.read_csv(openhlm.datasets.path("hsb1.csv"))
    l2 = pd.read_csv(openhlm.datasets.path("hsb2.csv"))
    keep = l1["id"] != l1["id"].iloc[0]
    fewer = openhlm.build_mdm(l1[keep], l2[l2["id"] != l1["id"].iloc[0]], id="id")
    other = openhlm.fit(M4_FIXED_SLOPE, fewer)
    with pytest.raises(HypothesisError, match="different data.*N = 7185, J = 160.*N = 7138, J = 159"):
        openhlm.compare(m4, other)
    # same N and J, different outcome values
    l1b = l1.copy()
    l1b.loc[0, "mathach"] += 1.0
    changed = openhlm.fit(M4_FIXED_SLOPE, openhlm.build_mdm(l1b, l2, id="id"))
    with pytest.raises(HypothesisError, match="different records or outcome values"):
        openhlm.compare(m4, changed)
    # different outcome variable
    ses = openhlm.fit("ses = B0 + R; B0 = G00 + U0", mdm)
    with pytest.raises(HypothesisError, match="different data"):
        openhlm.compare(m4, ses)


def test_compare_refuses_mixed_methods_and_equal_counts(mdm, m4):
    ml = openhlm.fit(M4_FIXED_SLOPE, mdm, method="ml")
    with pytest.raises(HypothesisError, match="REML deviance with a ML one"):
        openhlm.compare(m4, ml)
    # same fixed effects, a random intercept vs a random slope: 2 parameters each
    u0 = openhlm.fit(M4_FIXED_SLOPE, mdm)
    u1 = openhlm.fit(M4.replace(" + U0", ""), mdm)
    with pytest.raises(HypothesisError, match="both models have 2 estimated parameters"):
        openhlm.compare(u0, u1)
    with pytest.raises(HypothesisError, match="two fitted models"):
        openhlm.compare(m4, m4.deviance)


def test_deviance_tests_refuse_pooled_imputation_results(m4, m4_fixed_slope):
    import dataclasses

    pooled = dataclasses.replace(m4, extras={"multiple_imputation": object()})
    with pytest.raises(HypothesisError, match="imputed data sets"):
        openhlm.compare(pooled, m4_fixed_slope)
    with pytest.raises(HypothesisError, match="imputed data sets"):
        openhlm.deviance_test(pooled, deviance=46500.0, n_parameters=2)


def test_deviance_test_typed_in(m4, m4_fixed_slope):
    t = openhlm.deviance_test(m4_fixed_slope, deviance=m4.deviance, n_parameters=4)
    assert t.chi2 == pytest.approx(openhlm.compare(m4, m4_fixed_slope).chi2, rel=1e-12)
    assert (t.df, t.convention) == (2, "standard")
    # HLM's printed convention: the current model is taken in the same convention
    h = openhlm.deviance_test(m4_fixed_slope, deviance=m4.deviance_hlm, n_parameters=4,
                              convention="hlm")
    assert h.chi2 == pytest.approx(t.chi2, rel=1e-9)
    assert h.deviance == m4_fixed_slope.deviance_hlm
    # mixing conventions would be off by log(2 pi)
    mixed = openhlm.deviance_test(m4_fixed_slope, deviance=m4.deviance_hlm, n_parameters=4)
    assert abs(mixed.chi2 - t.chi2) == pytest.approx(np.log(2 * np.pi), rel=1e-6)


@pytest.mark.parametrize("kwargs, fragment", [
    ({"deviance": 46500.0, "n_parameters": 2}, "as many parameters as this one"),
    ({"deviance": 46500.0, "n_parameters": 0}, "at least 1"),
    ({"deviance": 46500.0, "n_parameters": 2.5}, "whole number"),
    ({"deviance": float("nan"), "n_parameters": 4}, "finite"),
    ({"deviance": "big", "n_parameters": 4}, "must be a number"),
    ({"deviance": 46500.0, "n_parameters": 4, "convention": "sas"}, "convention"),
])
def test_deviance_test_refusals(m4_fixed_slope, kwargs, fragment):
    with pytest.raises(HypothesisError, match=fragment):
        openhlm.deviance_test(m4_fixed_slope, **kwargs)


# -- fit / report / model files ----------------------------------------------------------------

def test_fit_attaches_blocks_and_report_prints_them(mdm):
    res = openhlm.fit(M4_FIXED_SLOPE, mdm, hypotheses=["G01 = 0; G11 = 0"], homogeneity=True,
                      deviance_test={"deviance": 46501.875643, "n_parameters": 4,
                                     "convention": "hlm"})
    assert list(res.extras) == ["glh", "homogeneity", "deviance_test"]
    text = res.report()
    i = text.index("Results of General Linear Hypothesis Testing")
    j = text.index("Test of homogeneity of level-1 variance")
    k = text.index("Variance-Covariance components test")
    assert i < j < k
    assert text.index("Statistics for current covariance components model") < i
    assert "       sector, G01" in text and "Number of degrees of freedom =    2" in text
    data = json.loads(res.to_json())
    assert data["glh"]["hypotheses"][0]["df"] == 2
    assert data["homogeneity"]["df"] == 159
    assert data["deviance_test"]["n_parameters"] == 2
    assert data["deviance_test"]["other_n_parameters"] == 4


def test_fit_rejects_bad_deviance_test(mdm):
    with pytest.raises(HypothesisError, match="unknown key"):
        openhlm.fit(M4, mdm, deviance_test={"deviance": 1.0, "parms": 2})
    with pytest.raises(HypothesisError, match="needs the prior model's"):
        openhlm.fit(M4, mdm, deviance_test={"deviance": 1.0})


def test_with_tests_without_requests_returns_the_same_object(m4):
    assert with_tests(m4) is m4
    assert with_tests(m4, hypotheses=[]) is m4


def test_requested_tests_from_command_file(mdm):
    from pathlib import Path

    from openhlm.spec.commandfile import read_command_file

    path = Path(__file__).parents[1] / "spec" / "data" / "ex4_tests.hlm"
    cf = read_command_file(path, level1_variables=mdm.level1_variables,
                           level2_variables=mdm.level2_variables)
    req = requested_tests(cf)
    assert req["homogeneity"] is True
    assert req["deviance_test"] == {"deviance": 46502.952734, "n_parameters": 2,
                                    "convention": "hlm"}
    assert len(req["hypotheses"]) == 1
    np.testing.assert_array_equal(req["hypotheses"][0], np.eye(6)[[1, 4]])
    res = openhlm.fit(cf.spec, mdm, **req)
    assert res.extras["glh"].chi2 == pytest.approx(openhlm.glh(res, "G01 = 0; G11 = 0").chi2)


def test_requested_tests_from_model_file():
    from openhlm.spec.modelfile import parse_model_file

    mf = parse_model_file("""
[data]
mdm = "hsb.mdm"
[model]
equations = "mathach = B0 + R; B0 = G00 + U0"
[hypotheses]
glh = [["G01 = 0", "G11 = 0"], ["G02 = G12"]]
homogeneity = true
deviance_test = { deviance = 46502.95, parameters = 2 }
""")
    req = requested_tests(mf)
    assert req == {"hypotheses": [["G01 = 0", "G11 = 0"], ["G02 = G12"]], "homogeneity": True,
                   "deviance_test": {"deviance": 46502.95, "n_parameters": 2,
                                     "convention": "standard"}}
    hlm = parse_model_file(mf_text := """
[data]
mdm = "hsb.mdm"
[model]
equations = "mathach = B0 + R; B0 = G00 + U0"
[hypotheses]
deviance_test = { deviance = 46502.952734, parameters = 2, convention = "hlm" }
""")
    assert requested_tests(hlm)["deviance_test"]["convention"] == "hlm"
    with pytest.raises(openhlm.CommandFileError, match="convention"):
        parse_model_file(mf_text.replace('"hlm"', '"sas"'))
    with pytest.raises(HypothesisError, match="ModelFile or a CommandFile"):
        requested_tests("ex4.hlm")


def test_toml_style_hypotheses_are_separate_tests(m4):
    res = openhlm.glh(m4, [["G01 = 0", "G11 = 0"], ["G02 = G12"]])
    assert [h.df for h in res] == [2, 1]
