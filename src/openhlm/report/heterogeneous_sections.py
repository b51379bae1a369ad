"""Report block of a heterogeneous level-1 variance fit ("RESULTS FOR HETEROGENEOUS SIGMA-SQUARED").

The text follows HLM 6.08's layout column for column (the seminar's "Modeling heterogeneity of
level-1 variances" output); openhlm adds the implied level-1 variance of each category of a
categorical variance predictor.  In exact mode the deviances of "Summary of Model Fit" are the
standard -2 log L (a line says so); in HLM mode HLM's printed convention.  Registered under
``results.extras["heterogeneous_sigma2"]`` (:mod:`openhlm.report.extras`) on import of
:mod:`openhlm.report`.

P-values in this block: HLM prints 0.001 for Z = -3.567 (p = 0.00036) and for the chi-square
12.49926 on 1 d.f. (p = 0.00041), but 0.000 for Z = 148.3 (p underflows to 0).  We therefore
print a p-value below 0.001 as 0.001 unless it is exactly 0, and round otherwise (the fixed-
effects tables' rule, :func:`openhlm.report.numfmt.p_value`, would print 0.000 for both).
"""

from __future__ import annotations

from typing import Any

from openhlm.report import numfmt
from openhlm.report.extras import register_extra, to_jsonable

__all__ = ["hetero_p_value", "heterogeneous_json", "heterogeneous_text"]

ALPHA_RULE = " " + "-" * 68
FIT_RULE = " " + "-" * 67


def hetero_p_value(p: float | None) -> str:
    """A p-value of this block as HLM 6 prints it (see the module docstring)."""
    if numfmt.is_missing(p):
        return ""
    x = float(p)  # type: ignore[arg-type]
    if 0.0 < x < 0.001:
        return "0.001"
    return numfmt.p_value(x)


def _equation(block: Any) -> str:
    terms = ["alpha0"] + [f"alpha{k}({label})" for k, label in enumerate(block.predictors, 1)]
    return " log(Sigma_squared) = " + " + ".join(terms)


def heterogeneous_text(block: Any, results: Any = None) -> list[str]:
    """Lines of the heterogeneous-sigma^2 block (``block``: HeterogeneousSigma2)."""
    lines = ["RESULTS FOR HETEROGENEOUS SIGMA-SQUARED"]
    if block.mode == "hlm":
        lines.append(f"(macro iteration {block.macro_iterations})")
    else:
        lines.append("(openhlm exact mode: converged to the maximum likelihood)"
                     if block.converged else "(openhlm exact mode: NOT converged)")
    lines += ["", " Var(R) = Sigma_squared and", _equation(block), "", "",
              " Model for level-1 variance", ALPHA_RULE,
              "                                      Standard",
              "    Parameter        Coefficient      Error       Z-ratio   P-value",
              ALPHA_RULE]
    for k, row in enumerate(block.rows):
        lines.append(f"{row.label[:8]:>9}    ,alpha{k}"
                     + numfmt.rjust(numfmt.estimate(row.estimate, 5), 12)
                     + numfmt.rjust(numfmt.estimate(row.se, 6), 14)
                     + numfmt.rjust(numfmt.fixed(row.z, 3), 11)
                     + numfmt.rjust(hetero_p_value(row.p), 10))
    lines.append(ALPHA_RULE)
    if block.implied:
        lines += ["", " Implied level-1 variance (other variance predictors at 0)"]
        for iv in block.implied:
            value = numfmt.fixed(iv.value, 0) if float(iv.value).is_integer() else f"{iv.value:g}"
            lines.append(f"   {iv.predictor} = {value:<6}" + numfmt.rjust(
                numfmt.estimate(iv.variance, 5), 14) + f"   ({iv.n_rows} level-1 records)")
    t = block.test
    lines += ["", "Summary of Model Fit", "", FIT_RULE,
              " Model                                Number of         Deviance",
              "                                      Parameters", FIT_RULE]
    for label, n, dev in (("1. Homogeneous sigma_squared", t.homogeneous_parameters,
                           t.homogeneous_deviance),
                          ("2. Heterogeneous sigma_squared", t.heterogeneous_parameters,
                           t.heterogeneous_deviance)):
        lines.append(f" {label}".ljust(31) + numfmt.rjust(numfmt.integer(n), 13)
                     + numfmt.rjust(numfmt.fixed(dev, 5), 21))
    lines += [FIT_RULE, " Model Comparison                 Chi-square       df    P-value", FIT_RULE,
              " Model 1 vs Model 2" + numfmt.rjust(numfmt.fixed(t.chi2, 5), 26)
              + numfmt.rjust(numfmt.integer(t.df), 8) + numfmt.rjust(hetero_p_value(t.p), 10)]
    if t.convention == "standard":
        lines += ["", (" (deviances are the standard -2 log-likelihood; HLM 6 prints them "
                       "minus log(2*pi))")]
    return lines


def heterogeneous_json(block: Any, results: Any = None) -> dict[str, Any]:
    """JSON of the block: ``alpha`` (label, estimate, se, z, p), ``homogeneous_deviance``,
    ``heterogeneity_test`` and the rest."""
    t = block.test
    return {
        "predictors": list(block.predictors),
        "alpha": [{"label": r.label, "parameter": r.parameter, "estimate": r.estimate,
                   "se": r.se, "z": r.z, "p": r.p} for r in block.rows],
        "alpha_covariance": to_jsonable(block.covariance),
        "se_method": block.se_method,
        "implied_variance": [{"predictor": iv.predictor, "value": iv.value,
                              "variance": iv.variance, "n_rows": iv.n_rows}
                             for iv in block.implied],
        "homogeneous_deviance": t.homogeneous_deviance,
        "heterogeneous_deviance": t.heterogeneous_deviance,
        "deviance_convention": t.convention,
        "heterogeneity_test": {"chi2": t.chi2, "df": t.df, "p": t.p,
                               "homogeneous_parameters": t.homogeneous_parameters,
                               "heterogeneous_parameters": t.heterogeneous_parameters},
        "mode": block.mode,
        "macro_iterations": block.macro_iterations,
        "micro_iterations": block.micro_iterations,
        "converged": block.converged,
    }


register_extra("heterogeneous_sigma2", text=heterogeneous_text, json=heterogeneous_json)
