"""Report blocks for weighted fits and for results pooled over imputed data sets.

* ``results.extras["weighting"]`` (:class:`openhlm.estimation.weighting.WeightingSpec`): shown
  in HLM's "Weighting Specification" table of the specifications (:func:`weighting_lines`);
  JSON gets the variables, the normalisation and the zero-weight counts.
* ``results.extras["multiple_imputation"]`` (:class:`openhlm.imputation.ImputationSummary`):
  a header line in the specifications (:func:`pooled_header_lines`) and, after the model-fit
  statistics, the table of the pooled fixed effects with their Barnard-Rubin d.f. and fractions
  of missing information; JSON gets the same numbers (not the individual fits).

Importing this module registers the renderers (:mod:`openhlm.report.extras`); the modules that
create these blocks import it.
"""

from __future__ import annotations

import textwrap
from typing import Any

import numpy as np

from openhlm.report import numfmt
from openhlm.report.extras import register_extra, to_jsonable

__all__ = [
    "imputation_json",
    "imputation_text",
    "pooled_header_lines",
    "weighting_json",
    "weighting_lines",
]

_NORMALISATION_TEXT = {
    "within": "level-1 weights scaled to sum to n_j (positive-weight rows) within each unit; "
              "level-2 weights scaled to sum to J",
    "overall": "level-1 weights scaled to sum to N (positive-weight rows); level-2 weights "
               "scaled to sum to J",
    "none": "raw weights (not normalised)",
}


def _normalisation_text(w) -> str:
    """Describe the normalisation of the weights actually used (level 1, level 2 or both)."""
    if w.normalization == "none":
        return _NORMALISATION_TEXT["none"]
    parts = [p for p in _NORMALISATION_TEXT[w.normalization].split("; ")
             if (w.level1 is not None or not p.startswith("level-1"))
             and (w.level2 is not None or not p.startswith("level-2"))]
    return "; ".join(parts)


def weighting_lines(results) -> list[str]:
    """HLM's "Weighting Specification" table, filled in from ``extras["weighting"]``."""
    w = results.extras.get("weighting")
    lines = [
        " Weighting Specification",
        " -----------------------",
        "                         Weight",
        "                         Variable",
        "            Weighting?   Name        Normalized?",
    ]
    for label, key in (("Level 1", "level1"), ("Level 2", "level2"), ("Precision", "precision")):
        name = getattr(w, key) if w is not None else None
        if name is None:
            lines.append(f" {label:<15}no       ")
        else:
            lines.append(f" {label:<15}{'yes':<9}{name:<12}{w.normalized(key)}")
    if w is not None and w.design_weighted:
        lines.append("")
        lines += textwrap.wrap(f"Normalisation: {_normalisation_text(w)}.",
                               width=78, initial_indent="  ", subsequent_indent="    ")
        if w.level1_zero_rows:
            lines.append(f"  Level-1 records with weight 0: {w.level1_zero_rows}")
        if w.level2_zero_units:
            lines.append(f"  Level-2 units with weight 0: {w.level2_zero_units}")
        lines.append("  With design weights the robust standard errors are the ones to read.")
    lines += ["", f"  The outcome variable is  {results.spec.outcome:<8}   "]
    return pooled_header_lines(results) + lines


def pooled_header_lines(results) -> list[str]:
    """The header of a pooled (multiple-imputation) result, or ``[]``."""
    s = results.extras.get("multiple_imputation")
    if s is None:
        return []
    return [
        f"  Multiple imputation: results combined from {s.m} {s.kind}",
        f"    ({', '.join(s.labels)})",
        "  Fixed effects: Rubin's rules, Barnard-Rubin d.f.; variance components,",
        "  reliabilities, chi-squares and deviance: averages over the data sets.",
        "",
    ]


def weighting_json(block, results) -> dict[str, Any]:
    return {
        "level1": block.level1, "level2": block.level2, "precision": block.precision,
        "normalization": block.normalization,
        "normalized": {k: block.normalized(k) for k in ("level1", "level2", "precision")
                       if getattr(block, k) is not None},
        "level1_zero_rows": block.level1_zero_rows,
        "level2_zero_units": block.level2_zero_units,
        "level1_raw_sum": block.level1_raw_sum, "level2_raw_sum": block.level2_raw_sum,
    }


def _weighting_text(block, results) -> list[str]:
    return []   # shown in the specifications (weighting_lines), not as a separate block


def imputation_text(block, results) -> list[str]:
    """The pooled fixed-effects table with d.f. and fractions of missing information."""
    title = f" Combination of {block.m} {block.kind} (multiple imputation)"
    lines = [title, " " + "-" * (len(title) - 1),
             "                    Model-based                       Robust",
             "    Fixed Effect    Std.Error  Approx.d.f.  FMI       Std.Error  Approx.d.f.  FMI",
             " " + "-" * 78]
    for k, gamma in enumerate(block.gammas):
        m, r = block.model, block.robust
        lines.append(f"    {gamma:<12}{numfmt.estimate(m.se[k], 6):>12}{m.df[k]:>12.2f}"
                     f"{m.fmi[k]:>8.3f}  {numfmt.estimate(r.se[k], 6):>11}{r.df[k]:>12.2f}"
                     f"{r.fmi[k]:>8.3f}")
    lines += [" " + "-" * 78,
              " d.f.: Barnard-Rubin (1999) with the single-data-set d.f. (HLM's approximate",
              " d.f.) as complete-data d.f.; FMI: fraction of missing information.",
              ""]
    has_deviance = bool(np.any(np.isfinite(block.deviances)))   # PQL (HGLM): none
    lines.append("  Data set         Deviance   Converged" if has_deviance
                 else "  Data set       Converged")
    for label, dev, ok in zip(block.labels, block.deviances, block.converged):
        shown = f"{numfmt.fixed(dev, 6):>14}   " if has_deviance else " "
        lines.append(f"  {label:<14}{shown}{'yes' if ok else 'no'}")
    if has_deviance:
        lines.append(f"  Average deviance = {numfmt.fixed(float(np.mean(block.deviances)), 6)}")
    return lines


def imputation_json(block, results) -> dict[str, Any]:
    def pooled(p) -> dict[str, Any]:
        return to_jsonable({
            "estimate": p.estimate, "se": p.se, "t": p.t, "df": p.df, "p_value": p.p,
            "within_variance": p.within, "between_variance": p.between,
            "total_variance": p.total, "riv": p.riv, "lambda": p.missing_variance,
            "fmi": p.fmi, "df_complete": p.df_complete, "df_method": p.df_method})

    return {
        "m": block.m, "kind": block.kind, "labels": list(block.labels),
        "gammas": list(block.gammas), "model_based": pooled(block.model),
        "robust": pooled(block.robust),
        "per_dataset": to_jsonable({"estimate": block.estimates, "se": block.se,
                                    "robust_se": block.robust_se, "deviance": block.deviances,
                                    "converged": list(block.converged)}),
        "averaged": (["tau", "reliability", "variance_components", "overdispersion",
                      "deviance"] if hasattr(results, "distribution") else   # an HGLM
                     ["sigma2", "sigma2_se", "tau", "tau_se", "reliability",
                      "variance_components", "deviance", "deviance_hlm"]),
    }


register_extra("weighting", text=_weighting_text, json=weighting_json,
               html=lambda block, results: "")
register_extra("multiple_imputation", text=imputation_text, json=imputation_json)
