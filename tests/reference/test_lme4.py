"""openhlm's exact mode against lme4 (and HLM's formulas coded in R).

Cases: the seminar's HS&B models (``crosscheck/hsb``), lme4's ``sleepstudy`` and mlmRev's
``Exam`` (``crosscheck/sleepstudy``, ``crosscheck/exam``), each made by the ``make_reference.R``
beside the values (lme4 at tight tolerances).  Tolerances: the deviance must be at or below lme4's (within 1e-6, i.e. we
find the optimum at least as well); estimates agree to 1e-5 relative (issue 3); reliabilities
and chi-squares are computed by an independent R implementation of the HLM formulas at lme4's
optimum, so they agree to the same precision.
"""

from __future__ import annotations

import numpy as np
import pytest

import openhlm
from tests.reference.crosscheck._load import load_case
from tests.reference.crosscheck.models import MODELS, case_mdm

pytestmark = pytest.mark.reference

CASES = ("hsb", "sleepstudy", "exam")


def _cases():
    for case in CASES:
        for key, ref in load_case(case)["models"].items():
            base, method = key.rsplit("_", 1)
            yield pytest.param(case, base, method, ref, id=f"{case}-{key}")


@pytest.fixture(scope="module")
def fits():
    cache: dict = {}
    mdms: dict = {}

    def get(case: str, base: str, method: str):
        if (case, base, method) not in cache:
            if case not in mdms:
                mdms[case] = case_mdm(case)
            eqs, constraints = MODELS[case][base]
            cache[case, base, method] = openhlm.fit(eqs, mdms[case], method=method,
                                                    constraints=constraints)
        return cache[case, base, method]

    return get


@pytest.mark.parametrize("case,base,method,ref", list(_cases()))
def test_deviance_at_or_below_lme4(fits, case, base, method, ref):
    res = fits(case, base, method)
    assert res.converged
    assert res.deviance <= ref["deviance"] + 1e-6
    assert res.deviance == pytest.approx(ref["deviance"], abs=1e-5)
    assert res.n_parameters == ref["n_parameters"]


@pytest.mark.parametrize("case,base,method,ref", list(_cases()))
def test_fixed_effects(fits, case, base, method, ref):
    res = fits(case, base, method)
    fixed = ref["fixed"]
    rows = {r.gamma: r for r in res.fixed}
    for label, est, se, rse in zip(fixed["hlm_labels"], fixed["estimate"], fixed["se"],
                                   fixed["robust_se_cr0"]):
        row = rows[label]
        assert row.estimate == pytest.approx(est, rel=1e-5, abs=1e-7), label
        assert row.se == pytest.approx(se, rel=1e-5), label
        assert row.robust_se == pytest.approx(rse, rel=1e-5), label
    if "approx_df_hlm" in fixed:
        assert [rows[g].df for g in fixed["hlm_labels"]] == fixed["approx_df_hlm"]


@pytest.mark.parametrize("case,base,method,ref", list(_cases()))
def test_variance_components(fits, case, base, method, ref):
    res = fits(case, base, method)
    assert res.sigma2 == pytest.approx(ref["sigma2"], rel=1e-5)
    assert list(res.tau_labels) == ref["tau"]["labels"]
    tau_ref = np.array(ref["tau"]["matrix"])
    scale = np.sqrt(np.outer(np.diag(tau_ref), np.diag(tau_ref)))
    np.testing.assert_allclose(res.tau, tau_ref, rtol=1e-4, atol=1e-5 * scale.max())


@pytest.mark.parametrize("case,base,method,ref", list(_cases()))
def test_reliability_and_chi_square(fits, case, base, method, ref):
    res = fits(case, base, method)
    assert res.variance.units_used == ref["units_used"]
    for label, value in ref["reliability"].items():
        assert res.reliability[label] == pytest.approx(value, rel=1e-4), label
    for k, (label, chi) in enumerate(ref["chi2"].items()):
        row = res.variance.rows[k]
        assert row.chi2 == pytest.approx(chi["stat"], rel=1e-5), label
        assert row.df == chi["df"], label
        assert row.p == pytest.approx(chi["p_value"], rel=1e-3, abs=1e-12), label


@pytest.mark.parametrize("case,base,method,ref", list(_cases()))
def test_level1_ols_table(fits, case, base, method, ref):
    """Level-1 OLS regressions: first 10 units with sufficient data (rank-deficient units such
    as single-sex schools are skipped, as HLM does) and the average OLS coefficients."""
    res = fits(case, base, method)
    ols = ref["level1_ols"]
    shown = [u for u in ols["first_units"] if u["sufficient"]]
    table = res.level1_ols
    assert list(table.unit_ids[: len(shown)]) == [str(u["id"]) for u in shown]
    np.testing.assert_allclose(table.coefficients[: len(shown)],
                               np.array([u["coef"] for u in shown]), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(table.average, [ols["average"][k] for k in ols["labels"]],
                               rtol=1e-9)
    assert table.units_used == ols["units_with_sufficient_data"]
