"""Per-unit sufficient statistics: the one pass over the level-1 rows.

For every unit j we form the weighted cross-products of the level-1 design and the outcome,

    XX_j = X_j' Omega_j X_j,   Xy_j = X_j' Omega_j y_j,   yy_j = y_j' Omega_j y_j,

with Omega_j = diag(w_ij), w_ij = d_ij p_ij the product of the level-1 design weight d_ij and the
level-1 precision p_ij (known precision weights times 1/sigma^2_ij-ratios under heterogeneous
level-1 variance; all 1 when unweighted).  Everything the likelihood needs is then a function of
these (J, P, P) arrays: A_j'Omega A_j = G_j' XX_j G_j, Z_j'Omega Z_j = XX_j[R, R], and so on
(see :class:`UnitStats`).  One likelihood evaluation costs O(J (R^3 + R^2 F + R F^2) + F^3)
and never touches the N rows again.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from openhlm.estimation.design import Design

__all__ = ["UnitStats", "unit_cross_products", "unit_ols", "unit_stats"]


def _precision(design: Design, precision: np.ndarray | None) -> np.ndarray | None:
    p = design.precision_weights
    if precision is not None:
        p = precision if p is None else p * precision
    return p


def unit_cross_products(design: Design, precision: np.ndarray | None = None
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(XX, Xy, yy, sum_log_w) per unit, one bincount per pair of columns.

    The cross-products are weighted by w_ij = d_ij p_ij; ``sum_log_w`` is sum_i d_ij log p_ij,
    the term of the pseudo-log-likelihood (rows repeated d_ij times, each with variance
    sigma^2 / p_ij) that enters log|V_j|.  Design weights themselves contribute no log term.
    """
    X, y, unit, J = design.X, design.y, design.unit, design.n_level2
    d = design.row_weights
    p = _precision(design, precision)
    w = d if p is None else (p if d is None else d * p)
    P = X.shape[1]
    XX = np.empty((J, P, P))
    Xy = np.empty((J, P))
    for a in range(P):
        xa = X[:, a] if w is None else X[:, a] * w
        for b in range(a, P):
            XX[:, a, b] = XX[:, b, a] = np.bincount(unit, weights=xa * X[:, b], minlength=J)
        Xy[:, a] = np.bincount(unit, weights=xa * y, minlength=J)
    yw = y if w is None else y * w
    yy = np.bincount(unit, weights=yw * y, minlength=J)
    slw: np.ndarray   # numpy's stubs type bincount as integer even with float weights
    if p is None:
        slw = np.zeros(J)
    else:
        logp = np.log(np.where(p > 0, p, 1.0))
        slw = np.bincount(unit, weights=logp if d is None else d * logp, minlength=J)
    return XX, Xy, yy, slw


@dataclass(frozen=True)
class UnitStats:
    """Cross-products of A (fixed design, F' free columns), Z (random design) and y, per unit.

    ``unit_weights`` (J,) multiply each unit's contribution to every sum (level-2 weights; ones
    when unweighted).  ``n`` is the number of rows per unit, or with level-1 design weights the
    sum of the weights (the rows' multiplicity in the pseudo-likelihood), and ``sum_log_w`` the
    per-unit sum_i d_ij log p_ij of log level-1 precisions (enters log|V_j|).
    """

    AA: np.ndarray   # (J, F, F)
    AZ: np.ndarray   # (J, F, R)
    ZZ: np.ndarray   # (J, R, R)
    Ay: np.ndarray   # (J, F)
    Zy: np.ndarray   # (J, R)
    yy: np.ndarray   # (J,)
    n: np.ndarray    # (J,)
    sum_log_w: np.ndarray  # (J,)
    unit_weights: np.ndarray  # (J,)
    XX: np.ndarray   # (J, P, P) level-1 cross-products X'Omega X (for unit OLS)
    Xy: np.ndarray   # (J, P)

    @cached_property
    def ZA(self) -> np.ndarray:
        return np.ascontiguousarray(np.swapaxes(self.AZ, 1, 2))

    # weighted sums over units, used by every likelihood evaluation (computed once)
    @cached_property
    def sum_AA(self) -> np.ndarray:
        return np.tensordot(self.unit_weights, self.AA, axes=1)

    @cached_property
    def sum_Ay(self) -> np.ndarray:
        return self.unit_weights @ self.Ay

    @cached_property
    def sum_yy(self) -> float:
        return float(self.unit_weights @ self.yy)

    @cached_property
    def sum_ZZ(self) -> np.ndarray:
        return np.tensordot(self.unit_weights, self.ZZ, axes=1)

    @cached_property
    def sum_weighted_log_w(self) -> float:
        return float(self.unit_weights @ self.sum_log_w)

    @cached_property
    def AZ_weighted_flat(self) -> np.ndarray:
        """(F, J*R) matrix whose block j is w_j A_j'Z_j, so that sum_j w_j A_j'Z_j X_j is one
        matrix product with the stacked (J*R, .) X."""
        J, F, R = self.AZ.shape
        return np.ascontiguousarray(
            np.swapaxes(self.AZ * self.unit_weights[:, None, None], 0, 1).reshape(F, J * R))

    @property
    def n_total(self) -> float:
        return float(self.unit_weights @ self.n)

    @property
    def n_fixed(self) -> int:
        return int(self.AA.shape[1])

    @property
    def n_random(self) -> int:
        return int(self.ZZ.shape[1])


def unit_stats(design: Design, precision: np.ndarray | None = None) -> UnitStats:
    """Sufficient statistics of ``design``; ``precision`` optionally rescales each row's weight."""
    XX, Xy, yy, slw = unit_cross_products(design, precision)
    G = design.G()
    r = design.random_columns
    AA = np.einsum("jpf,jpq,jqg->jfg", G, XX, G, optimize=True)
    AZ = np.einsum("jpf,jpr->jfr", G, XX[:, :, r])
    ZZ = XX[:, r][:, :, r]
    Ay = np.einsum("jpf,jp->jf", G, Xy)
    Zy = Xy[:, r]
    if design.row_weights is None:
        n = design.n_per_unit.astype(float)
    else:
        n = np.bincount(design.unit, weights=design.row_weights, minlength=design.n_level2)
    uw = (np.ones(design.n_level2) if design.unit_weights is None
          else np.asarray(design.unit_weights, dtype=float))
    return UnitStats(AA=AA, AZ=AZ, ZZ=np.ascontiguousarray(ZZ), Ay=Ay, Zy=np.ascontiguousarray(Zy),
                     yy=yy, n=n, sum_log_w=slw, unit_weights=uw, XX=XX, Xy=Xy)


def unit_ols(XX: np.ndarray, Xy: np.ndarray, n: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-unit OLS; returns (sufficient, coefficients, (X'X)^-1), NaN where insufficient."""
    J, P = XX.shape[0], XX.shape[1]
    ok = n > P
    if P:
        # rank check on the symmetric X_j'X_j: smallest / largest eigenvalue > 1e-10 (the
        # eigenvalues are accurate to ~1e-16 of the largest, so exact collinearity shows up
        # as ~1e-15 and is caught)
        ev = np.linalg.eigvalsh(XX)
        ok &= ev[:, 0] > 1e-10 * np.maximum(ev[:, -1], 1e-300)
    XXi = np.full((J, P, P), np.nan)
    if ok.any():
        XXi[ok] = np.linalg.inv(XX[ok])
    b = np.einsum("jpq,jq->jp", XXi, Xy)
    return ok, b, XXi
