"""HGLM level-2 design weights (pseudo-likelihood sum_j w_j log L_j; PQL: the weighted
linearised model), against R (tests/reference/crosscheck/glmm/weights/make_weighted.R: a direct
weighted Laplace likelihood maximised by optim, and glmer on replicated districts) and against
the unweighted fit of the data with every unit repeated w_j times."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from tests.unit.glmm._cases import CASE_DIR, data

import openhlm
from openhlm.errors import SpecError

REF = json.loads((CASE_DIR / "weights" / "weighted.json").read_text())
MODEL = REF["model"]


@pytest.fixture(scope="module")
def contra():
    w = pd.read_csv(CASE_DIR / "weights" / "contraception_weights.csv")
    return data("contraception.csv").merge(w, on="district")


def _replicated(df: pd.DataFrame, unit: str, weight: str) -> pd.DataFrame:
    """Every unit repeated w_j times, each copy a unit of its own."""
    copies = []
    for k in range(int(df[weight].max())):
        part = df[df[weight] > k].copy()
        part[unit] = part[unit] * 1000 + k
        copies.append(part)
    return pd.concat(copies).sort_values(unit, kind="stable").reset_index(drop=True)


def _gammas(r):
    return np.array([f.estimate for f in r.fixed_effects])


def test_weighted_laplace_matches_direct_r_pseudo_likelihood(contra):
    """Non-integer weights normalised to sum J: R maximised -2 sum_j w_j log L_j directly."""
    ref = REF["weighted_laplace"]
    r = openhlm.fit(MODEL, contra, id="district", distribution="bernoulli",
                    method="laplace", level2_weight="wt")
    assert r.deviance <= ref["deviance"] + 1e-6
    assert r.deviance == pytest.approx(ref["deviance"], abs=1e-5)
    np.testing.assert_allclose(_gammas(r), ref["gamma"], rtol=1e-5)
    assert r.tau[0, 0] == pytest.approx(ref["tau"], rel=1e-5)
    np.testing.assert_allclose([f.se for f in r.fixed_effects], ref["se"], rtol=1e-4)
    np.testing.assert_allclose([f.robust_se for f in r.fixed_effects], ref["robust_se"],
                               rtol=1e-4)
    assert r.weighting.level2 == "wt" and r.weighting.normalization == "within"
    assert any("Design weights" in n for n in r.notes)
    assert "Level-2 weight: wt" in str(r)
    assert r.to_dict()["weighting"]["level2"] == "wt"


def test_integer_raw_weights_match_glmer_on_replicated_units(contra):
    ref = REF["replicated_glmer"]
    r = openhlm.fit(MODEL, contra, id="district", distribution="bernoulli",
                    method="laplace", level2_weight="freq", normalize_weights=False)
    assert r.deviance <= ref["deviance"] + 1e-6
    np.testing.assert_allclose(_gammas(r), ref["gamma"], rtol=1e-4)
    assert r.tau[0, 0] == pytest.approx(ref["tau"], rel=1e-4)
    np.testing.assert_allclose([f.se for f in r.fixed_effects], ref["se"], rtol=1e-4)


@pytest.mark.parametrize("method, model, extra", [
    ("laplace", ("use = B0 + B1*age + B2*urban; B0 = G00 + G01*durban + U0; B1 = G10; "
                "B2 = G20 + U2"), {}),
    ("agq", MODEL, {"quadrature_points": 7}),
    ("pql", ("use = B0 + B1*age + B2*urban; B0 = G00 + G01*durban + U0; B1 = G10; "
            "B2 = G20 + U2"), {}),
    ("pql", MODEL, {"pql_likelihood": "reml"}),
])
def test_integer_weights_equal_replicated_units(contra, method, model, extra):
    kw = dict(id="district", distribution="bernoulli", method=method, **extra)
    a = openhlm.fit(model, contra, level2_weight="freq", normalize_weights=False, **kw)
    b = openhlm.fit(model, _replicated(contra, "district", "freq"), **kw)
    if method != "pql":
        assert a.deviance == pytest.approx(b.deviance, abs=1e-7)
    np.testing.assert_allclose(_gammas(a), _gammas(b), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(a.tau, b.tau, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(np.diag(a.covariance), np.diag(b.covariance), rtol=1e-5)
    if a.fixed_effects_population_average is not None:
        np.testing.assert_allclose(
            [f.estimate for f in a.fixed_effects_population_average],
            [f.estimate for f in b.fixed_effects_population_average], rtol=1e-6, atol=1e-7)


def test_poisson_integer_weights_equal_replicated_units():
    df = data("epilepsy.csv")
    df = df.assign(freq=1.0 + (df["subject"] % 3))
    model = "y = B0 + B1*post; B0 = G00 + G01*trt + U0; B1 = G10 + U1"
    kw = {"id": "subject", "distribution": "poisson", "exposure": "weeks", "method": "laplace"}
    a = openhlm.fit(model, df, level2_weight="freq", normalize_weights=False, **kw)
    b = openhlm.fit(model, _replicated(df, "subject", "freq"), **kw)
    assert a.deviance == pytest.approx(b.deviance, abs=1e-6)
    np.testing.assert_allclose(_gammas(a), _gammas(b), rtol=1e-6)


def test_pql_weighted_robust_se_is_the_pseudo_likelihood_sandwich(contra):
    """(sum_j w_j A_j'V_j^-1A_j)^-1 [sum_j w_j^2 a_j a_j'] (...)^-1, a_j = A_j'V_j^-1 r_j,
    V_j = W_j^-1 + Z_j T Z_j', built densely unit by unit at the estimates."""
    from openhlm.estimation.design import build_design
    from openhlm.estimation.glmm import family, fit_pql, glmm_data
    from openhlm.runner.inputs import as_mdm, as_spec
    from openhlm.spec.options import Weights

    mdm = as_mdm(contra, id="district")
    spec = as_spec(MODEL, mdm, (), residual=False)
    design = build_design(spec, mdm, weights=Weights(level2="wt"))
    d = glmm_data(design, family("bernoulli"))
    est = fit_pql(d)
    wj = design.unit_weights
    assert wj.sum() == pytest.approx(d.J)       # normalised to sum J
    eta = d.A @ est.beta + d.Z[:, 0] * est.u[d.unit, 0] + d.offset
    s, w = d.family.score_weight(eta, d.y, d.n)
    z = eta - d.offset + s / w
    bread = np.zeros((d.p, d.p))
    meat = np.zeros((d.p, d.p))
    for j in range(d.J):
        rows = d.unit == j
        A, Z = d.A[rows], d.Z[rows]
        Vi = np.linalg.inv(np.diag(1 / w[rows]) + Z @ est.tau @ Z.T)
        bread += wj[j] * A.T @ Vi @ A
        a = A.T @ Vi @ (z[rows] - A @ est.beta)
        meat += wj[j] ** 2 * np.outer(a, a)
    Bi = np.linalg.inv(bread)
    np.testing.assert_allclose(est.cov_beta, Bi, rtol=1e-6)
    np.testing.assert_allclose(est.cov_beta_robust, Bi @ meat @ Bi, rtol=1e-6)
    # the GLS equations hold with the weights: sum_j w_j a_j = 0
    total = sum(wj[j] * (d.A[d.unit == j].T @ np.linalg.inv(
        np.diag(1 / w[d.unit == j]) + d.Z[d.unit == j] @ est.tau @ d.Z[d.unit == j].T)
        @ (z[d.unit == j] - d.A[d.unit == j] @ est.beta)) for j in range(d.J))
    np.testing.assert_allclose(total, 0, atol=1e-8)


def test_weight_scale_does_not_matter_when_normalised(contra):
    kw = {"id": "district", "distribution": "bernoulli", "method": "laplace"}
    a = openhlm.fit(MODEL, contra, level2_weight="wt", **kw)
    b = openhlm.fit(MODEL, contra.assign(wt=contra["wt"] * 7.5), level2_weight="wt", **kw)
    assert a.deviance == pytest.approx(b.deviance, abs=1e-8)
    np.testing.assert_allclose(_gammas(a), _gammas(b), rtol=1e-7)


def test_precision_weights_are_refused(contra):
    with pytest.raises(SpecError, match="precision weights") as info:
        openhlm.fit(MODEL, contra, id="district", distribution="bernoulli",
                    precision_weight="age")
    assert "\n" not in str(info.value)


def _row_weighted(seed: int = 3):
    df = data("contraception.csv")
    d = np.random.default_rng(seed).integers(0, 4, len(df)).astype(float)
    d[df.groupby("district").head(1).index] = 1.0      # no unit without a positive weight
    df = df.assign(d=d)
    return df, df.loc[df.index.repeat(df["d"].astype(int))].reset_index(drop=True)


@pytest.mark.parametrize("method, model", [
    ("laplace", ("use = B0 + B1*age + B2*urban; B0 = G00 + G01*durban + U0; B1 = G10; "
                "B2 = G20 + U2")),
    ("agq", MODEL),
    ("pql", ("use = B0 + B1*age + B2*urban; B0 = G00 + G01*durban + U0; B1 = G10; "
            "B2 = G20 + U2")),
])
def test_level1_integer_weights_equal_repeated_rows(method, model):
    """Level-1 design weight d_ij = the record's density to the power d_ij: with raw integer
    weights, the fit of the data with every record repeated d_ij times in its unit (records
    of weight 0 dropped), robust SEs included (same clusters)."""
    df, rep = _row_weighted()
    kw = {"id": "district", "distribution": "bernoulli", "method": method}
    a = openhlm.fit(model, df, level1_weight="d", normalize_weights=False, **kw)
    b = openhlm.fit(model, rep, **kw)
    if method != "pql":
        assert a.deviance == pytest.approx(b.deviance, abs=1e-7)
    np.testing.assert_allclose(_gammas(a), _gammas(b), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(a.tau, b.tau, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.diag(a.covariance), np.diag(b.covariance), rtol=1e-5)
    np.testing.assert_allclose(np.diag(a.robust_covariance), np.diag(b.robust_covariance),
                               rtol=1e-5)
    assert a.weighting.level1 == "d" and a.weighting.level1_zero_rows == int((df.d == 0).sum())
    assert "Level-1 weight: d" in str(a)


@pytest.mark.parametrize("method, extra", [("laplace", {}),
                                           ("pql", {"overdispersion": True})])
def test_level1_weights_poisson_and_both_levels(method, extra):
    ep = data("epilepsy.csv")
    ep = ep.assign(d=1.0 + (np.arange(len(ep)) % 3 == 0), f=1.0 + (ep["subject"] % 2))
    rows = ep.loc[ep.index.repeat(ep["d"].astype(int))]
    copies = [rows[rows["f"] > k].assign(subject=lambda u, k=k: u["subject"] * 1000 + k)
              for k in range(2)]
    rep = pd.concat(copies).sort_values("subject", kind="stable").reset_index(drop=True)
    model = "y = B0 + B1*post; B0 = G00 + G01*trt + U0; B1 = G10 + U1"
    kw = dict(distribution="poisson", exposure="weeks", method=method, **extra)
    a = openhlm.fit(model, ep, id="subject", level1_weight="d", level2_weight="f",
                    normalize_weights=False, **kw)
    b = openhlm.fit(model, rep, id="subject", **kw)
    if method != "pql":
        assert a.deviance == pytest.approx(b.deviance, abs=1e-6)
    else:
        assert a.overdispersion == pytest.approx(b.overdispersion, rel=1e-6)
    np.testing.assert_allclose(_gammas(a), _gammas(b), rtol=1e-6)
    np.testing.assert_allclose(a.tau, b.tau, rtol=1e-5)


def test_level1_weights_normalised_within_units_ignore_unit_scales():
    df, _ = _row_weighted()
    kw = {"id": "district", "distribution": "bernoulli", "method": "laplace"}
    a = openhlm.fit(MODEL, df.assign(d=df["d"] + 0.5), level1_weight="d", **kw)
    scaled = (df["d"] + 0.5) * (1.0 + df["district"] % 5)
    b = openhlm.fit(MODEL, df.assign(d=scaled), level1_weight="d", **kw)
    assert a.deviance == pytest.approx(b.deviance, abs=1e-7)
    np.testing.assert_allclose(_gammas(a), _gammas(b), rtol=1e-6)


def test_bad_level2_weights_name_the_variable(contra):
    from openhlm.errors import DataError
    with pytest.raises(DataError, match="negative.*wt|wt.*negative"):
        openhlm.fit(MODEL, contra.assign(wt=-contra["wt"]), id="district",
                    distribution="bernoulli", level2_weight="wt")


def test_level1_integer_weights_match_glmer_prior_weights():
    """For a 0/1 outcome glmer's prior weights give the same log-density d_i log p(y_i)
    (integer weights; glmer rounds non-integer ones in its objective)."""
    ref = REF["level1_glmer"]
    w = pd.read_csv(CASE_DIR / "weights" / "contraception_row_weights.csv")
    df = data("contraception.csv").assign(d1=w["d1"].to_numpy())
    r = openhlm.fit(ref["model"], df, id="district", distribution="bernoulli",
                    method="laplace", level1_weight="d1", normalize_weights=False)
    assert r.deviance <= ref["deviance"] + 1e-6
    assert r.deviance == pytest.approx(ref["deviance"], abs=1e-5)
    np.testing.assert_allclose(_gammas(r), ref["gamma"], rtol=1e-4)
    np.testing.assert_allclose([r.tau[0, 0], r.tau[0, 1], r.tau[1, 1]], ref["tau"], rtol=1e-4)
    np.testing.assert_allclose([f.se for f in r.fixed_effects], ref["se"], rtol=1e-4)
