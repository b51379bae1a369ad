"""Batched algebra of many tiny matrices (one per unit), vectorised over the units with loops
over the (small) matrix dimensions only: numpy's stacked matmul and LAPACK-backed linalg call
a routine per matrix, which dominates for 2 x 2 or 3 x 3 blocks."""

from __future__ import annotations

import numpy as np

__all__ = ["bmm", "chol_small", "forward", "spd_inverse"]


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


def bmm(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Per-unit products ``A_u @ B_u`` of (n, r, s) and (n, s, c) arrays: for a small inner
    dimension s, s broadcast multiply-adds (numpy's stacked matmul is slow for tiny
    matrices)."""
    s = A.shape[-1]
    if s > 3:
        return A @ B
    out = A[:, :, 0, None] * B[:, None, 0, :]
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
