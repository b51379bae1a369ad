"""Model-checking graphs of the seminar, drawn from the level-2 residual quantities.

* :func:`qq_mdist`: MDIST against its expected chi-square order statistic (CHIPCT) with the
  45-degree line (normality of the level-2 random effects; outliers at the upper end).
* :func:`mdrsvar_histogram`, :func:`mdrsvar_qq`: distribution of the units' log residual SD
  (homogeneity and normality of the level-1 variance).
* :func:`eb_residuals_vs`: EB residuals of a random coefficient against a level-2 variable with
  a LOWESS smoother (a candidate predictor such as PRACAD, or nonlinearity in MEANSES).
* :func:`caterpillar`: EB residuals (or coefficients) sorted, with posterior intervals.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy import stats as st

from openhlm.plots._common import (
    eb_of,
    finish,
    level2_values,
    mdist_qq,
    new_axes,
    random_position,
    scatter_with_lowess,
    set_title,
    standardised_qq,
    variable_label,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from openhlm.results import HLMResults

__all__ = ["caterpillar", "eb_residuals_vs", "mdrsvar_histogram", "mdrsvar_qq", "qq_mdist"]


def _three_level(results: object) -> bool:
    from openhlm.results.three_level import HLM3Results

    return isinstance(results, HLM3Results)


def qq_mdist(results: HLMResults, *, label_top: int = 3, ax: Axes | None = None,
             model_name: str | None = None, level_of_units: int = 3) -> Figure:
    """Q-Q plot of the Mahalanobis distances: MDIST (vertical) against CHIPCT (horizontal).

    Under normality of the random effects the points lie on the 45-degree line; the
    ``label_top`` largest distances are labelled with their unit ID.  For a three-level model
    the level-3 units' (``level_of_units=3``) or level-2 units' (2) distances
    (:func:`openhlm.plots.three_level.qq_mdist3`).  For an HGLM the distances are those of its
    level-2 residual file (EB modes, linearised at the modes).
    """
    from openhlm.results.glmm import GLMMResults

    if _three_level(results):
        from openhlm.plots.three_level import qq_mdist3

        return qq_mdist3(results, level=level_of_units, label_top=label_top,  # type: ignore
                         ax=ax, model_name=model_name)
    if isinstance(results, GLMMResults):     # HGLM: EB modes, linearised at the modes
        from openhlm.plots.glmm import glmm_mdist

        ids, mdist, chipct, R = glmm_mdist(results)
    else:
        eb = eb_of(results)
        ids, mdist, chipct, R = eb.unit_ids, eb.mdist, eb.chipct, len(eb.random_positions)
    ax = new_axes(ax, (6.0, 6.0))
    mdist_qq(ax, ids, mdist, chipct, R, units="units", label_top=label_top,
             ylabel="MDIST: Mahalanobis distance of the EB residuals")
    set_title(ax, "Q-Q plot of Mahalanobis distances (level-2 normality)", results, model_name)
    return finish(ax)


def _mdrsvar(results: HLMResults) -> np.ndarray:
    values = eb_of(results).mdrsvar
    return values[np.isfinite(values)]


def mdrsvar_histogram(results: HLMResults, *, bins: int | str = "auto",
                      ax: Axes | None = None, model_name: str | None = None) -> Figure:
    """Histogram of MDRSVAR, the units' log residual SD under the fitted model (three-level
    models: of the level-2 units, :func:`openhlm.plots.three_level.mdrsvar_histogram3`)."""
    if _three_level(results):
        from openhlm.plots.three_level import mdrsvar_histogram3

        return mdrsvar_histogram3(results, bins=bins, ax=ax,  # type: ignore[arg-type]
                                  model_name=model_name)
    values = _mdrsvar(results)
    ax = new_axes(ax)
    ax.hist(values, bins=bins, edgecolor="white")
    ax.set_xlabel("MDRSVAR: ln residual SD within the unit (fitted model)")
    ax.set_ylabel("Number of units")
    set_title(ax, "Histogram of MDRSVAR (level-1 variance across units)", results, model_name)
    return finish(ax)


def mdrsvar_qq(results: HLMResults, *, ax: Axes | None = None,
               model_name: str | None = None) -> Figure:
    """Normal Q-Q plot of standardised MDRSVAR with the 45-degree line (three-level models:
    of the level-2 units, :func:`openhlm.plots.three_level.mdrsvar_qq3`)."""
    if _three_level(results):
        from openhlm.plots.three_level import mdrsvar_qq3

        return mdrsvar_qq3(results, ax=ax, model_name=model_name)  # type: ignore[arg-type]
    ax = new_axes(ax, (6.0, 6.0))
    standardised_qq(ax, _mdrsvar(results), units="units", ylabel="Standardised MDRSVAR")
    set_title(ax, "Normal Q-Q plot of standardised MDRSVAR", results, model_name)
    return finish(ax)


def eb_residuals_vs(results: HLMResults, variable: str, coefficient: str = "INTRCPT1", *,
                    frac: float = 2.0 / 3.0, ax: Axes | None = None,
                    model_name: str | None = None) -> Figure:
    """EB residuals of ``coefficient`` against the level-2 ``variable``, with a LOWESS line.

    A trend suggests ``variable`` belongs in the coefficient's level-2 equation; a curve in a
    predictor already there suggests nonlinearity.  For a three-level model a level-2
    variable is drawn against the r's, a level-3 variable against the u's
    (:func:`openhlm.plots.three_level.eb_residuals_vs3`).
    """
    if _three_level(results):
        from openhlm.plots.three_level import eb_residuals_vs3

        return eb_residuals_vs3(results, variable, coefficient,  # type: ignore[arg-type]
                                frac=frac, ax=ax, model_name=model_name)
    eb = eb_of(results)
    k = random_position(eb, coefficient)
    column, x = level2_values(results, variable)
    y = eb.eb_residuals[:, k]
    ax = new_axes(ax)
    scatter_with_lowess(ax, x, y, frac=frac, units="units")
    label, q = eb.random_labels[k], eb.random_indices[k]
    ax.set_xlabel(variable_label(results, column))
    ax.set_ylabel(f"EB residual of {label} (U{q})")
    ax.legend(fontsize=8, frameon=False)
    set_title(ax, f"EB residuals of {label} against {column.upper()}", results, model_name)
    return finish(ax)


def caterpillar(results: HLMResults, coefficient: str = "INTRCPT1", *, level: float = 0.95,
                kind: str = "residual", ax: Axes | None = None,
                model_name: str | None = None, level_of_units: int = 3) -> Figure:
    """EB residuals (``kind="residual"``) or EB coefficients (``kind="coefficient"``) of one
    random coefficient, sorted, with intervals +/- z * posterior SD (PV resp. PVC).

    For a three-level model (HLM3Results) the level-3 units' EB estimates
    (:func:`openhlm.plots.three_level.caterpillar3`; ``level_of_units=2`` for the r's)."""
    if _three_level(results):
        from openhlm.plots.three_level import caterpillar3

        return caterpillar3(results, coefficient, level=level_of_units, conf=level, kind=kind,
                            ax=ax, model_name=model_name)
    if kind not in ("residual", "coefficient"):
        from openhlm.errors import SpecError

        raise SpecError(f"kind must be 'residual' or 'coefficient', not {kind!r}")
    eb = eb_of(results)
    k = random_position(eb, coefficient)
    if kind == "residual":
        est, var = eb.eb_residuals[:, k], eb.posterior_cov[:, k, k]
    else:
        est = eb.eb_coefficients[:, eb.random_positions[k]]
        var = eb.coefficient_cov[:, k, k]
    z = float(st.norm.ppf(0.5 + level / 2.0))
    half = z * np.sqrt(np.clip(var, 0.0, None))
    order = np.argsort(est, kind="stable")
    rank = np.arange(1, est.size + 1)
    ax = new_axes(ax, (8.0, 5.0))
    ax.errorbar(rank, est[order], yerr=half[order], fmt="o", markersize=2.5, elinewidth=0.7,
                capsize=0, label=f"EB estimate with {level:.0%} interval")
    if kind == "residual":
        ax.axhline(0.0, color="0.4", linewidth=1, linestyle="--")
    label, q = eb.random_labels[k], eb.random_indices[k]
    ax.set_xlabel("Units, ranked by the EB estimate")
    what = f"EB residual of {label} (U{q})" if kind == "residual" else f"EB {label} coefficient"
    ax.set_ylabel(what)
    ax.legend(fontsize=8, frameon=False, loc="upper left")
    set_title(ax, f"Caterpillar plot: {what}", results, model_name)
    return finish(ax)
