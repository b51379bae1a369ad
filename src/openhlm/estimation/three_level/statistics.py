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

_CHUNK_CELLS = 4_000_000  # rows * m * m per chunk (bounds the memory of the pair products)


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


_PAIR_ROWS = 4096  # rows per block of column-pair products (a small buffer, reused)


def _unit_cross_products(block: np.ndarray, unit: np.ndarray, J: int,
                         factor: np.ndarray | None = None) -> np.ndarray:
    """``D_j'D_j`` (J, m, m) for the rows of ``block`` of units ``unit`` (0..J-1, sorted), or
    ``sum_i f_i D_i D_i'`` with the row factors ``factor`` (level-1 design weights times
    precision weights): the products of each pair of columns (upper triangle), summed over
    each unit's rows (contiguous) by ``np.add.reduceat``, in blocks of whole units through one
    reused buffer (fresh large temporaries cost page faults that dominate at this size)."""
    n, m = block.shape
    a, b = np.triu_indices(m)
    starts = np.searchsorted(unit, np.arange(J + 1))
    position = np.arange(n) - starts[unit]
    most = int(position.max()) + 1 if n else 1
    if J * most <= 2 * n + 64:
        # balanced units: each column as a zero-padded (J, most rows) array, and one row-wise
        # dot product per pair of columns written straight into the output
        flat = np.zeros((m, J * most))
        flat[:, unit * most + position] = block.T
        padded = flat.reshape(m, J, most)
        left = padded
        if factor is not None:
            f = np.zeros(J * most)
            f[unit * most + position] = factor
            left = padded * f.reshape(J, most)
        out = np.empty((J, m, m))
        for i, j in zip(a.tolist(), b.tolist(), strict=True):
            np.einsum("jr,jr->j", left[i], padded[j], out=out[:, i, j])
            if i != j:
                out[:, j, i] = out[:, i, j]
        return out
    columns = np.ascontiguousarray(block.T)
    weighted = columns if factor is None else columns * factor
    upper = np.empty((len(a), J))
    pairs = np.empty((len(a), min(n, _PAIR_ROWS)))
    j0 = 0
    while j0 < J:
        r0 = int(starts[j0])
        j1 = int(np.searchsorted(starts, r0 + _PAIR_ROWS, side="right")) - 1
        j1 = min(max(j1, j0 + 1), J)
        r1 = int(starts[j1])
        if r1 - r0 > pairs.shape[1]:
            pairs = np.empty((len(a), r1 - r0))
        buf = pairs[:, :r1 - r0]
        for k in range(len(a)):
            np.multiply(weighted[a[k], r0:r1], columns[b[k], r0:r1], out=buf[k])
        upper[:, j0:j1] = np.add.reduceat(buf, starts[j0:j1] - r0, axis=1)
        j0 = j1
    out = np.empty((J, m, m))
    out[:, a, b] = upper.T
    out[:, b, a] = upper.T
    return out


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
    S = None
    rows_per_chunk = max(1, _CHUNK_CELLS // max(m * m, 1))
    # chunk at unit boundaries
    j0 = 0
    while j0 < J:
        r0 = starts[j0]
        j1 = int(np.searchsorted(starts, r0 + rows_per_chunk, side="right"))
        j1 = max(j1, j0 + 1)
        j1 = min(j1, J)
        r1 = starts[j1] if j1 < J else n
        factor = None if row_factor is None else row_factor[r0:r1]
        part = _unit_cross_products(D[r0:r1], unit[r0:r1] - j0, j1 - j0, factor)
        if j0 == 0 and j1 == J:
            S = part          # one chunk: no copy into a second (J, m, m) array
        else:
            if S is None:
                S = np.zeros((J, m, m))
            S[j0:j1] = part
        j0 = j1
    if S is None:
        S = np.zeros((J, m, m))
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
                  logdet_shift=logdet_shift, S=S, level3_starts=level3_starts, n_fixed=F,
                  n_r3=design.Z3.shape[1], n_r2=design.Z2.shape[1], n1=n, shift=shift, y_mean=y_mean,
                  intercept=intercept, S_outer=np.ascontiguousarray(S[:, :g, :g]),
                  S_cross=np.ascontiguousarray(S[:, :g, g:]),
                  S_inner=np.ascontiguousarray(S[:, g:, g:]),
                  S_all_cross=np.ascontiguousarray(S[:, :, g:]),
                  S_k=np.add.reduceat(S_w, level3_starts, axis=0), level3_of=level3_of,
                  position=position, max_units=int(position.max()) + 1)
