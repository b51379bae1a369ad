"""Report honesty and digits (issue 12).

* Convergence is stated once (``report/convergence.py``): a run that did not converge never
  says "fully converged" anywhere, and never gives "Converged ..." as the reason it stopped.
* Small estimates print with significant digits instead of 0.000000 (``numfmt.estimate``).
* No chi-square d.f. of 0 or -1 and no silently blank reliabilities or OLS table: a note says
  that no unit had sufficient data.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

import openhlm
from openhlm.estimation.design import build_design
from openhlm.estimation.fit import estimates_at
from openhlm.inference.infer import infer
from openhlm.inference.variance import variance_components_table
from openhlm.report import numfmt
from openhlm.report.html import render_html
from openhlm.report.tables import NO_UNITS_NOTE
from openhlm.report.text import render_text
from openhlm.results import VarianceComponent

# -- convergence -----------------------------------------------------------------------------


def _not_converged(results, reason="maximum number of iterations reached"):
    conv = replace(results.convergence, converged=False, iterations=7, stop_reason=reason)
    return replace(results, convergence=conv)


def test_not_converged_exact_report_never_says_fully_converged(model4_exact):
    text = render_text(_not_converged(model4_exact))
    assert "fully converged" not in text
    assert "Mode:                   exact mode: the optimiser stopped BEFORE convergence" in text
    assert ("Iterations stopped BEFORE convergence after 7 iterations (maximum number of "
            "iterations reached)") in text
    assert "NOT converged, 7 iterations" in render_html(_not_converged(model4_exact))


def test_converged_exact_report_is_unchanged(model4_exact):
    text = render_text(model4_exact)
    assert "fully converged (openhlm's exact mode)" in text
    assert "BEFORE convergence" not in text


def _simulated(seed=4, J=30, n=8, scale=1.0):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(J), n)
    x = rng.normal(size=J * n)
    y = 1 + 0.3 * x + rng.normal(size=J)[g] + rng.normal(size=J * n)
    frame = pd.DataFrame({"g": g, "x": x * scale, "y": y})
    return openhlm.build_mdm(frame, id="g", level1_variables=["x", "y"], level2_variables=[])


def test_not_converged_fit_notes_and_reason_agree():
    mdm = _simulated()
    spec = openhlm.api.as_spec("y = B0 + B1*x + R; B0 = G00 + U0; B1 = G10 + U1", mdm)
    est = estimates_at(build_design(spec, mdm), 1.0, np.eye(2))
    # an exact-mode estimate whose optimiser failed but whose reason still reads "Converged"
    est = replace(est, mode="exact", converged=False, iterations=3,
                  stop_reason="Converged to the maximum of the likelihood (exact mode)")
    res = infer(est)
    text = render_text(res)
    assert "fully converged" not in text and "Estimates are fully converged" not in res.notes
    assert "(the optimiser's convergence test was not met)" in text
    assert any(n.startswith("The estimates are NOT converged: estimation stopped after 3 "
                            "iterations of the optimiser of the profiled deviance")
               for n in res.notes)


# -- digits ----------------------------------------------------------------------------------

@pytest.mark.parametrize("value,decimals,expected", [
    (12.095997, 6, "12.095997"), (0.000150, 6, "0.000150"), (0.0000999, 6, "9.99000E-05"),
    (7.4e-12, 6, "7.40000E-12"), (-1.23456e-5, 5, "-1.2346E-05"), (0.00123, 5, "0.00123"),
    (0.000999, 5, "9.9900E-04"), (0.0, 6, "0.000000"), (-0.0, 5, "0.00000"),
    (float("nan"), 6, ""), (None, 6, ""), (float("inf"), 6, "Inf"), (1.5e12, 6, "1500000000000.000000"),
])
def test_estimate_format(value, decimals, expected):
    assert numfmt.estimate(value, decimals) == expected


def test_small_coefficient_is_printed_with_significant_digits():
    mdm = _simulated(scale=1e12)   # a predictor in 1e12 units: gamma ~ 3e-13
    spec = openhlm.api.as_spec("y = B0 + B1*x + R; B0 = G00 + U0; B1 = G10", mdm)
    res = infer(estimates_at(build_design(spec, mdm), 1.0, [[1.0]]))
    row = next(r for r in res.fixed if r.gamma == "G10")
    assert abs(row.t) > 2 and abs(row.estimate) < 1e-11
    table = render_text(res).split("Final estimation of fixed effects:")[1]
    line = next(ln for ln in table.splitlines() if ", G10" in ln)
    assert numfmt.estimate(row.estimate, 6) in line and "E-1" in line
    assert "0.000000" not in line


# -- units without sufficient data -----------------------------------------------------------

def test_no_chi_square_degrees_of_freedom_below_one():
    mdm = _simulated()
    spec = openhlm.api.as_spec("y = B0 + B1*x + R; B0 = G00 + U0; B1 = G10 + U1", mdm)
    est = estimates_at(build_design(spec, mdm), 1.0, np.eye(2))
    J = est.design.n_level2
    none = {"sufficient": np.zeros(J, dtype=bool), "beta_hat": np.full((J, 2), np.nan),
            "XXinv": np.full((J, 2, 2), np.nan), "fitted": np.zeros((J, 2))}
    table = variance_components_table(est, none)
    assert [r.df for r in table.rows] == [None, None, None] and table.units_used == 0
    assert all(np.isnan(r.chi2) and np.isnan(r.p) for r in table.rows[:2])


def test_report_says_why_tests_and_reliabilities_are_missing(model4_exact):
    rows = tuple(replace(r, df=None, chi2=float("nan"), p=float("nan")) if r.effect != "R"
                 else r for r in model4_exact.variance.rows)
    results = replace(model4_exact,
                      variance=replace(model4_exact.variance, rows=rows, units_used=0),
                      reliability={k: float("nan") for k in model4_exact.reliability},
                      reliability_units_used=0,
                      level1_ols=replace(model4_exact.level1_ols, unit_ids=(), units_used=0,
                                         coefficients=np.empty((0, 2))))
    text = render_text(results)
    assert "   -1 " not in text and "   0 " not in text.split("Final estimation of variance")[1]
    for what in ("chi-square statistics", "reliability estimates"):
        assert NO_UNITS_NOTE.format(what=what) in text
    assert "No level-2 unit had sufficient data for a level-1 OLS regression" in text


def test_too_few_units_for_one_test_is_noted(model4_exact):
    first = model4_exact.variance.rows[0]
    rows = (replace(first, df=None, chi2=float("nan"), p=float("nan")),
            *model4_exact.variance.rows[1:])
    results = replace(model4_exact, variance=replace(model4_exact.variance, rows=rows))
    text = render_text(results)
    assert f"Note: No chi-square test for {first.coefficient}: only" in text


def test_variance_component_row_type_allows_missing_df():
    assert VarianceComponent(effect="U0", coefficient="INTRCPT1", sd=1.0, variance=1.0).df is None
