"""The HGLM report (binary, binomial and count outcomes) as HLM 6 lays it out, and its JSON.

Formatting only: every number comes from :class:`openhlm.results.glmm.GLMMResults`.  The
level-1 model is printed as HLM prints it (``Prob(Y=1|B) = P``, ``log[P/(1-P)] = B0 +
B1*(X)``; ``E(Y|B) = M*L``, ``log[L] = ...`` for counts), there is no ``R`` / sigma^2 row
unless over-dispersion was requested, and the fixed-effects tables carry exp(gamma) with its
95% interval (odds ratios for the logit link, event-rate ratios for the log link).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from openhlm.report import numfmt
from openhlm.report.extras import renderer_for, to_jsonable
from openhlm.report.glmm_equations import METHOD_LABEL, level1_model_lines, level2_model_lines
from openhlm.report.html_glmm import glmm_html_report
from openhlm.report.weighting import pooled_header_lines, weighting_json
from openhlm.results.glmm import GLMM_JSON_SCHEMA_VERSION, GLMMResults
from openhlm.results.hlm import JSON_SCHEMA_VERSION

__all__ = ["estimation_method_line", "glmm_html", "glmm_text", "glmm_to_dict",
           "iteration_lines", "level1_model_lines"]

RULE = " " + "-" * 76
FIXED_RULE = " " + "-" * 77


def _weighting_lines(results: GLMMResults) -> list[str]:
    w = results.weighting
    if w is None or not w.design_weighted:
        return []
    lines = []
    if w.level1 is not None:
        lines.append(f" Level-1 weight: {w.level1} (normalised: {w.normalized('level1')}); "
                     "each record's density raised to its weight")
    if w.level2 is not None:
        how = ("each unit's contribution to the linearised model is multiplied by w_j"
               if results.method == "pql" else "pseudo-likelihood sum_j w_j log L_j")
        lines.append(f" Level-2 weight: {w.level2} (normalised: {w.normalized('level2')}); "
                     f"{how}")
    return lines


def estimation_method_line(results: GLMMResults) -> str | None:
    """HLM's "Method of estimation" line of a PQL fit: restricted PQL (the linearised model
    by REML, HLM2's default) or full PQL (by full ML)."""
    if results.method != "pql":
        return None
    kind = "restricted PQL" if results.pql_likelihood == "reml" else "full PQL"
    return f" Method of estimation: {kind}"


def iteration_lines(results: GLMMResults) -> list[str]:
    """The macro / micro iteration counts (PQL) or the optimiser's iterations."""
    if results.method != "pql":
        return [f" Optimiser iterations: {results.iterations}"]
    lik = "REML" if results.pql_likelihood == "reml" else "full ML"
    if results.mode != "hlm":
        return [(f" Macro iterations: {results.iterations}; micro iterations: "
                f"{results.micro_iterations} (linearised model by {lik}, optimised exactly "
                "in each macro iteration)")]
    lines = [f" Macro iteration {k}: {m} micro iterations"
             for k, m in enumerate(results.micro_history, start=1)]
    return lines + [(f" {results.message.split(':')[0]}: macro iteration "
                    f"{results.iterations}, {results.micro_iterations} micro iterations in "
                    f"all (HLM's EM on the linearised model by {lik})")]


def _method_line(results: GLMMResults) -> str:
    link = "Logit" if results.link == "logit" else "Log"
    return f" Results for Non-linear Model with the {link} Link Function:"


def _fixed(results: GLMMResults, robust: bool, population_average: bool = False
           ) -> list[str]:
    model = "Population-average" if population_average else "Unit-specific"
    head = (f" Final estimation of fixed effects\n ({model} model with robust standard "
            "errors)" if robust else f" Final estimation of fixed effects:\n ({model} "
            "model)")
    rows = (results.fixed_effects_population_average if population_average
            else results.fixed_effects) or ()
    lines = head.splitlines() + [
        FIXED_RULE,
        "                                       Standard             Approx.",
        "    Fixed Effect         Coefficient   Error      T-ratio   d.f.     P-value",
        FIXED_RULE]
    current = None
    for r in rows:
        if r.coefficient != current:
            current = r.coefficient
            lines.append(f" For{r.coefficient:>15}, B{r.coefficient_index}")
        se, t, p = (r.robust_se, r.robust_t, r.robust_p) if robust else (r.se, r.t, r.p)
        marker = "*" if r.constrained else ""
        lines.append(f"{r.predictor.upper()[:12]:>12}, {r.gamma}{marker:>4}"
                     + numfmt.rjust(numfmt.fixed(r.estimate, 6), 15)
                     + numfmt.rjust(numfmt.fixed(se, 6), 11)
                     + numfmt.rjust(numfmt.fixed(t, 3), 10)
                     + numfmt.rjust(numfmt.integer(r.df), 10)
                     + numfmt.rjust(numfmt.p_value(p), 9))
    lines.append(FIXED_RULE)
    ratio = "Odds Ratio" if results.link == "logit" else "Event Rate Ratio"
    lines += [FIXED_RULE,
              f"    Fixed Effect         Coefficient   {ratio:<18} Confidence Interval",
              FIXED_RULE]
    current = None
    for r in rows:
        if r.coefficient != current:
            current = r.coefficient
            lines.append(f" For{r.coefficient:>15}, B{r.coefficient_index}")
        lo, hi = (r.robust_ci_low, r.robust_ci_high) if robust else (r.ci_low, r.ci_high)
        lines.append(f"{r.predictor.upper()[:12]:>12}, {r.gamma}    "
                     + numfmt.rjust(numfmt.fixed(r.estimate, 6), 15)
                     + numfmt.rjust(numfmt.fixed(r.ratio, 6), 13)
                     + f"   ({numfmt.fixed(lo, 3)},{numfmt.fixed(hi, 3)})")
    lines.append(FIXED_RULE)
    return lines


def _tau(results: GLMMResults) -> list[str]:
    lines = [" Tau"]
    heads = [f" {label[:8]:<8},{c.effect.replace('U', 'B')}"
             for label, c in zip(results.tau_labels, results.variance_components)]
    for head, row in zip(heads, results.tau):
        lines.append(f"{head:<12}" + "".join(numfmt.rjust(numfmt.fixed(v, 5), 11)
                                            for v in row))
    if len(results.tau_labels) > 1:
        lines += ["", " Tau (as correlations)"]
        for head, row in zip(heads, results.tau_correlation):
            lines.append(f"{head:<12}" + "".join(numfmt.rjust(numfmt.fixed(v, 3), 7)
                                                for v in row))
    lines += ["", " " + "-" * 52, "  Random level-1 coefficient   Reliability estimate",
              " " + "-" * 52]
    for r, c in enumerate(results.variance_components):
        label = f"{c.coefficient.replace(' slope', '')}, B{c.effect[1:]}"
        lines.append(f"  {label:<28}" + numfmt.rjust(numfmt.fixed(results.reliability[r], 3),
                                                     10))
    lines.append(" " + "-" * 52)
    return lines


def _variance(results: GLMMResults) -> list[str]:
    lines = [" Final estimation of variance components:", RULE,
             " Random Effect           Standard      Variance     df    Chi-square  P-value",
             "                         Deviation     Component", RULE]
    for c in results.variance_components:
        if c.coefficient == "INTRCPT1":
            head = f" {c.coefficient},".ljust(17) + c.effect
        else:
            head = f"{c.coefficient[:15]:>15}, {c.effect}"
        line = head + numfmt.rjust(numfmt.fixed(c.sd, 5), 15) + numfmt.rjust(
            numfmt.fixed(c.variance, 5), 14)
        if c.chi2 is not None:
            line += (numfmt.rjust(numfmt.integer(c.df), 6)
                     + numfmt.rjust(numfmt.fixed(c.chi2, 5), 14)
                     + numfmt.rjust(numfmt.chi2_p_value(c.p), 9))
        lines.append(line)
    if results.overdispersion is not None:
        s2 = results.overdispersion
        lines.append("  level-1,".ljust(17) + "R " + numfmt.rjust(numfmt.fixed(np.sqrt(s2), 5),
                                                                 15)
                     + numfmt.rjust(numfmt.fixed(s2, 5), 14))
    lines.append(RULE)
    return lines


def glmm_text(results: GLMMResults, **_: Any) -> str:
    """The HGLM report as text."""
    dist = {"bernoulli": "Bernoulli", "binomial": "Binomial", "poisson": "Poisson"}[
        results.distribution]
    est = METHOD_LABEL[results.method]
    if results.method == "agq":
        est += f" ({results.quadrature_points} points per random effect)"
    lines = [" Program:               openhlm (HGLM)",
             f" The outcome variable is {results.outcome.upper()}",
             f" Level-1 sampling model: {dist}"
             + (f" (number of trials: {results.trials})" if results.trials else "")
             + (f" (exposure: {results.exposure})" if results.exposure else ""),
             f" Number of level-1 units = {results.n_level1}",
             f" Number of level-2 units = {results.n_level2}"] + _weighting_lines(results)
    if "multiple_imputation" in results.extras:
        lines += [""] + pooled_header_lines(results)
    method_line = estimation_method_line(results)
    if method_line is not None:
        lines.append(method_line)
    lines += ["",
             " Summary of the model specified (in equation format)",
             " ---------------------------------------------------", "",
             "Level-1 Model", ""] + level1_model_lines(results) + ["", "Level-2 Model"] \
        + level2_model_lines(results)
    if results.overdispersion is not None:
        lines += ["", " Level-1 variance = sigma^2 * V(Y|B) (over-dispersion)"]
    lines += ["", _method_line(results),
              f" Unit-Specific Model, {est}"
              + (f" (macro iteration {results.iterations})" if results.method == "pql" else ""),
              ""]
    lines += _tau(results) + [""]
    if results.deviance is not None:
        lines += [f" Deviance = {numfmt.fixed(results.deviance, 6)}",
                  f" Number of estimated parameters = {results.n_parameters}", ""]
    else:
        lines += [(" (PQL estimation: no deviance; the quasi-likelihood is not comparable "
                  "between models)"), ""]
    lines += _fixed(results, robust=False) + [""] + _fixed(results, robust=True) + [""]
    lines += _variance(results)
    if results.fixed_effects_population_average is not None:
        lines += ["", (" Results for Population-average Model (generalised estimating "
                  "equations, working covariance from the unit-specific T)"), ""]
        lines += (_fixed(results, robust=False, population_average=True) + [""]
                  + _fixed(results, robust=True, population_average=True))
    lines += [""] + iteration_lines(results)
    for note in results.notes:
        lines += ["", " " + note]
    for block in results.tests.values():
        lines += [""] + str(block).splitlines()
    for key, block in results.extras.items():       # e.g. the multiple-imputation table
        text = renderer_for(key).text
        lines += [""] + (list(text(block, results)) if text is not None
                         else str(block).splitlines())
    return "\n".join(lines) + "\n"


def _num(v: Any) -> Any:
    if v is None:
        return None
    v = float(v)
    return v if np.isfinite(v) else None


def _equations(results: GLMMResults) -> str:
    """The model in equation format, without the level-1 R (HGLMs have none)."""
    first, _, rest = str(results.spec).partition("\n")
    first = first.removesuffix(" + R")
    return first + ("\n" + rest if rest else "")


def _rows(rows: Any) -> list[dict[str, Any]]:
    return [{k: (_num(v) if isinstance(v, (float, np.floating)) else v)
             for k, v in r.__dict__.items()} for r in rows]


def glmm_to_dict(results: GLMMResults) -> dict[str, Any]:
    """The JSON form: the linear model's keys (``docs/json-schema.md``, ``schema_version``)
    with their HGLM meaning, plus the HGLM keys (``hglm_schema_version``
    :data:`GLMM_JSON_SCHEMA_VERSION`)."""
    from openhlm._version import __version__

    corr = results.tau_correlation
    return {
        "schema_version": JSON_SCHEMA_VERSION,
        "hglm_schema_version": GLMM_JSON_SCHEMA_VERSION,
        "openhlm_version": __version__,
        "method": results.method,
        "mode": results.mode,
        "converged": bool(results.converged),
        "iterations": int(results.iterations),
        "n_level1": results.n_level1,
        "n_level2": results.n_level2,
        "outcome": results.outcome,
        "equations": _equations(results),
        "sigma2": None,
        "sigma2_se": None,
        "tau": {"labels": list(results.tau_labels),
                "matrix": [[_num(v) for v in row] for row in results.tau],
                "se": None,
                "correlations": [[_num(v) for v in row] for row in corr]},
        "reliability": {label: _num(v) for label, v in zip(results.tau_labels,
                                                           results.reliability)},
        "fixed_effects": _rows(results.fixed_effects),
        "variance_components": _rows(results.variance_components),
        "deviance": _num(results.deviance),
        "deviance_hlm": None,
        "n_parameters": results.n_parameters,
        "units_used_for_chi2": results.chi2_units,
        "notes": list(results.notes),
        # HGLM keys
        "distribution": results.distribution,
        "link": results.link,
        "trials": results.trials,
        "exposure": results.exposure,
        "quadrature_points": results.quadrature_points,
        "pql_likelihood": results.pql_likelihood,
        "overdispersion": _num(results.overdispersion),
        "fixed_effects_population_average": None
        if results.fixed_effects_population_average is None
        else _rows(results.fixed_effects_population_average),
        "micro_iterations": int(results.micro_iterations),
        "micro_iterations_by_macro": [int(m) for m in results.micro_history] or None,
        "deleted_rows": results.deleted_rows,
        "message": results.message,
        "weighting": None if results.weighting is None
        else weighting_json(results.weighting, results),
        **{key: (renderer_for(key).json or (lambda b, r: to_jsonable(b)))(block, results)
           for key, block in results.extras.items()},
    }


def glmm_html(results: GLMMResults, **_: Any) -> str:
    """An HTML fragment laid out like the linear model's
    (:func:`openhlm.report.html_glmm.glmm_html_report`)."""
    return glmm_html_report(results)
