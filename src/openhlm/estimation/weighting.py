"""Weights as pure functions: resolve and check the weight variables, normalise, summarise.

The design builder (:func:`openhlm.estimation.design.build_design`) applies them to the rows and
units of the analysis (:func:`design_weights`); what the weights mean is in
:mod:`openhlm.estimation.weights`.  Nothing here builds a design or touches results.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from openhlm.errors import DataError, SpecError
from openhlm.spec.options import DEFAULT_NORMALIZATION, NORMALIZATIONS, normalization_mode

if TYPE_CHECKING:
    from openhlm.data import MDM
    from openhlm.spec.options import Weights

__all__ = [
    "DEFAULT_NORMALIZATION",
    "NORMALIZATIONS",
    "DesignWeights",
    "WeightingSpec",
    "check_weight_values",
    "design_weights",
    "normalization_mode",
    "normalize_level1",
    "normalize_level2",
    "resolve_weight_variable",
    "weight_values",
    "weighting_notes",
]

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


def resolve_weight_variable(mdm: MDM, name: str, level: int, what: str) -> str:
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


def weight_values(frame: pd.DataFrame, name: str, what: str) -> np.ndarray:
    column = frame[name]
    if not (pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)):
        raise DataError(f"{what} '{name}' is not numeric (type {column.dtype}); weights must be "
                        "non-negative numbers")
    return column.to_numpy(dtype=float)


def check_weight_values(values: np.ndarray, unit_ids: np.ndarray, name: str, what: str, *,
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


def normalize_level1(weights: np.ndarray, unit: np.ndarray, n_units: int, mode: str
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


def normalize_level2(weights: np.ndarray, mode: str) -> np.ndarray:
    """Level-2 design weights rescaled to sum to the number of positive-weight units."""
    w = np.asarray(weights, dtype=float)
    if mode == "none":
        return w
    return w * (float((w > 0).sum()) / w.sum())


@dataclass(frozen=True)
class DesignWeights:
    """The weights of the analysis rows/units, normalised, and their summary.

    ``row_weights`` (level-1 design), ``precision_weights`` (one per analysis row),
    ``unit_weights`` (one per analysis unit); ``None`` when not used.
    """

    row_weights: np.ndarray | None
    unit_weights: np.ndarray | None
    precision_weights: np.ndarray | None
    summary: WeightingSpec


def design_weights(weights: Weights, mdm: MDM, keep: np.ndarray, unit: np.ndarray,
                   present: np.ndarray) -> DesignWeights:
    """Resolve, check and normalise the weights of ``weights`` on the analysis rows and units.

    Parameters
    ----------
    weights : openhlm.spec.options.Weights
        Variable names (``level1``, ``level2``, ``precision``) and ``normalize``.
    mdm : openhlm.MDM
    keep : bool array (MDM level-1 rows)
        The analysis rows (decided once, by the design builder).
    unit : int array (analysis rows)
        Each analysis row's unit, 0..J-1 over the analysis units.
    present : int array (J,)
        The MDM positions of the analysis units.

    Raises
    ------
    SpecError
        Unknown variable, or a variable of the wrong level; a bad ``normalize``.
    DataError
        Non-numeric, missing, infinite or negative weights; level-1 weights that are all zero
        in a unit; level-2 weights that are all zero; precision weights that are not positive.
        The message names the variable and the units.
    """
    mode = normalization_mode(weights.normalize)
    unit_ids = np.asarray(mdm.unit_ids)
    row_units = unit_ids[np.asarray(mdm.unit_index)][keep]
    J = int(present.size)
    names: dict[str, str | None] = {"level1": None, "level2": None, "precision": None}
    d = p = w = None
    if weights.level1 is not None:
        name = names["level1"] = resolve_weight_variable(mdm, weights.level1, 1, "level-1 weight")
        d = weight_values(mdm.level1, name, "level-1 weight")[keep]
        check_weight_values(d, row_units, name, "level-1 weight", positive=False)
    if weights.precision is not None:
        name = names["precision"] = resolve_weight_variable(mdm, weights.precision, 1,
                                                            "precision weight")
        p = weight_values(mdm.level1, name, "precision weight")[keep]
        check_weight_values(p, row_units, name, "precision weight", positive=True)
    if weights.level2 is not None:
        name = names["level2"] = resolve_weight_variable(mdm, weights.level2, 2, "level-2 weight")
        values = weight_values(mdm.level2, name, "level-2 weight")
        check_weight_values(values, unit_ids, name, "level-2 weight", positive=False)
        w = values[present]
    zero_rows = zero_units = 0
    raw1 = raw2 = None
    if d is not None:
        sums = np.bincount(unit, weights=d, minlength=J)
        empty = sums <= 0
        if empty.any():
            raise DataError(f"level-1 weight '{names['level1']}' is zero for every row of "
                            f"{int(empty.sum())} unit(s) ({_units_text(unit_ids[present][empty])}"
                            "); such units contribute nothing: give them positive weights or "
                            "remove them")
        zero_rows, raw1 = int((d == 0).sum()), float(d.sum())
        d = normalize_level1(d, unit, J, mode)
    if w is not None:
        if not (w > 0).any():
            raise DataError(f"level-2 weight '{names['level2']}' is zero for every unit in the "
                            "analysis; give the units positive weights")
        zero_units, raw2 = int((w == 0).sum()), float(w.sum())
        w = normalize_level2(w, mode)
    summary = WeightingSpec(level1=names["level1"], level2=names["level2"],
                            precision=names["precision"], normalization=mode,
                            level1_zero_rows=zero_rows, level2_zero_units=zero_units,
                            level1_raw_sum=raw1, level2_raw_sum=raw2)
    return DesignWeights(d, w, p, summary)


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
