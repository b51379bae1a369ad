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


def _times_lower(B: np.ndarray, L: np.ndarray) -> np.ndarray:
    """``B @ L`` over the last axis for a small lower-triangular L, as elementwise
    multiply-adds (numpy's matmul is slow for tall arrays with a tiny inner dimension)."""
    r = L.shape[0]
    out = np.zeros(B.shape[:-1] + (r,))
    for b in range(r):
        for a in range(b, r):
            if L[a, b] != 0.0:
                out[..., b] += B[..., a] * L[a, b]
    return out


def _factor(S_cross: np.ndarray, S_inner: np.ndarray, L: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray]:
    """For a batch of units: ``X = chol(M)^-1 L' S_cross'`` (n, r, c) with
    ``M = I + L' S_inner L``, and log|M| per unit; then ``S_outer - X'X`` is the collapsed
    ``S_outer - S_cross L M^-1 L' S_cross'``.  The Cholesky factor and the triangular solve
    loop over r (small), vectorised over the units."""
    n, c, r = S_cross.shape
    P = _times_lower(S_cross, L)                         # (n, c, r)
    SL = _times_lower(S_inner, L)                        # (n, r, r): S_inner L
    M = _times_lower(np.swapaxes(SL, 1, 2), L)           # (n, r, r): L' S_inner L
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
    X = np.empty((n, r, c))
    for i in range(r):
        acc = P[:, :, i].copy()
        for k in range(i):
            acc -= C[:, i, k, None] * X[:, k, :]
        X[:, i, :] = acc / C[:, i, i, None]
    logdet = 2.0 * np.log(np.diagonal(C, axis1=1, axis2=2)).sum(axis=1)
    return X, logdet


def _collapse(S_outer: np.ndarray, S_cross: np.ndarray, S_inner: np.ndarray,
              L: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Batched ``S_outer - S_cross L (I + L'S_inner L)^-1 L' S_cross'`` and log|I + L'S L|."""
    X, logdet = _factor(S_cross, S_inner, L)
    return S_outer - np.swapaxes(X, 1, 2) @ X, logdet


def _segment_gram(stats: Stats3, X: np.ndarray) -> np.ndarray:
    """``sum_{j in k} X_j' X_j`` per level-3 unit (K, c, c): the units padded into a
    (K, max units, c) array per row of X, then one batched matrix product."""
    K = len(stats.level3_starts)
    _, r, c = X.shape
    out = np.zeros((K, c, c))
    pad = np.zeros((K, stats.max_units, c))
    for i in range(r):
        pad[stats.level3_of, stats.position] = X[:, i, :]
        out += np.swapaxes(pad, 1, 2) @ pad
    return out


def _level2(stats: Stats3, L2: np.ndarray) -> tuple[np.ndarray | None, np.ndarray, float]:
    """(X of the level-2 collapse or None, W_k (K, m, m), sum of log|M_j|)."""
    if not stats.n_r2:
        return None, stats.S_k, stats.logdet_shift
    X, ld = _factor(stats.S_all_cross, stats.S_inner, L2)
    Xw = X if stats.w2 is None else X * np.sqrt(stats.w2)[:, None, None]
    total = float(ld.sum()) if stats.omega is None else float(stats.omega @ ld)
    return X, stats.S_k - _segment_gram(stats, Xw), total + stats.logdet_shift


def _level3_sum(stats: Stats3, values: np.ndarray) -> np.ndarray:
    """Sum over the level-3 units (axis 0), weighted by the level-3 weights."""
    if stats.w3 is None:
        return values.sum(axis=0)
    return np.tensordot(stats.w3, values, axes=(0, 0))


def evaluate(stats: Stats3, theta: np.ndarray, reml: bool) -> Evaluation:
    F, r3, r2 = stats.n_fixed, stats.n_r3, stats.n_r2
    L2, L3 = unpack(np.asarray(theta, dtype=np.float64), r2, r3)
    _, Wk, logdet = _level2(stats, L2)
    outer = [*range(F), F + r3]
    if r3:
        z = list(range(F, F + r3))
        Ck, ld3 = _collapse(Wk[:, outer][:, :, outer], Wk[:, outer][:, :, z],
                            Wk[:, z][:, :, z], L3)
        logdet += float(_level3_sum(stats, ld3))
    else:
        Ck = Wk[:, outer][:, :, outer]
    C = _level3_sum(stats, Ck)
    AVA, AVy, yVy = C[:F, :F], C[:F, F], float(C[F, F])
    n = stats.nu
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
    g = stats.g
    return _level2(stats, L2)[1][:, :g, :g]


def _small_inv(M: np.ndarray) -> np.ndarray:
    return np.linalg.inv(M) if M.shape[-1] else M


@dataclass(frozen=True, eq=False)
class Parts:
    """The pieces of the deviance and their gradients in theta: the profiled deviance is
    ``logdet + nu (1 + log(2 pi Q / nu))`` (``logdet`` holds log|A'V^-1A| under REML); without
    profiling sigma^2 it is ``logdet + nu log(2 pi sigma^2) + Q / sigma^2``."""

    deviance: float
    logdet: float
    Q: float
    nu: float           # the (weighted) residual d.f. of sigma^2
    d_logdet: np.ndarray
    d_Q: np.ndarray


def deviance_parts(stats: Stats3, theta: np.ndarray, reml: bool) -> Parts:
    """The profiled deviance, its pieces and their analytic gradients in theta.

    With ``V = I + Z Lambda Lambda' Z'`` and E the unit matrix of a lower-triangle element of L
    (L2 or L3), ``dV = Z (E L' + L E') Z'`` over the units that share L, so (Bates et al.
    2015; envelope theorem for the profiled gamma and sigma^2)

    * ``d log|V|       =  2 (G L)_ab``,  ``G = sum_units Z_u' (V^-1)_uu Z_u``;
    * ``d Q            = -2 (sum_units q_u q_u' L)_ab``,  ``q_u = Z_u' (V^-1 r)_u``;
    * ``d log|A'V^-1A| = -2 (sum_units D_u H^-1 D_u' L)_ab``,  ``D_u = Z_u' (V^-1 A)_u``;

    and ``d dev = d log|V| [+ d log|A'V^-1A|] + nu dQ / Q`` (nu = N, or N - F for REML).  The
    level-2 terms use the diagonal blocks of ``V_k^-1 = V_b^-1 - V_b^-1 Z3 L3 N_k^-1 L3' Z3'
    V_b^-1``, from the level-2-collapsed cross-products of all columns ``[A, Z3, y, Z2]``.
    """
    F, r3, r2, g = stats.n_fixed, stats.n_r3, stats.n_r2, stats.g
    L2, L3 = unpack(np.asarray(theta, dtype=np.float64), r2, r3)
    S = stats.S
    X2, Wk, logdet = _level2(stats, L2)                             # Wk: (K, m, m)
    z = np.arange(F, F + r3)
    K = Wk.shape[0]
    if r3:
        N = np.eye(r3) + L3.T @ Wk[:, z][:, :, z] @ L3
        cholN = np.linalg.cholesky(N)
        logdet += 2.0 * float(_level3_sum(
            stats, np.log(np.diagonal(cholN, axis1=1, axis2=2)).sum(axis=1)))
        Kk = L3 @ _small_inv(N) @ L3.T                               # (K, r3, r3)
        Ck = Wk - Wk[:, :, z] @ Kk @ Wk[:, z, :]                     # Z'V_k^-1 Z, all columns
    else:
        Kk = np.zeros((K, 0, 0))
        Ck = Wk
    outer = [*range(F), F + r3]
    C = _level3_sum(stats, Ck[:, outer][:, :, outer])
    n = stats.nu
    H, Ay, yy = C[:F, :F], C[:F, F], float(C[F, F])
    if F:
        cholH = np.linalg.cholesky(H)
        gamma = np.linalg.solve(H, Ay)
        Hinv = np.linalg.inv(H)
        logdet_a = 2.0 * float(np.log(np.diag(cholH)).sum())
    else:
        gamma, Hinv, logdet_a = np.zeros(0), np.zeros((0, 0)), 0.0
    Q = yy - float(Ay @ gamma)
    nu = n - F if reml else n
    dev = logdet + (logdet_a if reml else 0.0) + nu * (1.0 + LOG2PI + np.log(Q / nu))
    A_idx = np.arange(F)
    y_idx = F + r3

    def pieces(G: np.ndarray, qq: np.ndarray, DHD: np.ndarray, L: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
        d_logdet = 2.0 * G @ L - (2.0 * DHD @ L if reml else 0.0)
        low = np.tril_indices(L.shape[0])
        return d_logdet[low], (-2.0 * qq @ L)[low]

    d_logdets, d_qs = [], []
    if r2:
        assert X2 is not None
        zz2 = np.arange(g, g + r2)
        # the Z2 rows of each level-2 unit's collapsed cross-products, W_j[Z2, :]
        Wz2 = S[:, g:, :].copy()
        for i in range(r2):
            for a in range(r2):
                Wz2[:, a, :] -= X2[:, i, g + a, None] * X2[:, i, :]
        # rows Z2 of (V^-1 X)_j for X = [A, y] (off-diagonal level-3 coupling via Wk) and the
        # diagonal block (V^-1)_jj for Z2
        Wj_z2z = Wz2[:, :, z]                                         # (J, r2, r3)
        level3_of = stats.level3_of
        T = Wj_z2z @ Kk[level3_of] if r3 else np.zeros((len(Wz2), r2, 0))
        om = stats.omega        # weights of the level-2 units (None: unweighted)
        G2_j = Wz2[:, :, zz2] - T @ np.swapaxes(Wj_z2z, 1, 2)
        G2 = G2_j.sum(axis=0) if om is None else np.tensordot(om, G2_j, axes=(0, 0))
        Wk_zX = Wk[:, z][:, :, list(A_idx) + [y_idx]]                 # (K, r3, F+1)
        ZVX = Wz2[:, :, list(A_idx) + [y_idx]] - (
            T @ Wk_zX[level3_of] if r3 else 0.0)                      # (J, r2, F+1)
        D = ZVX[:, :, :F]
        q = ZVX[:, :, F] - D @ gamma
        qq = q.T @ q if om is None else (q * om[:, None]).T @ q
        DH = D @ Hinv if om is None else D @ Hinv * om[:, None, None]
        DHD = np.tensordot(DH, D, axes=([0, 2], [0, 2])) if F else np.zeros((r2, r2))
        piece_logdet, piece_q = pieces(G2, qq, DHD, L2)
        d_logdets.append(piece_logdet)
        d_qs.append(piece_q)
    if r3:
        ZVX3 = Ck[:, z][:, :, list(A_idx) + [y_idx]]                  # (K, r3, F+1)
        om3 = stats.w3
        G3 = _level3_sum(stats, Ck[:, z][:, :, z])
        D3 = ZVX3[:, :, :F]
        q3 = ZVX3[:, :, F] - D3 @ gamma
        qq3 = q3.T @ q3 if om3 is None else (q3 * om3[:, None]).T @ q3
        DH3 = D3 @ Hinv if om3 is None else D3 @ Hinv * om3[:, None, None]
        DHD3 = np.tensordot(DH3, D3, axes=([0, 2], [0, 2])) if F else np.zeros((r3, r3))
        piece_logdet, piece_q = pieces(G3, qq3, DHD3, L3)
        d_logdets.append(piece_logdet)
        d_qs.append(piece_q)
    d_logdet = np.concatenate(d_logdets) if d_logdets else np.zeros(0)
    d_q = np.concatenate(d_qs) if d_qs else np.zeros(0)
    return Parts(deviance=float(dev), logdet=logdet + (logdet_a if reml else 0.0), Q=Q,
                 nu=nu, d_logdet=d_logdet, d_Q=d_q)


def deviance_and_gradient(stats: Stats3, theta: np.ndarray, reml: bool
                          ) -> tuple[float, np.ndarray]:
    """The profiled deviance and its analytic gradient in theta (:func:`deviance_parts`)."""
    p = deviance_parts(stats, theta, reml)
    return p.deviance, p.d_logdet + (p.nu / p.Q) * p.d_Q


def random_effects(stats: Stats3, theta: np.ndarray, gamma_centred: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Empirical Bayes estimates (J, R2) of the level-2 random effects r and (K, R3) of the
    level-3 random effects u at theta and gamma (of the centred columns):
    ``r_j = T_pi Z2j' (V^-1 e)_j`` and ``u_k = T_beta Z3k' V_k^-1 e_k`` with e = y - A gamma
    (sigma^2 cancels: ``T / sigma^2 = L L'`` and V relative)."""
    F, r3, r2, g = stats.n_fixed, stats.n_r3, stats.n_r2, stats.g
    L2, L3 = unpack(np.asarray(theta, dtype=np.float64), r2, r3)
    X2, Wk, _ = _level2(stats, L2)
    z = np.arange(F, F + r3)
    y_idx = F + r3
    K = Wk.shape[0]
    if r3:
        N = np.eye(r3) + L3.T @ Wk[:, z][:, :, z] @ L3
        Kk = L3 @ np.linalg.inv(N) @ L3.T
        Wk_zr = Wk[:, z, y_idx] - Wk[:, z, :F] @ gamma_centred          # (K, r3)
        q3 = Wk_zr - np.einsum("kab,kb->ka", Wk[:, z][:, :, z] @ Kk, Wk_zr)
        u = q3 @ (L3 @ L3.T).T
    else:
        Kk = np.zeros((K, 0, 0))
        u = np.zeros((K, 0))
        Wk_zr = np.zeros((K, 0))
    if r2:
        assert X2 is not None
        S = stats.S
        Wz2 = S[:, g:, :].copy()
        for i in range(r2):
            for a in range(r2):
                Wz2[:, a, :] -= X2[:, i, g + a, None] * X2[:, i, :]
        w_r = Wz2[:, :, y_idx] - Wz2[:, :, :F] @ gamma_centred            # (J, r2)
        if r3:
            T = Wz2[:, :, z] @ Kk[stats.level3_of]                          # (J, r2, r3)
            w_r = w_r - np.einsum("jab,jb->ja", T, Wk_zr[stats.level3_of])
        r = w_r @ (L2 @ L2.T).T
    else:
        r = np.zeros((len(stats.S), 0))
    return r, u
