"""Rubin's rules / Barnard-Rubin d.f. against hand computations, and the fit_imputed API."""

from __future__ import annotations

import statistics
from importlib.resources import files

import numpy as np
import pandas as pd
import pytest

import openhlm
from openhlm.errors import DataError, DataWarning, EstimationError, SpecError
from openhlm.inference.pooling import barnard_rubin_df, pooled_covariance, rubin_pool

Q = [[1.0, 10.0], [1.2, 10.5], [0.9, 9.0], [1.1, 10.1]]
U = [[0.04, 1.0], [0.05, 1.2], [0.045, 0.9], [0.05, 1.1]]


def test_rubin_rules_by_hand():
    m = len(Q)
    pooled = rubin_pool(np.array(Q), np.array(U), df_complete=[30, 200])
    for k, nu_c in enumerate((30, 200)):
        q = [row[k] for row in Q]
        u = [row[k] for row in U]
        qbar, ubar, b = statistics.fmean(q), statistics.fmean(u), statistics.variance(q)
        total = ubar + (1 + 1 / m) * b
        r = (1 + 1 / m) * b / ubar
        lam = (1 + 1 / m) * b / total
        nu_old = (m - 1) / lam**2                     # Rubin (1987), the same as (m-1)(1+1/r)^2
        nu_obs = (nu_c + 1) / (nu_c + 3) * nu_c * (1 - lam)
        nu = 1 / (1 / nu_old + 1 / nu_obs)
        assert pooled.estimate[k] == pytest.approx(qbar, rel=1e-14)
        assert pooled.within[k] == pytest.approx(ubar, rel=1e-14)
        assert pooled.between[k] == pytest.approx(b, rel=1e-12)
        assert pooled.se[k] == pytest.approx(total**0.5, rel=1e-14)
        assert pooled.riv[k] == pytest.approx(r, rel=1e-12)
        assert pooled.missing_variance[k] == pytest.approx(lam, rel=1e-12)
        assert pooled.df[k] == pytest.approx(nu, rel=1e-12)
        assert pooled.fmi[k] == pytest.approx((r + 2 / (nu + 3)) / (r + 1), rel=1e-12)
        assert pooled.t[k] == pytest.approx(qbar / total**0.5, rel=1e-14)
    assert pooled.df_method == "barnard-rubin"


def test_rubin_df_without_complete_data_df_and_limits():
    q, u = np.array(Q), np.array(U)
    rubin = rubin_pool(q, u)
    assert rubin.df_method == "rubin" and rubin.df_complete is None
    np.testing.assert_allclose(rubin.df, (len(Q) - 1) / rubin.missing_variance**2)
    # Barnard-Rubin tends to Rubin (1987) as the complete-data d.f. grow
    np.testing.assert_allclose(rubin_pool(q, u, 1e12).df, rubin.df, rtol=1e-6)
    # no between-imputation variance: Rubin's d.f. are infinite, Barnard-Rubin's nu_obs
    same = rubin_pool(np.ones((3, 1)), np.full((3, 1), 0.5), 50)
    assert same.between[0] == 0 and same.se[0] == pytest.approx(0.5**0.5)
    assert same.df[0] == pytest.approx(51 / 53 * 50)
    assert np.isinf(rubin_pool(np.ones((3, 1)), np.full((3, 1), 0.5)).df[0])
    assert barnard_rubin_df(np.array([0.0]), np.array([0.0]), 3, np.array([10.0]))[0] == \
        pytest.approx(11 / 13 * 10)


def test_pooled_covariance_diagonal_is_total_variance():
    q = np.array(Q)
    covs = np.array([np.diag(u) + 0.01 for u in U])
    total = pooled_covariance(q, covs)
    np.testing.assert_allclose(np.diag(total), rubin_pool(q, [np.diag(c) for c in covs]).total)
    np.testing.assert_allclose(total, total.T)


def test_pooling_needs_two_data_sets():
    with pytest.raises(EstimationError, match="at least 2"):
        rubin_pool(np.array([Q[0]]), np.array([U[0]]))


# -- fit_imputed -------------------------------------------------------------------------------

MODEL = "mathach = B0 + B1*ses + R; B0 = G00 + G01*sector + U0; B1 = G10"


@pytest.fixture(scope="module")
def hsb() -> tuple[pd.DataFrame, pd.DataFrame]:
    h1 = pd.read_csv(files("openhlm.datasets") / "hsb/hsb1.csv")
    h2 = pd.read_csv(files("openhlm.datasets") / "hsb/hsb2.csv")
    ids = h2.id.to_numpy()[:30]
    return (h1[h1.id.isin(ids)].reset_index(drop=True),
            h2[h2.id.isin(ids)].reset_index(drop=True))


def _completed(h1: pd.DataFrame, m: int) -> list[pd.DataFrame]:
    rng = np.random.default_rng(m)
    return [h1.assign(ses=h1.ses + rng.normal(0, 0.3, len(h1)) * (h1.index % 4 == 0))
            for _ in range(m)]


def test_plausible_values_pool_separate_fits(hsb):
    h1, h2 = hsb
    rng = np.random.default_rng(1)
    pvs = {f"pv{k}": h1.mathach + rng.normal(0, 2, len(h1)) for k in range(1, 4)}
    data = h1.assign(**pvs)
    pooled = openhlm.fit_imputed(MODEL.replace("mathach", "pv1"), data, id="id", level2=h2,
                                 plausible_values=list(pvs), method="ml")
    singles = [openhlm.fit(MODEL.replace("mathach", pv), data, id="id", level2=h2, method="ml")
               for pv in pvs]
    est = np.array([[r.estimate for r in s.fixed] for s in singles])
    se = np.array([[r.se for r in s.fixed] for s in singles])
    np.testing.assert_allclose([r.estimate for r in pooled.fixed], est.mean(axis=0), rtol=1e-12)
    total = (se**2).mean(axis=0) + (1 + 1 / 3) * est.var(axis=0, ddof=1)
    np.testing.assert_allclose([r.se for r in pooled.fixed], np.sqrt(total), rtol=1e-12)
    assert pooled.sigma2 == pytest.approx(np.mean([s.sigma2 for s in singles]), rel=1e-12)
    assert pooled.deviance == pytest.approx(np.mean([s.deviance for s in singles]), rel=1e-12)
    summary = pooled.extras["multiple_imputation"]
    assert summary.kind == "plausible values" and summary.labels == ("pv1", "pv2", "pv3")
    text = str(pooled)
    assert "results combined from 3 plausible values" in text
    assert "Combination of 3 plausible values" in text
    d = pooled.to_dict()["multiple_imputation"]
    assert d["m"] == 3 and len(d["model_based"]["fmi"]) == 3
    assert "fits" not in d


def test_list_of_mdms_and_stacked_frame_agree(hsb):
    h1, h2 = hsb
    sets = _completed(h1, 3)
    mdms = [openhlm.MDM.from_tables(s, h2, id="id") for s in sets]
    a = openhlm.fit(MODEL, mdms)
    stacked = pd.concat([s.assign(imp=k + 1) for k, s in enumerate(sets)])
    b = openhlm.fit_imputed(MODEL, stacked, id="id", level2=h2, imputation="IMP")
    np.testing.assert_array_equal([r.estimate for r in a.fixed], [r.estimate for r in b.fixed])
    assert b.extras["multiple_imputation"].labels == ("imp=1", "imp=2", "imp=3")
    assert a.extras["multiple_imputation"].m == 3


def test_data_sets_must_match(hsb):
    h1, h2 = hsb
    sets = _completed(h1, 2)
    first_unit = h1.id[0]
    with pytest.raises(DataError, match=rf"data set 2 lacks unit\(s\) {first_unit}"), \
            pytest.warns(DataWarning, match="no level-1 records"):
        openhlm.fit(MODEL, [sets[0], sets[1][sets[1].id != first_unit]], id="id", level2=h2)
    with pytest.raises(DataError, match=r"lacks level-1 variable\(s\) female"):
        openhlm.fit(MODEL, [sets[0], sets[1].drop(columns=["female"])], id="id", level2=h2)
    with pytest.raises(DataError, match=rf"different number of level-1 records .* {first_unit}"):
        openhlm.fit(MODEL, [sets[0], sets[1].drop(index=[0])], id="id", level2=h2)


def test_imputation_argument_errors(hsb):
    h1, h2 = hsb
    with pytest.raises(SpecError, match="at least 2"):
        openhlm.fit(MODEL, [h1], id="id", level2=h2)
    with pytest.raises(SpecError, match="imputation column 'imp' is not in"):
        openhlm.fit(MODEL, h1, id="id", level2=h2, imputation="imp")
    with pytest.raises(SpecError, match="plausible value 'pvx' is not a level-1 variable"):
        openhlm.fit(MODEL, h1, id="id", level2=h2, plausible_values=["mathach", "pvx"])
    with pytest.raises(DataError, match="has missing values"):
        openhlm.fit(MODEL, h1.assign(imp=np.where(h1.index == 5, np.nan, 1.0)), id="id",
                    level2=h2, imputation="imp")


def test_hypothesis_tests_are_not_silently_dropped(hsb):
    h1, h2 = hsb
    with pytest.raises(SpecError, match="not pooled over imputed data sets"):
        openhlm.fit(MODEL, _completed(h1, 2), id="id", level2=h2, hypotheses=["G01 = 0"])
