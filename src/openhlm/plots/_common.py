"""Shared helpers of the plots: figures without pyplot, titles, labels, residual quantities."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats as st

from openhlm.errors import EstimationError, SpecError
from openhlm.plots.lowess import lowess
from openhlm.results.residuals import NO_RANDOM_COEFFICIENTS

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from openhlm.results import EBEstimates, HLMResults

__all__ = [
    "design_of",
    "eb_of",
    "finish",
    "identity_line",
    "level2_values",
    "line_intercepts",
    "mdist_qq",
    "model_name",
    "new_axes",
    "random_position",
    "sample_units",
    "scatter_with_lowess",
    "set_title",
    "standardised_qq",
    "unit_means",
    "unit_ranges",
    "variable_label",
]


def new_axes(ax: Axes | None, figsize: tuple[float, float] = (7.0, 5.0)) -> Axes:
    """``ax``, or the axes of a new figure (a plain :class:`Figure`: no pyplot state)."""
    if ax is not None:
        return ax
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    return fig.add_subplot()


def finish(ax: Axes) -> Figure:
    return ax.figure


def model_name(results: HLMResults) -> str:
    """The model in one line: its level-1 equation and estimation method."""
    first = str(results.spec).splitlines()[0].strip()
    if hasattr(results, "distribution"):      # an HGLM has no level-1 R
        first = first.removesuffix(" + R")
    return f"{first}  ({results.method.upper()}, J = {results.n_level2})"


def set_title(ax: Axes, heading: str, results: HLMResults, name: str | None) -> None:
    model = name if name is not None else model_name(results)
    model = "\n".join(textwrap.wrap(model, 80))
    ax.set_title(f"{heading}\n{model}", fontsize=10)


def variable_label(results: HLMResults, name: str, centring: str | None = None) -> str:
    """``MEANSES: Mean SES of the school`` (the MDM's label when there is one)."""
    labels = getattr(getattr(results, "data", None), "variable_labels", None) or {}
    text = {str(k).lower(): v for k, v in dict(labels).items()}.get(name.lower())
    head = name.upper()
    if centring and centring != "none":
        head += f" ({centring}-mean centred)"
    return f"{head}: {text}" if text else head


def eb_of(results: HLMResults) -> EBEstimates:
    """The EB estimates stored in the results (plots compute nothing)."""
    if not hasattr(results, "estimates"):
        raise SpecError("this graph is not available for three-level models (the model graph "
                        "and the caterpillar plot are)")
    from openhlm.results.glmm import GLMMResults

    if isinstance(results, GLMMResults):
        raise SpecError("this graph is not available for HGLMs (binary, binomial, count "
                        "outcomes) yet: the model graph, the level-1 equations and the MDIST "
                        "Q-Q plot are")
    if results.estimates is None:
        raise EstimationError("these results carry no estimates; refit the model to plot them")
    if results.eb is None:
        if results.estimates.design.n_random == 0:
            raise EstimationError(NO_RANDOM_COEFFICIENTS)
        raise EstimationError("these results carry no empirical Bayes estimates; refit the "
                              "model with openhlm.fit to plot them")
    return results.eb


def random_position(eb: EBEstimates, coefficient: str) -> int:
    """Position among the random coefficients of ``"INTRCPT1"``, ``"SES"``, ``"U1"`` or ``"B1"``."""
    key = coefficient.strip().upper().removesuffix(" SLOPE")
    for k, (label, q) in enumerate(zip(eb.random_labels, eb.random_indices)):
        if key in (label, f"U{q}", f"B{q}"):
            return k
    raise SpecError(f"'{coefficient}' is not a random coefficient of the model (random: "
                    f"{', '.join(eb.random_labels)})")


def level2_values(results: HLMResults, name: str) -> tuple[str, np.ndarray]:
    """Raw values of a level-2 variable over the units of the analysis."""
    frame = design_of(results).level2_data
    lower = {str(c).lower(): c for c in frame.columns}
    if name.lower() not in lower:
        raise SpecError(f"'{name}' is not a level-2 variable (available: "
                        f"{', '.join(map(str, frame.columns))})")
    column = lower[name.lower()]
    return str(column), frame[column].to_numpy(dtype=float)


def design_of(results: Any) -> Any:
    """The :class:`~openhlm.estimation.design.Design` of two-level linear or HGLM results."""
    est = getattr(results, "estimates", None)
    if est is None:
        raise EstimationError("these results carry no estimates; refit the model to plot them")
    design = getattr(est, "design", None)
    return design if design is not None else est.data.design


def kwargs(defaults: dict[str, Any], given: dict[str, Any] | None) -> dict[str, Any]:
    out = dict(defaults)
    out.update(given or {})
    return out


# -- the drawing shared by the two- and three-level diagnostics --------------------------------

def identity_line(ax: Axes, lo: float, hi: float) -> None:
    """The dashed 45-degree line from (lo, lo) to (hi, hi)."""
    ax.plot([lo, hi], [lo, hi], color="0.4", linewidth=1, linestyle="--", label="45-degree line")


def mdist_qq(ax: Axes, ids: Any, mdist: np.ndarray, chipct: np.ndarray, n_effects: int, *,
             units: str, ylabel: str, label_top: int) -> None:
    """MDIST against CHIPCT of the units with both finite, the 45-degree line, the
    ``label_top`` largest distances labelled with their unit ID, equal axes from 0."""
    ok = np.isfinite(mdist) & np.isfinite(chipct)
    ax.scatter(chipct[ok], mdist[ok], s=14, alpha=0.8, label=units)
    top = max(float(mdist[ok].max()), float(chipct[ok].max())) * 1.05
    identity_line(ax, 0.0, top)
    for rank, j in enumerate(np.argsort(-np.where(ok, mdist, -np.inf))[:label_top]):
        ax.annotate(str(ids[j]), (chipct[j], mdist[j]), xytext=(-6, 3 + 9 * rank),
                    textcoords="offset points", ha="right", fontsize=8)
    ax.set_xlabel(f"CHIPCT: expected chi-square({n_effects}) order statistic")
    ax.set_ylabel(ylabel)
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.legend(fontsize=8, frameon=False, loc="upper left")


def standardised_qq(ax: Axes, values: np.ndarray, *, units: str, ylabel: str) -> None:
    """Normal Q-Q plot of ``values`` standardised (mean 0, SD 1 with n - 1): sorted values
    against Blom's expected normal order statistics (as SPSS), with the 45-degree line."""
    values = np.sort(values)
    z = (values - values.mean()) / values.std(ddof=1)
    n = z.size
    expected = st.norm.ppf((np.arange(1, n + 1) - 0.375) / (n + 0.25))
    ax.scatter(expected, z, s=14, alpha=0.8, label=units)
    lim = float(max(np.abs(expected).max(), np.abs(z).max())) * 1.05
    identity_line(ax, -lim, lim)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_xlabel("Expected normal value")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8, frameon=False, loc="upper left")


def scatter_with_lowess(ax: Axes, x: np.ndarray, y: np.ndarray, *, frac: float,
                        units: str) -> None:
    """Residuals ``y`` against ``x`` with the zero line and a LOWESS smoother."""
    ax.scatter(x, y, s=14, alpha=0.8, label=units)
    ax.axhline(0.0, color="0.4", linewidth=1, linestyle="--")
    xs, fit = lowess(x, y, frac=frac)
    ax.plot(xs, fit, color="C3", linewidth=2, label=f"LOWESS (frac = {frac:.2f})")


# -- the per-unit lines of the level-1 equation graphs ----------------------------------------

def sample_units(n_units: int, sample: int | None, seed: int) -> np.ndarray:
    """Indices of the units to draw: all, or ``sample`` of them drawn without replacement
    (sorted; SpecError for a negative ``sample``)."""
    if sample is not None and sample < 0:
        raise SpecError(f"sample must be a number of units >= 0 (0 or None: all), not {sample}")
    if sample and sample < n_units:
        return np.sort(np.random.default_rng(seed).choice(n_units, size=sample, replace=False))
    return np.arange(n_units)


def unit_ranges(column: np.ndarray, unit: np.ndarray, n_units: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """Each unit's smallest and largest value of ``column`` (rows of unit ``unit[i]``)."""
    lo = np.full(n_units, np.inf)
    hi = np.full(n_units, -np.inf)
    np.minimum.at(lo, unit, column)
    np.maximum.at(hi, unit, column)
    return lo, hi


def unit_means(X: np.ndarray, unit: np.ndarray, n_per_unit: np.ndarray) -> np.ndarray:
    """Each unit's mean of each column of ``X`` (rows of unit ``unit[i]``), (J, P)."""
    sums = np.zeros((len(n_per_unit), X.shape[1]))
    np.add.at(sums, unit, X)
    return sums / n_per_unit[:, None]


def line_intercepts(means: np.ndarray, coefs: np.ndarray, p: int) -> np.ndarray:
    """Each unit's level-1 equation (coefficients ``coefs``, (J, P)) evaluated at the unit's
    ``means`` of the predictors other than column ``p``: the intercept of its line in X_p."""
    return np.einsum("jp,jp->j", means, coefs) - means[:, p] * coefs[:, p]
