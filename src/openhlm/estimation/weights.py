"""Design (sampling) weights at both levels and level-1 precision weights.

What the weights mean (hlm-statistics.md section 13; ``docs/weights-and-imputation.md``)
----------------------------------------------------------------------------------------
* **Level-2 design weights** w_j multiply unit j's contribution to the log-likelihood, the GLS
  sums, the EM sums and the robust "meat" (which gets w_j^2): the pseudo-likelihood
  l_w = sum_j w_j l_j (Pfeffermann et al. 1998).  With integer raw weights this is exactly the
  likelihood of the data in which unit j appears w_j times (as w_j distinct units).
* **Level-1 design weights** d_ij are the power of row i's conditional density inside unit j's
  integral over u_j (Rabe-Hesketh & Skrondal 2006).  For the linear model the integrand is then
  the one of the data in which row i appears d_ij times *in the same unit*, so the weighted
  pseudo-likelihood equals the likelihood of those repeated rows: V_j = Z T Z' + sigma^2
  Omega_j^-1 in the Omega-weighted cross-products, n_j replaced by sum_i d_ij in the sigma^2 and
  log 2 pi terms, and no log-weight term.  (Reading the weights as known precisions instead,
  r_ij ~ N(0, sigma^2 / d_ij), gives the same estimates when the weights sum to n_j in every
  unit; its deviance is lower by sum log d_ij.)
* **Precision weights** p_ij (HLM's ``varianceknown``) are known relative level-1 precisions,
  Var(r_ij) = sigma^2 / p_ij; they are never normalised and enter log|V_j| as -sum log p_ij.

Normalisation (HLM's "Normalized?" column), over the rows and units in the analysis, with
weights of zero excluded from the counts:

* ``"within"`` (the default, ``normalize_weights=True``): level-1 weights rescaled to sum to
  n_j, the number of positive-weight rows, within every unit (Pfeffermann's "method A", the
  most defensible reading of HLM 7); level-2 weights rescaled to sum to J, the number of units
  with positive weight.
* ``"overall"``: level-1 weights rescaled to sum to N, the number of positive-weight rows, over
  the whole sample (possibly HLM 6's rule, open question 9); level-2 weights to sum to J.
* ``"none"`` (``normalize_weights=False``): raw weights (unscaled pseudo-ML, as Stata ``mixed``,
  GLLAMM and Mplus use them).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from openhlm.errors import DataError, SpecError
from openhlm.estimation.design import Design, build_design
from openhlm.spec.model import ModelSpec

if TYPE_CHECKING:
    from openhlm.data import MDM
    from openhlm.results import HLMResults

__all__ = [
    "DEFAULT_NORMALIZATION",
    "NORMALIZATIONS",
    "WeightingSpec",
    "normalise_level1",
    "normalise_level2",
    "normalization_mode",
    "weighted_design",
]

#: Accepted normalisation modes.
NORMALIZATIONS = ("within", "overall", "none")
#: What ``normalize_weights=True`` means.
DEFAULT_NORMALIZATION = "within"

_MAX_LISTED = 5


@dataclass(frozen=True)
class WeightingSpec:
    """What weighting a fit used (HLM's "Weighting Specification" table).

    Attributes
    ----------
    level1, level2, precision : str or None
        Weight variable names (MDM spelling), ``None`` when not used.
    normalization : {"within", "overall", "none"}
        How the design weights were normalised (precision weights never are).
    level1_zero_rows : int
        Level-1 rows in the analysis with design weight 0 (they contribute nothing).
    level2_zero_units : int
        Level-2 units in the analysis with design weight 0.
    level1_raw_sum, level2_raw_sum : float or None
        Sums of the raw design weights over the analysis rows / units.
    """

    level1: str | None = None
    level2: str | None = None
    precision: str | None = None
    normalization: str = DEFAULT_NORMALIZATION
    level1_zero_rows: int = 0
    level2_zero_units: int = 0
    level1_raw_sum: float | None = None
    level2_raw_sum: float | None = None

    @property
    def weighted(self) -> bool:
        return any(v is not None for v in (self.level1, self.level2, self.precision))

    @property
    def design_weighted(self) -> bool:
        return self.level1 is not None or self.level2 is not None

    def normalized(self, level: str) -> str:
        """The "Normalized?" entry of ``level`` ("level1", "level2" or "precision")."""
        name = getattr(self, level)
        if name is None:
            return ""
        if level == "precision" or self.normalization == "none":
            return "no"
        if level == "level2":
            return "yes (sum = J)"
        return "yes (sum = n_j)" if self.normalization == "within" else "yes (sum = N)"


def normalization_mode(normalize: bool | str) -> str:
    """``normalize_weights`` as one of :data:`NORMALIZATIONS` (True -> ``"within"``)."""
    if normalize is True:
        return DEFAULT_NORMALIZATION
    if normalize is False or normalize is None:
        return "none"
    if isinstance(normalize, str) and normalize.lower() in NORMALIZATIONS:
        return normalize.lower()
    if isinstance(normalize, str) and normalize.lower() in ("raw", "no", "false"):
        return "none"
    raise SpecError(f"normalize_weights must be True, False, 'within', 'overall' or 'none', "
                    f"not {normalize!r}")


def _resolve(mdm: MDM, name: str, level: int, what: str) -> str:
    if not isinstance(name, str):
        raise SpecError(f"{what} must be the name of a level-{level} variable, not "
                        f"{type(name).__name__}")
    stored = mdm.canonical_name(name)
    if stored is None:
        available = mdm.level1_variables if level == 1 else mdm.level2_variables
        raise SpecError(f"{what} '{name}' is not a variable of the MDM (weights must be "
                        "numeric; non-numeric columns are not MDM variables); level-"
                        f"{level} variables: {', '.join(map(str, available))}")
    actual = mdm.level_of(stored)
    if actual != level:
        hint = ("pass it as level2_weight" if actual == 2 else
                "pass it as level1_weight (or add it to the level-2 file)")
        raise SpecError(f"{what} '{stored}' is a level-{actual} variable, not a level-{level} "
                        f"one; {hint}")
    return stored


def _units_text(ids: np.ndarray) -> str:
    names = [str(u) for u in ids]
    shown = ", ".join(names[:_MAX_LISTED])
    return shown + (f" and {len(names) - _MAX_LISTED} more" if len(names) > _MAX_LISTED else "")


def _numeric(frame: pd.DataFrame, name: str, what: str) -> np.ndarray:
    column = frame[name]
    if not (pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)):
        raise DataError(f"{what} '{name}' is not numeric (type {column.dtype}); weights must be "
                        "non-negative numbers")
    return column.to_numpy(dtype=float)


def _check_values(values: np.ndarray, unit_ids: np.ndarray, name: str, what: str, *,
                  positive: bool) -> None:
    """Missing, infinite, negative (or, with ``positive``, zero) values -> DataError."""
    problems: tuple[tuple[np.ndarray, str, str], ...] = (
        (np.isnan(values), "missing values",
         "give every row in the analysis a weight (or delete those rows)"),
        (np.isinf(values), "infinite values", "correct the weights"),
        (values < 0, "negative values", "weights must be >= 0"),
    )
    if positive:
        advice_zero = ("precision weights must be > 0 (a zero precision means an infinite "
                       "variance: delete those rows instead)")
        problems += ((values == 0, "zero values", advice_zero),)
    for mask, kind, advice in problems:
        if mask.any():
            units = np.unique(unit_ids[mask])
            raise DataError(f"{what} '{name}' has {kind} ({int(mask.sum())} value(s), in "
                            f"unit(s) {_units_text(units)}); {advice}")


def normalise_level1(weights: np.ndarray, unit: np.ndarray, n_units: int, mode: str
                     ) -> np.ndarray:
    """Level-1 design weights rescaled per :data:`NORMALIZATIONS` (zero weights stay zero).

    ``"within"``: sum to the number of positive-weight rows in each unit; ``"overall"``: sum to
    the number of positive-weight rows in the sample; ``"none"``: unchanged.
    """
    w = np.asarray(weights, dtype=float)
    if mode == "none":
        return w
    positive = (w > 0).astype(float)
    if mode == "overall":
        return w * (positive.sum() / w.sum())
    counts = np.bincount(unit, weights=positive, minlength=n_units)
    sums = np.bincount(unit, weights=w, minlength=n_units)
    return w * (counts / sums)[unit]


def normalise_level2(weights: np.ndarray, mode: str) -> np.ndarray:
    """Level-2 design weights rescaled to sum to the number of positive-weight units."""
    w = np.asarray(weights, dtype=float)
    if mode == "none":
        return w
    return w * (float((w > 0).sum()) / w.sum())


def _analysis_rows(spec: ModelSpec, mdm: MDM) -> np.ndarray:
    """Level-1 rows :func:`build_design` keeps (complete on the model's level-1 variables)."""
    names = [mdm.canonical_name(n) for n in
             (spec.outcome, *spec.level1_variables(), *spec.variance_predictors)]
    names = [n for n in dict.fromkeys(names) if n is not None and n in mdm.level1.columns]
    if not names:
        return np.ones(len(mdm.level1), dtype=bool)
    return ~np.isnan(mdm.level1[names].to_numpy(dtype=float)).any(axis=1)


def weighted_design(spec: ModelSpec, mdm: MDM, *, level1_weight: str | None = None,
                    level2_weight: str | None = None, precision_weight: str | None = None,
                    normalize: bool | str = True) -> tuple[Design, WeightingSpec | None]:
    """Validate and normalise the weights and build the :class:`Design` that uses them.

    Parameters
    ----------
    spec : ModelSpec
    mdm : openhlm.MDM
    level1_weight, level2_weight : str, optional
        Level-1 / level-2 design (sampling) weight variables.
    precision_weight : str, optional
        Level-1 variable holding known relative precisions (HLM's ``varianceknown``).
    normalize : bool or {"within", "overall", "none"}
        Normalisation of the design weights (module docstring); True means ``"within"``.

    Returns
    -------
    (Design, WeightingSpec or None)
        ``None`` when no weight is used (then the design is the plain unweighted one).

    Raises
    ------
    SpecError
        Unknown variable, or a variable of the wrong level.
    DataError
        Non-numeric, missing, infinite or negative weights; level-1 weights that are all zero
        in a unit; level-2 weights that are all zero; precision weights that are not positive.
        The message names the variable and the units.
    """
    mode = normalization_mode(normalize)
    if level1_weight is None and level2_weight is None and precision_weight is None:
        return build_design(spec, mdm), None
    keep = _analysis_rows(spec, mdm)
    row_units = np.asarray(mdm.unit_ids)[np.asarray(mdm.unit_index)]
    kwargs: dict[str, np.ndarray] = {}
    names: dict[str, str | None] = {"level1": None, "level2": None, "precision": None}
    if level1_weight is not None:
        name = _resolve(mdm, level1_weight, 1, "level-1 weight")
        values = _numeric(mdm.level1, name, "level-1 weight")
        _check_values(values[keep], row_units[keep], name, "level-1 weight", positive=False)
        kwargs["row_weights"] = np.where(keep, values, np.nan)
        names["level1"] = name
    if precision_weight is not None:
        name = _resolve(mdm, precision_weight, 1, "precision weight")
        values = _numeric(mdm.level1, name, "precision weight")
        _check_values(values[keep], row_units[keep], name, "precision weight", positive=True)
        kwargs["precision_weights"] = np.where(keep, values, np.nan)
        names["precision"] = name
    if level2_weight is not None:
        name = _resolve(mdm, level2_weight, 2, "level-2 weight")
        values = _numeric(mdm.level2, name, "level-2 weight")
        _check_values(values, np.asarray(mdm.unit_ids), name, "level-2 weight", positive=False)
        kwargs["unit_weights"] = values
        names["level2"] = name
    design = build_design(spec, mdm, **kwargs)

    zero_rows = zero_units = 0
    raw1 = raw2 = None
    changes: dict[str, Any] = {}   # Design fields to replace
    if design.row_weights is not None:
        d = design.row_weights
        sums = np.bincount(design.unit, weights=d, minlength=design.n_level2)
        empty = sums <= 0
        if empty.any():
            raise DataError(f"level-1 weight '{names['level1']}' is zero for every row of "
                            f"{int(empty.sum())} unit(s) ({_units_text(design.unit_ids[empty])}); "
                            "such units contribute nothing: give them positive weights or "
                            "remove them")
        zero_rows = int((d == 0).sum())
        raw1 = float(d.sum())
        changes["row_weights"] = normalise_level1(d, design.unit, design.n_level2, mode)
    if design.unit_weights is not None:
        w = design.unit_weights
        if not (w > 0).any():
            raise DataError(f"level-2 weight '{names['level2']}' is zero for every unit in the "
                            "analysis; give the units positive weights")
        zero_units = int((w == 0).sum())
        raw2 = float(w.sum())
        changes["unit_weights"] = normalise_level2(w, mode)
    if changes:
        design = dataclasses.replace(design, **changes)
    weighting = WeightingSpec(level1=names["level1"], level2=names["level2"],
                              precision=names["precision"], normalization=mode,
                              level1_zero_rows=zero_rows, level2_zero_units=zero_units,
                              level1_raw_sum=raw1, level2_raw_sum=raw2)
    return design, weighting


def weighting_notes(weighting: WeightingSpec) -> tuple[str, ...]:
    """The report notes of a weighted fit."""
    notes = []
    if weighting.design_weighted:
        notes.append("Design weights were used (pseudo-maximum likelihood, normalisation: "
                     f"{weighting.normalization}): read the robust standard errors; the "
                     "model-based ones treat the weights as frequencies of identical units/rows.")
    if weighting.level1_zero_rows:
        notes.append(f"{weighting.level1_zero_rows} level-1 record(s) have level-1 weight 0 and "
                     "do not contribute to the estimates.")
    if weighting.level2_zero_units:
        notes.append(f"{weighting.level2_zero_units} level-2 unit(s) have level-2 weight 0 and "
                     "do not contribute to the estimates.")
    return tuple(notes)


def with_weighting(results: HLMResults, weighting: WeightingSpec | None) -> HLMResults:
    """``results`` (HLMResults) with the weighting block (``extras["weighting"]``) and notes."""
    if weighting is None:
        return results

    extras = {"weighting": weighting, **results.extras}
    return dataclasses.replace(results, extras=extras,
                               notes=tuple(results.notes) + weighting_notes(weighting))
