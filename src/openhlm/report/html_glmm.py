"""The HGLM report as an HTML fragment laid out like the linear model's
(:mod:`openhlm.report.html`): the equations, then ``<table>``s for the fixed effects (with
odds / event-rate ratios and their intervals), tau, the reliabilities, the variance
components, the population-average model (PQL) and the model fit.

Formatting only: the cells are formatted by :mod:`openhlm.report.numfmt` with the same
decimals as the text report (:mod:`openhlm.report.text_glmm`).
"""

from __future__ import annotations

import numpy as np

from openhlm.report import numfmt
from openhlm.report.glmm_equations import METHOD_LABEL, level1_model_lines, level2_model_lines
from openhlm.report.html import STYLE, escape_html, html_extras, html_table
from openhlm.results.glmm import GLMMFixedEffect, GLMMResults

__all__ = ["glmm_html_report"]

_DISTRIBUTION = {"bernoulli": "Bernoulli", "binomial": "binomial", "poisson": "Poisson"}


_e = escape_html


def _table(caption: str, header: tuple[str, ...], rows: list[tuple[str, ...] | str],
           notes: tuple[str, ...] = ()) -> str:
    return html_table(caption, header, rows, notes)


def _fixed(results: GLMMResults, rows: tuple[GLMMFixedEffect, ...], robust: bool,
           model: str) -> str:
    ratio = "Odds ratio" if results.link == "logit" else "Event rate ratio"
    header = ("Fixed effect", "Coefficient", "Standard error", "t-ratio", "Approx. d.f.",
              "p-value", ratio, "95% confidence interval")
    body: list[tuple[str, ...] | str] = []
    current = None
    for r in rows:
        if r.coefficient != current:
            current = r.coefficient
            body.append(f"For {r.coefficient}, B{r.coefficient_index}")
        se, t, p = (r.robust_se, r.robust_t, r.robust_p) if robust else (r.se, r.t, r.p)
        lo, hi = (r.robust_ci_low, r.robust_ci_high) if robust else (r.ci_low, r.ci_high)
        body.append((f"{r.predictor.upper()}, {r.gamma}{' *' if r.constrained else ''}",
                     numfmt.fixed(r.estimate, 6), numfmt.fixed(se, 6), numfmt.fixed(t, 3),
                     numfmt.integer(r.df), numfmt.p_value(p), numfmt.fixed(r.ratio, 6),
                     f"({numfmt.fixed(lo, 3)}, {numfmt.fixed(hi, 3)})"))
    which = "robust standard errors" if robust else "model-based standard errors"
    notes = ("* constrained: equal to another gamma",) if any(r.constrained for r in rows) else ()
    return _table(f"Final estimation of fixed effects ({model} model, {which})", header, body,
                  notes)


def _tau(results: GLMMResults) -> str:
    labels = [f"{label}, B{c.effect[1:]}" for label, c in
              zip(results.tau_labels, results.variance_components)]
    parts = [_table("Tau", ("", *labels),
                    [(lab, *(numfmt.fixed(v, 5) for v in row))
                     for lab, row in zip(labels, results.tau)])]
    if len(labels) > 1:
        parts.append(_table("Tau (as correlations)", ("", *labels),
                            [(lab, *(numfmt.fixed(v, 3) for v in row))
                             for lab, row in zip(labels, results.tau_correlation)]))
    parts.append(_table("Reliability estimates", ("Random level-1 coefficient", "Reliability"),
                        [(lab, numfmt.fixed(rel, 3))
                         for lab, rel in zip(labels, results.reliability)]))
    return "\n".join(parts)


def _variance(results: GLMMResults) -> str:
    rows: list[tuple[str, ...] | str] = []
    for c in results.variance_components:
        rows.append((f"{c.coefficient}, {c.effect}", numfmt.fixed(c.sd, 5),
                     numfmt.fixed(c.variance, 5), numfmt.integer(c.df) if c.df else "",
                     numfmt.fixed(c.chi2, 5) if c.chi2 is not None else "",
                     numfmt.chi2_p_value(c.p) if c.p is not None else ""))
    if results.overdispersion is not None:
        s2 = results.overdispersion
        rows.append(("level-1, R (over-dispersion)", numfmt.fixed(float(np.sqrt(s2)), 5),
                     numfmt.fixed(s2, 5), "", "", ""))
    return _table("Final estimation of variance components",
                  ("Random effect", "Standard deviation", "Variance component", "d.f.",
                   "Chi-square", "p-value"), rows)


def _fit(results: GLMMResults) -> str:
    if results.deviance is None:
        return ('<p class="note">PQL estimation: no deviance (the quasi-likelihood is not '
                "comparable between models).</p>")
    return _table("Model fit", ("Statistic", "Value"),
                  [("Deviance (-2 log L)", numfmt.fixed(results.deviance, 6)),
                   ("Number of estimated parameters", str(results.n_parameters))])


def glmm_html_report(results: GLMMResults) -> str:
    """An HTML fragment with the HGLM report's tables (for Jupyter and ``--html``)."""
    from openhlm._version import __version__

    method = METHOD_LABEL[results.method]
    if results.method == "agq":
        method += f", {results.quadrature_points} points per random effect"
    status = "converged" if results.converged else "did not converge"
    extra = "".join(f", {what} <code>{_e(v)}</code>" for what, v in
                    (("trials", results.trials), ("exposure", results.exposure)) if v)
    head = (f"<p><b>openhlm {_e(__version__)}</b>: two-level HGLM, outcome "
            f"<code>{_e(results.outcome)}</code>, {_DISTRIBUTION[results.distribution]} "
            f"sampling model with a {results.link} link{extra}; {_e(method)} ({status}); "
            f"{results.n_level1} level-1 and {results.n_level2} level-2 units.</p>")
    level2 = level2_model_lines(results)
    equations = ("<pre>Level-1 Model\n" + _e("\n".join(level1_model_lines(results)))
                 + "\n\nLevel-2 Model\n" + _e("\n".join(level2)) + "</pre>")
    parts = [STYLE, '<div class="openhlm-report openhlm-hglm">', head, equations]
    w = results.weighting
    for level in ("level1", "level2"):
        if w is not None and getattr(w, level) is not None:
            parts.append(f"<p>Level-{level[-1]} weight <code>{_e(getattr(w, level))}</code> "
                         f"(normalised: {_e(w.normalized(level))}).</p>")
    parts += [_fixed(results, results.fixed_effects, False, "unit-specific"),
              _fixed(results, results.fixed_effects, True, "unit-specific"),
              _tau(results), _variance(results)]
    if results.fixed_effects_population_average is not None:
        pa = results.fixed_effects_population_average
        parts += [_fixed(results, pa, False, "population-average"),
                  _fixed(results, pa, True, "population-average")]
    parts.append(_fit(results))
    if results.method == "pql":
        parts.append(f"<p>Macro iterations: {results.iterations}; micro iterations: "
                     f"{results.micro_iterations} (linearised model by "
                     f"{'REML' if results.pql_likelihood == 'reml' else 'full ML'}).</p>")
    else:
        parts.append(f"<p>Optimiser iterations: {results.iterations}.</p>")
    for block in results.tests.values():
        parts.append(f"<pre>{_e(str(block))}</pre>")
    parts += html_extras(results)       # e.g. the multiple-imputation table
    parts += [f'<p class="note">{_e(note)}</p>' for note in results.notes]
    parts.append("</div>")
    return "\n".join(parts)
