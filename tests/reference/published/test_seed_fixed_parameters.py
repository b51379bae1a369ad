"""Tier-1 reference tests: every statistic HLM 6.08 printed in the seminar, evaluated at HLM's
own printed sigma^2 and T (no optimiser involved).

Values are kept as printed strings in ``seed_hlm608/expected.toml``; the tolerance of each
check is derived from the number of printed decimals (half a unit in the last place) plus an
allowance stated per quantity:

* sigma^2 and T are printed to 5 decimals, so quantities computed from them carry that
  rounding: reliabilities, chi-squares and SDs are checked at their printed precision with a
  relative allowance of 2e-6.
* HLM prints gammas and their SEs from the EM iterate *before* the last one (docs/statistics.md
  2.2), which we cannot rebuild from the printout; evaluating at the printed (last) iterate moves
  them by up to 2.4e-4 relative in the runs that stopped early (measured: constraint run G00 SE
  0.222175 vs 0.222122; Model 3 G10 SE 0.127908 vs 0.127879), so gammas and SEs are checked to a
  relative 5e-4 there, and to the printed digit for Model 2 and the fixed-slope model.  The
  chi-square uses those gammas too: 2e-6 relative for Models 1-4, 2e-4 for the ML examples.
* SDs are square roots of the printed (rounded) variances: 2e-5 relative.
* The deviance depends on sigma^2 and T through the rounding of the printout: 1e-3 absolute.
"""

from __future__ import annotations

import math
import sys

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, from PyPI (a declared dependency there)
    import tomli as tomllib
from pathlib import Path

import numpy as np
import pytest

import openhlm
from openhlm.api import as_spec
from openhlm.estimation.design import build_design
from openhlm.estimation.fit import estimates_at
from openhlm.inference.infer import infer

pytestmark = pytest.mark.reference

EXPECTED = tomllib.loads((Path(__file__).parent / "seed_hlm608" / "expected.toml").read_text())
# runs whose printed gammas are at the printed digit when evaluated at the printed (sigma2, T)
EXACT_GAMMA_RUNS = {"model2", "model4_fixed_slope"}


def half_unit(printed: str) -> float:
    decimals = len(printed.split(".")[1]) if "." in printed else 0
    return 0.5 * 10.0 ** (-decimals)


def close(value: float, printed: str, rel: float = 0.0, extra: float = 0.0) -> bool:
    target = float(printed)
    return abs(value - target) <= half_unit(printed) + rel * abs(target) + extra + 1e-12


@pytest.fixture(scope="module")
def mdm():
    return openhlm.datasets.hsb()


@pytest.fixture(scope="module")
def results(mdm):
    out = {}
    for name, case in EXPECTED.items():
        spec = as_spec(case["equations"], mdm, case.get("constraints", ()))
        design = build_design(spec, mdm)
        tau = [[float(x) for x in row] for row in case["tau"]]
        est = estimates_at(design, float(case["sigma2"]), tau, method=case["method"])
        out[name] = infer(est)
    return out


CASES = sorted(EXPECTED)


@pytest.mark.parametrize("name", CASES)
def test_reliabilities(results, name):
    res, case = results[name], EXPECTED[name]
    for value, printed in zip(res.reliability.values(), case["reliability"]):
        assert close(value, printed, rel=2e-6), (value, printed)
    if "units_used" in case:
        assert res.reliability_units_used == case["units_used"]


@pytest.mark.parametrize("name", CASES)
def test_variance_components_table(results, name):
    res, case = results[name], EXPECTED[name]
    random_rows = [r for r in res.variance if r.effect != "R"]
    for row, (chi2, df) in zip(random_rows, case["chi2"]):
        assert row.df == int(df)
        # the chi-square uses HLM's gammas from the previous iterate (see module docstring)
        rel = 2e-6 if name.startswith("model") else 2e-4
        assert close(row.chi2, chi2, rel=rel), (row.chi2, chi2)
    for row, sd in zip(res.variance, case["sd"]):
        assert close(row.sd, sd, rel=2e-5), (row.sd, sd)


@pytest.mark.parametrize("name", CASES)
def test_fixed_effects(results, name):
    res, case = results[name], EXPECTED[name]
    rel = 1e-6 if name in EXACT_GAMMA_RUNS else 5e-4
    assert [r.gamma for r in res.fixed] == [g[0] for g in case["gammas"]]
    for row, (gamma, est, se, t, df, rse, rt) in zip(res.fixed, case["gammas"]):
        assert row.df == int(df), gamma
        assert close(row.estimate, est, rel=rel), (gamma, row.estimate, est)
        assert close(row.se, se, rel=rel), (gamma, row.se, se)
        assert close(row.robust_se, rse, rel=rel), (gamma, row.robust_se, rse)
        assert close(row.t, t, rel=10 * rel), (gamma, row.t, t)
        assert close(row.robust_t, rt, rel=10 * rel), (gamma, row.robust_t, rt)


@pytest.mark.parametrize("name", CASES)
def test_deviance_and_parameters(results, name):
    res, case = results[name], EXPECTED[name]
    assert res.n_parameters == case["n_parameters"]
    assert close(res.deviance_hlm, case["deviance"], extra=1e-3), (res.deviance_hlm,
                                                                   case["deviance"])
    assert res.deviance - res.deviance_hlm == pytest.approx(
        0.0 if name == "model1" else math.log(2 * math.pi))


@pytest.mark.parametrize("name", [n for n in CASES if "sigma2_se" in EXPECTED[n]])
def test_standard_errors_of_variance_components(results, name):
    """HLM 6 prints SEs of sigma^2 and T for full-ML runs: the expected information."""
    res, case = results[name], EXPECTED[name]
    assert close(res.sigma2_se, case["sigma2_se"], rel=2e-6)
    tau_se = np.array([[float(x) for x in row] for row in case["tau_se"]])
    np.testing.assert_allclose(res.tau_se, tau_se, atol=5e-6 + 2e-6 * tau_se.max())


@pytest.mark.parametrize("name", [n for n in CASES if "correlation" in EXPECTED[n]])
def test_tau_correlation(results, name):
    res, case = results[name], EXPECTED[name]
    assert close(res.tau_correlations[0, 1], case["correlation"])
