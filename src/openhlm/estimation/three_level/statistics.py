"""Per-level-2-unit sufficient statistics of a three-level model.

For each level-2 unit j (rows grouped by unit) one cross-product matrix ``S_j = D_j' D_j`` of
``D = [A_c, Z3, y_c, Z2]``: every block the likelihood needs (A'A, A'Z3, A'y, A'Z2, Z3'Z3,
Z3'y, Z3'Z2, y'y, y'Z2, Z2'Z2).  One pass over the rows in chunks (``np.add.reduceat`` over
the sorted rows; no loop over units).

Stability: when the fixed part has an intercept column (all ones), the outcome and the other
fixed columns are centred at their grand means (``A_c = A - 1 m'``, ``y_c = y - ybar``); this
is a reparametrisation of the fixed effects with unit Jacobian determinant, so the likelihood
is unchanged, and :meth:`Stats3.to_original` maps gamma and its covariance back exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from openhlm.estimation.three_level.design import Design3

__all__ = ["Stats3", "unit_statistics"]

_CHUNK_CELLS = 4_000_000  # rows * m * m per chunk


@dataclass(frozen=True, eq=False)
class Stats3:
    S: np.ndarray              # (J, m, m), m = F + R3 + 1 + R2
    level3_starts: np.ndarray  # (K,) first level-2 unit of each level-3 unit
    n_fixed: int
    n_r3: int
    n_r2: int
    n1: int
    shift: np.ndarray          # (F,) column means subtracted (0 for the intercept)
    y_mean: float
    intercept: int | None      # index of the all-ones column of A
    S_outer: np.ndarray        # (J, g, g) contiguous copies of the blocks of S
    S_cross: np.ndarray        # (J, g, R2)
    S_inner: np.ndarray        # (J, R2, R2)
    S_all_cross: np.ndarray    # (J, m, R2)
    S_k: np.ndarray            # (K, m, m): S summed over the level-2 units of each level-3 unit
    level3_of: np.ndarray      # (J,) level-3 unit of each level-2 unit
    position: np.ndarray       # (J,) position of the level-2 unit within its level-3 unit
    max_units: int             # most level-2 units in a level-3 unit
    #: weights (docs/three-level.md): of each level-2 unit within its level-3 unit (J,), of each
    #: level-3 unit (K,), their product (J,); the weighted number of rows (N unweighted) and
    #: the precision weights' term of log|V|, -sum d w v log p
    w2: np.ndarray | None = None
    w3: np.ndarray | None = None
    omega: np.ndarray | None = None
    n_eff: float = 0.0
    logdet_shift: float = 0.0

    @property
    def weighted(self) -> bool:
        return self.w2 is not None or self.w3 is not None

    @property
    def nu(self) -> float:
        """The (weighted) number of rows."""
        return self.n_eff if self.n_eff > 0 else float(self.n1)

    @property
    def g(self) -> int:
        """Size of the outer block [A, Z3, y]."""
        return self.n_fixed + self.n_r3 + 1

    def to_original(self, gamma: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """gamma and its covariance of the uncentred columns."""
        if self.intercept is None:
            return gamma, cov
        T = np.eye(len(gamma))
        T[self.intercept] -= self.shift
        out = T @ gamma
        out[self.intercept] += self.y_mean
        return out, T @ cov @ T.T


def unit_statistics(design: Design3) -> Stats3:
    A = design.A
    F = A.shape[1]
    ones = [i for i in range(F) if np.all(A[:, i] == 1.0)]
    intercept = ones[0] if ones else None
    if intercept is not None:
        shift = A.mean(axis=0)
        shift[intercept] = 0.0
        y_mean = float(design.y.mean())
    else:
        shift, y_mean = np.zeros(F), 0.0
    D = np.column_stack([A - shift, design.Z3, design.y - y_mean, design.Z2])
    n, m = D.shape
    row_factor = None   # level-1 design weights times precision weights
    for extra in (design.row_weights, design.precision_weights):
        if extra is not None:
            row_factor = extra if row_factor is None else row_factor * extra
    unit = design.unit_index
    J = design.n2
    starts = np.searchsorted(unit, np.arange(J))
    S = np.zeros((J, m, m))
    rows_per_chunk = max(1, _CHUNK_CELLS // max(m * m, 1))
    # chunk at unit boundaries
    j0 = 0
    while j0 < J:
        r0 = starts[j0]
        j1 = int(np.searchsorted(starts, r0 + rows_per_chunk, side="right"))
        j1 = max(j1, j0 + 1)
        j1 = min(j1, J)
        r1 = starts[j1] if j1 < J else n
        block = D[r0:r1]
        outer = block[:, :, None] * block[:, None, :]
        if row_factor is not None:
            outer *= row_factor[r0:r1, None, None]
        S[j0:j1] = np.add.reduceat(outer, starts[j0:j1] - r0, axis=0)
        j0 = j1
    level3 = design.level3_index
    level3_starts = np.searchsorted(level3, np.arange(int(level3.max()) + 1))
    g = F + design.Z3.shape[1] + 1
    level3_of = np.asarray(level3, dtype=np.int64)
    position = np.arange(J) - level3_starts[level3_of]
    w2, w3 = design.unit_weights, design.level3_weights
    omega = None
    if w2 is not None or w3 is not None:
        omega = (np.ones(J) if w2 is None else w2) * (1.0 if w3 is None else w3[level3_of])
    row_w = np.ones(n) if design.row_weights is None else design.row_weights
    if omega is not None:
        row_w = row_w * omega[unit]
    logdet_shift = 0.0
    if design.precision_weights is not None:
        logdet_shift = -float(row_w @ np.log(design.precision_weights))
    S_w = S if w2 is None else S * w2[:, None, None]
    return Stats3(w2=w2, w3=w3, omega=omega, n_eff=float(row_w.sum()),
                  logdet_shift=logdet_shift,S=S, level3_starts=level3_starts, n_fixed=F, n_r3=design.Z3.shape[1],
                  n_r2=design.Z2.shape[1], n1=n, shift=shift, y_mean=y_mean,
                  intercept=intercept, S_outer=np.ascontiguousarray(S[:, :g, :g]),
                  S_cross=np.ascontiguousarray(S[:, :g, g:]),
                  S_inner=np.ascontiguousarray(S[:, g:, g:]),
                  S_all_cross=np.ascontiguousarray(S[:, :, g:]),
                  S_k=np.add.reduceat(S_w, level3_starts, axis=0), level3_of=level3_of,
                  position=position, max_units=int(position.max()) + 1)
