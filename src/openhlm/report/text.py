"""The text report, laid out like HLM2 6.08's output file.

``render_text(results)`` prints the sections in HLM's order (docs/statistics.md 16), with HLM's
labels, column widths and number formats (measured on the seminar's HLM 6.08 output), so that
an HLM user finds every number where HLM puts it.  One function per section; each returns a
list of lines.  The numbers come formatted from :mod:`openhlm.report.tables`.

The first two lines (``Program:`` with the openhlm version, ``Date:``) are the only ones that
change from run to run; golden tests normalise them.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable

from openhlm.report import numfmt
from openhlm.report.convergence import iteration_lines, mode_lines
from openhlm.report.extras import renderer_for
from openhlm.report.tables import (
    Table,
    fixed_effects_table,
    model_fit_table,
    ols_table,
    plausible_values_table,
    reliability_table,
    tau_table,
    variance_components_table,
)
from openhlm.results import HLMResults

__all__ = ["SECTIONS", "render_text"]

FIXED_RULE = " " + "-" * 76
VARIANCE_RULE = " " + "-" * 77
RELIABILITY_RULE = " " + "-" * 52
WIDTH = 78


def _wrap(text: str, indent: str = " ") -> list[str]:
    return textwrap.wrap(text, width=WIDTH, initial_indent=indent, subsequent_indent=indent) or [""]


# -- header and specifications ---------------------------------------------------------------

def _header(results: HLMResults) -> list[str]:
    mode = mode_lines(results)
    return [
        f"Program:                openhlm {results.version} (two-level hierarchical linear models)",
        f"Date:                   {results.created}",
        f"Mode:                   {mode[0]}",
        f"                        {mode[1]}",
    ]


def _specifications(results: HLMResults, title: str | None = None,
                    command_file: str | None = None) -> list[str]:
    method = ("restricted maximum likelihood" if results.method == "reml"
              else "full maximum likelihood")
    data = results.data
    sources = ", ".join(os.path.basename(s) for s in data.sources) or "(data in memory)"
    lines = [
        "  SPECIFICATIONS FOR THIS HLM2 RUN",
        "",
        f"  Problem Title: {title or 'no title'}",
        "",
        f"  The data source for this run  = {sources}",
    ]
    if command_file:
        lines.append(f"  The command file for this run = {command_file}")
    lines += [
        f"  The maximum number of level-1 units = {data.n_level1}",
        f"  The maximum number of level-2 units = {data.n_level2}",
        *([] if results.mode == "fixed" else
          [f"  The maximum number of iterations = {results.convergence.max_iterations}"]),
        f"  Method of estimation: {method}",
    ]
    if data.deleted_level1_rows:
        lines.append(f"  Run-time deletion has reduced the number of level-1 records to "
                     f"{data.n_level1} ({data.deleted_level1_rows} deleted)")
    if data.dropped_units:
        lines.append(f"  Level-2 units with no level-1 records left (not analysed): "
                     f"{len(data.dropped_units)}")
    return lines


def _weighting(results: HLMResults) -> list[str]:
    if "weighting" in results.extras or "multiple_imputation" in results.extras:
        from openhlm.report.weighting import weighting_lines  # weights / imputed data sets

        return weighting_lines(results)
    outcome = results.spec.outcome
    return [
        " Weighting Specification",
        " -----------------------",
        "                         Weight",
        "                         Variable",
        "            Weighting?   Name        Normalized?",
        " Level 1        no       ",
        " Level 2        no       ",
        " Precision      no       ",
        "",
        f"  The outcome variable is  {outcome:<8}   ",
    ]


def _fixed_specification(results: HLMResults) -> list[str]:
    from openhlm.spec.printing import centering_marker, centering_notes

    spec = results.spec
    lines = [
        "  The model specified for the fixed effects was:",
        " ----------------------------------------------------",
        "",
        "   Level-1                  Level-2",
        "   Coefficients             Predictors",
        " ----------------------   ---------------",
    ]
    predictor_of = {fe.gamma: fe.predictor for fe in results.fixed.rows}
    for coef in spec.coefficients:
        marker1 = centering_marker(coef.predictor, 1) or " "
        left = f" {marker1}{coef.label:>15}, B{coef.index}"
        level2 = []
        if coef.equation.intercept:
            level2.append(("", "INTRCPT2", f"G{coef.index}0"))
        for s, pred in enumerate(coef.equation.predictors, start=1):
            gamma = f"G{coef.index}{s}"
            level2.append((centering_marker(pred, 2), predictor_of.get(gamma, pred.name), gamma))
        if not level2:
            lines.append(left)
        for i, (marker2, name, gamma) in enumerate(level2):
            prefix = left if i == 0 else " " * len(left)
            lines.append(f"{prefix}{marker2:>3}{name:>11}, {gamma}   ")
    notes = centering_notes(spec)
    if notes:
        lines.append("")
        lines += list(notes)
    if spec.constraints:
        lines += ["", " Constraints on the fixed effects (gammas sharing one estimate):"]
        lines += [f"     {con}" for con in spec.constraints]
    return lines


def _covariance_specification(results: HLMResults) -> list[str]:
    spec = results.spec
    if spec.variance_predictors:
        sigma = ("         Sigma squared (heterogeneous: log-linear in "
                 f"{', '.join(v.upper() for v in spec.variance_predictors)})")
    else:
        sigma = "         Sigma squared (constant across level-2 units)"
    lines = [
        " The model specified for the covariance components was:",
        " ---------------------------------------------------------",
        "",
        sigma,
        "",
        "         Tau dimensions",
    ]
    for coef in spec.random_coefficients:
        lines.append(" " * 15 + coef.label if coef.is_intercept else " " * 14 + f"{coef.label:>15}")
    return lines


def _equations(results: HLMResults) -> list[str]:
    from openhlm.spec.printing import format_hlm_equations, format_mixed

    lines = [
        " Summary of the model specified (in equation format)",
        " ---------------------------------------------------",
        "",
    ]
    lines += format_hlm_equations(results.spec).splitlines()
    mixed = textwrap.wrap(format_mixed(results.spec), width=WIDTH - 8, break_on_hyphens=False)
    lines += ["", "Mixed Model", ""] + ["\t" + (part if i == 0 else "    " + part)
                                       for i, part in enumerate(mixed)]
    return lines


def _ols_heading(label: str, width: int) -> str:
    # HLM 6 centres the variable name in 8 columns after 5 blanks and appends " slope":
    # " Level-2 Unit     intrcpt1      FEMALE slope       SES slope  " (seminar output).
    name = label.removesuffix(" slope")
    return (" " * (5 + max(8 - len(name), 0) // 2) + label).ljust(width)


def _ols(results: HLMResults, n_units: int) -> list[str]:
    table = ols_table(results, n_units)
    if table is None:
        return []
    head = " Level-2 Unit" + "".join(
        _ols_heading(label, 13 if i == 0 else 18) for i, label in enumerate(table.columns[1:]))
    lines = ["Level-1 OLS regressions", " -----------------------", head, " " + "-" * 78]
    for row in table.rows:
        unit, *values = row.cells
        lines.append(numfmt.rjust(unit, 12) + "".join(
            numfmt.rjust(v, 13 if i == 0 else 16) for i, v in enumerate(values)) + "    ")
    if table.notes:
        lines.append("")
        lines += [" " + note for note in table.notes]
    return lines


# -- iterations and variance estimates -------------------------------------------------------

def _iterations(results: HLMResults) -> list[str]:
    return iteration_lines(results)


def _matrix_lines(table: Table, first: int, rest: int, trailing: str) -> list[str]:
    out = []
    for row in table.rows:
        label, *cells = row.cells
        out.append(f"{label:>12}" + "".join(
            numfmt.rjust(c, first if i == 0 else rest) for i, c in enumerate(cells)) + trailing)
    return out


#: extras printed in place of HLM's "Sigma_squared = " line (heterogeneous sigma^2: HLM prints
#: its "RESULTS FOR HETEROGENEOUS SIGMA-SQUARED" block there and no level-1 row in the
#: variance-components table), not with the other extras.
INLINE_EXTRAS = ("heterogeneous_sigma2",)


def _inline_extra(results: HLMResults) -> list[str] | None:
    for key in INLINE_EXTRAS:
        renderer = renderer_for(key).text
        if key in results.extras and renderer is not None:
            return list(renderer(results.extras[key], results))
    return None


def _variance_estimates(results: HLMResults) -> list[str]:
    inline = _inline_extra(results)
    if inline is not None:
        lines = inline + [""]
    else:
        lines = [f" Sigma_squared = {numfmt.rjust(numfmt.estimate(results.sigma2, 5), 12)}", ""]
    has_se = inline is None and not numfmt.is_missing(results.sigma2_se)
    if has_se:
        se = numfmt.rjust(numfmt.estimate(results.sigma2_se, 5), 12)
        lines += [f" Standard Error of Sigma_squared = {se}", "", ""]
    tau = tau_table(results, "tau")
    assert tau is not None
    lines += [" Tau"] + _matrix_lines(tau, 13, 14, " ") + [""]
    se = tau_table(results, "se")
    if se is not None:
        lines += ["", " Standard Errors of Tau"] + _matrix_lines(se, 13, 14, " ") + ["", ""]
    corr = tau_table(results, "corr")
    assert corr is not None
    lines += ["Tau (as correlations)"] + _matrix_lines(corr, 7, 7, "")
    return lines


def _reliability(results: HLMResults) -> list[str]:
    table = reliability_table(results)
    lines = [RELIABILITY_RULE, "  Random level-1 coefficient   Reliability estimate",
             RELIABILITY_RULE]
    for row in table.rows:
        label, code, value = row.cells
        lines.append(f"{label:>10}, {code}" + numfmt.rjust(value, 29))
    lines.append(RELIABILITY_RULE)
    for note in table.notes:
        lines += note.splitlines()
    return lines


def _loglik(results: HLMResults) -> list[str]:
    # HLM prints -deviance/2 in its own deviance convention; in exact mode we print the
    # standard log-likelihood (the one that goes with the standard deviance printed first).
    value = -results.deviance_hlm / 2 if results.mode == "hlm" else results.loglik
    iteration = results.convergence.iterations
    return [f"The value of the log-likelihood function at iteration {iteration} = "
            + numfmt.fortran_e(value)]


# -- fixed effects, variance components, model fit -------------------------------------------

def _fixed(results: HLMResults, robust: bool) -> list[str]:
    table = fixed_effects_table(results, robust)
    title = (["Final estimation of fixed effects", "(with robust standard errors)"] if robust
             else ["Final estimation of fixed effects:"])
    lines = [" " + t for t in title] + [
        FIXED_RULE,
        "                                       Standard             Approx.",
        "    Fixed Effect         Coefficient   Error      T-ratio   d.f.     P-value",
        FIXED_RULE,
    ]
    for row in table.rows:
        if row.kind == "heading":
            label, code = row.cells
            lines.append(f" For{label:>15}, {code}")
            continue
        predictor, gamma, marker, coef, se, t, df, p = row.cells
        lines.append(f"{predictor:>12}, {gamma}" + f"{marker:>4}" + numfmt.rjust(coef, 15)
                     + numfmt.rjust(se, 11) + numfmt.rjust(t, 10) + numfmt.rjust(df, 10)
                     + numfmt.rjust(p, 9))
    lines.append(FIXED_RULE)
    for note in table.notes:
        lines += [" " + note] if note.startswith("The \"*\"") else [""] + _wrap(note)
    return lines


def _variance_components(results: HLMResults) -> list[str]:
    table = variance_components_table(results)
    lines = [
        " Final estimation of variance components:",
        VARIANCE_RULE,
        " Random Effect           Standard      Variance     df    Chi-square  P-value",
        "                         Deviation     Component",
        VARIANCE_RULE,
    ]
    inline = any(key in results.extras for key in INLINE_EXTRAS)
    for row in table.rows:
        label, effect, sd, variance, df, chi2, p = row.cells
        if effect == "R" and inline:   # heterogeneous sigma^2: no single level-1 variance
            continue
        if effect == "R":
            head = "  level-1,".ljust(17) + "R "
        elif label == "INTRCPT1" or label.upper() == "INTRCPT1":
            head = f" {label},".ljust(17) + effect
        else:
            head = f"{label:>15}, {effect}"
        line = head + numfmt.rjust(sd, 15) + numfmt.rjust(variance, 14)
        if df or chi2 or p:
            line += numfmt.rjust(df, 6) + numfmt.rjust(chi2, 14) + numfmt.rjust(p, 9)
        lines.append(line)
    lines.append(VARIANCE_RULE)
    for note in table.notes:
        lines += note.splitlines()
    return lines


def _model_fit(results: HLMResults) -> list[str]:
    table = model_fit_table(results)
    lines = [" Statistics for current covariance components model",
             " --------------------------------------------------"]
    lines += [f" {label:<30} = {value}" for label, value in (r.cells for r in table.rows)]
    return lines


# -- openhlm additions -----------------------------------------------------------------------

def _derived(results: HLMResults) -> list[str]:
    title = " Derived quantities (computed from the estimates above)"
    lines = [title, " " + "-" * (len(title) - 1)]
    if "INTRCPT1" in results.tau_labels:
        spec = results.spec
        null = len(spec.coefficients) == 1 and not spec.coefficients[0].equation.predictors
        t00 = numfmt.estimate(results.tau_frame.loc["INTRCPT1", "INTRCPT1"], 5)
        s2 = numfmt.estimate(results.sigma2, 5)
        lines.append(" Intraclass correlation" if null else
                     " Intraclass correlation, conditional on the model's predictors")
        lines.append(f"   tau00/(tau00 + sigma^2) = {t00}/({t00} + {s2}) = "
                     f"{numfmt.fixed(results.icc(), 5)}")
        lines.append("")
    table = plausible_values_table(results)
    lines.append(f" {table.title} of the random coefficients")
    lines.append("   (mean +/- 1.96*sqrt(tau_qq), with all level-2 predictors at 0)")
    lines.append("   Random coefficient              Mean         SD     Lower     Upper")
    for row in table.rows:
        label, code, mean, sd, lower, upper = row.cells
        lines.append(f"   {label + ', ' + code:<25}" + numfmt.rjust(mean, 12)
                     + numfmt.rjust(sd, 11) + numfmt.rjust(lower, 10) + numfmt.rjust(upper, 10))
    return lines


def _notes(results: HLMResults) -> list[str]:
    if not results.notes:
        return []
    lines = [" Notes", " -----"]
    for i, note in enumerate(results.notes, start=1):
        lines += textwrap.wrap(note, width=WIDTH, initial_indent=f" {i}. ",
                               subsequent_indent=" " * (len(str(i)) + 3))
    return lines


def _extras(results: HLMResults) -> list[list[str]]:
    """One block of lines per entry of ``results.extras`` (registered renderer or generic)."""
    blocks: list[list[str]] = []
    for key, block in results.extras.items():
        if key in INLINE_EXTRAS and renderer_for(key).text is not None:
            continue   # printed with the variance estimates
        renderer = renderer_for(key).text
        if renderer is not None:
            blocks.append(list(renderer(block, results)))
        else:
            blocks.append([f" {key}", " " + "-" * len(key)]
                          + [f" {line}" for line in str(block).splitlines()])
    return blocks


#: The header sections, in the order of the report (between blank lines); the specifications
#: (which take the title and command file) follow the header, and the rest of the report is
#: assembled by :func:`render_text`.
SECTIONS: dict[str, Callable[[HLMResults], list[str]]] = {
    "header": _header,
    "weighting": _weighting,
    "fixed_specification": _fixed_specification,
    "covariance_specification": _covariance_specification,
    "equations": _equations,
}


def _iteration_history(results: HLMResults) -> list[str]:
    history = results.convergence.loglik_history
    if len(history) < 2:
        return []
    lines = [" Iteration history (log-likelihood)"]
    lines += [f"  The value of the log-likelihood function at iteration {i} = "
              f"{numfmt.fortran_e(v)}" for i, v in enumerate(history)]
    return lines


def render_text(results: HLMResults, *, ols_units: int = 10, full: bool = False,
                title: str | None = None, command_file: str | None = None) -> str:
    """HLM2-style text report of ``results``.

    Parameters
    ----------
    results : HLMResults
        A fitted model.
    ols_units : int
        Number of units shown in "Level-1 OLS regressions" (at most as many as the results
        hold; 0 omits the table).
    full : bool
        Also print the iteration history (HLM's "full output").
    title : str, optional
        The "Problem Title" (HLM prints "no title").
    command_file : str, optional
        The HLM command file of the run, printed in the specifications.

    Returns
    -------
    str
        The report, ending with a newline.
    """
    blocks: list[list[str]] = [render(results) for render in SECTIONS.values()]
    blocks.insert(1, _specifications(results, title, command_file))
    blocks.append(_ols(results, ols_units))
    if full:
        blocks.append(_iteration_history(results))
    blocks.append(_iterations(results))
    blocks.append(_variance_estimates(results))
    blocks.append(_reliability(results))
    outcome = results.spec.outcome
    blocks.append(_loglik(results) + [f"The outcome variable is  {outcome}"])
    blocks.append(_fixed(results, robust=False))
    blocks.append([f" The outcome variable is  {outcome}"])
    blocks.append(_fixed(results, robust=True))
    blocks.append(_variance_components(results))
    blocks.append(_model_fit(results))
    blocks += _extras(results)
    blocks.append(_derived(results))
    blocks.append(_notes(results))
    lines: list[str] = []
    for block in blocks:
        if block:
            lines += block + [""]
    return "\n".join(lines).rstrip("\n") + "\n"
