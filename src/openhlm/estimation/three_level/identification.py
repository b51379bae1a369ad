"""Refuse three-level designs whose variance components cannot be estimated.

The three-level counterpart of :mod:`openhlm.estimation.identification` (whose scale-free
within-unit rule it uses): sigma^2 comes from the variation within level-2 units, tau(pi)
from the variation between level-2 units within level-3 units, tau(beta) from the variation
between level-3 units.  Without the data for one of them the likelihood is flat or unbounded
and an optimiser would return a meaningless fit, so each case is a one-line error naming the
cause and what to do, raised before estimation (:func:`check_design3`).
"""

from __future__ import annotations

import numpy as np

from openhlm.errors import DataError, EstimationError
from openhlm.estimation.identification import CONSTANT_TOLERANCE, within_unit_deviations
from openhlm.estimation.three_level.design import Design3

__all__ = ["check_design3"]


def _constant_within(values: np.ndarray, unit: np.ndarray, n_units: int) -> np.ndarray:
    """(k,) whether each column of ``values`` (N, k) is constant within every unit
    (:mod:`openhlm.estimation.identification`'s scale-free rule)."""
    if values.shape[1] == 0:
        return np.zeros(0, dtype=bool)
    dev = within_unit_deviations(values, unit, n_units)
    scale = np.max(np.abs(values), axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    return np.all(np.abs(dev) <= CONSTANT_TOLERANCE * scale, axis=0)


def check_design3(design: Design3) -> None:
    """One-line errors, in order: a constant outcome; one level-3 unit with level-3 random
    effects; no level-2 unit with more records than random pi's (sigma^2 and tau(pi)
    confounded, e.g. one record per level-2 unit); an outcome constant within every level-2
    unit (sigma^2 = 0); a random pi whose variable is constant within every level-2 unit; a
    random beta whose column is constant within every level-3 unit."""
    spec = design.spec
    y = design.y
    N, J, K = design.n1, design.n2, int(design.level3_index.max()) + 1 if design.n2 else 0
    if N and np.all(np.abs(y - y[0]) <= CONSTANT_TOLERANCE * max(float(np.abs(y).max()), 1.0)):
        raise DataError(f"the outcome '{spec.outcome}' is constant (every value is {y[0]:g}): "
                        "there is no variation to model; check the outcome variable")
    r2, r3 = design.Z2.shape[1], design.Z3.shape[1]
    if r3 and K < 2:
        raise DataError("the data hold only one level-3 unit: the level-3 variances "
                        "(tau(beta)) cannot be estimated from one unit; use data with several "
                        "level-3 units or fit a two-level model")
    unit = design.unit_index
    n_j = np.bincount(unit, minlength=J)
    if r2 and int(np.sum(np.maximum(n_j - r2, 0))) == 0:
        raise EstimationError(
            f"sigma^2 is not identified: no level-2 unit has more level-1 records than random "
            f"level-1 coefficients ({r2}; largest unit {int(n_j.max())} records), so sigma^2 "
            "and tau(pi) cannot be told apart; make some pi's fixed (remove their R terms) or "
            "use data with several records per level-2 unit")
    if N > J and bool(_constant_within(y[:, None], unit, J)[0]):
        raise DataError(f"the outcome '{spec.outcome}' is constant within every level-2 unit, "
                        "so the level-1 variance sigma^2 is 0 and the model cannot be "
                        "estimated; check the outcome (is it a level-2 variable or an "
                        "aggregate?)")
    pis = spec.random_pis
    constant2 = _constant_within(design.Z2, unit, J)
    for i, pi in enumerate(pis):
        if pi.predictor is not None and constant2[i]:
            raise EstimationError(
                f"the random slope of '{pi.predictor.name}' ({pi.name}) is not identified: it "
                "is constant within every level-2 unit, so its level-2 variance cannot be "
                f"estimated; remove the R term of {pi.name} or use '{pi.predictor.name}' as a "
                "level-2 predictor")
    betas = spec.random_betas
    if r3:
        row3 = design.level3_index[unit]
        constant3 = _constant_within(design.Z3, row3, K)
        for i, beta in enumerate(betas):
            if constant3[i] and not np.all(design.Z3[:, i] == 1.0):
                raise EstimationError(
                    f"the random level-3 coefficient {beta.name} is not identified: its "
                    "variable is constant within every level-3 unit, so its level-3 variance "
                    f"cannot be estimated; remove the U term of {beta.name}")
