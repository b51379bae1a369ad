"""Per-unit OLS from centred moments: offset-free SSE and coefficients (docs/engine.md, 7).

The per-unit regressions behind the homogeneity-of-level-1-variance test, the residual files
(OLS residuals, OLSRSVAR) and, in exact mode, the variance-component chi-squares, reliabilities
and the level-1 OLS table used to be solved from raw cross-products, SSE_j =
y'y - b'X'y: with an outcome stored as 1e9 + points, y'y ~ n 1e18 and the SSE ~ n, so the
subtraction keeps no digit.  Here they are solved from the per-unit moments of
:mod:`openhlm.estimation.statistics` (W_j, means m_j, centred cross-products C_j of [X, y]).

For a regression of a target t = V a_j on regressors V S (V = [X, y] the unit's rows, S a
selection of X's columns, a_j a per-unit combination) whose regressors include a column that is
constant within the unit (the intercept), the fit is unchanged by subtracting the unit means
from every column, so with o the other regressors

    b_o = (S_o' C_j S_o)^-1 S_o' C_j a_j,   SSE_j = a_j' C_j a_j - (S_o' C_j a_j)' b_o,
    b_const = m_j' a_j - (S_o' m_j)' b_o   (the constant column is all ones),

which involve only centred quantities: a constant added to y or to a level-1 predictor, or a
change of units, moves nothing but the intercept (and that exactly).  Without a constant
regressor the raw cross-products C_j + W_j m_j m_j' are used (no offset is then exact).
Which units are usable is decided by :func:`openhlm.estimation.sufficient.unit_ols` (its
scale- and offset-free rank test), as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from openhlm.estimation.design import Design
from openhlm.estimation.estimates import Estimates
from openhlm.estimation.statistics import UnitMoments
from openhlm.estimation.sufficient import design_moments

__all__ = ["UnitFit", "centred_unit_ols", "intercept_column", "level1_fit",
           "random_coefficient_fit"]


@dataclass(frozen=True)
class UnitFit:
    """Per-unit OLS of a target on regressors: coefficients (J, m), SSE (J,) and the inverse
    cross-product matrix of the regressors, NaN where the centred system is singular."""

    coef: np.ndarray
    sse: np.ndarray
    centred_tt: np.ndarray   # the target's centred (or raw) sum of squares, the SSE's scale
    inverse: np.ndarray      # (J, m, m) (S' Omega_j S)^-1 of the regressors


def intercept_column(design: Design) -> int | None:
    """Index of the level-1 column that is all ones (the model's intercept), or None."""
    for p, c in enumerate(design.spec.coefficients):
        if c.predictor is None:
            return p
    return None


def centred_unit_ols(mom: UnitMoments, cols: np.ndarray, target: np.ndarray,
                     constant: int | None) -> UnitFit:
    """OLS per unit of the target V a_j (``target`` (J, K)) on the columns ``cols`` of V.

    ``mom`` are the moments of V = [X, y] (K = P + 1 columns); ``constant`` is the column of V
    that is all ones (:func:`intercept_column`), or None.  See the module docstring.
    """
    cols = np.asarray(cols, dtype=np.int64)
    a = np.asarray(target, dtype=float)
    J, m = mom.n_units, cols.size
    coef = np.full((J, m), np.nan)
    sse = np.full(J, np.nan)
    C, mean = mom.centred, mom.mean
    where = np.flatnonzero(cols == constant) if constant is not None else np.zeros(0)
    if where.size:
        c = int(where[0])
        # the all-ones column: exactly no centred variation and mean 1 (with weights the
        # computed ones can differ by rounding, which a target's large coefficient would scale)
        # (C with the constant's row and column zeroed, without copying the (J, K, K) C:
        # the target's constant entry zeroed instead, and the constant's row of C a_j)
        a0 = a.copy()
        a0[:, constant] = 0.0
        mean = mean.copy()
        mean[:, constant] = 1.0
        o = np.delete(np.arange(m), c)
        Ca = np.einsum("jkl,jl->jk", C, a0)                  # C_j a_j
        Ca[:, constant] = 0.0
        del a0
        tt = np.einsum("jk,jk->j", a, Ca)
        Sta = Ca[:, cols[o]]                                  # S_o' C_j a_j
        Soo = C[:, cols[o]][:, :, cols[o]]
        mean_t = np.einsum("jk,jk->j", mean, a)
    else:
        # raw cross-products of the transformed columns, C + W (mean)(mean)' formed after
        # the transformation (the target's mean m_j'a_j is small where its parts are not)
        o = np.arange(m)
        c = None
        w = mom.weight
        Ca = np.einsum("jkl,jl->jk", C, a)
        mt = np.einsum("jk,jk->j", mean, a)
        ms = mean[:, cols]
        tt = np.einsum("jk,jk->j", a, Ca) + w * mt**2
        Sta = Ca[:, cols] + (w * mt)[:, None] * ms
        Soo = C[:, cols][:, :, cols] + w[:, None, None] * (ms[:, :, None] * ms[:, None, :])
    b_o = np.zeros((J, o.size))
    Soo_inv = np.zeros((J, o.size, o.size))
    fit_ss = np.zeros(J)
    good = np.ones(J, dtype=bool)
    if o.size:
        d = np.sqrt(np.diagonal(Soo, axis1=1, axis2=2))
        good = np.all(d > 0, axis=1) & np.all(np.isfinite(Soo), axis=(1, 2))
        ds = np.where(good[:, None], d, 1.0)
        E = Soo / (ds[:, :, None] * ds[:, None, :])       # equilibrated: unit diagonal
        E[~good] = np.eye(o.size)
        with np.errstate(all="ignore"):
            try:
                Einv = np.linalg.inv(E)
            except np.linalg.LinAlgError:   # a singular unit: invert unit by unit
                Einv = np.zeros_like(E)
                for j in range(J):
                    try:
                        Einv[j] = np.linalg.inv(E[j])
                    except np.linalg.LinAlgError:
                        good[j] = False
            Soo_inv = Einv / (ds[:, :, None] * ds[:, None, :])
            b_o = np.einsum("jkl,jl->jk", Soo_inv, Sta)
            fit_ss = np.einsum("jk,jk->j", Sta, b_o)
    inverse = np.full((J, m, m), np.nan)
    with np.errstate(all="ignore"):
        coef[:, o] = np.where(good[:, None], b_o, np.nan)
        inverse[:, o[:, None], o[None, :]] = np.where(good[:, None, None], Soo_inv, np.nan)
        if c is not None:
            mo = mean[:, cols[o]]
            b_c = mean_t - np.einsum("jk,jk->j", mo, b_o)
            coef[:, c] = np.where(good, b_c, np.nan)
            # (S' Omega S)^-1 by the Schur complement of the constant (W_j): C_oo^-1 in the
            # slopes' block, -C_oo^-1 m_o beside it, 1/W_j + m_o'C_oo^-1 m_o (no cancellation)
            h = np.einsum("jkl,jl->jk", Soo_inv, mo)
            inverse[:, o, c] = inverse[:, c, o] = np.where(good[:, None], -h, np.nan)
            inverse[:, c, c] = np.where(good, 1.0 / mom.weight + np.einsum("jk,jk->j", mo, h),
                                        np.nan)
        sse = np.where(good, tt - fit_ss, np.nan)
    return UnitFit(coef=coef, sse=sse, centred_tt=tt, inverse=inverse)


def _moments(est: Estimates) -> UnitMoments:
    """The moments of [X, y] with the row weights of ``est.stats`` (design weights, known
    precisions and, under heterogeneous sigma^2, the fitted row precisions): those the exact
    fit kept, or one pass over the rows."""
    work = getattr(est, "working", None)
    if work is not None and work.moments is not None:
        return work.moments
    return design_moments(est.design, getattr(est, "row_precision", None))


def random_coefficient_fit(est: Estimates, beta_j: np.ndarray, ok: np.ndarray
                           ) -> tuple[np.ndarray, np.ndarray]:
    """(beta_hat, (Z'Omega Z)^-1) per unit for the variance-component chi-squares and the
    reliabilities: OLS of y_j - (fixed columns) (W_j gamma) on the random columns Z_j, from the
    centred moments; NaN where ``ok`` is False."""
    d = est.design
    P, r = d.X.shape[1], d.random_columns
    fixed_cols = np.setdiff1d(np.arange(P), r)
    target = np.zeros((d.n_level2, P + 1))
    target[:, fixed_cols] = -beta_j[:, fixed_cols]
    target[:, P] = 1.0
    fit = centred_unit_ols(_moments(est), r, target, intercept_column(d))
    coef, inverse = fit.coef, fit.inverse        # this call's own arrays: NaN set in place
    coef[~ok] = np.nan
    inverse[~ok] = np.nan
    return coef, inverse


def level1_fit(est: Estimates, ok: np.ndarray) -> np.ndarray:
    """OLS coefficients of y_j on the full level-1 design X_j per unit (the level-1 OLS table),
    from the centred moments; NaN where ``ok`` is False."""
    d = est.design
    P = d.X.shape[1]
    target = np.zeros((d.n_level2, P + 1))
    target[:, P] = 1.0
    coef = centred_unit_ols(_moments(est), np.arange(P), target, intercept_column(d)).coef
    coef[~ok] = np.nan                           # this call's own array: NaN set in place
    return coef
