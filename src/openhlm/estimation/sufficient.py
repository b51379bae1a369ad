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
from openhlm.estimation.statistics import UnitMoments, moments_from_rows

__all__ = ["UnitStats", "design_moments", "stable_unit_stats", "stats_from_raw",
           "unit_cross_products", "unit_ols", "unit_ols_many", "unit_stats"]


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

    @cached_property
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


def stats_from_raw(raw: np.ndarray, G: np.ndarray, random_columns: np.ndarray, n: np.ndarray,
                   sum_log_w: np.ndarray, unit_weights: np.ndarray) -> UnitStats:
    """:class:`UnitStats` from the per-unit raw cross-products of [X, y] (J, P+1, P+1).

    ``G`` (J, P, F') maps the level-1 coefficients to the free fixed effects (A_j = X_j G_j).
    """
    P = raw.shape[1] - 1
    XX = np.ascontiguousarray(raw[:, :P, :P])
    Xy = np.ascontiguousarray(raw[:, :P, P])
    yy = np.ascontiguousarray(raw[:, P, P])
    r = random_columns
    XG = XX @ G                                              # (J, P, F')
    AA = np.swapaxes(G, 1, 2) @ XG
    AA = 0.5 * (AA + np.swapaxes(AA, 1, 2))
    AZ = np.ascontiguousarray(np.swapaxes(XG[:, r, :], 1, 2))
    ZZ = np.ascontiguousarray(XX[:, r][:, :, r])
    Ay = (np.swapaxes(G, 1, 2) @ Xy[:, :, None])[:, :, 0]
    Zy = np.ascontiguousarray(Xy[:, r])
    return UnitStats(AA=AA, AZ=AZ, ZZ=ZZ, Ay=Ay, Zy=Zy, yy=yy, n=n, sum_log_w=sum_log_w,
                     unit_weights=unit_weights, XX=XX, Xy=Xy)


def design_moments(design: Design, precision: np.ndarray | None = None) -> UnitMoments:
    """Per-unit moments (:mod:`openhlm.estimation.statistics`) of [X, y] of ``design``."""
    p = _precision(design, precision)
    P = design.X.shape[1]
    VT = np.empty((P + 1, design.n_level1))     # columns as contiguous rows (the fast layout)
    VT[:P] = design.X.T
    VT[P] = design.y
    return moments_from_rows(VT.T, design.unit, design.n_level2,
                             design_weights=design.row_weights, precision=p)


def stable_unit_stats(design: Design, precision: np.ndarray | None = None,
                      moments: UnitMoments | None = None) -> tuple[UnitStats, UnitMoments]:
    """Original-basis statistics formed from centred moments (C_j + W_j m_j m_j'), and the
    moments themselves.  The same fields as :func:`unit_stats`, each entry accurate to a few
    units of its own rounding (no sum of squares of large numbers is ever subtracted).
    ``moments``: those of ``design`` (and ``precision``), if already computed."""
    mom = design_moments(design, precision) if moments is None else moments
    uw = (np.ones(design.n_level2) if design.unit_weights is None
          else np.asarray(design.unit_weights, dtype=float))
    stats = stats_from_raw(mom.raw(), design.G(), design.random_columns, mom.n, mom.sum_log_w, uw)
    return stats, mom


#: per-unit OLS thresholds (docs/engine.md, "scale-free decisions")
_COLLINEAR = 1e-10     # smallest / largest eigenvalue of the equilibrated Schur complement
_CANCELLED = 1e-13     # centred sum of squares below this fraction of the raw one: rounding
_NOISE = 1e-14         # within-unit mean square below this fraction of the column's mean square


def _full_rank_by_pivot(XX: np.ndarray, W: np.ndarray, col_ms: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray]:
    """(full rank, pivot) per unit, deciding rank invariantly to the columns' units and offsets.

    Rank is unchanged by the column operation x_o -> x_o - x_p XX_po / XX_pp (sweeping a
    pivot column p), after which the Gram matrix is blockdiag(XX_pp, S_p), S_p the Schur
    complement.  When p is the intercept, S_p holds the *centred* cross-products, so shifting
    a column by a constant does not change the decision, and equilibrating S_p by its diagonal
    removes the units.  A unit is full rank when, for some pivot, (i) every swept column keeps a
    centred sum of squares above rounding (_CANCELLED of its raw one) and above noise (_NOISE of
    the column's pooled mean square times the unit's weight), and (ii) the equilibrated S_p has
    eigenvalue ratio above _COLLINEAR.  Exactly collinear designs fail for every pivot.
    """
    J, P = XX.shape[0], XX.shape[1]
    diag = np.diagonal(XX, axis1=1, axis2=2)
    ok = np.zeros(J, dtype=bool)
    pivot = np.zeros(J, dtype=np.int64)
    best = np.full(J, -np.inf)
    for p in range(P):
        o = np.array([q for q in range(P) if q != p], dtype=np.int64)
        dp = diag[:, p]
        good = dp > 0
        if o.size == 0:
            score = np.where(good, 1.0, -np.inf)
        else:
            safe = np.where(good, dp, 1.0)
            S = XX[:, o][:, :, o] - XX[:, o, p][:, :, None] * XX[:, p, o][:, None, :] / safe[
                :, None, None]
            sd = np.diagonal(S, axis1=1, axis2=2)
            good &= np.all(sd > _CANCELLED * diag[:, o], axis=1)
            good &= np.all(sd > _NOISE * col_ms[o] * W[:, None], axis=1)
            d = 1.0 / np.sqrt(np.where(sd > 0, sd, 1.0))
            ev = np.linalg.eigvalsh(S * d[:, :, None] * d[:, None, :])
            ratio = ev[:, 0] / np.maximum(ev[:, -1], 1e-300)
            good &= ratio > _COLLINEAR
            score = np.where(good, ratio, -np.inf)
        better = score > best
        best = np.where(better, score, best)
        pivot = np.where(better, p, pivot)
        ok |= good
    return ok, pivot


def _swept_solve(XX: np.ndarray, Xy: np.ndarray, p: int) -> tuple[np.ndarray, np.ndarray]:
    """OLS coefficients and (X'X)^-1 through the Schur complement of pivot ``p``."""
    J, P = XX.shape[0], XX.shape[1]
    o = np.array([q for q in range(P) if q != p], dtype=np.int64)
    a = XX[:, p, p]
    h = XX[:, o, p] / a[:, None]                                   # (J, P-1)
    S = XX[:, o][:, :, o] - XX[:, o, p][:, :, None] * h[:, None, :]
    d = 1.0 / np.sqrt(np.diagonal(S, axis1=1, axis2=2))
    Sinv = np.linalg.inv(S * d[:, :, None] * d[:, None, :]) * d[:, :, None] * d[:, None, :]
    rhs = Xy[:, o] - h * Xy[:, p][:, None]
    b_o = (Sinv @ rhs[:, :, None])[:, :, 0]
    b = np.empty((J, P))
    b[:, o] = b_o
    b[:, p] = Xy[:, p] / a - np.einsum("jq,jq->j", h, b_o)
    Sh = (Sinv @ h[:, :, None])[:, :, 0]
    inv = np.empty((J, P, P))
    inv[:, o[:, None], o[None, :]] = Sinv
    inv[:, p, o] = inv[:, o, p] = -Sh
    inv[:, p, p] = 1.0 / a + np.einsum("jq,jq->j", h, Sh)
    return b, inv


def unit_ols(XX: np.ndarray, Xy: np.ndarray, n: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-unit OLS; returns (sufficient, coefficients, (X'X)^-1), NaN where insufficient
    (:func:`unit_ols_many` with one right-hand side)."""
    ok, bs, XXi = unit_ols_many(XX, [Xy], n)
    return ok, bs[0], XXi


def unit_ols_many(XX: np.ndarray, rhs: list[np.ndarray], n: np.ndarray
                  ) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """Per-unit OLS for several right-hand sides (each (J, P)) with one decomposition of
    each X_j'X_j; returns (sufficient, [coefficients per right-hand side], (X'X)^-1), NaN
    where insufficient.

    "Sufficient": more rows than columns and full column rank by the scale- and offset-free
    test of :func:`_full_rank_by_pivot` (a calendar-year column or x + 1e5 next to the
    intercept is full rank; a column constant within the unit is not).  Units whose raw X'X
    is well conditioned (eigenvalue ratio > 1e-10) are solved directly, the others through the
    Schur complement of their pivot column (the centred system).
    """
    J, P = XX.shape[0], XX.shape[1]
    n = np.asarray(n, dtype=float)
    ok = n > P
    XXi = np.full((J, P, P), np.nan)
    bs = [np.full((J, P), np.nan) for _ in rhs]
    if not P or not ok.any():
        return ok, bs, XXi
    W = np.where(ok, n, 0.0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # a well-conditioned raw X'X is full rank: solved directly (as before); only the
        # others go through the scale- and offset-free test and the swept solve
        direct = np.zeros(J, dtype=bool)
        ev = np.linalg.eigvalsh(XX[ok])
        direct[ok] = ev[:, 0] > 1e-10 * np.maximum(ev[:, -1], 1e-300)
        rest = ok & ~direct
        pivot = np.zeros(J, dtype=np.int64)
        if rest.any():
            diag = np.diagonal(XX, axis1=1, axis2=2)
            # pooled mean square of every column over the units with enough rows
            col_ms = np.where(ok[:, None], diag, 0.0).sum(axis=0) / max(float(W.sum()), 1e-300)
            rank_ok, pivot_rest = _full_rank_by_pivot(XX[rest], W[rest], col_ms)
            ok[rest] = rank_ok
            pivot[rest] = pivot_rest
        if direct.any():
            inv = np.linalg.inv(XX[direct])
            XXi[direct] = inv
            for b, Xy in zip(bs, rhs):
                b[direct] = np.einsum("jpq,jq->jp", inv, Xy[direct])
        for p in range(P):
            sel = ok & ~direct & (pivot == p)
            if sel.any():
                for b, Xy in zip(bs, rhs):
                    b[sel], XXi[sel] = _swept_solve(XX[sel], Xy[sel], p)
    return ok, bs, XXi
