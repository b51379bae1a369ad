"""Pooled multiple-imputation results against mitml's ``testEstimates`` on lme4 fits.

Reference: ``tests/reference/crosscheck/mitml/`` (its ``make_reference.R``): five completed HS&B
data sets (``tests/reference/data/hsb_mi.csv``, stacked with ``.imp``), HS&B Model 4 fitted by
lme4 (REML) to each and pooled by ``mitml::testEstimates`` with ``df.com`` = HLM's single-data-set
d.f. (Barnard-Rubin), without ``df.com`` (Rubin 1987 d.f.), and with CR0 robust variances.
openhlm fits the same data sets in exact mode (its own fits agree with lme4 to ~1e-8), so the
pooled numbers must agree to 1e-5 (relative to 1e-6 on SEs and d.f.).
"""

from __future__ import annotations

from importlib.resources import files

import numpy as np
import pandas as pd
import pytest

import openhlm
from openhlm.inference.pooling import rubin_pool
from tests.reference.crosscheck._load import load_case, load_data

pytestmark = pytest.mark.reference

REF = load_case("mitml")
MODELS = {
    "model4_cses": """mathach = B0 + B1*group(ses) + R
        B0 = G00 + G01*sector + G02*meanses + U0
        B1 = G10 + G11*sector + G12*meanses + U1""",
    "model4_ses_fixed_slope": """mathach = B0 + B1*ses + R
        B0 = G00 + G01*sector + G02*meanses + U0
        B1 = G10 + G11*sector + G12*meanses""",
}


@pytest.fixture(scope="module")
def stacked() -> pd.DataFrame:
    return load_data("hsb_mi").drop(columns=["ses_imputed"])


@pytest.fixture(scope="module")
def level2() -> pd.DataFrame:
    return pd.read_csv(files("openhlm.datasets") / "hsb/hsb2.csv")[["id", "sector", "meanses"]]


@pytest.fixture(scope="module")
def pooled(stacked, level2) -> dict[str, openhlm.HLMResults]:
    return {key: openhlm.fit(model, stacked, id="id", level2=level2, imputation=".imp")
            for key, model in MODELS.items()}


@pytest.mark.parametrize("key", list(MODELS))
@pytest.mark.parametrize("table", ["model_based_barnard_rubin", "robust_cr0_barnard_rubin"])
def test_pooled_fixed_effects_match_mitml(pooled, key, table):
    res = pooled[key]
    ref = REF["models"][key]["pooled"][table]
    summary = res.extras["multiple_imputation"]
    assert summary.m == 5
    assert list(summary.gammas) == ref["hlm_labels"]
    pool = summary.model if table.startswith("model") else summary.robust
    np.testing.assert_allclose(pool.estimate, ref["estimate"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(pool.se, ref["se"], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(pool.df, ref["df"], rtol=1e-6)
    np.testing.assert_allclose(pool.riv, ref["riv"], rtol=1e-4, atol=1e-9)
    np.testing.assert_allclose(pool.fmi, ref["fmi"], rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(pool.t, ref["t"], rtol=1e-6)
    np.testing.assert_allclose(pool.p, ref["p_value"], rtol=1e-4, atol=1e-12)
    np.testing.assert_allclose(pool.df_complete, REF["models"][key]["df_com"])
    # the printed tables carry the pooled numbers
    rows = list(res.fixed)
    col = "se" if table.startswith("model") else "robust_se"
    np.testing.assert_allclose([getattr(r, col) for r in rows], ref["se"], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose([r.estimate for r in rows], ref["estimate"], atol=1e-5)


@pytest.mark.parametrize("key", list(MODELS))
def test_rubin_1987_df_match_mitml(pooled, key):
    summary = pooled[key].extras["multiple_imputation"]
    ref = REF["models"][key]["pooled"]["model_based_rubin1987"]
    rubin = rubin_pool(summary.estimates, summary.se**2)
    assert rubin.df_method == "rubin"
    np.testing.assert_allclose(rubin.df, ref["df"], rtol=1e-4)
    np.testing.assert_allclose(rubin.se, ref["se"], rtol=1e-6)


@pytest.mark.parametrize("key", list(MODELS))
def test_variance_components_are_averages(pooled, key):
    res = pooled[key]
    ref = REF["models"][key]["pooled"]
    np.testing.assert_allclose(res.sigma2, ref["average_sigma2"], rtol=1e-6)
    np.testing.assert_allclose(res.tau, np.atleast_2d(ref["average_tau"]), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(res.deviance, ref["average_deviance"], rtol=0, atol=1e-5)
    for label, value in ref["average_reliability"].items():
        np.testing.assert_allclose(res.reliability[label], value, rtol=1e-5)
    for row, (label, value) in zip(res.variance.rows, ref["average_chi2"].items()):
        assert row.chi2 == pytest.approx(value, rel=1e-6)
        assert row.p is None      # no p-value for an averaged chi-square
    per = REF["models"][key]["per_imputation"]
    np.testing.assert_allclose(res.extras["multiple_imputation"].deviances,
                               [per[f"imp{m}"]["deviance"] for m in range(1, 6)], atol=1e-5)


def test_list_of_data_sets_equals_stacked(stacked, level2, pooled):
    frames = [g.drop(columns=[".imp"]) for _, g in stacked.groupby(".imp")]
    res = openhlm.fit(MODELS["model4_cses"], frames, id="id", level2=level2)
    np.testing.assert_array_equal([r.estimate for r in res.fixed],
                                  [r.estimate for r in pooled["model4_cses"].fixed])
    assert "5 imputed data sets" in str(res)
