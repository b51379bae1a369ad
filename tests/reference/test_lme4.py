"""openhlm's exact mode against lme4 (and HLM's formulas coded in R).

Cases: the seminar's HS&B models (``crosscheck/hsb``), lme4's ``sleepstudy`` and mlmRev's
``Exam`` (``crosscheck/sleepstudy``, ``crosscheck/exam``), each made by the ``make_reference.R``
beside the values (lme4 at tight tolerances).  Tolerances: the deviance must be at or below lme4's (within 1e-6, i.e. we
find the optimum at least as well); estimates agree to 1e-5 relative (issue 3); reliabilities
and chi-squares are computed by an independent R implementation of the HLM formulas at lme4's
optimum, so they agree to the same precision.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import openhlm
from tests.reference.crosscheck._load import load_case

pytestmark = pytest.mark.reference

M4 = """mathach = B0 + B1*group(ses) + R
B0 = G00 + G01*sector + G02*meanses + U0
B1 = G10 + G11*sector + G12*meanses + U1"""

MODELS = {
    "model1": ("mathach = B0 + R; B0 = G00 + U0", ()),
    "model2": ("mathach = B0 + R; B0 = G00 + G01*meanses + U0", ()),
    "model3": ("mathach = B0 + B1*group(ses) + R; B0 = G00 + U0; B1 = G10 + U1", ()),
    "model4": (M4, ()),
    "model4_fixed_slope": (M4.replace(" + U1", ""), ()),
    "constraint": (M4, ("G02 = G12",)),
    "female_random_only": ("""mathach = B0 + B1*female + B2*group(ses) + R
        B0 = G00 + G01*sector + G02*meanses + U0
        B1 = U1
        B2 = G20 + G21*sector + G22*meanses + U2""", ()),
    "no_intercept": ("mathach = B1*female + B2*male + R; B1 = G10 + U1; B2 = G20 + U2", ()),
    "model4_minority_fixed": (M4.replace("+ R", "+ B2*minority + R") + "\nB2 = G20", ()),
}

OTHER_MODELS = {
    "sleepstudy": {"model": ("Reaction = B0 + B1*Days + R; B0 = G00 + U0; B1 = G10 + U1", ())},
    "exam": {
        "a_random_slope": ("normexam = B0 + B1*standLRT + R; B0 = G00 + U0; B1 = G10 + U1", ()),
        "b_nonrandom_slope": ("normexam = B0 + B1*standLRT + R; B0 = G00 + G01*schavg + U0;"
                              " B1 = G10 + G11*schavg", ()),
        "c_schgend": ("normexam = B0 + B1*standLRT + R; B0 = G00 + G01*boys + G02*girls + U0;"
                      " B1 = G10 + U1", ()),
    },
}
DATA = Path(__file__).parent / "data"


def _mdm(case: str) -> openhlm.MDM:
    if case == "hsb":
        l1 = pd.read_csv(openhlm.datasets.path("hsb1.csv"))
        l1["male"] = 1.0 - l1["female"]
        return openhlm.build_mdm(l1, pd.read_csv(openhlm.datasets.path("hsb2.csv")), id="id")
    if case == "sleepstudy":
        return openhlm.build_mdm(DATA / "sleepstudy.csv", id="Subject",
                                 level1_variables=["Days", "Reaction"], level2_variables=[])
    l1 = pd.read_csv(DATA / "exam.csv")[["school", "normexam", "standLRT"]]
    l2 = pd.read_csv(DATA / "exam_level2.csv")[["school", "boys", "girls", "schavg"]]
    return openhlm.build_mdm(l1, l2, id="school")


def _cases():
    for case in ("hsb", "sleepstudy", "exam"):
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
                mdms[case] = _mdm(case)
            eqs, constraints = (MODELS if case == "hsb" else OTHER_MODELS[case])[base]
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
