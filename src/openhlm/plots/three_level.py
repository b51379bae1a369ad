"""Graphs of a three-level model (HLM3Results): the model graph and the caterpillar plot.

* :func:`model_graph3` -- the predicted outcome from the fixed effects against a level-1
  predictor (in the model's metric), one line colour per value (or quartile) of a level-2 or
  level-3 predictor (``by``), one line style per lower quartile / median / upper quartile of
  another (``quartiles_of``); the other predictors at their mean (level 1 over the records,
  level 2 over the level-2 units, level 3 over the level-3 units; 0 when centred).
* :func:`caterpillar3` -- the EB estimates of one random coefficient at level 3 (u, or the EB
  coefficients) or level 2 (r), sorted, with intervals +/- z * posterior SD.

``openhlm.plots.model_graph`` and ``openhlm.plots.caterpillar`` call these for three-level
results.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats as st

from openhlm.errors import SpecError
from openhlm.plots._common import finish, new_axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from openhlm.results.three_level import HLM3Results

__all__ = ["caterpillar3", "model_graph3"]

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
