"""Report blocks of the hypothesis tests: general linear hypotheses, the homogeneity test of
level-1 variance and deviance tests, laid out as HLM 6.08 prints them (the seminar seed).

Importing this module registers the renderers for ``results.extras["glh"]``,
``["homogeneity"]`` and ``["deviance_test"]`` with :mod:`openhlm.report.extras`.  Each text
renderer also works without the results (``results=None``), for ``str(test)``.
"""

from __future__ import annotations

import textwrap
from typing import Any

from openhlm.report import numfmt
from openhlm.report.extras import register_extra, to_jsonable
from openhlm.results.hypotheses import (
    GLH_TITLE,
    DevianceTest,
    GLHResult,
    HomogeneityTest,
    LinearHypothesis,
)

__all__ = [
    "deviance_test_json",
    "deviance_test_text",
    "glh_json",
    "glh_text",
    "homogeneity_json",
    "homogeneity_text",
]

_GLH_RULE = " " + "-" * 77
_TEST_RULE = " " + "-" * 35


def _glh_block(result: GLHResult, h: LinearHypothesis, number: int | None) -> list[str]:
    title = GLH_TITLE if number is None else f"{GLH_TITLE} - Test {number}"
    lines = [" " + "-" * 76, "", f"{title:>{16 + len(title)}}", _GLH_RULE,
             f"{'Coefficients':>47}{'Contrast':>14}", _GLH_RULE]
    current = None
    for k, gamma in enumerate(result.gammas):
        if result.coefficient_codes[k] != current:
            current = result.coefficient_codes[k]
            lines.append(f" For{result.coefficients[k]:>15}, {current}")
        cells = "".join(f"{w:{11 if i == 0 else 8}.3f}" for i, w in enumerate(h.contrast[:, k]))
        lines.append(f"{result.predictors[k]:>13}, {gamma}"
                     + numfmt.rjust(numfmt.estimate(result.estimates[k], 6), 27) + cells)
    lines.append("")
    # openhlm addition: each contrast row's estimate and standard errors (HLM 7 prints them)
    width = max(12, *(len(r) for r in h.rows)) + 1
    lines.append(f" {'Contrast row':<{width}}{'Estimate':>12}{'Std. error':>14}"
                 f"{'Robust s.e.':>14}")
    for row, est, se, rse in zip(h.rows, h.estimate, h.se, h.robust_se):
        lines.append(f" {row:<{width}}" + numfmt.rjust(numfmt.estimate(est, 6), 12)
                     + numfmt.rjust(numfmt.estimate(se, 6), 14)
                     + numfmt.rjust(numfmt.estimate(rse, 6), 14))
    lines.append("")
    s = h.statistic
    lines += [f"Chi-square statistic = {s.chi2:.6f}",
              f"Degrees of freedom   = {s.df}",
              f"P-value              = {s.p:.6f}"]
    other, which, other_which = ((h.model, "robust", "model-based") if h.primary == "robust"
                                 else (h.robust, "model-based", "robust"))
    lines += _wrap(f"(computed with {which} standard errors"
                   + (", as HLM 6 does" if which == "robust" else "")
                   + f"; with {other_which} standard errors: chi-square = {other.chi2:.6f}, "
                   f"{other.df} d.f., p = {other.p:.6f})")
    return lines


def _wrap(text: str) -> list[str]:
    return textwrap.wrap(text, width=79, initial_indent=" ", subsequent_indent="  ")


def glh_text(block: GLHResult, results: Any = None) -> list[str]:
    """HLM's "Results of General Linear Hypothesis Testing", one block per hypothesis."""
    several = len(block.hypotheses) > 1
    lines: list[str] = []
    for i, h in enumerate(block.hypotheses, start=1):
        if i > 1:
            lines.append("")
        lines += _glh_block(block, h, i if several else None)
    return lines


HOMOGENEITY_TITLE = "Test of homogeneity of level-1 variance"


def _test_lines(title: str, chi2: float, df: int, p: float, rule: int = 35) -> list[str]:
    """HLM's five-line test block (title, rule, chi-square, d.f., p)."""
    return [f" {title}", " " + "-" * rule,
            f" Chi-square statistic         = {chi2:12.5f}",
            f" Number of degrees of freedom = {df:4d}",
            f" P-value                      = {numfmt.chi2_p_value(p)}"]


def homogeneity_text(block: HomogeneityTest, results: Any = None) -> list[str]:
    """HLM's "Test of homogeneity of level-1 variance" block."""
    lines = _test_lines(HOMOGENEITY_TITLE, block.chi2, block.df, block.p, rule=40)
    if block.units_used < block.n_units:
        lines += _wrap(f"Note: based on {block.units_used} of {block.n_units} units that had "
                       f"sufficient data (n_j greater than the number of level-1 coefficients "
                       f"and a full-rank level-1 design).")
    return lines


def deviance_test_text(block: DevianceTest, results: Any = None) -> list[str]:
    """HLM's "Variance-Covariance components test" / "Model comparison test" block."""
    lines = _test_lines(block.title, block.chi2, block.df, block.p)
    conv = "HLM's printed convention" if block.convention == "hlm" else "-2 log-likelihood"
    a, b = block.labels
    lines += _wrap(f"({a}: deviance {block.deviance:.6f}, {block.n_parameters} parameters; "
                   f"{b}: deviance {block.other_deviance:.6f}, {block.other_n_parameters} "
                   f"parameters; {conv})")
    for note in block.notes:
        lines += _wrap(f"Note: {note}")
    return lines


def _stat(s: Any) -> dict[str, Any]:
    return {"chi2": to_jsonable(s.chi2), "df": s.df, "p": to_jsonable(s.p)}


def glh_json(block: GLHResult, results: Any = None) -> dict[str, Any]:
    return {
        "gammas": list(block.gammas),
        "estimates": to_jsonable(block.estimates),
        "hypotheses": [{
            "label": h.label, "rows": list(h.rows), "contrast": to_jsonable(h.contrast),
            "rhs": to_jsonable(h.rhs), "estimate": to_jsonable(h.estimate),
            "se": to_jsonable(h.se), "robust_se": to_jsonable(h.robust_se),
            "primary": h.primary, **_stat(h.statistic),
            "model_based": _stat(h.model), "robust": _stat(h.robust),
        } for h in block.hypotheses],
    }


def homogeneity_json(block: HomogeneityTest, results: Any = None) -> dict[str, Any]:
    return {"chi2": to_jsonable(block.chi2), "df": block.df, "p": to_jsonable(block.p),
            "units_used": block.units_used, "n_units": block.n_units,
            "unused_units": list(block.unused_units), "rule": block.rule}


def deviance_test_json(block: DevianceTest, results: Any = None) -> dict[str, Any]:
    return to_jsonable(block)


register_extra("glh", text=glh_text, json=glh_json)
register_extra("homogeneity", text=homogeneity_text, json=homogeneity_json)
register_extra("deviance_test", text=deviance_test_text, json=deviance_test_json)
