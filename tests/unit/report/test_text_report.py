"""The text report: HLM's sections, mode-dependent lines, notes, options and the extras hook."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from openhlm.report import extras as extras_module
from openhlm.report.tables import FEW_UNITS_WARNING
from openhlm.report.text import render_text
from openhlm.spec.equations import parse_model


def _section(text: str, start: str, end: str) -> str:
    i = text.index(start)
    return text[i:text.index(end, i + len(start))]


def test_sections_in_hlm_order(model4):
    text = render_text(model4)
    order = ["SPECIFICATIONS FOR THIS HLM2 RUN", "Weighting Specification",
             "The model specified for the fixed effects was:",
             "The model specified for the covariance components was:",
             "Summary of the model specified (in equation format)", "Level-1 OLS regressions",
             "******* ITERATION 61 *******", "Sigma_squared =", " Tau\n",
             "Tau (as correlations)", "Random level-1 coefficient",
             "The value of the log-likelihood function", "Final estimation of fixed effects:",
             "(with robust standard errors)", "Final estimation of variance components:",
             "Statistics for current covariance components model", "Derived quantities"]
    positions = [text.index(s) for s in order]
    assert positions == sorted(positions)


def test_str_and_report_delegate(model4):
    assert str(model4) == render_text(model4) == model4.report()


def test_exact_mode_lines(model4_exact):
    text = render_text(model4_exact)
    assert "fully converged (openhlm's exact mode)" in text
    assert "may differ from HLM 6's printed values in the last digits" in text
    assert "ITERATION" not in text
    assert "at the maximum of the likelihood after 12 iterations" in text
    fit = _section(text, "Statistics for current", "Derived")
    lines = fit.splitlines()[2:5]
    # exact mode: the standard deviance leads, HLM's convention follows, labelled
    assert lines[0] == f" Deviance                       = {model4_exact.deviance:.6f}"
    assert lines[1] == f" Deviance (HLM 6 convention)    = {model4_exact.deviance_hlm:.6f}"
    assert lines[2] == " Number of estimated parameters = 4"
    # and the log-likelihood line is the standard one
    assert f"= {-model4_exact.deviance / 2 / 1e4:.6f}E+004" in text


def test_hlm_mode_leads_with_hlms_deviance(model4):
    text = render_text(model4)
    assert "imitates HLM 6's iterations" in text.splitlines()[2]
    assert " Deviance                       = 46501.875643\n" in text
    assert f" Deviance (standard -2 log L)   = {46501.875643 + np.log(2 * np.pi):.6f}" in text


def test_header_is_two_normalisable_lines(model4):
    lines = render_text(model4).splitlines()
    assert lines[0].startswith("Program:") and "openhlm 0.0.0" in lines[0]
    assert lines[1].startswith("Date:") and "2000-01-01" in lines[1]


def test_constrained_gammas_marked_with_footnote(constrained):
    text = render_text(constrained)
    assert "     MEANSES, G02   *       2.654259   0.237376    11.182       157    0.000" in text
    assert text.count('The "*" gammas have been constrained.  See the table on the header '
                      'page.') == 2
    assert "     G02 = G12" in text          # the constraint table on the header page
    assert "\t02G = 12G" in text              # HLM's equation summary


def test_few_units_warning_only_after_robust_table(model4):
    text = render_text(replace(model4, few_units_warning=True))
    robust = _section(text, "(with robust standard errors)", "Final estimation of variance")
    assert FEW_UNITS_WARNING in " ".join(robust.split())
    model_based = _section(text, "Final estimation of fixed effects:", "(with robust")
    assert "moderate" not in model_based
    assert "moderate" not in render_text(model4)


def test_units_notes_when_not_all_units_have_data(female, model4):
    text = render_text(female)
    assert ("Note: The chi-square statistics reported above are based on only 123 of 160\n"
            "units that had sufficient data for computation.  Fixed effects and variance\n"
            "components are based on all the data.") in text
    assert "Note: The reliability estimates reported above are based on only 123 of 160" in text
    assert "Note:" not in render_text(model4)


def test_chi2_p_above_half_prints_hlm_style(model4):
    rows = tuple(replace(r, p=0.7) if r.effect == "U1" else r for r in model4.variance.rows)
    results = replace(model4, variance=replace(model4.variance, rows=rows))
    text = render_text(results)
    assert "      SES slope, U1        0.38590       0.14892   157     162.30867    >.500" in text


def test_level1_row_and_random_only_coefficient(female):
    text = render_text(female)
    assert "  level-1,       R         6.02709      36.32580\n" in text
    assert "   FEMALE slope, U1        1.52450       2.32409   123     187.64867    0.000" in text
    # B1 = U1 has no fixed effect: listed in the specification table without a gamma
    assert "     FEMALE slope, B1\n" in text
    assert "For   FEMALE slope" not in text


def test_ols_units_option(model4):
    text = render_text(model4, ols_units=3)
    table = _section(text, "Level-1 OLS regressions", "The average OLS")
    assert len([ln for ln in table.splitlines() if ln.strip()[:4].isdigit()]) == 3
    assert "        1224      9.71545         2.50858    " in table
    assert "Level-1 OLS regressions" not in render_text(model4, ols_units=0)


def test_full_output_adds_iteration_history(model4):
    history = (-23300.0, -23260.5, -model4.deviance_hlm / 2)
    results = replace(model4, convergence=replace(model4.convergence, loglik_history=history))
    assert "Iteration history" not in render_text(results)
    text = render_text(results, full=True)
    assert "The value of the log-likelihood function at iteration 1 = -2.326050E+004" in text


def test_title_and_command_file(model4):
    text = render_text(model4, title="Model 4", command_file="ex4.hlm")
    assert "  Problem Title: Model 4\n" in text
    assert "  The command file for this run = ex4.hlm\n" in text
    assert "  Problem Title: no title\n" in render_text(model4)


def test_derived_quantities_are_the_results_methods(model4):
    text = render_text(model4)
    icc = 2.37996 / (2.37996 + 36.70313)  # the seminar's hand computation
    assert f"= {icc:.5f}" in text
    lo, hi = 12.096006 - 1.959964 * np.sqrt(2.37996), 12.096006 + 1.959964 * np.sqrt(2.37996)
    row = next(ln for ln in text.splitlines() if ln.startswith("   INTRCPT1, B0"))
    assert row.split()[-2:] == [f"{lo:.5f}", f"{hi:.5f}"]


def test_centering_markers_and_notes():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "golden"))
    import hand_results

    base = hand_results.model4_hlm()
    spec = parse_model("mathach = B0 + B1*grand(ses) + R; B0 = G00 + G01*grand(meanses) + U0;"
                       " B1 = G10 + U1", level1_variables=["mathach", "ses"],
                       level2_variables=["meanses"])
    rows = tuple(r for r in base.fixed.rows if r.gamma in ("G00", "G02", "G10"))
    rows = tuple(replace(r, gamma="G01") if r.gamma == "G02" else r for r in rows)
    results = replace(base, spec=spec, fixed=replace(base.fixed, rows=rows))
    text = render_text(results)
    assert " %      SES slope, B1      INTRCPT2, G10   " in text
    assert "                       $    meanses, G01   " in text
    assert "'%' - This level-1 predictor has been centered around its grand mean." in text
    assert "'$' - This level-2 predictor has been centered around its grand mean." in text


@pytest.fixture
def clean_registry():
    saved = dict(extras_module.EXTRA_RENDERERS)
    yield
    extras_module.EXTRA_RENDERERS.clear()
    extras_module.EXTRA_RENDERERS.update(saved)


def test_extras_registry_hooks_into_text(model4, clean_registry):
    def homvar(block, results):
        return [" Test of homogeneity of level-1 variance",
                " ----------------------------------------",
                f" Chi-square statistic         = {block['chi2']:12.5f}"]

    extras_module.register_extra("homogeneity", text=homvar)
    results = replace(model4, extras={"homogeneity": {"chi2": 245.76576},
                                      "unregistered_block": "some value"})
    text = render_text(results)
    assert " Chi-square statistic         =    245.76576" in text
    # a registered block follows the model-fit statistics, as HLM's optional blocks do
    assert text.index("Number of estimated parameters") < text.index("Test of homogeneity")
    assert " unregistered_block\n" in text and " some value" in text


def test_deleted_rows_and_dropped_units_in_specifications(model4):
    data = replace(model4.data, n_level1=7180, deleted_level1_rows=5, dropped_units=("9999",))
    text = render_text(replace(model4, data=data))
    specs = _section(text, "SPECIFICATIONS FOR THIS HLM2 RUN", "Weighting Specification")
    assert "  The maximum number of level-1 units = 7180\n" in specs
    assert "  Run-time deletion has reduced the number of level-1 records to 7180 (5 deleted)" in specs
    assert "  Level-2 units with no level-1 records left (not analysed): 1" in specs
    assert "Run-time deletion" not in render_text(model4)


def test_not_converged_exact_run_says_so(model4_exact):
    conv = replace(model4_exact.convergence, converged=False, iterations=1000,
                   stop_reason="maximum number of iterations reached")
    text = render_text(replace(model4_exact, convergence=conv))
    assert ("Iterations stopped BEFORE convergence after 1000 iterations (maximum number of "
            "iterations reached)") in text
