"""HLM3's exploratory analysis: potential level-2 and level-3 predictors of a three-level model.

HLM3 offers the two-level "Exploratory Analysis" (:mod:`openhlm.inference.exploratory`) at two
levels: "potential level-2 predictors" of the level-1 coefficients random at level 2 (the pi's)
and "potential level-3 predictors" of the level-2 coefficients random at level 3 (the betas).
openhlm computes each as the two-level block, one level up where needed:

* level 2: for every random ``Pp`` and every candidate level-2 variable X not in the model's
  level-2 equations, the OLS regression (with an intercept, one candidate at a time) of the EB
  residuals ``r*_pjk`` (``EBRp`` of the level-2 residual file) on X over the J level-2 units;
* level 3: for every random ``Bpq`` and every candidate level-3 variable W not in the model's
  level-3 equations, the regression of the EB residuals ``u*_pqk`` (``EBUpq`` of the level-3
  residual file) on W over the K level-3 units;

each giving the slope, its standard error from the residual variance on (units - 2) d.f. and
the t value (:func:`openhlm.inference.exploratory.simple_regressions`, the two-level formulas).

**What is not known about HLM3**: as for HLM2, HLM3's manual names the regression but not its
standard error, and no HLM3 printout of the block was found; the numbers are those of R's
``lm(r ~ X)`` / ``lm(u ~ W)`` on the residual files' EB residuals.  Design weights are not
used.  Level-2 candidates are regressed on r alone (the level-3 units play no part).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from openhlm.errors import EstimationError, SpecError
from openhlm.inference.exploratory import resolve_candidates, simple_regressions
from openhlm.results.exploratory import ExploratoryAnalysis

if TYPE_CHECKING:
    from openhlm.results.three_level import HLM3Results

__all__ = ["EXTRA_KEY_LEVEL3", "exploratory3", "with_exploratory3"]

#: ``results.extras`` key of the level-3 block (the level-2 block is under ``"exploratory"``,
#: as for two-level models).
EXTRA_KEY_LEVEL3 = "exploratory_level3"


def _frames(results: HLM3Results) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    if "multiple_imputation" in results.extras:
        raise EstimationError("results pooled over imputed data sets have no EB residuals to "
                              "regress: run the exploratory analysis on each fit, "
                              "results.extras['multiple_imputation'].fits[m]")
    frames: Any = results.data_frames
    if len(frames) != 3:
        raise EstimationError("the exploratory analysis needs the data of a fitted model; these "
                              "results carry none (pooled or loaded from JSON?): refit the "
                              "model with openhlm.fit")
    return frames[0], frames[1], frames[2]


#: what a candidate of another level is told, by the level asked for and the candidate's level
_HINTS = {2: {3: " (level-3 candidates go in exploratory3=)"},
          3: {2: " (level-2 candidates go in exploratory=)"}}


def _resolve(candidates: str | Iterable[str], level: int, frames: tuple[pd.DataFrame, ...],
             in_model: set[str], option: str) -> tuple[str, ...]:
    """The candidates spelled as in the MDM, checked: of ``level``, not in the model, once."""
    columns = {lv: [str(c) for c in frames[lv - 1].columns] for lv in (1, 2, 3)}
    own = columns.pop(level)
    return resolve_candidates(candidates, own, in_model, level=level, option=option,
                              other_levels=columns, hints=_HINTS[level])


def _block(results: HLM3Results, candidates: str | Iterable[str], level: int
           ) -> ExploratoryAnalysis:
    frames = _frames(results)
    spec = results.spec
    option = "exploratory" if level == 2 else "exploratory3"
    if level == 2:
        in_model = {v.lower() for v in spec.level2_variables()}
        u = np.asarray(results.eb_level2, dtype=float)
        pis = spec.random_pis
        coefficients = tuple(results.tau_pi_labels)
        indices = tuple(pi.index for pi in pis)
        labels = tuple(f"{c},P{pi.index}" for c, pi in zip(coefficients, pis, strict=True))
        effects = tuple(f"R{pi.index}" for pi in pis)
        none = "the model has no level-1 coefficient random at level 2 (no R in its equations)"
    else:
        in_model = {v.lower() for v in spec.level3_variables()}
        u = np.asarray(results.eb_level3, dtype=float)
        betas = spec.random_betas
        coefficients = tuple(results.tau_beta_labels)
        indices = tuple(range(len(betas)))
        labels = tuple(f"{c},B{b.p}{b.q}" for c, b in zip(coefficients, betas, strict=True))
        effects = tuple(f"U{b.p}{b.q}" for b in betas)
        none = "the model has no level-2 coefficient random at level 3 (no U in its equations)"
    names = _resolve(candidates, level, frames, in_model, option)
    if u.ndim != 2 or not u.shape[1]:
        raise EstimationError(f"the level-{level} exploratory analysis regresses the level-"
                              f"{level} EB residuals, and {none}")
    n = u.shape[0]
    unit = f"level-{level} unit"
    if n < 3:
        raise SpecError(f"the level-{level} exploratory analysis needs at least 3 {unit}s, "
                        f"not {n}")
    frame = frames[level - 1]
    if len(frame) != n:   # the MDM's rows are the units of the analysis
        raise EstimationError(f"the level-{level} data do not match the fitted units; refit "
                              "the model with openhlm.fit")
    try:
        W = frame[list(names)].to_numpy(dtype=float)
    except (TypeError, ValueError):
        raise SpecError(f"{option} candidates must be numeric level-{level} variables "
                        f"({', '.join(names)})") from None
    if not np.isfinite(W).all():
        bad = [nm for k, nm in enumerate(names) if not np.isfinite(W[:, k]).all()]
        raise SpecError(f"{option} candidate '{bad[0]}' has missing values in the "
                        f"{unit}s of the analysis (give it a value in every {unit})")
    b, se, t, a = simple_regressions(u, W, names, unit=unit)
    return ExploratoryAnalysis(
        coefficients=coefficients, coefficient_indices=indices, candidates=names,
        estimate=b, se=se, t=t, intercept=a, n_units=n, level=level, row_labels=labels,
        effects=effects)


def exploratory3(results: HLM3Results, level2: str | Iterable[str] | None = None,
                 level3: str | Iterable[str] | None = None
                 ) -> dict[str, ExploratoryAnalysis]:
    """HLM3's exploratory analysis of potential level-2 and level-3 predictors.

    Parameters
    ----------
    results : HLM3Results
        A fitted three-level model.
    level2 : str or iterable of str, optional
        Level-2 variables not in the model's level-2 equations: each random pi's EB residuals
        r are regressed on each (over the J level-2 units).
    level3 : str or iterable of str, optional
        Level-3 variables not in the model's level-3 equations: each random beta's EB
        residuals u are regressed on each (over the K level-3 units).

    Returns
    -------
    dict
        ``{"exploratory": level-2 block, "exploratory_level3": level-3 block}`` (the blocks
        asked for), each an :class:`~openhlm.results.ExploratoryAnalysis`; the keys are those
        of ``results.extras``.

    Raises
    ------
    SpecError
        A candidate of another level, in the model, unknown, named twice, not numeric or
        constant; fewer than 3 units; neither level given.
    EstimationError
        No random coefficient at that level; results without data (pooled, from JSON).
    """
    if level2 is None and level3 is None:
        raise SpecError("the exploratory analysis needs level-2 candidates (exploratory=) "
                        "and/or level-3 candidates (exploratory3=)")
    out: dict[str, ExploratoryAnalysis] = {}
    if level2 is not None:
        out["exploratory"] = _block(results, level2, 2)
    if level3 is not None:
        out[EXTRA_KEY_LEVEL3] = _block(results, level3, 3)
    return out


def with_exploratory3(results: HLM3Results, level2: str | Iterable[str] | None,
                      level3: str | Iterable[str] | None) -> HLM3Results:
    """``results`` with :func:`exploratory3` stored in ``results.extras`` (unchanged when
    neither level is given)."""
    if level2 is None and level3 is None:
        return results
    results.extras.update(exploratory3(results, level2, level3))
    return results
