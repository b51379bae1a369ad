"""HLM's "Graph equations": model graphs (the fixed part) and level-1 equations (EB lines).

* :func:`model_graph` draws the predicted outcome against a level-1 predictor from the fixed
  effects alone, one line per value (or quartile) of level-2 predictors, as HLM's
  "Graph Equations > Model graphs" does (e.g. MATHACH against SES for public and Catholic
  schools at the lower quartile, median and upper quartile of MEANSES).
* :func:`level1_equations` draws each unit's level-1 line from its EB coefficients.

Predictors are drawn in the metric the model uses (a group-mean centred SES is SES minus the
school mean); predictors not shown are held at their mean (0 when centred).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from openhlm.errors import SpecError
from openhlm.plots._common import (
    design_of,
    eb_of,
    finish,
    level2_values,
    line_intercepts,
    new_axes,
    sample_units,
    set_title,
    variable_label,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from openhlm.results import HLMResults

__all__ = ["level1_equations", "model_graph"]

_STYLES = ("-", "--", ":", "-.")


def _unit_columns(design: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(low, high, mean), each (J, P): every unit's range and mean of each column of X, from
    the rows, or for an out-of-core fit from its statistics and one pass over the rows
    (``design.unit_column_ranges``, :mod:`openhlm.scale.ranges`)."""
    if not getattr(design, "rows_in_memory", True):
        low, high = design.unit_column_ranges()
        return low, high, design.unit_column_means()
    J, P = design.n_level2, design.X.shape[1]
    low = np.full((J, P), np.inf)
    high = np.full((J, P), -np.inf)
    np.minimum.at(low, design.unit, design.X)
    np.maximum.at(high, design.unit, design.X)
    sums = np.zeros((J, P))
    np.add.at(sums, design.unit, design.X)
    return low, high, sums / design.n_per_unit[:, None]


def _colours() -> list[str]:
    import matplotlib as mpl

    return [c["color"] for c in mpl.rcParams["axes.prop_cycle"]]


def _slope_position(results: HLMResults, x: str | None) -> int:
    coefs = results.spec.coefficients
    slopes = [p for p, c in enumerate(coefs) if c.predictor is not None]
    if not slopes:
        raise SpecError("the model has no level-1 predictor to draw against")
    if x is None:
        return slopes[0]
    for p in slopes:
        if coefs[p].predictor.name.lower() == x.lower():
            return p
    names = ", ".join(coefs[p].predictor.name for p in slopes)
    raise SpecError(f"'{x}' is not a level-1 predictor of the model (predictors: {names})")


def _gamma_variables(results: HLMResults) -> list[str | None]:
    """For every gamma (design order), the level-2 variable it multiplies (None: INTRCPT2)."""
    out: list[str | None] = []
    for coef in results.spec.coefficients:
        if coef.equation.intercept:
            out.append(None)
        out.extend(p.name for p in coef.equation.predictors)
    return out


def _settings(results: HLMResults, by: str | None, quartiles_of: str | None,
              max_levels: int) -> list[tuple[str, dict[str, float], int, int]]:
    """(legend text, {level-2 variable: raw value}, colour index, style index) per line."""
    groups: list[list[tuple[str, float]]] = []
    for k, name in enumerate([by, quartiles_of]):
        if name is None:
            groups.append([])
            continue
        column, values = level2_values(results, name)
        distinct = np.unique(values[np.isfinite(values)])
        if k == 0 and distinct.size <= max_levels:
            groups.append([(f"{column.upper()} = {v:g}", float(v)) for v in distinct])
        else:
            q = np.percentile(values[np.isfinite(values)], [25, 50, 75])
            groups.append([(f"{column.upper()} {tag} ({v:.2f})", float(v))
                           for tag, v in zip(("Q1", "median", "Q3"), q)])
    names = [by, quartiles_of]
    out = []
    for a, (text_a, va) in enumerate(groups[0] or [("", np.nan)]):
        for b, (text_b, vb) in enumerate(groups[1] or [("", np.nan)]):
            values = {}
            if names[0] is not None:
                values[level2_values(results, names[0])[0]] = va
            if names[1] is not None:
                values[level2_values(results, names[1])[0]] = vb
            text = ", ".join(t for t in (text_a, text_b) if t) or "all units"
            out.append((text, values, a, b))
    return out


def model_graph(results: HLMResults, x: str | None = None, by: str | None = None,
                quartiles_of: str | None = None, *, max_levels: int = 6, n_points: int = 50,
                ax: Axes | None = None, model_name: str | None = None,
                scale: str = "response") -> Figure:
    """Predicted outcome against a level-1 predictor, one line per level-2 setting.

    For an HGLM (:class:`~openhlm.results.glmm.GLMMResults`) the lines are drawn on the
    probability (logit link) or rate (log link, per unit of exposure) scale: the inverse link
    of the fixed part of the linear predictor (random effects at 0); ``scale="link"`` draws
    the linear predictor itself.

    Parameters
    ----------
    results : HLMResults
    x : str, optional
        Level-1 predictor on the horizontal axis (default: the first one in the model).
    by : str, optional
        Level-2 predictor: one line colour per value when it has at most ``max_levels``
        distinct values (e.g. SECTOR), else per quartile.
    quartiles_of : str, optional
        Level-2 predictor drawn at its lower quartile, median and upper quartile (line style).
    n_points : int
        Points per line.
    ax : matplotlib Axes, optional
        Draw into these axes instead of a new figure.
    model_name : str, optional
        Name of the model in the title (default: its level-1 equation and method).

    Returns
    -------
    matplotlib.figure.Figure

    For a three-level model (HLM3Results) ``by`` and ``quartiles_of`` may be level-2 or
    level-3 predictors (:func:`openhlm.plots.three_level.model_graph3`).
    """
    from openhlm.results.three_level import HLM3Results

    if isinstance(results, HLM3Results):
        from openhlm.plots.three_level import model_graph3

        return model_graph3(results, x, by, quartiles_of, max_levels=max_levels,
                            n_points=n_points, ax=ax, model_name=model_name)
    from openhlm.plots.glmm import inverse_link, outcome_axis_label, response_scale
    from openhlm.results.glmm import GLMMResults

    hglm = isinstance(results, GLMMResults)
    response = hglm and response_scale(scale)
    d = design_of(results)
    p = _slope_position(results, x)
    predictor = results.spec.coefficients[p].predictor
    gamma = np.asarray(results.estimates.gamma)
    gamma_vars = _gamma_variables(results)
    if getattr(d, "rows_in_memory", True):
        col = d.X[:, p]
        grid = np.linspace(np.nanmin(col), np.nanmax(col), n_points)
        x_means = d.X.mean(axis=0)
    else:   # out of core: the same numbers from the per-unit ranges and means
        low, high, unit_means = _unit_columns(d)
        grid = np.linspace(np.nanmin(low[:, p]), np.nanmax(high[:, p]), n_points)
        n = d.n_per_unit.astype(float)
        x_means = n @ unit_means / n.sum()
    w_means = d.W.mean(axis=0)
    ax = new_axes(ax)
    cycle = _colours()
    for text, values, a, b in _settings(results, by, quartiles_of, max_levels):
        w = w_means.copy()
        for f, name in enumerate(gamma_vars):
            if name is not None and name.lower() in {k.lower() for k in values}:
                raw = {k.lower(): v for k, v in values.items()}[name.lower()]
                w[f] = raw - d.centering_means.get(f"level2:{name}", 0.0)
            elif name is None:
                w[f] = 1.0
        coef = np.zeros(d.X.shape[1])
        np.add.at(coef, d.gamma_column, gamma * w)
        others = x_means @ coef - x_means[p] * coef[p]
        line = others + coef[p] * grid
        ax.plot(grid, inverse_link(results, line) if response else line,
                color=cycle[a % len(cycle)], linestyle=_STYLES[b % len(_STYLES)], label=text)
    ax.set_xlabel(variable_label(results, predictor.name, predictor.centering.value))
    ax.set_ylabel(outcome_axis_label(results, scale) if hglm
                  else f"Predicted {variable_label(results, results.spec.outcome)}")
    if by is not None or quartiles_of is not None:
        ax.legend(fontsize=8, frameon=False)
    set_title(ax, f"Model graph: predicted {results.spec.outcome.upper()} by "
                  f"{predictor.name.upper()}", results, model_name)
    return finish(ax)


def level1_equations(results: HLMResults, x: str | None = None, *, sample: int | None = 30,
                     by: str | None = None, seed: int = 0, ax: Axes | None = None,
                     model_name: str | None = None, scale: str = "response",
                     n_points: int = 40, level3_units: Any = None) -> Figure:
    """Each unit's level-1 line from its EB coefficients, over the unit's range of ``x``.

    Parameters
    ----------
    results : HLMResults
    x : str, optional
        Level-1 predictor (default: the first one); other level-1 predictors are held at the
        unit's mean.
    sample : int or None
        Number of units drawn at random (reproducibly, ``seed``); ``None`` or 0 draws all units
        (as ``openhlm plot level1 --sample 0``).
    by : str, optional
        Level-2 variable with few values (e.g. SECTOR) to colour the lines by.
    scale, n_points :
        HGLMs only: each unit's curve on the probability / rate scale (``"response"``) or the
        linear predictor (``"link"``), drawn with ``n_points`` points.
    level3_units : int or list of IDs, optional
        Three-level models (:func:`openhlm.plots.three_level.level1_equations3`, the level-2
        units' lines; ``by`` may be a level-2 or level-3 variable): draw all the level-2 units
        of these level-3 units, one colour per level-3 unit.
    """
    from openhlm.results.three_level import HLM3Results

    if isinstance(results, HLM3Results):
        from openhlm.plots.three_level import level1_equations3

        return level1_equations3(results, x, sample=sample, by=by, level3_units=level3_units,
                                 seed=seed, ax=ax, model_name=model_name)
    if level3_units is not None:
        raise SpecError("level3_units applies to three-level models only")
    from openhlm.results.glmm import GLMMResults

    if isinstance(results, GLMMResults):
        from openhlm.plots.glmm import glmm_level1_curves

        p = _slope_position(results, x)
        predictor = results.spec.coefficients[p].predictor
        return glmm_level1_curves(
            results, p, variable_label(results, predictor.name, predictor.centering.value),
            sample=sample, by_values=None if by is None else level2_values(results, by),
            seed=seed, n_points=n_points, scale=scale, ax=ax, model_name=model_name)
    eb_of(results)   # a clear error for results without two-level EB estimates (HLM3)
    est = results.estimates
    d = est.design
    eb = eb_of(results)
    p = _slope_position(results, x)
    predictor = results.spec.coefficients[p].predictor
    J = d.n_level2
    units = sample_units(J, sample, seed)
    low, high, means = _unit_columns(d)
    lo, hi = low[:, p], high[:, p]
    base = line_intercepts(means, eb.eb_coefficients, p)
    xs = np.stack([lo[units], hi[units]])
    ys = base[units] + eb.eb_coefficients[units, p] * xs
    ax = new_axes(ax)
    cycle = _colours()
    if by is None:
        ax.plot(xs, ys, color=cycle[0], linewidth=0.9, alpha=0.7)
    else:
        column, values = level2_values(results, by)
        groups = np.unique(values[units])
        for k, g in enumerate(groups):
            pick = values[units] == g
            lines = ax.plot(xs[:, pick], ys[:, pick], color=cycle[k % len(cycle)],
                            linewidth=0.9, alpha=0.7)
            lines[0].set_label(f"{column.upper()} = {g:g}")
        ax.legend(fontsize=8, frameon=False)
    ax.set_xlabel(variable_label(results, predictor.name, predictor.centering.value))
    ax.set_ylabel(variable_label(results, results.spec.outcome))
    shown = f"{len(units)} of {J} units" if len(units) < J else f"all {J} units"
    set_title(ax, f"Level-1 equations from EB coefficients ({shown})", results, model_name)
    return finish(ax)
