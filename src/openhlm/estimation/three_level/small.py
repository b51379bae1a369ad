"""Batched algebra of many tiny matrices (one per unit), vectorised over the units with loops
over the (small) matrix dimensions only: numpy's stacked matmul and LAPACK-backed linalg call
a routine per matrix, which dominates for 2 x 2 or 3 x 3 blocks."""

from __future__ import annotations

from functools import cache
from math import prod

import numpy as np

__all__ = [
    "bmm",
    "chol_small",
    "condition_and_inverse",
    "contract",
    "equilibrated_condition_and_inverse",
    "forward",
    "inverse",
    "left",
    "spd_inverse",
]


@cache
def _plan(nda: int, ndb: int, axes_a: tuple[int, ...], axes_b: tuple[int, ...]
          ) -> tuple[tuple[int, ...], tuple[int, ...], int, int]:
    free_a = tuple(k for k in range(nda) if k not in axes_a)
    free_b = tuple(k for k in range(ndb) if k not in axes_b)
    return free_a + axes_a, axes_b + free_b, len(free_a), len(axes_b)


def contract(a: np.ndarray, b: np.ndarray, axes_a: tuple[int, ...], axes_b: tuple[int, ...]
             ) -> np.ndarray:
    """``np.tensordot(a, b, axes=(axes_a, axes_b))`` for non-negative axes, by the same
    transposes, reshapes and one ``np.dot`` (so the same numbers), without tensordot's
    argument handling (a fixed cost that dominates for the small arrays here)."""
    perm_a, perm_b, nfa, nsum = _plan(a.ndim, b.ndim, axes_a, axes_b)
    at = a.transpose(perm_a)
    bt = b.transpose(perm_b)
    free_a = at.shape[:nfa]
    free_b = bt.shape[nsum:]
    res = np.dot(at.reshape(-1 if free_a else 1, prod(at.shape[nfa:])),
                 bt.reshape(prod(bt.shape[:nsum]), -1 if free_b else 1))
    return res.reshape(free_a + free_b)


def chol_small(M: np.ndarray) -> np.ndarray:
    """Batched Cholesky factors of small SPD matrices (n, r, r), looping over r only."""
    r = M.shape[1]
    C = np.zeros_like(M)
    for i in range(r):
        for j in range(i + 1):
            acc = M[:, i, j].copy()
            for k in range(j):
                acc -= C[:, i, k] * C[:, j, k]
            if i == j:
                if not np.all(acc > 0):
                    raise np.linalg.LinAlgError("matrix not positive definite")
                C[:, i, i] = np.sqrt(acc)
            else:
                C[:, i, j] = acc / C[:, j, j]
    return C


def forward(C: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``C^-1 B`` for batched lower-triangular C (n, r, r) and B (n, r, c)."""
    r = C.shape[1]
    X = np.empty_like(B)
    for i in range(r):
        acc = B[:, i, :].copy()
        for k in range(i):
            acc -= C[:, i, k, None] * X[:, k, :]
        X[:, i, :] = acc / C[:, i, i, None]
    return X


def bmm(A: np.ndarray, B: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Per-unit products ``A_u @ B_u`` of (n, r, s) and (n, s, c) arrays: for a small inner
    dimension s, s broadcast multiply-adds (numpy's stacked matmul is slow for tiny
    matrices); into ``out`` (n, r, c) when given (a work array kept between calls)."""
    s = A.shape[-1]
    if s > 8:
        return np.matmul(A, B, out=out)
    out = np.multiply(A[:, :, 0, None], B[:, None, 0, :], out=out)
    for b in range(1, s):
        out += A[:, :, b, None] * B[:, None, b, :]
    return out


def spd_inverse(M: np.ndarray, relative: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
    """Inverses of symmetric positive semi-definite (n, r, r) matrices and which of them are
    well-conditioned (every Cholesky pivot above ``relative`` times its diagonal element);
    the others' rows are NaN."""
    n, r, _ = M.shape
    C = np.zeros_like(M)
    ok = np.ones(n, dtype=bool)
    for i in range(r):
        for j in range(i + 1):
            acc = M[:, i, j].copy()
            for k in range(j):
                acc -= C[:, i, k] * C[:, j, k]
            if i == j:
                good = acc > relative * np.abs(M[:, i, i])
                ok &= good
                C[:, i, i] = np.sqrt(np.where(good, acc, np.nan))
            else:
                C[:, i, j] = acc / C[:, j, j]
    Ci = forward(C, np.broadcast_to(np.eye(r), M.shape).copy())
    return bmm(np.swapaxes(Ci, 1, 2), Ci), ok


def condition_and_inverse(M: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2-norm condition numbers (n,) and inverses (n, r, r) of symmetric positive
    semi-definite matrices: in closed form for r <= 2 (``lambda_max^2 / det``; inf and NaN
    rows when singular), else ``np.linalg.cond`` and ``np.linalg.inv`` of the finite ones."""
    n, r, _ = M.shape
    if r > 2:
        cond = np.linalg.cond(M) if n else np.zeros(0)
        inv = np.full_like(M, np.nan)
        ok = np.isfinite(cond) & (cond < 1e300)
        if ok.any():
            inv[ok] = np.linalg.inv(M[ok])
        return cond, inv
    with np.errstate(divide="ignore", invalid="ignore"):
        if r == 1:
            a = M[:, 0, 0]
            return np.where(a > 0, 1.0, np.inf), (1.0 / np.where(a > 0, a, np.nan))[:, None,
                                                                                     None]
        a, b, c = M[:, 0, 0], M[:, 0, 1], M[:, 1, 1]
        det = a * c - b * b
        lmax = 0.5 * (a + c) + np.sqrt(0.25 * (a - c) ** 2 + b * b)
        good = det > 0
        cond = np.where(good, lmax * lmax / np.where(good, det, 1.0), np.inf)
        d = np.where(good, det, np.nan)
        inv = np.empty_like(M)
        inv[:, 0, 0] = c / d
        inv[:, 1, 1] = a / d
        inv[:, 0, 1] = inv[:, 1, 0] = -b / d
    return cond, inv


def inverse(M: np.ndarray) -> np.ndarray:
    """Inverses of (n, r, r) matrices: in closed form for r <= 2, else ``np.linalg.inv``."""
    r = M.shape[-1]
    if r > 2:
        return np.linalg.inv(M)
    if r == 1:
        return 1.0 / M
    a, b, c, d = M[:, 0, 0], M[:, 0, 1], M[:, 1, 0], M[:, 1, 1]
    det = a * d - b * c
    if not np.all(det != 0):
        raise np.linalg.LinAlgError("singular matrix")
    out = np.empty_like(M)
    out[:, 0, 0] = d / det
    out[:, 0, 1] = -b / det
    out[:, 1, 0] = -c / det
    out[:, 1, 1] = a / det
    return out


def left(T: np.ndarray, X: np.ndarray) -> np.ndarray:
    """``T @ X_u`` for one fixed matrix T (r, s) and per-unit X (n, s, c), by BLAS."""
    return contract(X, T, (1,), (1,)).transpose(0, 2, 1)


def equilibrated_condition_and_inverse(M: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`condition_and_inverse` with the condition numbers of the diagonally scaled
    matrices ``D^-1/2 M D^-1/2`` (unit diagonal), so that whether a unit's block counts as
    invertible does not depend on the units of its variables; the inverses are of M itself.
    A zero diagonal element makes the block singular (condition inf)."""
    if M.shape[-1] == 0:
        return condition_and_inverse(M)
    d = np.sqrt(np.clip(np.diagonal(M, axis1=1, axis2=2), 0.0, None))
    positive = np.all(d > 0, axis=1)
    d = np.where(d > 0, d, 1.0)
    cond, inv = condition_and_inverse(M / (d[:, :, None] * d[:, None, :]))
    cond = np.where(positive, cond, np.inf)
    return cond, inv / (d[:, :, None] * d[:, None, :])
