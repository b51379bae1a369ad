"""The arrays a two-level GLMM is fitted on, from a linear :class:`Design` plus the level-1
extras of a non-normal outcome (trials, exposure), and per-unit reductions.

Rows need not be sorted: every per-unit sum is a ``np.bincount`` over the unit index, one
column at a time, so nothing loops over units in Python.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from openhlm.estimation.design import Design
from openhlm.estimation.glmm.families import Family

__all__ = ["GLMMData", "unit_sum", "unit_outer"]


@dataclass(frozen=True)
class GLMMData:
    """Outcome, trials, offset, fixed design A (N x p, free gammas), random design Z (N x R)."""

    design: Design
    family: Family
    y: np.ndarray
    n: np.ndarray
    offset: np.ndarray
    A: np.ndarray
    Z: np.ndarray
    unit: np.ndarray
    J: int
    constant: float          # sum of the rows' constants (see Family.constant)

    @property
    def N(self) -> int:
        return int(self.y.shape[0])

    @property
    def p(self) -> int:
        return int(self.A.shape[1])

    @property
    def R(self) -> int:
        return int(self.Z.shape[1])


def glmm_data(design: Design, fam: Family, trials: np.ndarray | None = None,
              exposure: np.ndarray | None = None) -> GLMMData:
    y = np.asarray(design.y, dtype=float)
    n = np.ones_like(y) if trials is None else np.asarray(trials, dtype=float)
    offset = np.zeros_like(y) if exposure is None else np.log(np.asarray(exposure, dtype=float))
    return GLMMData(design=design, family=fam, y=y, n=n, offset=offset, A=design.A(),
                    Z=design.Z(), unit=np.asarray(design.unit, dtype=np.int64),
                    J=design.n_level2, constant=float(fam.constant(y, n).sum()))


def unit_sum(unit: np.ndarray, values: np.ndarray, J: int) -> np.ndarray:
    """Per-unit sums of ``values`` (N,) or (N, k) -> (J,) or (J, k)."""
    if values.ndim == 1:
        return np.bincount(unit, weights=values, minlength=J)
    return np.stack([np.bincount(unit, weights=values[:, k], minlength=J)
                     for k in range(values.shape[1])], axis=1).reshape(J, values.shape[1])


def unit_outer(unit: np.ndarray, w: np.ndarray, X: np.ndarray, Y: np.ndarray,
               J: int) -> np.ndarray:
    """Per-unit sum_i w_i X_i Y_i' -> (J, a, b)."""
    a, b = X.shape[1], Y.shape[1]
    out = np.empty((J, a, b))
    wX = X * w[:, None]
    symmetric = X is Y
    for r in range(a):
        for c in range(b):
            if symmetric and c < r:
                out[:, r, c] = out[:, c, r]
                continue
            out[:, r, c] = np.bincount(unit, weights=wX[:, r] * Y[:, c], minlength=J)
    return out
