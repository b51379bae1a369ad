"""Three-level constraints and level-1 weights against lme4
(tests/reference/crosscheck/egsingle3_features, committed R script):

* ``G001 = G101`` against lme4 with the two constrained columns summed into one;
* precision weights against lmer's ``weights=``;
* level-1 design weights (normalised within level-2 units) against lmer's ``weights=`` with the
  normalised weights: the same estimates, deviances apart by sum(log w).
"""

from __future__ import annotations

import numpy as np
import pytest

import openhlm
from tests.reference.crosscheck._load import load_case, load_data

REF = load_case("egsingle3_features")
MODELS = sorted(REF["models"])
RTOL_GAMMA = 1e-6
RTOL_VAR = 1e-5


@pytest.fixture(scope="module")
def data():
    d = load_data("egsingle")
    d["childid"] = d["childid"].astype(str)
    d["pw"] = 0.5 + 0.25 * d["grade"]
    d["dw"] = 1 + d["retained"] + 0.1 * d["grade"]
    return d


@pytest.fixture(scope="module")
def mdm(data):
    return openhlm.build_mdm(data, id=("childid", "schoolid"),
                             level1_variables=["year", "grade", "math", "retained", "pw", "dw"],
                             level2_variables=["female", "black", "hispanic"],
                             level3_variables=["size", "lowinc", "mobility"])


def _fit(mdm, ref):
    kwargs = {}
    if ref["constraints"]:
        kwargs["constraints"] = [ref["constraints"]]
    if ref["weights"] == "pw":
        kwargs["precision_weight"] = "pw"
    elif ref["weights"] == "dwn":
        kwargs["level1_weight"] = "dw"          # normalised within children by openhlm
    return openhlm.fit(ref["equations"], mdm, method=ref["method"].lower(), **kwargs)


@pytest.fixture(scope="module")
def fits(mdm):
    return {key: _fit(mdm, REF["models"][key]) for key in MODELS}


# openhlm's free gammas in lme4's order
_ORDER = {"constraint": ["G000", "G100", "G010", "G001", "G110"],
          "precision": ["G000", "G100"], "level1_design": ["G000", "G100"]}


@pytest.mark.parametrize("key", MODELS)
def test_deviance(fits, key):
    ref = REF["models"][key]
    res = fits[key]
    # lme4's weighted criterion is that of known precisions; a design-weighted deviance is
    # higher by sum(log w) (docs/weights-and-imputation.md)
    shift = ref["sum_log_weights"] if ref["weights"] == "dwn" else 0.0
    assert res.deviance <= ref["deviance"] + shift + 1e-6
    assert res.deviance == pytest.approx(ref["deviance"] + shift, abs=1e-5)


@pytest.mark.parametrize("key", MODELS)
def test_fixed_effects(fits, key):
    ref = REF["models"][key]
    rows = {r.gamma: r for r in fits[key].fixed}
    order = _ORDER[key.rsplit("_", 1)[0]]
    assert sorted(rows) == sorted(order)
    est = np.array([rows[g].estimate for g in order])
    se = np.array([rows[g].se for g in order])
    np.testing.assert_allclose(est, ref["fixef"], rtol=RTOL_GAMMA, atol=1e-7)
    np.testing.assert_allclose(se, ref["fixef_se"], rtol=RTOL_VAR)


@pytest.mark.parametrize("key", MODELS)
def test_variance_components(fits, key):
    ref = REF["models"][key]
    res = fits[key]
    assert res.sigma2 == pytest.approx(ref["sigma2"], rel=RTOL_VAR)
    np.testing.assert_allclose(res.tau_pi, np.array(ref["tau_pi"]), rtol=RTOL_VAR, atol=5e-7)
    np.testing.assert_allclose(res.tau_beta, np.array(ref["tau_beta"]), rtol=RTOL_VAR,
                               atol=5e-7)


def test_constraint_labels_and_df(fits):
    """The shared gamma is reported once, under its first label (G001), and the d.f. count
    free gammas of the equation that owns it (as the two-level rule)."""
    res = fits["constraint_ml"]
    rows = {r.gamma: r for r in res.fixed}
    assert "G101" not in rows
    K = res.n_level3
    assert rows["G000"].df == K - 2 and rows["G001"].df == K - 2   # B00: G000, G001(=G101)
    assert rows["G100"].df == K - 1                                 # B10: G100 only
    assert "G001 = G101" in str(res)
