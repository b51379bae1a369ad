"""infer() builds the whole results in one go: the same results as patching them afterwards."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pandas as pd
import pytest

import openhlm
from openhlm.api import as_spec
from openhlm.estimation.design import build_design
from openhlm.estimation.fit import estimate
from openhlm.estimation.weights import weighting_notes
from openhlm.inference.exploratory import with_exploratory
from openhlm.inference.hypotheses import with_tests
from openhlm.inference.infer import infer
from openhlm.inference.residuals import eb_estimates
from openhlm.results import EXTRAS
from openhlm.spec.options import Weights

MODEL = """mathach = B0 + B1*group(ses) + R
B0 = G00 + G01*sector + U0
B1 = G10 + G11*sector + U1"""
_DATE = re.compile(r"^Date:.*$", re.MULTILINE)


@pytest.fixture(scope="module")
def weighted():
    l1 = pd.read_csv(openhlm.datasets.path("hsb1.csv"))
    l2 = pd.read_csv(openhlm.datasets.path("hsb2.csv"))
    mdm = openhlm.MDM.from_tables(l1, l2, id="id")
    spec = as_spec(MODEL, mdm)
    design = build_design(spec, mdm, weights=Weights(level2="size"))
    return mdm, estimate(design), design.weighting


def _patched(mdm, est, weighting, **tests):
    """What openhlm.fit did before infer took these arguments."""
    results = infer(est, sources=tuple(mdm.sources))
    results = dataclasses.replace(
        results, data=dataclasses.replace(results.data,
                                          variable_labels=dict(mdm.variable_labels)))
    results = dataclasses.replace(results, extras={"weighting": weighting, **results.extras},
                                  notes=tuple(results.notes) + weighting_notes(weighting))
    results = with_tests(results, hypotheses=tests["hypotheses"],
                         homogeneity=tests["homogeneity"], deviance_test=tests["deviance_test"])
    return with_exploratory(results, tests["exploratory"])


def test_infer_with_every_block_equals_the_patched_results(weighted):
    mdm, est, weighting = weighted
    tests = {"hypotheses": ["G01 = 0; G11 = 0"], "homogeneity": True,
                 "deviance_test": {"deviance": 46600.0, "n_parameters": 3},
                 "exploratory": ["pracad", "disclim"]}
    once = infer(est, sources=tuple(mdm.sources), variable_labels=mdm.variable_labels,
                 weighting=weighting, **tests)
    patched = _patched(mdm, est, weighting, **tests)
    assert list(once.extras) == ["weighting", "glh", "homogeneity", "deviance_test",
                                 "exploratory"]
    assert list(once.extras) == list(patched.extras)
    for key, block in once.extras.items():   # the types openhlm.results.EXTRAS documents
        assert f"{type(block).__module__}.{type(block).__qualname__}" == EXTRAS[key]
    assert once.notes == patched.notes and any("Design weights" in n for n in once.notes)
    assert once.data == patched.data
    assert _DATE.sub("", once.report()) == _DATE.sub("", patched.report())
    assert once.to_dict() == patched.to_dict()


def test_infer_stores_the_eb_estimates_the_residual_file_reads(weighted):
    _, est, _ = weighted
    res = infer(est)
    assert res.eb is not None
    np.testing.assert_array_equal(res.eb.eb_residuals, eb_estimates(est).eb_residuals)
    table = res.level2_residuals()
    np.testing.assert_array_equal(table["EBINTRCP"].to_numpy(), res.eb.eb_residuals[:, 0])


def test_residual_files_only_read_the_stored_estimates(weighted, monkeypatch):
    _, est, _ = weighted
    res = infer(est)
    from openhlm.inference import residuals

    def fail(*args, **kwargs):
        raise AssertionError("the residual file computed EB estimates")

    monkeypatch.setattr(residuals, "eb_estimates", fail)
    assert len(res.level1_residuals()) == res.n_level1
    without = dataclasses.replace(res, eb=None)
    with pytest.raises(openhlm.EstimationError, match="no empirical Bayes estimates"):
        without.level2_residuals()


def test_old_positional_use_still_works(weighted):
    _, est, _ = weighted
    res = infer(est, ols_units=5, sources=("a.csv",))
    assert res.data.sources == ("a.csv",) and res.extras == {}
