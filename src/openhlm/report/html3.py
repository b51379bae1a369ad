"""The HTML report of a three-level model (``HLM3Results._repr_html_``, ``openhlm fit --html``).

The same numbers and labels as HLM3's text report (:mod:`openhlm.report.text3`) laid out as
``<table>`` elements with the two-level report's style (:mod:`openhlm.report.html`): the model,
sigma^2, tau(pi) and tau(beta) (with SEs and correlations), the reliabilities of the random
level-1 and level-2 coefficients, the fixed effects (model-based and robust SEs), the variance
components at levels 1-2 and 3 with their chi-square tests, the deviance and the test blocks.
"""

from __future__ import annotations

import numpy as np

from openhlm.report.html import STYLE, escape_html, html_extras, html_table
from openhlm.results.three_level import HLM3Results

__all__ = ["render_html3"]


_e = escape_html


def _fmt(x: float | None, digits: int) -> str:
    return "" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def _table(title: str, header: list[str], rows: list[list[str] | str],
           label_columns: int = 1) -> str:
    """``rows``: lists of cells, or a string for a heading row spanning the table."""
    return html_table(title, header, rows, label_columns=label_columns)


def _matrix(title: str, m: np.ndarray, labels: list[str], digits: int) -> str:
    if not labels or not np.all(np.isfinite(np.asarray(m, dtype=float))):
        return ""
    return _table(title, ["", *labels],
                  [[lab, *(_fmt(v, digits) for v in row)]
                   for lab, row in zip(labels, np.asarray(m, dtype=float), strict=True)])


def _fixed(res: HLM3Results, robust: bool) -> str:
    title = ("Final estimation of fixed effects (with robust standard errors)" if robust
             else "Final estimation of fixed effects")
    rows: list[list[str] | str] = []
    names = {p.label: p.name for p in res.spec.pis}
    beta_names = {(p.label, b.label): b.name for p in res.spec.pis for b in p.betas}
    last = None
    for r in res.fixed:      # one row per free gamma (a constrained one under its first)
        if (r.pi, r.beta) != last:
            rows.append(f"For {r.pi}, {names.get(r.pi, '')}; for {r.beta}, "
                        f"{beta_names.get((r.pi, r.beta), '')}")
            last = (r.pi, r.beta)
        se, t, p = (r.robust_se, r.robust_t, r.robust_p) if robust else (r.se, r.t, r.p)
        df = str(int(r.df)) if float(r.df).is_integer() else f"{r.df:.2f}"
        rows.append([f"{r.predictor}, {r.gamma}", _fmt(r.estimate, 6), _fmt(se, 6),
                     _fmt(t, 3), df, _fmt(p, 3)])
    return _table(title, ["Fixed effect", "Coefficient", "Standard error", "t-ratio",
                          "Approx. d.f.", "p-value"], rows)


def _components(res: HLM3Results, levels: tuple[int, ...], title: str) -> str:
    comps = sorted((c for c in res.variance_components if c.level in levels),
                   key=lambda c: (c.level == 1, c.level))
    if not comps:
        return ""
    rows: list[list[str] | str] = []
    for c in comps:
        effect = "E" if c.effect == "e" else c.effect
        rows.append([f"{c.label}, {effect}", _fmt(c.sd, 5), _fmt(c.variance, 5),
                     "" if c.df is None else str(c.df), _fmt(c.chi2, 5), _fmt(c.p, 3)])
    return _table(title, ["Random effect", "Standard deviation", "Variance component", "d.f.",
                          "chi-square", "p-value"], rows)


def _reliability(title: str, labels: list[str], values: tuple[float, ...]) -> str:
    if not values:
        return ""
    return _table(title, ["Random coefficient", "Reliability estimate"],
                  [[lab, _fmt(v, 3)] for lab, v in zip(labels, values, strict=True)])


def render_html3(res: HLM3Results) -> str:
    """An HTML fragment with HLM3's tables for ``res``: ``<div class="openhlm-report">``
    with an embedded ``<style>``."""
    from openhlm._version import __version__

    method = ("restricted maximum likelihood" if res.method == "reml"
              else "full maximum likelihood")
    ids = res.id_names
    status = "converged" if res.converged else "did not converge"
    head = (f"<p><b>openhlm {_e(__version__)}</b>: three-level HLM (HLM3), outcome "
            f"<code>{_e(res.spec.outcome)}</code>; {_e(method)} ({_e(res.mode)} mode, "
            f"{_e(status)}); {res.n_level1} level-1, {res.n_level2} level-2"
            + (f" ({_e(ids[0])})" if ids[0] else "") + f" and {res.n_level3} level-3 units"
            + (f" ({_e(ids[1])})" if ids[1] else "") + ".</p>")
    if res.deleted_rows:
        head += f"<p>Level-1 records deleted for missing data: {res.deleted_rows}</p>"
    text = str(res.spec).splitlines()
    n2 = 1 + len(res.spec.pis)
    n3 = n2 + len(res.spec.betas)
    equations = ("<pre>Level-1 Model\n    " + _e(text[0]) + "\n\nLevel-2 Model\n"
                 + "".join(f"    {_e(s)}\n" for s in text[1:n2]) + "\nLevel-3 Model\n"
                 + "".join(f"    {_e(s)}\n" for s in text[n2:n3])
                 + ("\nConstraints on the fixed effects\n" if text[n3:] else "")
                 + "".join(f"    {_e(s)}\n" for s in text[n3:]) + "</pre>")
    sigma = f"sigma^2 = {_fmt(res.sigma2, 5)}"
    if np.isfinite(res.sigma2_se):
        sigma += f" (standard error {_fmt(res.sigma2_se, 5)})"
    pi_labels = [f"{lab},P{p.index}" for lab, p in zip(res.tau_pi_labels, res.spec.random_pis,
                                                       strict=True)]
    beta_labels = [f"{lab},B{b.p}{b.q}" for lab, b in zip(res.tau_beta_labels,
                                                          res.spec.random_betas, strict=True)]
    corr = "" if len(pi_labels) < 2 else _matrix(
        "Tau(pi) (as correlations)", HLM3Results.correlations(res.tau_pi), pi_labels, 3)
    corr_b = "" if len(beta_labels) < 2 else _matrix(
        "Tau(beta) (as correlations)", HLM3Results.correlations(res.tau_beta), beta_labels, 3)
    fit = _table("Statistics for current covariance components model", ["", "Value"],
                 [["Deviance", _fmt(res.deviance, 6)],
                  ["Number of estimated parameters", str(res.n_parameters)]])
    parts = [
        STYLE, '<div class="openhlm-report">', head, equations, f"<p>{_e(sigma)}</p>",
        _matrix("Tau(pi)", res.tau_pi, pi_labels, 5),
        _matrix("Standard errors of tau(pi)", res.tau_pi_se, pi_labels, 5), corr,
        _reliability("Reliability of the random level-1 coefficients", pi_labels,
                     res.reliability_level2),
        _matrix("Tau(beta)", res.tau_beta, beta_labels, 5),
        _matrix("Standard errors of tau(beta)", res.tau_beta_se, beta_labels, 5), corr_b,
        _reliability("Reliability of the random level-2 coefficients", beta_labels,
                     res.reliability_level3),
        _fixed(res, robust=False), _fixed(res, robust=True),
        _components(res, (1, 2), "Final estimation of level-1 and level-2 variance components"),
        _components(res, (3,), "Final estimation of level-3 variance components"),
        fit, *html_extras(res),
    ]
    if not res.converged:
        parts.append('<p class="note">WARNING: the optimiser did not report convergence</p>')
    parts += [f'<p class="note">{_e(n)}</p>' for n in res.notes]
    parts.append("</div>")
    return "\n".join(p for p in parts if p)
