"""Heterogeneous level-1 variance in three-level models against nlme::lme (full ML, nested
random effects ~ year | schoolid/childid; tests/reference/crosscheck/egsingle3_hetero):
varIdent by FEMALE and varExp in YEAR are the log-linear model with one predictor."""

from __future__ import annotations

import numpy as np
import pytest

import openhlm
from openhlm.errors import EstimationError, SpecError
from openhlm.estimation.three_level.design import build_design3
from openhlm.estimation.three_level.fit import estimate3
from openhlm.estimation.three_level.heterogeneous import scaled_design
from tests.reference.crosscheck._load import load_case, load_data

REF = load_case("egsingle3_hetero")
EQ = REF["equations"].replace("; ", "\n")


@pytest.fixture(scope="module")
def mdm():
    d = load_data("egsingle")
    d["childid"] = d["childid"].astype(str)
    return openhlm.build_mdm(d, id=("childid", "schoolid"),
                             level1_variables=["year", "grade", "math", "retained"],
                             level2_variables=["female", "black", "hispanic"],
                             level3_variables=["size", "lowinc", "mobility"])


@pytest.fixture(scope="module")
def fits(mdm):
    return {k: openhlm.fit(EQ, mdm, method="ml", heterogeneous_sigma2=[k])
            for k in REF["models"]}


@pytest.mark.parametrize("key", ["female", "year"])
def test_against_nlme(fits, key):
    ref = REF["models"][key]
    res = fits[key]
    block = res.extras["heterogeneous_sigma2"]
    # the same optimum: openhlm's deviance no worse than nlme's
    assert res.deviance <= ref["deviance"] + 1e-6
    assert res.deviance == pytest.approx(ref["deviance"], abs=5e-6)
    np.testing.assert_allclose(block.alpha, ref["alpha"], rtol=2e-4, atol=2e-6)
    np.testing.assert_allclose([r.estimate for r in res.fixed], ref["fixef"], rtol=1e-5)
    np.testing.assert_allclose([r.se for r in res.fixed], ref["fixef_se"], rtol=1e-3)
    np.testing.assert_allclose(res.tau_pi, ref["tau_pi"], rtol=2e-3, atol=2e-5)
    np.testing.assert_allclose(res.tau_beta, ref["tau_beta"], rtol=2e-3, atol=2e-5)
    assert res.sigma2 == pytest.approx(np.exp(ref["alpha"][0]), rel=2e-4)
    # the model comparison against nlme's homogeneous fit
    t = block.test
    assert t.homogeneous_deviance == pytest.approx(REF["homogeneous_deviance"], abs=1e-6)
    assert t.chi2 == pytest.approx(REF["homogeneous_deviance"] - ref["deviance"], abs=1e-5)
    assert t.df == 1 and t.heterogeneous_parameters == t.homogeneous_parameters + 1
    # nlme's numerical-Hessian SEs only loosely (PROVENANCE.md)
    np.testing.assert_allclose(block.alpha_se, ref["alpha_se"], rtol=0.2)
    assert "RESULTS FOR HETEROGENEOUS SIGMA-SQUARED" in str(res)


def test_alpha1_se_is_the_profile_likelihood_curvature(mdm, fits):
    """SE(alpha1) against an independent computation: the curvature of the profile deviance in
    alpha1, each point an exact homogeneous fit of the rows scaled by sqrt(p_i) (the model is
    homogeneous given alpha1) plus the Jacobian term sum_i alpha1 C_i."""
    res = fits["female"]
    design = build_design3(res.spec, mdm)
    female = design.mdm.level2["female"].to_numpy(float)[design.unit_index]

    def profile(a1):
        eta = a1 * female
        return estimate3(scaled_design(design, np.exp(-eta)), method="ml").deviance + eta.sum()

    a1 = res.extras["heterogeneous_sigma2"].alpha[1]
    h = 0.01
    curv = (profile(a1 + h) - 2 * profile(a1) + profile(a1 - h)) / h**2
    assert res.extras["heterogeneous_sigma2"].alpha_se[1] == pytest.approx(
        np.sqrt(2 / curv), rel=1e-3)


def test_refusals(mdm):
    with pytest.raises(EstimationError, match="full maximum likelihood only"):
        openhlm.fit(EQ, mdm, method="reml", heterogeneous_sigma2=["female"])
    with pytest.raises(SpecError, match="heterogeneous sigma\\^2 in mode='hlm'"):
        openhlm.fit(EQ, mdm, method="ml", mode="hlm", heterogeneous_sigma2=["female"])
    with pytest.raises(EstimationError, match="'nosuch' is not in the data"):
        openhlm.fit(EQ, mdm, method="ml", heterogeneous_sigma2=["nosuch"])
