"""A moment start for the three-level Newton iterations (instead of lme4's L = I).

From the per-level-2-unit statistics alone (:class:`~openhlm.estimation.three_level.
statistics.Stats3`), ignoring the fixed part except through centring:

* level 1 and 2: each level-2 unit's OLS coefficients ``b_j = (Z2'Z2)^-1 Z2'y`` (units with
  more rows than random coefficients and a well-conditioned ``Z2'Z2``), ``sigma^2`` from the
  pooled residual sum of squares, and ``T_pi`` the covariance of the ``b_j`` around their
  level-3 unit means less the mean sampling covariance ``sigma^2 (Z2'Z2)^-1``;
* level 3: each level-3 unit's OLS coefficients on Z3, ``c_k = (Z3'Z3)^-1 Z3'y``, and
  ``T_beta`` the covariance of their residuals from a regression on the level-3 predictors
  (fixed columns constant within level-3 units) less the mean sampling covariance
  ``(Z3'Z3)^-1 (sigma^2 Z3'Z3 + sum_j Z3j'Z2j T_pi Z2j'Z3j) (Z3'Z3)^-1``.

Each covariance has its eigenvalues floored (a tenth of the sampling variance's scale) so the
start is positive definite, and theta is the Cholesky factor of ``T / sigma^2``.  Only a
start: the Newton iterations find the optimum from any start; a worse start costs
iterations, never accuracy.  Falls back to L = I where the moments are not available.
"""

from __future__ import annotations

import numpy as np

from openhlm.estimation.three_level.small import bmm, spd_inverse
from openhlm.estimation.three_level.statistics import Stats3

__all__ = ["moment_start"]

_LOWER = {r: np.tril_indices(r) for r in range(1, 5)}


def _floored(T: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """T with eigenvalues at least a tenth of ``scale``'s largest diagonal element."""
    T = (T + T.T) / 2
    w, V = np.linalg.eigh(T)
    floor = 0.1 * max(float(np.max(np.diag(scale))), 1e-12)
    return (V * np.maximum(w, floor)) @ V.T


def moment_start(stats: Stats3, rows_per_unit: np.ndarray) -> np.ndarray | None:
    """theta (rows of L2 then L3) from moments, or None when they are not available."""
    p, r3, r2, g = stats.n_fixed, stats.n_r3, stats.n_r2, stats.g
    yi = p + r3
    S = stats.S
    K = len(stats.level3_starts)
    level3_of = stats.level3_of
    with np.errstate(all="ignore"):
        sigma2 = None
        T2 = np.zeros((r2, r2))
        if r2:
            ZZ = S[:, g:, g:]
            Zy = S[:, g:, yi]
            inv, good = spd_inverse(ZZ)
            ok = (rows_per_unit > r2) & good
            if ok.sum() <= max(r2 + 1, K + 1):
                return None
            inv = inv[ok]
            b = bmm(inv, Zy[ok][:, :, None])[:, :, 0]
            rss = S[ok, yi, yi] - np.einsum("ja,ja->j", b, Zy[ok])
            sigma2 = float(rss.sum() / (rows_per_unit[ok] - r2).sum())
            k_of = level3_of[ok]
            n_k = np.bincount(k_of, minlength=K)
            means = np.stack([np.bincount(k_of, weights=b[:, a], minlength=K)
                              for a in range(r2)], axis=1) / np.maximum(n_k, 1)[:, None]
            dev = b - means[k_of]
            dof = ok.sum() - np.count_nonzero(n_k)
            if dof <= r2:
                return None
            sampling = sigma2 * inv.mean(axis=0)
            T2 = _floored(dev.T @ dev / dof - sampling, sampling)
        T3 = np.zeros((r3, r3))
        if r3:
            z = slice(p, p + r3)
            ZZ3 = stats.S_k[:, z, z]
            inv3, ok3 = spd_inverse(ZZ3)
            if ok3.sum() <= r3 + 1:
                return None
            inv3 = inv3[ok3]
            c = np.einsum("kab,kb->ka", inv3, stats.S_k[ok3, z, yi])
            if sigma2 is None:
                rss = stats.S_k[ok3, yi, yi] - np.einsum("ka,ka->k", c,
                                                         stats.S_k[ok3, z, yi])
                sigma2 = float(rss.sum() / max(stats.n1 - r3 * ok3.sum(), 1))
            inner = sigma2 * ZZ3[ok3]
            if r2:
                Z3Z2 = S[:, z, g:]
                ZT = np.tensordot(Z3Z2, T2, axes=([2], [0]))
                inner = inner + np.add.reduceat(bmm(ZT, np.swapaxes(Z3Z2, 1, 2)),
                                                stats.level3_starts, axis=0)[ok3]
            sampling3 = (inv3 @ inner @ inv3).mean(axis=0)
            # deviations from a regression on the fixed columns that are constant within
            # level-3 units (level-3 predictors would otherwise count as variance of the
            # random betas)
            X3 = np.ones((int(ok3.sum()), 1))
            if stats.intercept is not None:
                i0 = stats.intercept
                Sk = stats.S_k[ok3]
                n_k = Sk[:, i0, i0]
                means = Sk[:, :p, i0] / n_k[:, None]
                within = np.einsum("kaa->ka", Sk[:, :p, :p]) - means**2 * n_k[:, None]
                scale = np.einsum("kaa->ka", Sk[:, :p, :p]).max(axis=0) + 1e-300
                level3 = np.all(np.abs(within) <= 1e-9 * scale, axis=0)
                level3[i0] = False
                X3 = np.column_stack([X3, means[:, level3]])
            coef, _, rank, _ = np.linalg.lstsq(X3, c, rcond=None)
            dev3 = c - X3 @ coef
            dof3 = ok3.sum() - rank
            if dof3 <= r3:
                dev3, dof3 = c - c.mean(axis=0), ok3.sum() - 1
            T3 = _floored(dev3.T @ dev3 / dof3 - sampling3, sampling3)
        if sigma2 is None or not sigma2 > 0 or not np.all(np.isfinite(T2)) or \
                not np.all(np.isfinite(T3)):
            return None
        parts = []
        for T, r in ((T2, r2), (T3, r3)):
            if r:
                L = np.linalg.cholesky(T / sigma2)
                parts.append(L[_LOWER[r]] if r in _LOWER else L[np.tril_indices(r)])
        theta = np.concatenate(parts) if parts else np.zeros(0)
    return theta if np.all(np.isfinite(theta)) else None
