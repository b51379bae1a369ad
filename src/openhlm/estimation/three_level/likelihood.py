"""The profiled REML/ML deviance of a three-level model by nested Woodbury identities.

With relative covariance factors ``T_pi / sigma^2 = L2 L2'`` and ``T_beta / sigma^2 = L3 L3'``
and V the relative covariance of y (V = I + Z2 L2 L2' Z2' + Z3 L3 L3' Z3' by blocks):

* level 2 (batched over the J units): ``M_j = I + L2' Z2j'Z2j L2``,
  ``P' V_j^-1 Q = P'Q - P'Z2j L2 M_j^-1 L2' Z2j'Q`` for P, Q in [A, Z3, y], and
  ``log|V_j| = log|M_j|``;
* sums over the level-2 units of each level-3 unit (``np.add.reduceat``);
* level 3 (batched over the K units): ``N_k = I + L3' (Z3'V^-1Z3)_k L3``,
  ``G'V_k^-1 G = (G'V^-1 G)_k - (G'V^-1 Z3)_k L3 N_k^-1 L3' (Z3'V^-1 G)_k`` for G = [A, y],
  ``log|V_k| = sum_j log|M_j| + log|N_k|``;
* ``C = sum_k G'V_k^-1 G`` gives gamma, the residual quadratic form Q and
  ML:   ``-2 log L = log|V| + N (1 + log(2 pi Q / N))``,
  REML: ``log|V| + log|A'V^-1 A| + (N - F)(1 + log(2 pi Q / (N - F)))``
  (lme4's profiled deviance and REML criterion; Bates et al. 2015).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from openhlm.estimation.three_level.statistics import Stats3

__all__ = ["Evaluation", "evaluate", "theta_size", "unpack"]

LOG2PI = float(np.log(2.0 * np.pi))


def theta_size(r2: int, r3: int) -> int:
    return r2 * (r2 + 1) // 2 + r3 * (r3 + 1) // 2


def unpack(theta: np.ndarray, r2: int, r3: int) -> tuple[np.ndarray, np.ndarray]:
    """(L2, L3) from theta: the lower triangles, row by row."""
    n2 = r2 * (r2 + 1) // 2
    L2 = np.zeros((r2, r2))
    L3 = np.zeros((r3, r3))
    L2[np.tril_indices(r2)] = theta[:n2]
    L3[np.tril_indices(r3)] = theta[n2:]
    return L2, L3


def diagonal_positions(r2: int, r3: int) -> list[int]:
    """Positions of the diagonal elements of L2 and L3 in theta."""
    rows2, cols2 = np.tril_indices(r2)
    rows3, cols3 = np.tril_indices(r3)
    n2 = len(rows2)
    return ([int(i) for i in np.flatnonzero(rows2 == cols2)]
            + [n2 + int(i) for i in np.flatnonzero(rows3 == cols3)])


@dataclass(frozen=True, eq=False)
class Evaluation:
    deviance: float
    gamma: np.ndarray        # centred parameterisation
    AVA: np.ndarray          # A' V^-1 A (relative)
    Ck: np.ndarray           # (K, F+1, F+1) per level-3 unit G'V_k^-1 G
    Q: float
    logdet_v: float
    L2: np.ndarray
    L3: np.ndarray


def _collapse(S_outer: np.ndarray, S_cross: np.ndarray, S_inner: np.ndarray,
              L: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Batched ``S_outer - S_cross L (I + L'S_inner L)^-1 L' S_cross'`` and log|I + L'S L|.

    The products with L are single 2-D matrix products over the stacked units; the Cholesky
    factor of the r x r matrices and the triangular solve loop over r (small), vectorised over
    the units.
    """
    n, g, r = S_cross.shape
    P = (S_cross.reshape(n * g, r) @ L).reshape(n, g, r)
    SL = (S_inner.reshape(n * r, r) @ L).reshape(n, r, r)
    M = (np.swapaxes(SL, 1, 2).reshape(n * r, r) @ L).reshape(n, r, r)
    C = np.zeros((n, r, r))
    for i in range(r):
        for j in range(i + 1):
            acc = M[:, i, j].copy()
            for k in range(j):
                acc -= C[:, i, k] * C[:, j, k]
            if i == j:
                acc += 1.0
                if np.any(acc <= 0):
                    raise np.linalg.LinAlgError("matrix not positive definite")
                C[:, i, i] = np.sqrt(acc)
            else:
                C[:, i, j] = acc / C[:, j, j]
    X = np.empty((n, r, g))
    out = S_outer.copy()
    for i in range(r):
        acc = P[:, :, i].copy()
        for k in range(i):
            acc -= C[:, i, k, None] * X[:, k, :]
        X[:, i, :] = acc / C[:, i, i, None]
        out -= X[:, i, :, None] * X[:, i, None, :]
    logdet = 2.0 * np.log(np.diagonal(C, axis1=1, axis2=2)).sum(axis=1)
    return out, logdet


def evaluate(stats: Stats3, theta: np.ndarray, reml: bool) -> Evaluation:
    F, r3, r2 = stats.n_fixed, stats.n_r3, stats.n_r2
    L2, L3 = unpack(np.asarray(theta, dtype=np.float64), r2, r3)
    logdet = 0.0
    if r2:
        W, ld2 = _collapse(stats.S_outer, stats.S_cross, stats.S_inner, L2)
        logdet += float(ld2.sum())
    else:
        W = stats.S_outer
    Wk = np.add.reduceat(W, stats.level3_starts, axis=0)
    outer = [*range(F), F + r3]
    if r3:
        z = list(range(F, F + r3))
        Ck, ld3 = _collapse(Wk[:, outer][:, :, outer], Wk[:, outer][:, :, z],
                            Wk[:, z][:, :, z], L3)
        logdet += float(ld3.sum())
    else:
        Ck = Wk[:, outer][:, :, outer]
    C = Ck.sum(axis=0)
    AVA, AVy, yVy = C[:F, :F], C[:F, F], float(C[F, F])
    n = stats.n1
    if F:
        cholA = np.linalg.cholesky(AVA)
        gamma = np.linalg.solve(AVA, AVy)
        Q = yVy - float(AVy @ gamma)
        logdet_a = 2.0 * float(np.log(np.diag(cholA)).sum())
    else:
        gamma, Q, logdet_a = np.zeros(0), yVy, 0.0
    if reml:
        dof = n - F
        dev = logdet + logdet_a + dof * (1.0 + LOG2PI + np.log(Q / dof))
    else:
        dev = logdet + n * (1.0 + LOG2PI + np.log(Q / n))
    return Evaluation(deviance=float(dev), gamma=gamma, AVA=AVA, Ck=Ck, Q=Q,
                      logdet_v=logdet, L2=L2, L3=L3)


def level3_blocks(stats: Stats3, theta: np.ndarray) -> np.ndarray:
    """(K, g, g): the level-2-collapsed ``[A, Z3, y]' V_b^-1 [A, Z3, y]`` per level-3 unit,
    ``V_b = I + Z2 L2 L2' Z2'`` (relative; level-3 random effects left out)."""
    L2, _ = unpack(np.asarray(theta, dtype=np.float64), stats.n_r2, stats.n_r3)
    if stats.n_r2:
        W, _ = _collapse(stats.S_outer, stats.S_cross, stats.S_inner, L2)
    else:
        W = stats.S_outer
    return np.add.reduceat(W, stats.level3_starts, axis=0)
