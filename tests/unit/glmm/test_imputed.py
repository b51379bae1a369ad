"""HGLMs on multiply imputed data and plausible values: pooled by Rubin's rules.

* Against lme4::glmer (Laplace) fitted to each completed data set in R and pooled there by
  Rubin's rules with Barnard-Rubin d.f. (``tests/reference/crosscheck/glmm_mi``; mitml was not
  installable offline, so the R script writes the rules out).
* Against Rubin's rules computed here by hand (numpy / scipy) from openhlm's separate fits of
  each data set: model-based and robust SEs, d.f., FMI, ratios and intervals, the pooled
  covariance, the averages of tau, reliabilities, chi-squares and deviances, and PQL's
  population-average model.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import openhlm
from openhlm.errors import SpecError

CASE = Path(__file__).resolve().parents[2] / "reference" / "crosscheck" / "glmm_mi"


@cache
def reference() -> dict:
    return json.loads((CASE / "reference.json").read_text())


@cache
def table(name: str) -> pd.DataFrame:
    return pd.read_csv(CASE / name)


def _mi() -> pd.DataFrame:
    return table("contraception_mi.csv").drop(columns=["age_imputed"])


PVS = [f"pv{k}" for k in range(1, 6)]


def _pooled_fit(key: str, method: str = "laplace", **kwargs):
    m = reference()["models"][key]
    if key == "contra_pv":
        return openhlm.fit(m["openhlm"], table("contraception_pv.csv"), id="district",
                           plausible_values=PVS, distribution="bernoulli", method=method,
                           **kwargs)
    if key == "epil_lage":
        return openhlm.fit(m["openhlm"], table("epilepsy_mi.csv"), id="subject",
                           imputation="imp", distribution="poisson", exposure="weeks",
                           method=method, **kwargs)
    return openhlm.fit(m["openhlm"], _mi(), id="district", imputation="imp",
                       distribution="bernoulli", method=method, **kwargs)


@pytest.fixture(scope="module")
def pooled() -> dict:
    return {key: _pooled_fit(key) for key in reference()["models"]}


@pytest.mark.parametrize("key", ["contra_ri_age", "contra_rs_age", "contra_pv", "epil_lage"])
def test_pooled_laplace_matches_glmer_and_rubins_rules_in_r(pooled, key):
    m = reference()["models"][key]
    ref = m["pooled"]
    res = pooled[key]
    summary = res.extras["multiple_imputation"]
    assert summary.m == 5 and list(summary.gammas) == m["gammas"]
    # every fit reaches glmer's optimum (or below it)
    for fit, r in zip(summary.fits, m["per_dataset"]):
        assert fit.deviance <= r["deviance"] + 1e-6
        assert fit.deviance >= r["deviance"] - 1e-4
    se_tol = 5e-3 if key == "epil_lage" else 1e-3       # glmer's finite-difference Hessian
    rows = res.fixed_effects
    np.testing.assert_allclose([r.estimate for r in rows], ref["estimate"], rtol=1e-4,
                               atol=1e-6)
    np.testing.assert_allclose([r.se for r in rows], ref["se"], rtol=se_tol)
    np.testing.assert_allclose([r.df for r in rows], ref["df"], rtol=se_tol)
    np.testing.assert_allclose(summary.model.fmi, ref["fmi"], rtol=se_tol, atol=1e-4)
    np.testing.assert_allclose(summary.model.riv, ref["riv"], rtol=1e-2, atol=1e-4)
    np.testing.assert_allclose(np.array(summary.model.df_complete), m["df_com"])
    np.testing.assert_allclose([r.ratio for r in rows], ref["ratio"], rtol=1e-4)
    np.testing.assert_allclose([r.ci_low for r in rows], ref["ci_low"], rtol=se_tol)
    np.testing.assert_allclose([r.ci_high for r in rows], ref["ci_high"], rtol=se_tol)
    np.testing.assert_allclose([r.p for r in rows], ref["p_value"], rtol=0.05, atol=1e-6)
    np.testing.assert_allclose(res.tau, np.array(m["average_tau"], dtype=float).reshape(
        res.tau.shape), rtol=2e-3, atol=1e-6)
    assert res.deviance == pytest.approx(m["average_deviance"], abs=1e-4)


def _rubin_by_hand(q: np.ndarray, u: np.ndarray, df_com: np.ndarray) -> dict:
    """Rubin (1987) / Barnard & Rubin (1999), written out independently of openhlm."""
    M = q.shape[0]
    qbar = q.mean(0)
    ubar = u.mean(0)
    B = ((q - qbar) ** 2).sum(0) / (M - 1)
    T = ubar + (1 + 1 / M) * B
    r = (1 + 1 / M) * B / ubar
    nu_r = (M - 1) * (1 + 1 / r) ** 2
    lam = (1 + 1 / M) * B / T
    nu_obs = (df_com + 1) / (df_com + 3) * df_com * (1 - lam)
    nu = 1 / (1 / nu_r + 1 / nu_obs)
    se = np.sqrt(T)
    crit = stats.t.ppf(0.975, nu)
    return {"estimate": qbar, "se": se, "df": nu, "fmi": (r + 2 / (nu + 3)) / (r + 1),
            "p": 2 * stats.t.sf(np.abs(qbar / se), nu), "lo": np.exp(qbar - crit * se),
            "hi": np.exp(qbar + crit * se)}


def _check_rows(rows, fits_rows, robust: bool = True) -> None:
    q = np.array([[r.estimate for r in f] for f in fits_rows])
    df_com = np.array([r.df for r in fits_rows[0]], dtype=float)
    for which in ("model", "robust") if robust else ("model",):
        attr = "se" if which == "model" else "robust_se"
        u = np.array([[getattr(r, attr) ** 2 for r in f] for f in fits_rows])
        want = _rubin_by_hand(q, u, df_com)
        np.testing.assert_allclose([r.estimate for r in rows], want["estimate"], rtol=1e-13)
        np.testing.assert_allclose([getattr(r, attr) for r in rows], want["se"], rtol=1e-12)
        if which == "model":
            np.testing.assert_allclose([r.df for r in rows], want["df"], rtol=1e-10)
            np.testing.assert_allclose([r.p for r in rows], want["p"], rtol=1e-8, atol=1e-300)
            np.testing.assert_allclose([r.ci_low for r in rows], want["lo"], rtol=1e-10)
            np.testing.assert_allclose([r.ci_high for r in rows], want["hi"], rtol=1e-10)
        else:
            np.testing.assert_allclose([r.robust_p for r in rows], want["p"], rtol=1e-8,
                                       atol=1e-300)
            np.testing.assert_allclose([r.robust_ci_low for r in rows], want["lo"], rtol=1e-10)
            np.testing.assert_allclose([r.robust_ci_high for r in rows], want["hi"],
                                       rtol=1e-10)
    np.testing.assert_allclose([r.ratio for r in rows], np.exp(q.mean(0)), rtol=1e-13)


@pytest.mark.parametrize("method", ["laplace", "pql"])
def test_pooled_equals_rubins_rules_by_hand_from_separate_fits(method):
    model = reference()["models"]["contra_rs_age"]["openhlm"]
    stacked = _mi()
    sets = [stacked[stacked["imp"] == k].drop(columns=["imp"]).reset_index(drop=True)
            for k in range(1, 6)]
    fits = [openhlm.fit(model, d, id="district", distribution="bernoulli", method=method)
            for d in sets]
    res = openhlm.fit(model, sets, id="district", distribution="bernoulli", method=method)
    assert res.extras["multiple_imputation"].kind == "imputed data sets"
    _check_rows(res.fixed_effects, [f.fixed_effects for f in fits])
    # pooled covariance: mean within + (1 + 1/M) between
    q = np.array([[r.estimate for r in f.fixed_effects] for f in fits])
    D = q - q.mean(0)
    for attr in ("covariance", "robust_covariance"):
        want = np.mean([getattr(f, attr) for f in fits], axis=0) + 1.2 * D.T @ D / 4
        np.testing.assert_allclose(getattr(res, attr), want, rtol=1e-12)
    # averages
    np.testing.assert_allclose(res.tau, np.mean([f.tau for f in fits], axis=0), rtol=1e-13)
    np.testing.assert_allclose(res.reliability, np.mean([f.reliability for f in fits], axis=0),
                               rtol=1e-13)
    for k, c in enumerate(res.variance_components):
        assert c.variance == pytest.approx(np.mean([f.variance_components[k].variance
                                                    for f in fits]), rel=1e-13)
        assert c.chi2 == pytest.approx(np.mean([f.variance_components[k].chi2
                                                for f in fits]), rel=1e-13)
        assert c.p is None
    if method == "laplace":
        assert res.deviance == pytest.approx(np.mean([f.deviance for f in fits]), rel=1e-14)
        assert res.fixed_effects_population_average is None
    else:
        assert res.deviance is None
        _check_rows(res.fixed_effects_population_average,
                    [f.fixed_effects_population_average for f in fits])
        assert "Deviance" not in str(res).split("Combination of")[1]


def test_plausible_values_are_the_outcome_in_turn(pooled):
    res = pooled["contra_pv"]
    summary = res.extras["multiple_imputation"]
    assert summary.kind == "plausible values" and summary.labels == tuple(PVS)
    data = table("contraception_pv.csv")
    model = reference()["models"]["contra_pv"]["openhlm"]
    for k, pv in enumerate(PVS):
        one = openhlm.fit(model.replace("pv1 =", f"{pv} ="), data, id="district",
                          distribution="bernoulli", method="laplace")
        np.testing.assert_allclose(summary.estimates[k], [r.estimate for r in one.fixed_effects],
                                   rtol=1e-12)
        assert summary.fits[k].outcome == pv


def test_report_json_html_and_refusals(pooled, tmp_path):
    res = pooled["epil_lage"]
    text = str(res)
    assert "Multiple imputation: results combined from 5 imputed data sets" in text
    assert "Combination of 5 imputed data sets" in text and "Average deviance" in text
    assert "Event Rate Ratio" in text
    d = json.loads(res.to_json())
    assert d["multiple_imputation"]["m"] == 5
    assert d["multiple_imputation"]["gammas"] == ["G00", "G01", "G02", "G10", "G11"]
    assert "overdispersion" in d["multiple_imputation"]["averaged"]
    assert "Combination of 5" in res._repr_html_()
    with pytest.raises(SpecError, match="pooled over imputed data sets has no residual"):
        res.write_residuals(level2=tmp_path / "r2.csv")
    from openhlm.plots import qq_mdist
    with pytest.raises(SpecError, match="pooled over imputed data sets"):
        qq_mdist(res)
    # each fit keeps its own residual file
    fit1 = res.extras["multiple_imputation"].fits[0]
    assert "MDIST" in fit1.level2_residuals().columns
    m = reference()["models"]["contra_ri_age"]["openhlm"]
    with pytest.raises(SpecError, match="not pooled over imputed data sets"):
        openhlm.fit(m, _mi(), id="district", imputation="imp", distribution="bernoulli",
                    method="laplace", hypotheses=[{"G10": 1}])
    with pytest.raises(SpecError, match="at least 2 data sets"):
        openhlm.fit(m, _mi().query("imp == 1"), id="district", imputation="imp",
                    distribution="bernoulli")


def test_fit_imputed_door_and_files(tmp_path):
    stacked = _mi()
    paths = []
    for k in (1, 2, 3):
        p = tmp_path / f"imp{k}.csv"
        stacked[stacked["imp"] == k].drop(columns=["imp"]).to_csv(p, index=False)
        paths.append(p)
    model = reference()["models"]["contra_ri_age"]["openhlm"]
    res = openhlm.fit_imputed(model, paths, id="district", distribution="bernoulli",
                              method="laplace")
    s = res.extras["multiple_imputation"]
    assert s.labels == ("imp1.csv", "imp2.csv", "imp3.csv") and s.m == 3
    # the stacked file with an imputation column gives the same numbers
    res2 = openhlm.fit(model, stacked[stacked["imp"] <= 3], id="district", imputation="imp",
                       distribution="bernoulli", method="laplace")
    np.testing.assert_allclose(s.model.se, res2.extras["multiple_imputation"].model.se,
                               rtol=1e-12)


def test_homogeneity_is_refused_with_the_reason():
    contra = table("contraception_pv.csv")
    with pytest.raises(SpecError, match="no level-1 variance sigma\\^2 to test"):
        openhlm.fit("pv1 = B0 + B1*age; B0 = G00 + U0; B1 = G10", contra, id="district",
                    distribution="bernoulli", homogeneity=True)
