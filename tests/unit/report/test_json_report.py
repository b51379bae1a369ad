"""The JSON results: exact keys, values from the results, no NaN, extras blocks."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from openhlm.report import extras as extras_module
from openhlm.report.json import KEYS, results_to_dict
from openhlm.results import JSON_SCHEMA_VERSION
from openhlm.spec.equations import parse_model

FIXED_KEYS = ["coefficient", "predictor", "gamma", "estimate", "se", "t", "df", "p",
              "robust_se", "robust_t", "robust_p", "constrained"]
VARIANCE_KEYS = ["effect", "coefficient", "sd", "variance", "df", "chi2", "p"]


def test_keys_exactly(model4):
    d = results_to_dict(model4)
    assert list(d) == list(KEYS) == [
        "schema_version", "openhlm_version", "method", "mode", "converged", "iterations",
        "n_level1", "n_level2", "outcome", "equations", "sigma2", "sigma2_se", "tau",
        "reliability", "fixed_effects", "variance_components", "deviance", "deviance_hlm",
        "n_parameters", "units_used_for_chi2", "notes"]
    assert list(d["tau"]) == ["labels", "matrix", "se", "correlations"]
    assert all(list(fe) == FIXED_KEYS for fe in d["fixed_effects"])
    assert all(list(vc) == VARIANCE_KEYS for vc in d["variance_components"])


def test_values_come_from_the_results(model4):
    d = results_to_dict(model4)
    assert d["schema_version"] == JSON_SCHEMA_VERSION
    assert (d["method"], d["mode"], d["converged"], d["iterations"]) == ("reml", "hlm", True, 61)
    assert (d["n_level1"], d["n_level2"], d["outcome"]) == (7185, 160, "mathach")
    assert d["sigma2"] == 36.70313 and d["sigma2_se"] is None   # NaN -> null
    assert d["tau"]["labels"] == ["INTRCPT1", "SES"]
    assert d["tau"]["matrix"] == [[2.37996, 0.19058], [0.19058, 0.14892]]
    assert d["tau"]["se"] == [[None, None], [None, None]]
    assert d["reliability"] == {"INTRCPT1": 0.733, "SES": 0.073}
    g12 = d["fixed_effects"][5]
    assert (g12["gamma"], g12["predictor"], g12["coefficient"]) == ("G12", "meanses", "SES slope")
    assert (g12["estimate"], g12["se"], g12["df"], g12["robust_se"]) == (1.034427, 0.302566, 157,
                                                                         0.332785)
    assert g12["constrained"] is False
    level1 = d["variance_components"][-1]
    assert level1 == {"effect": "R", "coefficient": "level-1", "sd": pytest.approx(6.05831, abs=5e-6),
                      "variance": 36.70313, "df": None, "chi2": None, "p": None}
    assert d["deviance_hlm"] == 46501.875643
    assert d["deviance"] == pytest.approx(46501.875643 + np.log(2 * np.pi), abs=1e-9)
    assert (d["n_parameters"], d["units_used_for_chi2"]) == (4, 160)


def test_equations_parse_back_to_the_spec(constrained):
    d = results_to_dict(constrained)
    spec = parse_model(d["equations"], level1_variables=["MATHACH", "SES"],
                       level2_variables=["SECTOR", "MEANSES"])
    assert spec == constrained.spec
    assert [fe["constrained"] for fe in d["fixed_effects"]] == [False, False, True, False, False]


def test_no_nan_anywhere(female):
    d = results_to_dict(female)
    json.dumps(d, allow_nan=False)  # raises on NaN / inf
    assert d["units_used_for_chi2"] == 123


def test_to_json_writes_file(model4, tmp_path):
    path = tmp_path / "r.json"
    text = model4.to_json(path)
    assert json.loads(path.read_text()) == json.loads(text) == results_to_dict(model4)


@pytest.fixture
def clean_registry():
    saved = dict(extras_module.EXTRA_RENDERERS)
    yield
    extras_module.EXTRA_RENDERERS.clear()
    extras_module.EXTRA_RENDERERS.update(saved)


def test_extras_blocks(model4, clean_registry):
    extras_module.register_extra("glh", json=lambda block, results: {"chi2": block[0]})
    results = replace(model4, extras={"glh": (60.59688, 2), "other": {"v": np.float64(np.nan),
                                                                      "a": np.arange(2)}})
    d = results_to_dict(results)
    assert list(d)[-2:] == ["glh", "other"]
    assert d["glh"] == {"chi2": 60.59688}
    assert d["other"] == {"v": None, "a": [0, 1]}
    json.dumps(d, allow_nan=False)
    with pytest.raises(ValueError, match="clashes"):
        results_to_dict(replace(model4, extras={"sigma2": 1.0}))
