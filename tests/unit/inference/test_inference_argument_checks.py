"""Bugs found by the static typing pass (mypy) over the inference layer and the API.

Each test failed before its fix: dataclasses holding arrays compared with ``==`` (re-running a
test already in ``results.extras``), an array's truth value taken (a contrast matrix with
imputed data), a parameter count of the wrong type reaching ``<``, and bare ``ValueError``s where
the house rule asks for :class:`~openhlm.errors.OpenHLMError` subclasses.
"""

from __future__ import annotations

import numpy as np
import pytest

import openhlm
from openhlm.errors import EstimationError, HypothesisError, OpenHLMError, SpecError
from openhlm.inference.hypotheses import deviance_test, glh, with_tests

M4 = """mathach = B0 + B1*group(ses) + R
B0 = G00 + G01*sector + G02*meanses + U0
B1 = G10 + G11*sector + G12*meanses + U1"""
NULL = "mathach = B0 + R; B0 = G00 + U0"


@pytest.fixture(scope="module")
def mdm() -> openhlm.MDM:
    return openhlm.datasets.hsb()


@pytest.fixture(scope="module")
def m4(mdm) -> openhlm.HLMResults:
    return openhlm.fit(M4, mdm, hypotheses=["G01 = 0"])


def test_with_tests_replaces_a_glh_already_in_extras(m4):
    # before: ``extras == results.extras`` compared two GLHResults field by field, and their
    # numpy arrays raised "truth value of an array ... is ambiguous"
    again = with_tests(m4, hypotheses=["G01 = 0; G11 = 0"])
    assert again.extras["glh"][0].rows == ("G01 = 0", "G11 = 0")
    assert again.extras["glh"].chi2 == pytest.approx(glh(m4, "G01 = 0; G11 = 0").chi2, rel=1e-12)
    assert m4.extras["glh"][0].rows == ("G01 = 0",)        # the original is unchanged


def test_with_tests_same_request_again(m4):
    again = with_tests(m4, hypotheses=["G01 = 0"])
    assert again.extras["glh"].chi2 == pytest.approx(m4.extras["glh"].chi2, rel=1e-12)


@pytest.mark.parametrize("n_parameters", ["two", None, "", [2]])
def test_deviance_test_refuses_a_parameter_count_that_is_not_a_number(m4, n_parameters):
    # before: TypeError ('<' between str and int) or ValueError from float('two')
    with pytest.raises(HypothesisError, match="number of parameters"):
        deviance_test(m4, deviance=46000.0, n_parameters=n_parameters)


@pytest.mark.parametrize("n_parameters", [2.0, "2", np.int64(2)])
def test_deviance_test_accepts_a_whole_number_as_the_deviance_does(m4, n_parameters):
    # the deviance may be given as text ("46600"); so may the parameter count
    test = deviance_test(m4, deviance=46600.0, n_parameters=n_parameters)
    assert test.df == m4.n_parameters - 2 and test.other_n_parameters == 2
    assert test.chi2 == pytest.approx(abs(46600.0 - m4.deviance), rel=1e-12)


def test_imputed_fit_refuses_a_contrast_matrix_with_a_spec_error(mdm):
    # before: ``if hypotheses or ...`` took the truth value of the array -> ValueError
    contrast = np.array([[0.0, 1.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 1.0, 0.0]])
    with pytest.raises(SpecError, match="not pooled"):
        openhlm.fit(M4, [mdm, mdm], hypotheses=contrast)


def test_imputed_fit_refuses_an_empty_deviance_test(mdm):
    # before: an empty dict was silently ignored with imputed data (and refused without)
    with pytest.raises(SpecError, match="not pooled"):
        openhlm.fit(NULL, [mdm, mdm], deviance_test={})


def test_heterogeneous_block_of_homogeneous_estimates_is_an_openhlm_error(m4):
    from openhlm.inference.heterogeneous import heterogeneous_sigma2

    with pytest.raises(EstimationError, match="homogeneous"):
        heterogeneous_sigma2(m4.estimates)


def test_icc_without_random_intercept_is_an_openhlm_error(mdm):
    res = openhlm.fit("mathach = B0 + B1*group(ses) + R; B0 = G00; B1 = G10 + U1", mdm)
    with pytest.raises(OpenHLMError, match="random level-1 intercept"):
        res.icc()
