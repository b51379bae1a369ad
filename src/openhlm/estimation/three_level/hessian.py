"""The profiled three-level deviance with its analytic gradient and Hessian in theta.

Notation as in :mod:`openhlm.estimation.three_level.likelihood`: ``V = I + Z2 L2 L2' Z2' +
Z3 L3 L3' Z3'`` (relative to sigma^2), ``H = A'V^-1 A``, ``P = V^-1 - V^-1 A H^-1 A'V^-1``,
``Q = y'P y``.  For a coordinate i of theta (an element (a, b) of L2 or L3, at level l)
``dV_i = sum_u Z_u F_i Z_u'`` over the level-l units u, ``F_i = E_i L' + L E_i'``, and for two
coordinates of the same L ``d2V_ij = sum_u Z_u (E_i E_j' + E_j E_i') Z_u'`` (else 0).  With
``M = Z'P Z`` (REML) or ``Z'V^-1 Z`` (ML, for the log-determinant) in blocks ``M_uv`` between
units, and ``q_u = Z_u'P y``:

* ``d logdet_i      = tr(P dV_i)`` (REML, ``logdet = log|V| + log|H|``) or ``tr(V^-1 dV_i)``;
* ``d2 logdet_ij    = tr(M d2V_ij) - sum_uv tr(F_i M_uv F_j M_vu)``;
* ``d Q_i           = -sum_u q_u' F_i q_u``;
* ``d2 Q_ij         = 2 sum_uv q_u' F_i (Z'PZ)_uv F_j q_v - sum_u q_u' (E_i E_j' + E_j E_i') q_u``;

and the profiled deviance ``logdet + nu (1 + log(2 pi Q / nu))`` has the Hessian
``d2 logdet + nu (d2 Q / Q - dQ dQ' / Q^2)``.

The double sums over pairs of units never form ``Z'V^-1 Z``: with ``V_b`` the level-2 part of
V (block diagonal over level-2 units j), ``C_j = Z2j'V_b^-1 Z2j``, ``a_j = Z2j'V_b^-1 Z3j``,
``W_k = sum_{j in k} Z3j'V_b^-1 Z3j``, ``K_k = L3 (I + L3'W_k L3)^-1 L3'`` and
``O_k = I - K_k W_k``, the blocks of ``Z'V^-1 Z`` are

* ``(j, j')`` in the same level-3 unit k: ``delta_jj' C_j - a_j K_k a_j'``' (0 across units);
* ``(j, k)``: ``a_j O_k``;  ``(k, k)``: ``W_k O_k``;

so each sum is a per-level-2-unit term plus per-level-3-unit products of sums over the level-2
units of the unit (``np.add.reduceat``), and the REML terms ``- D_u H^-1 D_v'`` with
``D_u = Z_u'V^-1 A`` are rank-F corrections of the same bilinear forms.  Everything is batched
over units; the cost is a few gradient evaluations.

Design weights (:mod:`openhlm.estimation.three_level.weighting`) enter exactly as in the
deviance and its gradient (:mod:`openhlm.estimation.three_level.likelihood`): the weighted
deviance is that of data in which level-3 unit k appears v_k times and level-2 unit j appears
w_j times inside its level-3 unit (for any positive weights, the same algebra), so every sum
over the level-2 units of a level-3 unit is weighted by w_j (the segment sums), every total
over level-2 units by ``omega_j = w_j v_k`` and every total over level-3 units by v_k; N is
the weighted number of rows, and the precision weights' constant joins log|V|.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from scipy import sparse

from openhlm.estimation.three_level.small import bmm, chol_small, contract, forward
from openhlm.estimation.three_level.statistics import Stats3

__all__ = ["Derivatives", "derivatives", "release_workspace", "unit_directions"]

LOG2PI = float(np.log(2.0 * np.pi))


@cache
def _lower(r: int) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.tril_indices(r)
    rows.flags.writeable = False
    cols.flags.writeable = False
    return rows, cols


def unit_directions(L: np.ndarray) -> np.ndarray:
    """``F_i = E_i L' + L E_i'`` (n, r, r) for the lower-triangle positions of L, row by row."""
    r = L.shape[0]
    rows, cols = _lower(r)
    n = len(rows)
    EL = np.zeros((n, r, r))
    EL[np.arange(n), rows, :] = L[:, cols].T            # row a of E L' is column b of L
    return EL + np.swapaxes(EL, 1, 2)


def _second_directions(r: int, G: np.ndarray) -> np.ndarray:
    """``tr(G (E_i E_j' + E_j E_i'))`` for G symmetric: ``2 G[a_i, a_j]`` when ``b_i = b_j``."""
    rows, cols = _lower(r)
    same = cols[:, None] == cols[None, :]
    return np.where(same, 2.0 * G[rows[:, None], rows[None, :]], 0.0)


@dataclass(frozen=True, eq=False)
class Derivatives:
    """The profiled deviance at theta with its gradient and Hessian (``hessian`` None when not
    asked for), and the pieces of the unprofiled deviance ``logdet + nu log(2 pi s) + Q / s``
    with their first and second derivatives in theta."""

    deviance: float
    gradient: np.ndarray
    hessian: np.ndarray | None
    logdet: float
    Q: float
    nu: float
    d_logdet: np.ndarray
    d_Q: np.ndarray
    dd_logdet: np.ndarray | None
    dd_Q: np.ndarray | None
    gamma: np.ndarray


def _left(F: np.ndarray, X: np.ndarray) -> np.ndarray:
    """``F_i X_u`` for fixed matrices F (n_i, r, r) and per-unit X (n, r, c), as one BLAS
    product: (n_i, r, n, c)."""
    return contract(F, X, (2,), (1,))


class _Segments:
    """Sums over the level-2 units of each level-3 unit as a sparse (K x J) product, weighted
    by the level-2 weights w_j when there are any."""

    def __init__(self, stats: Stats3) -> None:
        J = len(stats.level3_of)
        K = len(stats.level3_starts)
        self.J, self.K = J, K
        self.level3_of = stats.level3_of
        self.w2 = stats.w2
        self.root_w2 = None if stats.w2 is None else np.sqrt(stats.w2)[:, None]
        self.matrix = sparse.csr_matrix(
            (np.ones(J) if stats.w2 is None else stats.w2, (stats.level3_of, np.arange(J))),
            shape=(K, J))

        # the rows of each level-2 unit placed in a (K, max units, ...) array padded with
        # zeros, for one batched BLAS product per level-3 unit; only while the padding is small
        self.max_units = stats.max_units
        self.padded = K * stats.max_units <= 4 * J + 64
        self.slot = stats.level3_of * stats.max_units + stats.position
        self._buffers: dict[str, np.ndarray] = {}

    def gram(self, X: np.ndarray) -> np.ndarray:
        """``sum_{j in k} w_j X_j' X_j`` (K, c, c) for X (J, r, c)."""
        J, r, c = X.shape
        if not self.padded:
            out = X[:, 0, :, None] * X[:, 0, None, :]
            for i in range(1, r):
                out += X[:, i, :, None] * X[:, i, None, :]
            return self.sum(out)
        pad = self.buffer("gram", (self.K * self.max_units, r * c))
        pad.fill(0.0)
        pad[self.slot] = (X.reshape(J, r * c) if self.root_w2 is None
                          else X.reshape(J, r * c) * self.root_w2)
        pad = pad.reshape(self.K, self.max_units * r, c)
        return np.swapaxes(pad, 1, 2) @ pad

    def buffer(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """A work array kept between evaluations (fresh multi-100-kB arrays on every
        evaluation cost page faults that, on some systems, rival the arithmetic).  Only for
        intermediates that never leave :func:`derivatives`."""
        buf = self._buffers.get(name)
        if buf is None or buf.shape != shape:
            buf = self._buffers[name] = np.empty(shape)
        return buf

    def sum(self, X: np.ndarray) -> np.ndarray:
        """(J, ...) -> (K, ...): ``sum_{j in k} w_j X_j``."""
        out = self.matrix @ X.reshape(self.J, -1)
        return np.asarray(out).reshape((self.K,) + X.shape[1:])


_SEGMENTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def release_workspace(stats: Stats3) -> None:
    """Drop the work arrays kept for ``stats`` between evaluations (after the optimisation)."""
    _SEGMENTS.pop(stats, None)


def _segments(stats: Stats3) -> _Segments:
    seg = _SEGMENTS.get(stats)
    if seg is None:
        seg = _SEGMENTS[stats] = _Segments(stats)
    return seg


def _weighted(X: Any, w: np.ndarray | None) -> np.ndarray:
    """X with unit u (axis 0) times w_u (X itself when unweighted)."""
    if w is None:
        return X
    return X * w.reshape((-1,) + (1,) * (X.ndim - 1))


def _total(X: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    """``sum_u w_u X_u`` over axis 0 (the plain sum when unweighted)."""
    return X.sum(axis=0) if w is None else contract(w, X, (0,), (0,))


class _Forms:
    """Bilinear forms ``sum_uv X_u' (Z'V^-1 Z)_uv Y_v`` from the unit blocks (module doc);
    the per-unit blocks of the totals carry the unit weights (``C2``: omega_j; ``K3``, ``O3``,
    ``G3``: v_k), the sums within level-3 units the level-2 weights (``seg``)."""

    def __init__(self, C2: Any, a: Any, K3: Any, O3: Any, G3: Any, seg: _Segments) -> None:
        self.C2, self.a, self.K3, self.O3, self.G3 = C2, a, K3, O3, G3
        self.seg = seg

    def sum_a(self, X2: np.ndarray) -> np.ndarray:
        """``sum_{j in k} a_j' X_j`` (K, r3, c)."""
        return self.seg.sum(bmm(np.swapaxes(self.a, 1, 2), X2))

    def b22(self, X2: np.ndarray, Y2: np.ndarray, aX: np.ndarray | None = None,
            aY: np.ndarray | None = None) -> np.ndarray:
        CY = bmm(self.C2, Y2, out=self.seg.buffer("CY", Y2.shape))
        out = contract(X2, CY, (0, 1), (0, 1))
        if self.K3 is not None:
            aX = self.sum_a(X2) if aX is None else aX
            aY = self.sum_a(Y2) if aY is None else aY
            out -= contract(aX, self.K3 @ aY, (0, 1), (0, 1))
        return out

    def b23(self, aX: np.ndarray, Y3: np.ndarray) -> np.ndarray:
        return contract(aX, self.O3 @ Y3, (0, 1), (0, 1))

    def b33(self, X3: np.ndarray, Y3: np.ndarray) -> np.ndarray:
        return contract(X3, self.G3 @ Y3, (0, 1), (0, 1))


def _trace_pairs(U: np.ndarray, V: np.ndarray) -> np.ndarray:
    """``sum_u tr(U[u, i] V[u, l])`` (n_i, n_l) for U (n, n_i, r, r), V (n, n_l, r, r)."""
    n, ni, r, _ = U.shape
    Vt = np.swapaxes(V, 2, 3).reshape(n, V.shape[1], r * r)
    return contract(U.reshape(n, ni, r * r), Vt, (0, 2), (0, 2))


def _trace_left(U: np.ndarray, V: np.ndarray) -> np.ndarray:
    """``sum_u tr(U[i, :, u, :] V[l, :, u, :])`` (n_i, n_l) for U (n_i, r, n, r) and
    V (n_l, r, n, r) (the layout of :func:`_left`)."""
    Vt = np.swapaxes(V, 1, 3)
    return U.reshape(U.shape[0], -1) @ Vt.reshape(V.shape[0], -1).T


_LAST: list = []     # [(weakref to stats, theta bytes, reml, order, Derivatives)]


def derivatives(stats: Stats3, theta: np.ndarray, reml: bool, order: int = 2) -> Derivatives:
    """The profiled deviance (module doc) with its gradient (``order >= 1``) and its Hessian
    (``order == 2``); raises ``np.linalg.LinAlgError`` where V or A'V^-1A is singular.

    The last evaluation is remembered, so the optimiser's final Hessian serves the standard
    errors of the variance components (:func:`~openhlm.estimation.three_level.fit.
    variance_covariance`) without recomputing it."""
    theta = np.asarray(theta, dtype=np.float64)
    key = theta.tobytes()
    if _LAST:
        ref, last_key, last_reml, last_order, last = _LAST[0]
        if ref() is stats and last_key == key and last_reml == reml and last_order >= order:
            return last
    out = _derivatives(stats, theta, reml, order)
    _LAST[:] = [(weakref.ref(stats), key, reml, order, out)]
    return out


def _derivatives(stats: Stats3, theta: np.ndarray, reml: bool, order: int) -> Derivatives:
    p, r3, r2, g = stats.n_fixed, stats.n_r3, stats.n_r2, stats.g
    n2 = r2 * (r2 + 1) // 2
    rows2, cols2 = _lower(r2)
    rows3, cols3 = _lower(r3)
    L2 = np.zeros((r2, r2))
    L2[rows2, cols2] = theta[:n2]
    L3 = np.zeros((r3, r3))
    L3[rows3, cols3] = theta[n2:]
    S = stats.S
    seg = _segments(stats)
    om, w3 = stats.omega, stats.w3        # weights of the level-2 and level-3 totals
    level3_of = stats.level3_of
    z = slice(p, p + r3)
    zz2 = slice(g, g + r2)
    X_idx = _columns(p, r3)                          # the columns [A, y]
    # level 2: W_j = S_j - X_j'X_j,  X_j = chol(M_j)^-1 L2' S_j[Z2, :],
    # M_j = I + L2' S_j[Z2, Z2] L2
    if r2:
        SL = contract(stats.S_all_cross, L2, (2,), (0,))         # (J, m, r2)
        M = contract(SL[:, g:, :], L2, (1,), (0,))               # L2' S L2
        M[:, range(r2), range(r2)] += 1.0
        Cm = chol_small(M)
        Xf = forward(Cm, np.swapaxes(SL, 1, 2))      # (J, r2, m)
        logdet = 2.0 * float(_total(np.log(Cm[:, range(r2), range(r2)]).sum(axis=1), om))
        XX = bmm(np.swapaxes(Xf[:, :, g:], 1, 2), Xf,
                 out=seg.buffer("XX", (Xf.shape[0], r2, Xf.shape[2])))
        Wz2 = np.subtract(S[:, g:, :], XX, out=seg.buffer("Wz2", XX.shape))   # (J, r2, m)
        Wk = stats.S_k - seg.gram(Xf)
    else:
        Wz2 = None
        Wk = stats.S_k
        logdet = 0.0
    logdet += stats.logdet_shift
    # level 3: V_k^-1 blocks through K_k = L3 N_k^-1 L3',  N_k = I + L3' W_k[Z3, Z3] L3
    if r3:
        Wzz = Wk[:, z, z]
        N = L3.T @ Wzz @ L3
        N[:, range(r3), range(r3)] += 1.0
        cholN = np.linalg.cholesky(N)
        logdet += 2.0 * float(_total(np.log(cholN[:, range(r3), range(r3)]).sum(axis=1), w3))
        K3 = L3 @ np.linalg.inv(N) @ L3.T                         # (K, r3, r3)
        KW = K3 @ Wk[:, z, :]                                     # (K, r3, m)
        Ck = Wk - Wk[:, :, z] @ KW
    else:
        K3 = KW = None
        Ck = Wk
    Cx = _total(Ck, w3)[np.ix_(X_idx, X_idx)]
    H, Ay, yy = Cx[:p, :p], Cx[:p, p], float(Cx[p, p])
    n = stats.nu
    if p:
        cholH = np.linalg.cholesky(H)
        Hinv = np.linalg.inv(H)
        gamma = Hinv @ Ay
        logdet_a = 2.0 * float(np.log(np.diag(cholH)).sum())
    else:
        Hinv, gamma, logdet_a = np.zeros((0, 0)), np.zeros(0), 0.0
    Q = yy - float(Ay @ gamma)
    if not Q > 0:
        raise np.linalg.LinAlgError("the residual quadratic form is not positive")
    nu = n - p if reml else n
    if reml:
        logdet += logdet_a
    dev = logdet + nu * (1.0 + LOG2PI + np.log(Q / nu))
    if order == 0:
        return Derivatives(float(dev), np.zeros(0), None, logdet, Q, nu, np.zeros(0),
                           np.zeros(0), None, None, gamma)
    gam1 = np.append(-gamma, 1.0)
    # per-unit Z'V^-1 [A, y], D = Z'V^-1 A, q = Z'P y, Gx = sum_u M_uu
    parts_l, parts_q, Ds, qs, Gxs, Fs, Ls = [], [], [], [], [], [], []
    if r2:
        C2 = Wz2[:, :, zz2]
        a = Wz2[:, :, z]
        ZVX2 = Wz2[:, :, X_idx]
        if r3:
            aK = bmm(a, K3[level3_of])                           # (J, r2, r3)
            ZVX2 = np.subtract(ZVX2, bmm(a, KW[:, :, X_idx][level3_of],
                                         out=seg.buffer("aKW", ZVX2.shape)),
                               out=seg.buffer("ZVX2", ZVX2.shape))
            Y = bmm(aK, np.swapaxes(a, 1, 2))                    # a K a'
            G2 = _total(C2 - Y, om)
        else:
            G2 = _total(C2, om)
        D2 = ZVX2[:, :, :p]
        q2 = ZVX2 @ gam1
        Ds.append(D2)
        qs.append(q2)
        Gxs.append(G2)
        Fs.append(unit_directions(L2))
        Ls.append(L2)
    if r3:
        ZVX3 = Ck[:, z][:, :, X_idx]
        D3 = ZVX3[:, :, :p]
        q3 = ZVX3 @ gam1
        Ds.append(D3)
        qs.append(q3)
        Gxs.append(_total(Ck[:, z, z], w3))
        Fs.append(unit_directions(L3))
        Ls.append(L3)
    DHDs, qqs = [], []
    ws = ([om] if r2 else []) + ([w3] if r3 else [])
    for D, q, G, L, w in zip(Ds, qs, Gxs, Ls, ws, strict=True):
        if reml and p:
            DH = contract(_weighted(D, w), Hinv, (2,), (0,))
            DHD = contract(DH, D, (0, 2), (0, 2))
        else:
            DHD = np.zeros_like(G)
        DHDs.append(DHD)
        qq = _weighted(q, w).T @ q
        qqs.append(qq)
        rr, cc = _lower(L.shape[0])
        parts_l.append(2.0 * ((G - DHD) @ L)[rr, cc])
        parts_q.append(-2.0 * (qq @ L)[rr, cc])
    d_logdet = np.concatenate(parts_l)
    d_Q = np.concatenate(parts_q)
    grad = d_logdet + (nu / Q) * d_Q
    if order == 1:
        return Derivatives(float(dev), grad, None, logdet, Q, nu, d_logdet, d_Q, None, None,
                           gamma)
    # --- second derivatives -------------------------------------------------------------
    k = len(theta)
    n3 = k - n2
    s2, s3 = slice(0, n2), slice(n2, k)
    T = np.zeros((k, k))     # sum_uv tr(F_i Mx_uv F_j Mx_vu)
    O3 = np.eye(r3) - KW[:, :, z] if r3 else None
    forms = _Forms(_weighted(C2, om) if r2 else None, a if (r2 and r3) else None,
                   _weighted(K3, w3) if (r2 and r3) else None, _weighted(O3, w3) if r3 else None,
                   _weighted(Ck[:, z, z], w3) if r3 else None, seg)
    # columns per level, unit-major: f = F_i q_u (n params), FD = F_i D_u (n params x p)
    X2 = X3 = None
    c2 = c3 = 0
    if r2:
        F2 = Fs[0]
        J = S.shape[0]
        f2 = contract(q2, F2, (1,), (2,)).transpose(0, 2, 1)          # (J, r2, n2)
        FD2 = contract(D2, F2, (1,), (2,)).transpose(0, 3, 2, 1)      # (J, r2, n2, p)
        X2 = np.concatenate([f2, FD2.reshape(J, r2, n2 * p)], axis=2,
                            out=seg.buffer("X2", (J, r2, n2 * (1 + p))))
        c2 = X2.shape[2]
    if r3:
        F3 = Fs[-1]
        Kn = Ck.shape[0]
        f3 = contract(q3, F3, (1,), (2,)).transpose(0, 2, 1)
        FD3 = contract(D3, F3, (1,), (2,)).transpose(0, 3, 2, 1)
        X3 = np.concatenate([f3, FD3.reshape(Kn, r3, n3 * p)], axis=2)
        c3 = X3.shape[2]
    B = np.zeros((c2 + c3, c2 + c3))                # sum_uv X_u' (Z'V^-1Z)_uv X_v
    aX2 = Sk = None
    if r2 and r3:
        # sum_{j in k} a_j' F_i [q_j, D_j, a_j] = sum_bc F_i[b, c] P_k[b, c], with
        # P_k[b, c] = sum_{j in k} a_j[b, :]' [q_j, D_j, a_j][c, :]: one outer product per unit
        # and one segment sum, then a BLAS contraction with the F_i
        Zq = np.concatenate([q2[:, :, None], D2, a], axis=2)              # (J, r2, 1 + p + r3)
        outer = seg.buffer("outer", (J, r2, r2, r3, Zq.shape[2]))
        np.multiply(a[:, :, None, :, None], Zq[:, None, :, None, :], out=outer)
        P = seg.sum(outer)                                              # (K, r2, r2, r3, .)
        FP = contract(P, F2, (1, 2), (1, 2))                  # (K, r3, 1+p+r3, n2)
        aX2 = np.concatenate([FP[:, :, 0, :],
                              FP[:, :, 1:1 + p, :].transpose(0, 1, 3, 2).reshape(
                                  Kn, r3, n2 * p)], axis=2)              # (K, r3, c2)
        Sk = FP[:, :, 1 + p:, :].transpose(0, 3, 1, 2)                    # sum_j a_j' F_i a_j
    if r2:
        assert X2 is not None
        B[:c2, :c2] = forms.b22(X2, X2, aX2, aX2)
    if r3:
        assert X3 is not None
        B[c2:, c2:] = forms.b33(X3, X3)
        if r2:
            assert aX2 is not None
            B[:c2, c2:] = forms.b23(aX2, X3)
            B[c2:, :c2] = B[:c2, c2:].T
    Phi = np.zeros((p, c2 + c3))                    # sum_u D_u' X_u
    if r2:
        assert X2 is not None
        Phi[:, :c2] = contract(_weighted(D2, om), X2, (0, 1), (0, 1))
    if r3:
        assert X3 is not None
        Phi[:, c2:] = contract(_weighted(D3, w3), X3, (0, 1), (0, 1))
    f_cols, fd_cols = _stacked_columns(n2, n3, p)
    Phif = Phi[:, f_cols]
    R = B[np.ix_(f_cols, f_cols)] - Phif.T @ Hinv @ Phif
    # quartic terms of Z'V^-1Z
    if r2:
        U = _left(F2, C2)                                         # F_i C_j  (n2, r2, J, r2)
        Uw = U if om is None else _left(F2, forms.C2)             # omega_j F_i C_j
        T[s2, s2] += _trace_left(Uw, U)
        if r3:
            T[s2, s2] -= 2.0 * _trace_left(Uw, _left(F2, Y))
            KS = K3[:, None] @ Sk                                 # (K, n2, r3, r3)
            T[s2, s2] += _trace_pairs(_weighted(KS, w3), KS)
            assert O3 is not None
            OFO = O3[:, None] @ F3[None] @ np.swapaxes(O3, 1, 2)[:, None]     # (K, n3, r3, r3)
            T23 = _trace_pairs(_weighted(Sk, w3), OFO)
            T[s2, s3] += T23
            T[s3, s2] += T23.T
    if r3:
        U3 = _left(F3, Ck[:, z, z])
        T[s3, s3] += _trace_left(U3 if w3 is None else _left(F3, forms.G3), U3)
    if reml and p:
        # - 2 sum_uv tr(H^-1 (F_i D_u)' Mv_uv (F_j D_v)) + tr(H^-1 Phi_j H^-1 Phi_i)
        Bdd = B[np.ix_(fd_cols, fd_cols)].reshape(k, p, k, p)
        T -= 2.0 * contract(Bdd, Hinv, (1, 3), (0, 1))
        PhiD = Phi[:, fd_cols].reshape(p, k, p)                  # sum_u D_u' F_i D_u
        HP = contract(Hinv, PhiD, (1,), (0,))           # (p, k, p)
        T += contract(HP, HP, (0, 2), (2, 0))
    T = 0.5 * (T + T.T)
    R = 0.5 * (R + R.T)
    dd_logdet = -T
    dd_Q = 2.0 * R
    off = 0
    for G, DHD, qq, L in zip(Gxs, DHDs, qqs, Ls, strict=True):
        r = L.shape[0]
        nn = r * (r + 1) // 2
        sl = slice(off, off + nn)
        dd_logdet[sl, sl] += _second_directions(r, G - DHD)
        dd_Q[sl, sl] -= _second_directions(r, qq)
        off += nn
    hess = dd_logdet + nu * (dd_Q / Q - np.outer(d_Q, d_Q) / Q**2)
    return Derivatives(float(dev), grad, hess, logdet, Q, nu, d_logdet, d_Q, dd_logdet, dd_Q,
                       gamma)


@cache
def _columns(p: int, r3: int) -> np.ndarray:
    out = np.append(np.arange(p), p + r3)
    out.flags.writeable = False
    return out


@cache
def _stacked_columns(n2: int, n3: int, p: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the f and FD columns in the stacked [X2 | X3] of :func:`derivatives`."""
    c2 = n2 * (1 + p)
    f_cols = np.r_[0:n2, c2:c2 + n3].astype(int)
    fd_cols = np.r_[n2:c2, c2 + n3:c2 + n3 * (1 + p)].astype(int)
    return f_cols, fd_cols
