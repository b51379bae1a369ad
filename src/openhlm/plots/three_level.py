"""Graphs of a three-level model (HLM3Results).

* :func:`model_graph3` -- the predicted outcome from the fixed effects against a level-1
  predictor (in the model's metric), one line colour per value (or quartile) of a level-2 or
  level-3 predictor (``by``), one line style per lower quartile / median / upper quartile of
  another (``quartiles_of``); the other predictors at their mean (level 1 over the records,
  level 2 over the level-2 units, level 3 over the level-3 units; 0 when centred).
* :func:`caterpillar3` -- the EB estimates of one random coefficient at level 3 (u, or the EB
  coefficients) or level 2 (r), sorted, with intervals +/- z * posterior SD.
* :func:`level1_equations3` -- each level-2 unit's level-1 line from its EB coefficients
  (:meth:`HLM3Results.eb_coefficients_level2`), optionally all the level-2 units of some
  level-3 units, one colour per level-3 unit.
* :func:`qq_mdist3` -- MDIST against CHIPCT of the level-2 or level-3 residual file.
* :func:`mdrsvar_histogram3`, :func:`mdrsvar_qq3` -- the level-2 units' MDRSVAR (ln residual SD
  with the EB coefficients; level 2 only: the level-1 variance lives within level-2 units).
* :func:`eb_residuals_vs3` -- the level-2 EB residuals r against a level-2 variable, or the
  level-3 EB residuals u against a level-3 variable, with a LOWESS smoother.

The graphs only draw numbers the results hold.  ``openhlm.plots.model_graph``,
``level1_equations``, ``qq_mdist``, ``mdrsvar_histogram``, ``mdrsvar_qq``, ``eb_residuals_vs``
and ``caterpillar`` call these for three-level results.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats as st

from openhlm.errors import EstimationError, SpecError
from openhlm.plots._common import (
    finish,
    mdist_qq,
    new_axes,
    scatter_with_lowess,
    standardised_qq,
    unit_ranges,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from openhlm.results.three_level import HLM3Results

__all__ = [
    "caterpillar3",
    "eb_residuals_vs3",
    "level1_equations3",
    "mdrsvar_histogram3",
    "mdrsvar_qq3",
    "model_graph3",
    "qq_mdist3",
]

_STYLES = ("-", "--", ":", "-.")


def _colours() -> list[str]:
    import matplotlib as mpl

    return [c["color"] for c in mpl.rcParams["axes.prop_cycle"]]


def _title(ax: Axes, heading: str, results: HLM3Results, name: str | None) -> None:
    first = str(results.spec).splitlines()[0].strip()
    model = name if name is not None else (
        f"{first}  ({results.method.upper()}, J = {results.n_level2}, K = {results.n_level3})")
    ax.set_title(f"{heading}\n{model}", fontsize=10)


def _centring_text(column: str) -> str:
    name, centring = column.split("|")
    return name.upper() + ("" if centring == "none" else f" ({centring}-mean centred)")


def _find(frame_columns: list[str], name: str) -> str | None:
    for c in frame_columns:
        if c.split("|")[0].lower() == name.lower():
            return c
    return None


def _choices(results: HLM3Results, name: str, quartiles: bool, max_levels: int
             ) -> tuple[int, str, list[tuple[str, dict[str, float]]]]:
    """(level, variable, [(legend text, {design column: model-metric value})])."""
    for level, raw, design in ((2, results.level2_data, results.level2_design),
                               (3, results.level3_data, results.level3_design)):
        column = next((c for c in raw.columns if c.lower() == name.lower()), None)
        if column is None:
            continue
        values = raw[column].to_numpy(dtype=float)
        cols = [c for c in design.columns if c.split("|")[0] == column]
        distinct = np.unique(values[np.isfinite(values)])
        if not quartiles and distinct.size <= max_levels:
            picks = [(f"{column.upper()} = {v:g}", float(v)) for v in distinct]
        else:
            q = np.percentile(values[np.isfinite(values)], [25, 50, 75])
            picks = [(f"{column.upper()} {tag} ({v:.2f})", float(v))
                     for tag, v in zip(("Q1", "median", "Q3"), q, strict=True)]
        out = []
        for text, v in picks:
            mapped = {}
            for c in cols:
                shift = values - design[c].to_numpy(dtype=float)
                if np.ptp(shift) > 1e-9 * max(1.0, np.abs(shift).max()):
                    # group-mean centred: a raw value has no single model value; use the
                    # same quantile of the centred values
                    centred = design[c].to_numpy(dtype=float)
                    mapped[c] = float(np.percentile(centred, 100 * np.mean(values <= v)))
                else:
                    mapped[c] = v - float(shift[0])
            out.append((text, mapped))
        return level, column, out
    names = [*results.level2_data.columns, *results.level3_data.columns]
    raise SpecError(f"'{name}' is not a level-2 or level-3 predictor of the model "
                    f"(predictors: {', '.join(names) or 'none'})")


def _value(chosen: dict[str, float], frame: pd.DataFrame, column: str) -> float:
    """The chosen model-metric value of a predictor, else its mean over its units."""
    return chosen.get(column, float(frame[column].mean()))


def model_graph3(results: HLM3Results, x: str | None = None, by: str | None = None,
                 quartiles_of: str | None = None, *, max_levels: int = 6, n_points: int = 50,
                 ax: Axes | None = None, model_name: str | None = None) -> Figure:
    """Predicted outcome of a three-level model against a level-1 predictor (module doc).

    Parameters
    ----------
    results : HLM3Results
    x : str, optional
        Level-1 predictor on the horizontal axis (default: the first one in the model).
    by : str, optional
        Level-2 or level-3 predictor: one line colour per value when it has at most
        ``max_levels`` distinct values, else per quartile.
    quartiles_of : str, optional
        Level-2 or level-3 predictor drawn at its lower quartile, median and upper quartile
        (line style).
    """
    spec = results.spec
    slopes = [(pi, pi.predictor) for pi in spec.pis if pi.predictor is not None]
    if not slopes:
        raise SpecError("the model has no level-1 predictor to draw against")
    if x is None:
        shown, x_pred = slopes[0]
    else:
        found = [(pi, p) for pi, p in slopes if p.name.lower() == x.lower()]
        if not found:
            raise SpecError(f"'{x}' is not a level-1 predictor of the model (predictors: "
                            f"{', '.join(p.name for _, p in slopes)})")
        shown, x_pred = found[0]
    gamma = dict(zip((r.gamma for r in results.fixed), (r.estimate for r in results.fixed),
                     strict=True))
    for constraint in spec.constraints:   # constrained gammas share the estimate reported
        shared = [gamma[g] for g in constraint.gammas if g in gamma]
        for g in constraint.gammas:
            if shared:
                gamma.setdefault(g, shared[0])
    l1, l2, l3 = results.level1_design, results.level2_design, results.level3_design
    x_column = f"{x_pred.name}|{x_pred.centering.value}"
    grid = np.linspace(l1[x_column].min(), l1[x_column].max(), n_points)
    groups = []
    for k, name in enumerate((by, quartiles_of)):
        groups.append(_choices(results, name, k == 1, max_levels)[2] if name is not None
                      else [("", {})])
    ax = new_axes(ax)
    cycle = _colours()
    for a, (text_a, set_a) in enumerate(groups[0]):
        for b, (text_b, set_b) in enumerate(groups[1]):
            chosen = {**set_a, **set_b}
            line = np.zeros(n_points)
            for pi in spec.pis:
                coef = 0.0
                for beta in pi.betas:
                    xq = 1.0 if beta.predictor is None else _value(
                        chosen, l2, f"{beta.predictor.name}|{beta.predictor.centering.value}")
                    eq = beta.equation
                    preds = ([None] if eq.intercept else []) + list(eq.predictors)
                    for pred, label in zip(preds, beta.gamma_labels(), strict=True):
                        ws = 1.0 if pred is None else _value(
                            chosen, l3, f"{pred.name}|{pred.centering.value}")
                        coef += gamma[label] * xq * ws
                if pi.predictor is None:
                    line += coef
                elif pi is shown:
                    line += coef * grid
                else:
                    line += coef * float(l1[f"{pi.predictor.name}|"
                                            f"{pi.predictor.centering.value}"].mean())
            label = ", ".join(t for t in (text_a, text_b) if t) or "all units"
            ax.plot(grid, line, color=cycle[a % len(cycle)], linestyle=_STYLES[b % len(_STYLES)],
                    label=label)
    ax.set_xlabel(_centring_text(x_column))
    ax.set_ylabel(f"Predicted {spec.outcome.upper()}")
    if by is not None or quartiles_of is not None:
        ax.legend(fontsize=8, frameon=False)
    _title(ax, f"Model graph: predicted {spec.outcome.upper()} by {x_pred.name.upper()}",
           results, model_name)
    return finish(ax)


def _position(results: HLM3Results, coefficient: str, level: int) -> tuple[int, str]:
    key = coefficient.strip().upper().removesuffix(" SLOPE")
    if level == 3:
        for i, (beta, label) in enumerate(zip(results.spec.random_betas,
                                              results.tau_beta_labels, strict=True)):
            code = f"{beta.p}{beta.q}"
            first = label.split("/")[0].upper()
            if key in (label.upper(), f"U{code}", f"B{code}") or (key == first
                                                                    and beta.q == 0):
                return i, f"{label} (U{code})"
        known = ", ".join(f"U{b.p}{b.q}" for b in results.spec.random_betas)
    else:
        for i, (pi, label) in enumerate(zip(results.spec.random_pis, results.tau_pi_labels,
                                            strict=True)):
            if key in (label.upper(), f"R{pi.index}", f"P{pi.index}"):
                return i, f"{label} (R{pi.index})"
        known = ", ".join(f"R{p.index}" for p in results.spec.random_pis)
    raise SpecError(f"'{coefficient}' is not a random coefficient at level {level} of the "
                    f"model (random: {known or 'none'})")


def caterpillar3(results: HLM3Results, coefficient: str = "INTRCPT1", *, level: int = 3,
                 conf: float = 0.95, kind: str = "residual", ax: Axes | None = None,
                 model_name: str | None = None) -> Figure:
    """EB estimates of one random coefficient, sorted, with intervals +/- z * posterior SD.

    ``level=3``: the EB residuals u (``kind="residual"``, PV) or the EB coefficients
    (``kind="coefficient"``, ECB with PVC) of a random beta (``"U00"``, ``"B10"``, its label
    ``"INTRCPT1/INTRCPT2"``, or ``"INTRCPT1"`` for the intercept of that pi); ``level=2``: the
    EB residuals r of a random pi (``"R0"``, ``"INTRCPT1"``).
    """
    if kind not in ("residual", "coefficient"):
        raise SpecError(f"kind must be 'residual' or 'coefficient', not {kind!r}")
    if level not in (2, 3):
        raise SpecError(f"level must be 2 or 3, not {level!r}")
    if level == 2 and kind == "coefficient":
        raise SpecError("the caterpillar of EB coefficients is drawn at level 3 only")
    _need_eb(results)
    k, what = _position(results, coefficient, level)
    if level == 3:
        est = results.eb_level3[:, k]
        var = results.posterior_level3[:, k, k]
        if kind == "coefficient":
            est = est + results.fixed_level3[:, k]
            var = results.posterior_coef_level3[:, k, k]
    else:
        est, var = results.eb_level2[:, k], results.posterior_level2[:, k, k]
    z = float(st.norm.ppf(0.5 + conf / 2.0))
    half = z * np.sqrt(np.clip(var, 0.0, None))
    order = np.argsort(est, kind="stable")
    rank = np.arange(1, est.size + 1)
    ax = new_axes(ax, (8.0, 5.0))
    ax.errorbar(rank, est[order], yerr=half[order], fmt="o", markersize=2.5, elinewidth=0.7,
                capsize=0, label=f"EB estimate with {conf:.0%} interval")
    if kind == "residual":
        ax.axhline(0.0, color="0.4", linewidth=1, linestyle="--")
    units = "level-3" if level == 3 else "level-2"
    ax.set_xlabel(f"{units.capitalize()} units, ranked by the EB estimate")
    label = f"EB residual of {what}" if kind == "residual" else f"EB coefficient {what}"
    ax.set_ylabel(label)
    ax.legend(fontsize=8, frameon=False, loc="upper left")
    _title(ax, f"Caterpillar plot ({units} units): {label}", results, model_name)
    return finish(ax)


# -- level-1 equations --------------------------------------------------------------------------

def _need_eb(results: HLM3Results) -> None:
    if "multiple_imputation" in results.extras:
        raise EstimationError("results pooled over imputed data sets carry no empirical Bayes "
                              "estimates: draw the graph of each fit, results.extras"
                              "['multiple_imputation'].fits[m]")
    if not len(results.level2_ids) or len(results.eb_level2) != len(results.level2_ids):
        raise EstimationError("these results carry no empirical Bayes estimates (pooled over "
                              "imputed data sets, or loaded from JSON?): draw the graphs of a "
                              "single fit (refit the model with openhlm.fit)")


def _level_values(results: HLM3Results, name: str, levels: tuple[int, ...] = (2, 3)
                  ) -> tuple[int, str, np.ndarray]:
    """(level, column, raw values over that level's units) of a level-2 or level-3 variable
    (the model's or any other of the MDM)."""
    frames = results.data_frames
    sources = {2: results.level2_data, 3: results.level3_data}
    if len(frames) == 3:
        sources = {2: frames[1], 3: frames[2]}
    for level in levels:
        frame = sources[level]
        column = next((c for c in frame.columns if str(c).lower() == name.lower()), None)
        if column is not None:
            try:
                values = frame[column].to_numpy(dtype=float)
            except (TypeError, ValueError):
                raise SpecError(f"'{name}' is not a numeric variable") from None
            return level, str(column), values
    names = [str(c) for lv in levels for c in sources[lv].columns]
    which = " or ".join(f"level-{lv}" for lv in levels)
    raise SpecError(f"'{name}' is not a {which} variable (available: "
                    f"{', '.join(names) or 'none'})")


def _x_pi(results: HLM3Results, x: str | None) -> tuple[int, str]:
    """(position among the pi's, design column) of the level-1 predictor ``x``."""
    slopes = [(i, pi.predictor) for i, pi in enumerate(results.spec.pis)
              if pi.predictor is not None]
    if not slopes:
        raise SpecError("the model has no level-1 predictor to draw against")
    found = slopes if x is None else [(i, p) for i, p in slopes if p.name.lower() == x.lower()]
    if not found:
        raise SpecError(f"'{x}' is not a level-1 predictor of the model (predictors: "
                        f"{', '.join(p.name for _, p in slopes)})")
    i, pred = found[0]
    return i, f"{pred.name}|{pred.centering.value}"


def _level3_choice(results: HLM3Results, level3_units: Any, seed: int) -> np.ndarray:
    """Positions of the chosen level-3 units: a number drawn at random, or their IDs."""
    ids3 = np.asarray(results.level3_ids, dtype=object)
    K = len(ids3)
    if isinstance(level3_units, (int, np.integer)) and not isinstance(level3_units, bool):
        if level3_units <= 0:
            raise SpecError(f"level3_units must be a number of level-3 units >= 1 or a list of "
                            f"level-3 IDs, not {level3_units}")
        if level3_units >= K:
            return np.arange(K)
        return np.sort(np.random.default_rng(seed).choice(K, size=int(level3_units),
                                                          replace=False))
    wanted = [level3_units] if isinstance(level3_units, str) else list(level3_units)
    index = pd.Index([str(i) for i in ids3])
    pos = index.get_indexer([str(w) for w in wanted])
    if (pos < 0).any():
        bad = wanted[int(np.flatnonzero(pos < 0)[0])]
        raise SpecError(f"'{bad}' is not a level-3 unit of the analysis (IDs such as "
                        f"{', '.join(map(str, ids3[:5]))})")
    return pos


def level1_equations3(results: HLM3Results, x: str | None = None, *, sample: int | None = 30,
                      by: str | None = None, level3_units: Any = None, seed: int = 0,
                      ax: Axes | None = None, model_name: str | None = None) -> Figure:
    """Each level-2 unit's level-1 line from its EB coefficients, over the unit's range of x.

    The line of unit j is ``sum_p pi*_pj a_p`` (:meth:`HLM3Results.eb_coefficients_level2`)
    with ``x`` varying over the unit's records (in the model's metric) and the other level-1
    predictors at the unit's mean.

    Parameters
    ----------
    x : str, optional
        Level-1 predictor (default: the first one).
    sample : int or None
        Level-2 units drawn at random (reproducibly, ``seed``); ``None`` or 0: all.
    by : str, optional
        Level-2 or level-3 variable with few values: one colour per value.
    level3_units : int or list of IDs, optional
        Draw all the level-2 units of these level-3 units (a number: drawn at random), one
        colour per level-3 unit (``sample`` and ``by`` do not apply).
    """
    _need_eb(results)
    if sample is not None and sample < 0:
        raise SpecError(f"sample must be a number of units >= 0 (0 or None: all), not {sample}")
    if level3_units is not None and by is not None:
        raise SpecError("give either by= (colour by a variable) or level3_units= (colour by "
                        "level-3 unit), not both")
    p, x_column = _x_pi(results, x)
    spec = results.spec
    coefs = results.eb_coefficients_level2()
    pi_cols = [f"ECP{pi.index}" for pi in spec.pis]
    B = coefs[pi_cols].to_numpy(dtype=float)                     # (J, P)
    unit = np.asarray(results.level1_unit)
    J = B.shape[0]
    l1 = results.level1_design
    n = np.bincount(unit, minlength=J).astype(float)
    base = np.zeros(J)
    for i, pi in enumerate(spec.pis):
        if i == p:
            continue
        if pi.predictor is None:
            base += B[:, i]
        else:
            col = l1[f"{pi.predictor.name}|{pi.predictor.centering.value}"].to_numpy(float)
            base += B[:, i] * np.bincount(unit, weights=col, minlength=J) / n
    lo, hi = unit_ranges(l1[x_column].to_numpy(dtype=float), unit, J)
    k_of_j = pd.Index(np.asarray(results.level3_ids, dtype=object)).get_indexer(
        np.asarray(results.level2_level3, dtype=object))
    if level3_units is not None:
        chosen3 = _level3_choice(results, level3_units, seed)
        units = np.flatnonzero(np.isin(k_of_j, chosen3))
        shown = (f"the {len(units)} level-2 units of {len(chosen3)} of {len(results.level3_ids)}"
                 f" level-3 units")
    else:
        units = np.arange(J)
        if sample and sample < J:
            units = np.sort(np.random.default_rng(seed).choice(J, size=sample, replace=False))
        shown = (f"{len(units)} of {J} level-2 units" if len(units) < J
                 else f"all {J} level-2 units")
    xs = np.stack([lo[units], hi[units]])
    ys = base[units] + B[units, p] * xs
    ax = new_axes(ax)
    cycle = _colours()
    if level3_units is not None:
        groups, values = k_of_j[units], None
        for c, k in enumerate(np.unique(groups)):
            pick = groups == k
            lines = ax.plot(xs[:, pick], ys[:, pick], color=cycle[c % len(cycle)],
                            linewidth=0.9, alpha=0.8)
            lines[0].set_label(f"{results.id_names[1] or 'level-3 unit'} "
                               f"{results.level3_ids[k]}")
        ax.legend(fontsize=8, frameon=False)
    elif by is not None:
        level, column, values = _level_values(results, by)
        values = values if level == 2 else values[k_of_j]
        groups = values[units]
        distinct = np.unique(groups[np.isfinite(groups)])
        if distinct.size > 10:
            raise SpecError(f"by='{by}' has {distinct.size} values among the units drawn: "
                            "colour by a variable with at most 10 values")
        for c, g in enumerate(distinct):
            pick = groups == g
            lines = ax.plot(xs[:, pick], ys[:, pick], color=cycle[c % len(cycle)],
                            linewidth=0.9, alpha=0.7)
            lines[0].set_label(f"{column.upper()} = {g:g}")
        ax.legend(fontsize=8, frameon=False)
    else:
        ax.plot(xs, ys, color=cycle[0], linewidth=0.9, alpha=0.7)
    ax.set_xlabel(_centring_text(x_column))
    ax.set_ylabel(spec.outcome.upper())
    _title(ax, f"Level-1 equations from EB coefficients ({shown})", results, model_name)
    return finish(ax)


# -- residual diagnostics ------------------------------------------------------------------------

def qq_mdist3(results: HLM3Results, *, level: int = 3, label_top: int = 3,
              ax: Axes | None = None, model_name: str | None = None) -> Figure:
    """Q-Q plot of the Mahalanobis distances of the level-3 (``level=3``, u) or level-2
    (``level=2``, r) EB residuals: MDIST against CHIPCT of that residual file, with the
    45-degree line; the ``label_top`` largest distances labelled with their unit ID."""
    if level not in (2, 3):
        raise SpecError(f"level must be 2 or 3, not {level!r}")
    _need_eb(results)
    if level == 3:
        mdist, chipct = results.mdist_level3, results.chipct_level3
        ids, R = results.level3_ids, len(results.spec.random_betas)
    else:
        mdist, chipct = results.mdist_level2, results.chipct_level2
        ids, R = results.level2_ids, len(results.spec.random_pis)
    mdist, chipct = np.asarray(mdist, dtype=float), np.asarray(chipct, dtype=float)
    ok = np.isfinite(mdist) & np.isfinite(chipct)
    if not R or not ok.any():
        effect = "U" if level == 3 else "R"
        raise EstimationError(f"the model has no random effect at level {level} (no {effect} "
                              "in its equations): there is no MDIST to plot")
    effects = "u" if level == 3 else "r"
    ax = new_axes(ax, (6.0, 6.0))
    mdist_qq(ax, ids, mdist, chipct, R, units=f"level-{level} units", label_top=label_top,
             ylabel=f"MDIST: Mahalanobis distance of the EB residuals {effects}")
    _title(ax, f"Q-Q plot of Mahalanobis distances (level-{level} normality)", results,
           model_name)
    return finish(ax)


def _mdrsvar3(results: HLM3Results, level: int) -> np.ndarray:
    if level != 2:
        raise SpecError("MDRSVAR is defined for level-2 units only (the ln residual SD of the "
                        "level-1 records within each level-2 unit); use level=2")
    _need_eb(results)
    values = np.asarray(results.mdrsvar_level2, dtype=float)
    return values[np.isfinite(values)]


def mdrsvar_histogram3(results: HLM3Results, *, level: int = 2, bins: int | str = "auto",
                       ax: Axes | None = None, model_name: str | None = None) -> Figure:
    """Histogram of the level-2 units' MDRSVAR (ln residual SD with the EB coefficients)."""
    values = _mdrsvar3(results, level)
    ax = new_axes(ax)
    ax.hist(values, bins=bins, edgecolor="white")
    ax.set_xlabel("MDRSVAR: ln residual SD within the level-2 unit (fitted model)")
    ax.set_ylabel("Number of level-2 units")
    _title(ax, "Histogram of MDRSVAR (level-1 variance across level-2 units)", results,
           model_name)
    return finish(ax)


def mdrsvar_qq3(results: HLM3Results, *, level: int = 2, ax: Axes | None = None,
                model_name: str | None = None) -> Figure:
    """Normal Q-Q plot of the level-2 units' standardised MDRSVAR (Blom positions, as the
    two-level graph) with the 45-degree line."""
    values = _mdrsvar3(results, level)
    if values.size < 3:
        raise SpecError("the Q-Q plot of MDRSVAR needs at least 3 level-2 units with MDRSVAR")
    ax = new_axes(ax, (6.0, 6.0))
    standardised_qq(ax, values, units="level-2 units", ylabel="Standardised MDRSVAR")
    _title(ax, "Normal Q-Q plot of standardised MDRSVAR (level-2 units)", results, model_name)
    return finish(ax)


def eb_residuals_vs3(results: HLM3Results, variable: str, coefficient: str = "INTRCPT1", *,
                     frac: float = 2.0 / 3.0, ax: Axes | None = None,
                     model_name: str | None = None) -> Figure:
    """EB residuals against a variable, with a LOWESS smoother: a level-2 variable against the
    r of the random pi ``coefficient`` ("R0", "INTRCPT1") over the level-2 units, a level-3
    variable against the u of the random beta ``coefficient`` ("U00", "INTRCPT1") over the
    level-3 units (the graph of HLM3's exploratory analysis)."""
    _need_eb(results)
    level, column, x = _level_values(results, variable)
    k, what = _position(results, coefficient, level)
    y = (results.eb_level3 if level == 3 else results.eb_level2)[:, k]
    ax = new_axes(ax)
    scatter_with_lowess(ax, x, y, frac=frac, units=f"level-{level} units")
    ax.set_xlabel(column.upper())
    ax.set_ylabel(f"EB residual of {what}")
    ax.legend(fontsize=8, frameon=False)
    _title(ax, f"Level-{level} EB residuals of {what} against {column.upper()}", results,
           model_name)
    return finish(ax)
