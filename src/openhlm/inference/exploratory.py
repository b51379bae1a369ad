"""HLM's "Exploratory Analysis" of potential level-2 predictors (docs/statistics.md 12.3).

For every random coefficient q and every candidate level-2 variable W that is *not* in the
model, HLM 6 prints "estimated level-2 coefficients and their standard errors obtained by
regressing EB residuals on level-2 predictors selected for possible inclusion in subsequent HLM
runs": a Coefficient, a Standard Error and a t value.  It is a screening device (the printed
counterpart of the seminar's plot of the intercept's EB residuals against ``pracad``,
:func:`openhlm.plots.eb_residuals_vs`): a large |t| suggests that W belongs in the level-2
equation of coefficient q.

What openhlm computes, for each q and W separately (a *simple* regression, one W at a time):

    u*_qj = a + b W_j + e_j,   j over the units with a value of W,

by ordinary least squares, unweighted, with an intercept:

* b = sum_j (W_j - W_bar)(u*_qj - u_bar) / S_WW,  S_WW = sum_j (W_j - W_bar)^2;
* SE(b) = sqrt(s^2 / S_WW),  s^2 = sum_j e_j^2 / (J_W - 2)  (the residual variance on
  J_W - 2 degrees of freedom, J_W = the number of units with a value of W);
* t = b / SE(b).

u*_qj are the empirical Bayes residuals of the residual file (``EB...`` columns of
``results.level2_residuals()``; :func:`openhlm.inference.residuals.eb_estimates`).

**What is not known about HLM**: HLM's manual names the regression but not its standard error.
HLM could divide by J - 2 or J - 1, weight the units (by level-2 design weights or by the
precision of u*_qj) or use the EB residuals' sampling variance; none of this is documented and
no printed example was available to check against.  The numbers above are those of R's
``lm(u ~ W)`` on the same residuals (checked in ``tests/unit/inference/test_exploratory.py``
against lme4's conditional modes).  Level-2 design weights are *not* used.  All J units of the
analysis enter every regression (an MDM has no missing level-2 values).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from openhlm.errors import EstimationError, SpecError
from openhlm.inference.residuals import eb_estimates
from openhlm.results.exploratory import EXPLORATORY_TITLE, ExploratoryAnalysis
from openhlm.spec.names import close_matches, did_you_mean

if TYPE_CHECKING:
    from openhlm.results import HLMResults

__all__ = ["EXPLORATORY_TITLE", "ExploratoryAnalysis", "exploratory", "resolve_candidates",
           "simple_regressions", "with_exploratory"]


def _model_level2_variables(results: HLMResults) -> set[str]:
    return {p.name.lower() for c in results.spec.coefficients for p in c.equation.predictors}


def _resolve(candidates: str | Iterable[str], results: HLMResults) -> tuple[str, ...]:
    """The candidates spelled as in the MDM, checked: level-2, not in the model, once each."""
    level2 = [str(c) for c in results.estimates.design.level2_data.columns]  # type: ignore[union-attr]
    level1 = [str(c) for c in results.estimates.design.level1_data.columns]  # type: ignore[union-attr]
    return resolve_candidates(candidates, level2, _model_level2_variables(results), level=2,
                              option="exploratory", other_levels={1: level1})


def resolve_candidates(candidates: str | Iterable[str], own: Sequence[str], in_model: set[str],
                       *, level: int, option: str, other_levels: Mapping[int, Sequence[str]],
                       hints: Mapping[int, str] | None = None) -> tuple[str, ...]:
    """Exploratory candidates spelled as in the data, checked (shared by the two- and
    three-level analyses, :mod:`openhlm.inference.exploratory3`).

    ``own`` are the variables of ``level``, ``in_model`` the lower-cased ones already in the
    model's level-``level`` equations, ``option`` the option's name in messages,
    ``other_levels`` the variables of the other levels (in the order they are named when a
    candidate is one of them) and ``hints`` a sentence to add for a candidate of such a level.

    Raises SpecError for a candidate list that is not a list or is empty, a candidate that is
    not a name, of another level, unknown, in the model or named twice; every message lists
    the allowed candidates.
    """
    allowed = [v for v in own if v.lower() not in in_model]
    listed = (", ".join(allowed) if allowed
              else f"none: every level-{level} variable is in the model")
    what = f"level-{level} variables not in the model's level-{level} equations"
    if isinstance(candidates, str):
        candidates = [candidates]
    try:
        names = list(candidates)
    except TypeError:
        raise SpecError(f"{option} must be a list of level-{level} variable names, not "
                        f"{type(candidates).__name__} (allowed: {listed})") from None
    if not names:
        raise SpecError(f"{option} names no candidate level-{level} variable: the analysis "
                        f"needs at least one candidate (allowed: {listed})")
    lower = {v.lower(): v for v in own}
    out: list[str] = []
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise SpecError(f"{option} candidates must be variable names, found {name!r} "
                            f"(allowed: {listed})")
        key = name.strip().lower()
        if key not in lower:
            other = [lv for lv, variables in other_levels.items()
                     if key in {v.lower() for v in variables}]
            if other:
                why = f"is a level-{other[0]} variable" + (hints or {}).get(other[0], "")
            else:
                why = "is not a variable of the MDM" + did_you_mean(close_matches(name, allowed))
            raise SpecError(f"{option} candidate '{name}' {why}: candidates are {what} "
                            f"(allowed: {listed})")
        if key in in_model:
            raise SpecError(f"{option} candidate '{name}' is already in the model's "
                            f"level-{level} equations: candidates are {what} "
                            f"(allowed: {listed})")
        if lower[key] in out:
            raise SpecError(f"{option} candidate '{name}' is named twice")
        out.append(lower[key])
    return tuple(out)


def exploratory(results: HLMResults, candidates: str | Iterable[str]) -> ExploratoryAnalysis:
    """HLM's exploratory analysis of potential level-2 predictors.

    Regresses the EB residuals u*_qj of each random coefficient on each candidate level-2
    variable W_j in turn (OLS with an intercept over the units; SE from the residual variance
    on J_W - 2 d.f.; see the module docstring for what is and is not known about HLM's
    formula).

    Parameters
    ----------
    results : HLMResults
        A fitted model with at least one random coefficient.
    candidates : str or iterable of str
        Level-2 variables of the MDM that are not in the model's level-2 equations
        (case-insensitive), e.g. ``["pracad", "disclim"]``.

    Returns
    -------
    ExploratoryAnalysis

    Raises
    ------
    SpecError
        A candidate that is not a level-2 variable of the MDM, is in the model, is named twice,
        is not numeric or is constant over the units; fewer than 3 units.
    EstimationError
        The results carry no estimates (hand-built or pooled results) or have no random
        coefficient.

    Examples
    --------
    >>> res = openhlm.fit(model4, openhlm.datasets.hsb())        # doctest: +SKIP
    >>> print(openhlm.exploratory(res, ["pracad", "disclim"]))  # doctest: +SKIP
    """
    if results.estimates is None:
        raise EstimationError("the exploratory analysis needs the EB residuals of a fitted "
                              "model; these results carry no estimates (refit the model with "
                              "openhlm.fit)")
    names = _resolve(candidates, results)
    # the EB residuals infer stored (computed here only for results built without them);
    # eb_estimates raises EstimationError without random coefficients
    eb = results.eb if results.eb is not None else eb_estimates(results.estimates)
    u = eb.eb_residuals                                     # (J, R)
    frame = results.estimates.design.level2_data
    J = u.shape[0]
    if J < 3:
        raise SpecError(f"the exploratory analysis needs at least 3 level-2 units, not {J}")
    try:
        W = frame[list(names)].to_numpy(dtype=float)        # (J, K)
    except (TypeError, ValueError):
        raise SpecError(f"exploratory candidates must be numeric level-2 variables "
                        f"({', '.join(names)})") from None
    if not np.isfinite(W).all():  # an MDM has no missing level-2 values; defensive
        raise SpecError("exploratory candidates have missing values in the analysed units")
    b, se, t, a = simple_regressions(u, W, names)
    return ExploratoryAnalysis(
        coefficients=eb.random_labels, coefficient_indices=eb.random_indices,
        candidates=names, estimate=b, se=se, t=t, intercept=a, n_units=J)


def simple_regressions(u: np.ndarray, W: np.ndarray, names: tuple[str, ...], *,
                       unit: str = "unit") -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                    np.ndarray]:
    """OLS of each column of ``u`` (n, R) on each column of ``W`` (n, K) with an intercept,
    one candidate at a time: slopes b, SEs (residual variance on n - 2 d.f.), t = b / SE and
    intercepts a, each (R, K) (the module docstring's formulas; shared by the three-level
    analysis, :mod:`openhlm.inference.exploratory3`).

    Raises SpecError for a candidate with the same value in every row (``unit``: the word for
    the rows in the message, e.g. "level-3 unit")."""
    J = u.shape[0]
    x = W - W.mean(axis=0)
    sxx = np.einsum("jk,jk->k", x, x)                       # (K,)
    for k, name in enumerate(names):
        # centring leaves ~eps |W| of rounding per unit: constant when the spread is not above
        # that (a level-2 variable stored as 1e6 + value is not constant)
        if not sxx[k] > J * (1e-9 * max(1.0, float(np.abs(W[:, k]).max()))) ** 2:
            raise SpecError(f"exploratory candidate '{name}' has the same value in every "
                            f"{unit} of the analysis: it cannot predict anything")
    uc = u - u.mean(axis=0)
    b = (uc.T @ x) / sxx                                    # (R, K)
    resid = uc[:, :, None] - x[:, None, :] * b[None, :, :]  # (J, R, K)
    se = np.sqrt(np.einsum("jrk,jrk->rk", resid, resid) / (J - 2) / sxx)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = b / se
    a = u.mean(axis=0)[:, None] - b * W.mean(axis=0)
    return b, se, t, a


def with_exploratory(results: HLMResults, candidates: str | Iterable[str] | None
                     ) -> HLMResults:
    """``results`` with :func:`exploratory` stored in ``results.extras["exploratory"]``
    (unchanged when ``candidates`` is ``None``)."""
    if candidates is None:
        return results
    block = exploratory(results, candidates)

    return replace(results, extras={**results.extras, "exploratory": block})
