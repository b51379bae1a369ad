"""HGLM graph equations on the probability / rate scale.

The lines of :func:`openhlm.plots.equations.model_graph` and
:func:`~openhlm.plots.equations.level1_equations` are linear in the linear predictor eta; for
an HGLM they are drawn through the inverse link: the probability 1 / (1 + exp(-eta)) for a
logit link, the rate exp(eta) per unit of exposure for a log link (``scale="link"`` draws eta
itself).  The fixed-part model graph is the unit-specific one (random effects at 0), not a
population average.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
from scipy.special import expit

from openhlm.errors import SpecError
from openhlm.plots._common import (
    finish,
    line_intercepts,
    new_axes,
    sample_units,
    set_title,
    unit_means,
    unit_ranges,
)

if TYPE_CHECKING:
    from openhlm.results.glmm import GLMMResults

__all__ = ["glmm_mdist", "inverse_link", "outcome_axis_label", "response_scale"]

Scale = Literal["response", "link"]


def response_scale(scale: str) -> bool:
    if scale not in ("response", "link"):
        raise SpecError(f"scale must be 'response' (probability / rate) or 'link' (logit / log), "
                        f"not {scale!r}")
    return scale == "response"


def inverse_link(results: GLMMResults, eta: np.ndarray) -> np.ndarray:
    """Probability (logit link) or rate per unit of exposure (log link)."""
    return expit(eta) if results.link == "logit" else np.exp(eta)


def outcome_axis_label(results: GLMMResults, scale: str, prefix: str = "Predicted") -> str:
    y = results.outcome.upper()
    if scale == "link":
        return f"{prefix} {'logit' if results.link == 'logit' else 'log rate'} of {y}"
    if results.link == "logit":
        return f"{prefix} probability, {y}" if results.distribution == "binomial" else \
            f"{prefix} Prob({y} = 1)"
    per = f" per unit of {results.exposure.upper()}" if results.exposure else ""
    return f"{prefix} rate of {y}{per}"


def glmm_mdist(results: GLMMResults) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(unit IDs, MDIST, CHIPCT, R) of an HGLM's level-2 residual file, for
    :func:`openhlm.plots.qq_mdist` (computed when the model was fitted; nothing here)."""
    if "multiple_imputation" in results.extras:
        raise SpecError("a fit pooled over imputed data sets has no EB estimates of its own: "
                        "plot those of each fit, results.extras['multiple_imputation'].fits[k]")
    eb = results.eb
    if eb is None or "mdist" not in getattr(eb, "columns", ()):
        raise SpecError("these HGLM results carry no EB estimates; refit the model to plot them")
    return (eb["unit"].to_numpy(), eb["mdist"].to_numpy(dtype=float),
            eb["chipct"].to_numpy(dtype=float), int(results.tau.shape[0]))


def glmm_level1_curves(results: GLMMResults, p: int, label: str, *, sample: int | None,
                       by_values: tuple[str, np.ndarray] | None, seed: int, n_points: int,
                       scale: str, ax, model_name: str | None):
    """Each unit's curve from its EB coefficients over the unit's range of the predictor
    (other level-1 predictors at the unit's mean), on the response scale."""
    response = response_scale(scale)
    est = results.estimates
    if est is None:
        raise SpecError("these HGLM results carry no estimates; refit the model to plot them")
    d = est.data.design
    coefs = np.column_stack([results.eb[f"b_{c.short_label.lower()}"].to_numpy()
                             for c in results.spec.coefficients])
    J = d.n_level2
    units = sample_units(J, sample, seed)
    lo, hi = unit_ranges(d.X[:, p], d.unit, J)
    base = line_intercepts(unit_means(d.X, d.unit, d.n_per_unit), coefs, p)
    t = np.linspace(0.0, 1.0, n_points)[:, None]
    xs = lo[units] + t * (hi[units] - lo[units])              # (n_points, units)
    eta = base[units] + coefs[units, p] * xs
    ys = inverse_link(results, eta) if response else eta
    import matplotlib as mpl

    cycle = [c["color"] for c in mpl.rcParams["axes.prop_cycle"]]
    ax = new_axes(ax)
    if by_values is None:
        ax.plot(xs, ys, color=cycle[0], linewidth=0.9, alpha=0.7)
    else:
        column, values = by_values
        for k, g in enumerate(np.unique(values[units])):
            pick = values[units] == g
            lines = ax.plot(xs[:, pick], ys[:, pick], color=cycle[k % len(cycle)],
                            linewidth=0.9, alpha=0.7)
            lines[0].set_label(f"{column.upper()} = {g:g}")
        ax.legend(fontsize=8, frameon=False)
    ax.set_xlabel(label)
    ax.set_ylabel(outcome_axis_label(results, scale, prefix="Unit's"))
    shown = f"{len(units)} of {J} units" if len(units) < J else f"all {J} units"
    set_title(ax, f"Level-1 equations from EB coefficients ({shown})", results, model_name)
    return finish(ax)
