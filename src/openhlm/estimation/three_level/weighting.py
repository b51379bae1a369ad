"""Design weights at levels 1, 2 and 3 and level-1 precision weights of a three-level model.

What they mean (as for two-level models, ``docs/weights-and-imputation.md``, one level up):

* a **level-3 weight** v_k multiplies level-3 unit k's log-likelihood (pseudo-likelihood
  ``sum_k v_k l_k``); with integer weights this is the likelihood of the data in which unit k
  appears v_k times;
* a **level-2 weight** w_jk multiplies level-2 unit j's contribution inside its level-3 unit's
  integral over u_k: with integer weights, unit j appears w_jk times (as distinct level-2 units)
  in the same level-3 unit;
* a **level-1 weight** d_ijk: row i appears d_ijk times in the same level-2 unit;
* a **precision weight** p_ijk: Var(e_ijk) = sigma^2 / p_ijk (never normalised; lme4's
  ``weights=``).

Normalisation (``normalize_weights``; weights of zero are kept at zero and not counted):

* ``"within"`` (default): level-1 weights sum to the number of rows of their level-2 unit,
  level-2 weights to the number of level-2 units of their level-3 unit, level-3 weights to K;
* ``"overall"``: level-1 weights sum to N, level-2 weights to J, level-3 weights to K;
* ``"none"``: raw weights.

How they enter the statistics is in :mod:`openhlm.estimation.three_level.statistics`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from openhlm.errors import DataError, SpecError
from openhlm.estimation.three_level.design import Design3
from openhlm.estimation.weighting import (
    check_weight_values,
    normalize_level1,
    normalize_level2,
    weight_values,
)
from openhlm.spec.settings import normalization_mode

__all__ = ["Weighting3", "weighted_design3"]


@dataclasses.dataclass(frozen=True)
class Weighting3:
    """What weighting a three-level fit used (names; ``None``: not used)."""

    level1: str | None = None
    level2: str | None = None
    level3: str | None = None
    precision: str | None = None
    normalization: str = "within"
    zero_rows: int = 0
    zero_level2: int = 0
    zero_level3: int = 0


def _resolve(design: Design3, name: Any, level: int, what: str) -> str:
    if not isinstance(name, str):
        raise SpecError(f"{what} must be a variable name, not {type(name).__name__}")
    mdm = design.mdm
    stored = mdm.canonical_name(name)
    if stored is None:
        raise SpecError(f"{what} '{name}' is not a variable of the three-level data (level-{level}"
                        f" variables: {', '.join(map(str, _variables(design, level)))})")
    actual = mdm.level_of(stored)
    if actual != level:
        raise SpecError(f"{what} '{stored}' is a level-{actual} variable, not a level-{level} one;"
                        f" pass it as level{actual}_weight")
    return stored


def _variables(design: Design3, level: int) -> tuple[str, ...]:
    mdm = design.mdm
    return {1: mdm.level1_variables, 2: mdm.level2_variables,
            3: mdm.level3_variables}[level]


def _all_zero(values: np.ndarray, groups: np.ndarray, n: int, ids: np.ndarray, name: str,
              what: str, inside: str) -> None:
    sums = np.bincount(groups, weights=values, minlength=n)
    empty = np.flatnonzero(sums <= 0)
    if len(empty):
        shown = ", ".join(str(u) for u in ids[empty][:5])
        raise DataError(f"{what} '{name}' is zero for every {inside} of {len(empty)} unit(s) "
                        f"({shown}); such units contribute nothing: give them positive weights "
                        "or remove them")


def weighted_design3(design: Design3, weights: Any) -> Design3:
    """``design`` with the normalised weights of ``weights``
    (:class:`openhlm.spec.settings.Weights`) on its rows and units."""
    mode = normalization_mode(weights.normalize)
    mdm = design.mdm
    unit = design.unit_index
    J, K = design.n2, design.n3
    l3 = design.level3_index
    ids2 = np.asarray(mdm.unit_ids).astype(str)
    ids3 = np.asarray(mdm.level3_ids).astype(str)
    names: dict[str, str | None] = {"level1": None, "level2": None, "level3": None,
                                    "precision": None}
    d = w = v = p = None
    zero = [0, 0, 0]
    if weights.level1 is not None:
        name = names["level1"] = _resolve(design, weights.level1, 1, "level-1 weight")
        d = weight_values(mdm.level1, name, "level-1 weight")
        check_weight_values(d, ids2[unit], name, "level-1 weight", positive=False)
        _all_zero(d, unit, J, ids2, name, "level-1 weight", "row")
        zero[0] = int((d == 0).sum())
        d = normalize_level1(d, unit, J, mode)
    if weights.precision is not None:
        name = names["precision"] = _resolve(design, weights.precision, 1, "precision weight")
        p = weight_values(mdm.level1, name, "precision weight")
        check_weight_values(p, ids2[unit], name, "precision weight", positive=True)
    if weights.level2 is not None:
        name = names["level2"] = _resolve(design, weights.level2, 2, "level-2 weight")
        w = weight_values(mdm.level2, name, "level-2 weight")
        check_weight_values(w, ids2, name, "level-2 weight", positive=False)
        _all_zero(w, l3, K, ids3, name, "level-2 weight", "level-2 unit")
        zero[1] = int((w == 0).sum())
        w = normalize_level1(w, l3, K, mode)
    if weights.level3 is not None:
        name = names["level3"] = _resolve(design, weights.level3, 3, "level-3 weight")
        v = weight_values(mdm.level3, name, "level-3 weight")
        check_weight_values(v, ids3, name, "level-3 weight", positive=False)
        if not (v > 0).any():
            raise DataError(f"level-3 weight '{name}' is zero for every level-3 unit; give the "
                            "units positive weights")
        zero[2] = int((v == 0).sum())
        v = normalize_level2(v, mode)
    summary = Weighting3(level1=names["level1"], level2=names["level2"],
                         level3=names["level3"], precision=names["precision"],
                         normalization=mode, zero_rows=zero[0], zero_level2=zero[1],
                         zero_level3=zero[2])
    return dataclasses.replace(design, row_weights=d, unit_weights=w, level3_weights=v,
                               precision_weights=p, weighting=summary)
