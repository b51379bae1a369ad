"""HLM3's report of a three-level model (text) and its JSON dict.

The text follows HLM 6's HLM3 output: the model equations, sigma^2, tau(pi) and tau(beta) with
their correlations, the reliabilities of the random level-1 and level-2 coefficients, the fixed
effects (model-based and robust SEs), the variance components at level 1-2 and level 3 with
chi-square tests, the deviance and the number of parameters.  The JSON follows the two-level
schema (``docs/json-schema.md``) with ``tau`` holding tau(pi), ``tau_beta`` tau(beta) and
``n_level3``.  Both register with :mod:`openhlm.results.hooks` on import.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from openhlm.errors import EstimationError
from openhlm.report import (
    hypothesis_sections,  # noqa: F401  (registers the test blocks)
    numfmt,
)
from openhlm.report.extras import renderer_for, to_jsonable
from openhlm.report.residual_files import ResidualTable, write_table
from openhlm.results.hooks import set_renderer
from openhlm.results.three_level import HLM3Results
from openhlm.spec.defaults import STOP_MAX_ITERATIONS, STOP_SMALL_CHANGE

__all__ = ["register_renderers3", "render_text3", "results3_to_dict"]

_RULE = " " + "-" * 78


def _num(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else float(x)


def _matrix(m: np.ndarray) -> list[list[float | None]]:
    return [[_num(v) for v in row] for row in np.asarray(m, dtype=float)]


def _p(p: float | None) -> str:
    return "" if p is None else f"{p:6.3f}"


def _tau_block(title: str, tau: np.ndarray, labels: list[str]) -> list[str]:
    if not len(labels):
        return []
    width = max(len(s) for s in labels) + 1
    lines = ["", f" {title}"]
    lines += [f" {lab:>{width}}" + "".join(f"{v:12.5f}" for v in row)
              for lab, row in zip(labels, tau, strict=True)]
    corr = HLM3Results.correlations(tau)
    if len(labels) > 1:
        lines += ["", f" {title} (as correlations)"]
        lines += [f" {lab:>{width}}" + "".join(f"{v:7.3f}" for v in row)
                  for lab, row in zip(labels, corr, strict=True)]
    return lines


def _se_block(title: str, se: np.ndarray, labels: list[str]) -> list[str]:
    if not len(labels) or not np.all(np.isfinite(se)):
        return []
    width = max(len(s) for s in labels) + 1
    return ["", f" {title}", *[f" {lab:>{width}}" + "".join(f"{v:12.5f}" for v in row)
                              for lab, row in zip(labels, se, strict=True)]]


def _reliability(title: str, labels: list[str], values: tuple[float, ...]) -> list[str]:
    if not values:
        return []
    return ["", " " + "-" * 52, f"  {title:<36}Reliability estimate", " " + "-" * 52,
            *[f"  {lab:<36}{v:10.3f}" for lab, v in zip(labels, values, strict=True)],
            " " + "-" * 52]


def _fixed(res: HLM3Results, robust: bool) -> list[str]:
    title = " Final estimation of fixed effects" + (
        "\n (with robust standard errors)" if robust else ":")
    lines = ["", title, _RULE,
             "                                        Standard             Approx.",
             "    Fixed Effect         Coefficient   Error      T-ratio   d.f.     P-value",
             _RULE]
    spec = res.spec
    names = {p.label: p.name for p in spec.pis}
    beta_names = {(p.label, b.label): b.name for p in spec.pis for b in p.betas}
    last_pi = last_beta = None
    for r in res.fixed:      # one row per free gamma (a constrained one under its first)
        if r.pi != last_pi:
            lines.append(f" For {r.pi:>14}, {names.get(r.pi, '')}")
            last_pi, last_beta = r.pi, None
        if r.beta != last_beta:
            lines.append(f"    For {r.beta:>11}, {beta_names.get((r.pi, r.beta), '')}")
            last_beta = r.beta
        se, t, p = (r.robust_se, r.robust_t, r.robust_p) if robust else (r.se, r.t, r.p)
        df = f"{int(r.df):8d}" if float(r.df).is_integer() else f"{r.df:8.2f}"
        lines.append(f"    {r.predictor:>11}, {r.gamma:<5}{r.estimate:13.6f}"
                     f"{se:11.6f}{t:10.3f}{df}{p:11.3f}")
    lines.append(_RULE)
    return lines


def _components(res: HLM3Results, levels: tuple[int, ...], title: str) -> list[str]:
    rows = [c for c in res.variance_components if c.level in levels]
    if not rows:
        return []
    lines = ["", f" {title}", _RULE,
             "  Random Effect           Standard      Variance     df    Chi-square  P-value",
             "                          Deviation     Component", _RULE]
    for c in sorted(rows, key=lambda c: (c.level == 1, c.level)):
        effect = "E" if c.effect == "e" else c.effect
        chi = "" if c.chi2 is None else f"{c.df:7d}{c.chi2:13.5f}   {_p(c.p)}"
        lines.append(f"  {c.label:>17}, {effect:<5}{c.sd:11.5f}{c.variance:14.5f}{chi}")
    lines.append(_RULE)
    return lines


def _hlm_iterations(res: HLM3Results) -> list[str]:
    """HLM mode: HLM's stop line, iteration number and log-likelihood of the last E-step."""
    if res.mode != "hlm":
        return []
    stop = STOP_SMALL_CHANGE if res.converged else STOP_MAX_ITERATIONS
    return ["", f" {stop}", f" ******* ITERATION {res.iterations} *******",
            (f" The value of the log-likelihood function at iteration {res.iterations} = "
             f"{numfmt.fortran_e(-res.deviance / 2.0)}")]


def render_text3(res: HLM3Results, **_: Any) -> str:
    """HLM3's text report of ``res``."""
    ids = res.id_names
    method = "restricted maximum likelihood (REML)" if res.method == "reml" else \
        "full maximum likelihood (ML)"
    lines = [" openhlm: three-level hierarchical linear model (HLM3)", "",
             f" Method of estimation: {method}", f" Mode: {res.mode}",
             f" The outcome variable is {res.spec.outcome.upper()}",
             f" Number of level-1 units = {res.n_level1}",
             f" Number of level-2 units = {res.n_level2}" + (f" ({ids[0]})" if ids[0] else ""),
             f" Number of level-3 units = {res.n_level3}" + (f" ({ids[1]})" if ids[1] else "")]
    if res.deleted_rows:
        lines.append(f" Level-1 records deleted for missing data = {res.deleted_rows}")
    w = res.weighting
    if w is not None:
        lines += ["", " Weighting Specification", " " + "-" * 23,
                  "                Weight Variable",
                  "               Weighting?   Name          Normalized?"]
        for label, name, normal in (("Level 1", w.level1, w.normalization),
                                    ("Level 2", w.level2, w.normalization),
                                    ("Level 3", w.level3, w.normalization),
                                    ("Precision", w.precision, "none")):
            lines.append(f" {label:<13} {'yes' if name else 'no':<12} {name or '':<13} "
                         + (("no" if normal == "none" else f"yes ({normal})") if name else ""))
    lines += _hlm_iterations(res)
    text = str(res.spec).splitlines()
    n1 = 1
    n2 = 1 + len(res.spec.pis)
    n3 = n2 + len(res.spec.betas)
    lines += ["", " Level-1 Model", *[f"     {s}" for s in text[:n1]],
              "", " Level-2 Model", *[f"     {s}" for s in text[n1:n2]],
              "", " Level-3 Model", *[f"     {s}" for s in text[n2:n3]]]
    if text[n3:]:
        lines += ["", " Constraints on the fixed effects", *[f"     {s}" for s in text[n3:]]]
    lines += ["", f" Sigma_squared = {res.sigma2:12.5f}"
                  + (f"   (standard error {res.sigma2_se:.5f})"
                     if math.isfinite(res.sigma2_se) else "")]
    pi_labels = [f"{lab},P{p.index}" for lab, p in zip(res.tau_pi_labels, res.spec.random_pis,
                                                       strict=True)]
    lines += _tau_block("Tau(pi)", res.tau_pi, pi_labels)
    lines += _se_block("Standard errors of tau(pi)", res.tau_pi_se, pi_labels)
    lines += _reliability("Random level-1 coefficient", pi_labels, res.reliability_level2)
    beta_labels = [f"{lab},B{b.p}{b.q}" for lab, b in zip(res.tau_beta_labels,
                                                          res.spec.random_betas, strict=True)]
    lines += _tau_block("Tau(beta)", res.tau_beta, beta_labels)
    lines += _se_block("Standard errors of tau(beta)", res.tau_beta_se, beta_labels)
    lines += _reliability("Random level-2 coefficient", beta_labels, res.reliability_level3)
    lines += _fixed(res, robust=False)
    lines += _fixed(res, robust=True)
    lines += _components(res, (1, 2), "Final estimation of level-1 and level-2 variance "
                                      "components:")
    lines += _components(res, (3,), "Final estimation of level-3 variance components:")
    lines += ["", " Statistics for current covariance components model", " " + "-" * 50,
              f" Deviance                       = {res.deviance:.6f}",
              f" Number of estimated parameters = {res.n_parameters}"]
    if not res.converged:
        lines.append(" WARNING: the iterations stopped before convergence" if res.mode == "hlm"
                     else " WARNING: the optimiser did not report convergence")
    if res.notes:
        lines += ["", *[f" Note: {n}" for n in res.notes]]
    for key, block in res.extras.items():
        render_block = renderer_for(key).text
        if render_block is not None:
            lines += ["", *render_block(block, res)]
    return "\n".join(lines) + "\n"


def results3_to_dict(res: HLM3Results) -> dict[str, Any]:
    """``res`` as JSON data: the two-level schema plus ``tau_beta`` and ``n_level3``; the
    optional blocks of ``res.extras`` (tests) under their keys, as for two-level models."""
    from openhlm._version import __version__

    out = {
        "schema_version": 1, "openhlm_version": __version__, "levels": 3,
        "method": res.method, "mode": res.mode, "converged": bool(res.converged),
        "iterations": int(res.iterations), "n_level1": res.n_level1,
        "n_level2": res.n_level2, "n_level3": res.n_level3, "outcome": res.spec.outcome,
        "equations": str(res.spec), "sigma2": _num(res.sigma2),
        "sigma2_se": _num(res.sigma2_se),
        "tau": {"labels": list(res.tau_pi_labels), "matrix": _matrix(res.tau_pi),
                "se": _matrix(res.tau_pi_se),
                "correlations": _matrix(HLM3Results.correlations(res.tau_pi))},
        "tau_beta": {"labels": list(res.tau_beta_labels), "matrix": _matrix(res.tau_beta),
                     "se": _matrix(res.tau_beta_se),
                     "correlations": _matrix(HLM3Results.correlations(res.tau_beta))},
        "reliability": {lab: _num(v) for lab, v in zip(res.tau_pi_labels,
                                                       res.reliability_level2, strict=True)},
        "reliability_level3": {lab: _num(v) for lab, v in zip(
            res.tau_beta_labels, res.reliability_level3, strict=True)},
        "fixed_effects": [{k: (_num(v) if isinstance(v, float) else v)
                           for k, v in r.__dict__.items()} for r in res.fixed],
        "variance_components": [{k: (_num(v) if isinstance(v, float) else v)
                                 for k, v in c.__dict__.items()}
                                for c in res.variance_components],
        "deviance": _num(res.deviance), "deviance_hlm": _num(res.deviance_hlm),
        "n_parameters": int(res.n_parameters),
        "constraints": [str(c) for c in res.spec.constraints],
        "weighting": None if res.weighting is None else {
            "level1": res.weighting.level1, "level2": res.weighting.level2,
            "level3": res.weighting.level3, "precision": res.weighting.precision,
            "normalization": res.weighting.normalization},
        "notes": list(res.notes),
    }
    for key, block in res.extras.items():
        if key in out:
            raise ValueError(f"results.extras key {key!r} clashes with a standard JSON key")
        convert = renderer_for(key).json
        out[key] = convert(block, res) if convert is not None else to_jsonable(block)
    return out


def write_residuals3(res: HLM3Results, level2: Any = None, level3: Any = None,
                     format: str | None = None, level1: Any = None, *, extra_level1: Any = (),
                     extra_level2: Any = (), extra_level3: Any = ()) -> dict[str, Any]:
    """Write the level-1, level-2 and level-3 residual files of a three-level model."""
    if "multiple_imputation" in res.extras:
        raise EstimationError("results pooled over imputed data sets have no residual files: "
                              "write those of each fit, results.extras['multiple_imputation']"
                              ".fits[m].write_residuals(...)")
    written = {}
    for key, path, frame, level, extra in (
            ("level1", level1, res.level1_residuals, 1, extra_level1),
            ("level2", level2, res.level2_residuals, 2, extra_level2),
            ("level3", level3, res.level3_residuals, 3, extra_level3)):
        if path is None:
            continue
        data = frame(extra)
        labels = {c: _label3(c, res, level) for c in data.columns}
        written[key] = write_table(ResidualTable(data, labels, level), path, format)
    return written


def _label3(column: str, res: HLM3Results, level: int) -> str:
    fixed = {"L2ID": "level-2 unit ID", "L3ID": "level-3 unit ID",
             "NJ": "level-1 records in the level-2 unit",
             "NK": "level-2 units in the level-3 unit",
             "FITVAL": "Fitted value with EB coefficients",
             "L1RESID": "Level-1 residual: outcome - FITVAL",
             "SIGMA": "Level-1 residual SD, sqrt(sigma^2)"}
    fixed.update({"CHIPCT": "Chi-square quantile of MDIST's rank",
                  "MDIST": "Mahalanobis distance of EB residuals",
                  "LNTOTVAR": "ln total SD of the outcome in the unit",
                  "OLSRSVAR": "ln residual SD of the unit OLS fit",
                  "MDRSVAR": "ln residual SD of the fitted model (EB)"})
    if column in fixed:
        return fixed[column]
    if column.startswith("OLR"):
        return f"OLS residual of r {column[3:]}"
    if column.startswith("OLU"):
        return f"GLS (given level 2) residual of u {column[3:]}"
    if column in res.level1_data.columns:
        return "outcome" if column == res.spec.outcome else "level-1 predictor (raw)"
    if column.startswith("PVC"):
        return f"Posterior var/cov of EB coefficients {column[3:]}"
    if column.startswith("PV"):
        which = "REML" if res.method == "reml" else "ML"
        what = "r" if level == 2 else "u"
        return f"Posterior var/cov of {what} {column[2:]} ({which})"
    kind = {"EBR": "EB estimate of r", "FVB": "fixed part of beta", "EBU": "EB estimate of u",
            "ECB": "EB coefficient beta"}
    if column[:3] in kind:
        return f"{kind[column[:3]]} {column[3:]}"
    return f"{column} (variable)"


def register_renderers3() -> None:
    """Register the text, dict and residual-file renderers of :class:`HLM3Results` (keeps
    the user's)."""
    set_renderer("text", HLM3Results, render_text3, replace=False)
    set_renderer("dict", HLM3Results, results3_to_dict, replace=False)
    set_renderer("write_residuals", HLM3Results, write_residuals3, replace=False)
    from openhlm.report.html3 import render_html3

    set_renderer("html", HLM3Results, render_html3, replace=False)


register_renderers3()
