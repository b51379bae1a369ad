"""The working basis: an exact reparameterisation in which the likelihood is well conditioned.

(docs/engine.md, section 2.)  The model y_j = A_j gamma + Z_j u_j + r_j is unchanged by

* shifting the outcome, y -> y - c_y, when the fixed part holds a free intercept G00 (a free
  fixed effect whose column is all ones): beta_00 absorbs c_y;
* shifting a level-1 column, x_q -> x_q - c_q (q not the intercept), when every gamma of x_q's
  equation has a partner in the intercept equation with the same level-2 values (the partner a
  free fixed effect of its own) and, if x_q is random, the intercept is random: the fixed
  columns x_q W_s become (x_q - c_q) W_s = x_q W_s - c_q W_s, a linear map of A's columns
  with determinant 1, and Z_q - c_q Z_0 a linear map of Z's columns;
* scaling a level-1 column (x_q -> x_q / s_q) and a fixed-effect column (A_k -> A_k / a_k),
  always.

With X_w = X E (E: shift then scale) and A_w = A Q (Q = Q_shift diag(1/a)),

    T = E_R T_w E_R',   beta = Q beta_w + c_y e_00,   Cov(beta) = Q Cov(beta_w) Q',

where E_R is E restricted to the random columns.  V_j, and so the ML deviance, e'V^-1e and
log|V_j|, are the same in both bases; the REML criterion contains log|sum_j A_j'V_j^-1 A_j|,
which changes by -2 log|det Q| = 2 sum_k log a_k.  We report the original-basis REML
criterion (the value lme4 prints for the data as given).

The centres are the pooled means, the scales the pooled root mean squares about them, so every
working column has mean ~0 and scale ~1 whatever the data's units: the cross-products
C_j + W_j (m_j - c)(m_j - c)' (:mod:`openhlm.estimation.statistics`) carry no large constant.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from openhlm.estimation.design import Design
from openhlm.estimation.likelihood import Evaluation
from openhlm.estimation.statistics import UnitMoments
from openhlm.estimation.sufficient import UnitStats, stats_from_raw

__all__ = ["Basis", "working_basis"]


@dataclass(frozen=True)
class Basis:
    """Shifts and scales of the working basis and the maps back to the original one."""

    shift: np.ndarray        # (P+1,) c_q for X's columns, c_y last
    scale: np.ndarray        # (P+1,) s_q (1 for the intercept and y)
    E: np.ndarray            # (P, P)  X_w = X E
    E_R: np.ndarray          # (R, R)  Z_w = Z E_R
    Q: np.ndarray            # (F', F') A_w = A Q
    Q_inv: np.ndarray
    intercept_beta: int | None   # free index of G00 (None: no y shift)
    log_abs_det_Q: float
    G: np.ndarray            # (J, P, F') working G_j: A_w,j = X_w,j G_j

    def stats(self, mom: UnitMoments, random_columns: np.ndarray,
              unit_weights: np.ndarray) -> UnitStats:
        """The working-basis :class:`UnitStats` from the moments of [X, y]."""
        m = (mom.mean - self.shift) / self.scale
        C = mom.centred / (self.scale[:, None] * self.scale[None, :])
        raw = C + mom.weight[:, None, None] * (m[:, :, None] * m[:, None, :])
        return stats_from_raw(raw, self.G, random_columns, mom.n, mom.sum_log_w, unit_weights)

    def tau_to_original(self, tau_w: np.ndarray) -> np.ndarray:
        T = self.E_R @ tau_w @ self.E_R.T
        return 0.5 * (T + T.T)

    def tau_to_working(self, tau: np.ndarray) -> np.ndarray:
        Ei = np.linalg.inv(self.E_R)
        T = Ei @ tau @ Ei.T
        return 0.5 * (T + T.T)

    def beta_to_original(self, beta_w: np.ndarray) -> np.ndarray:
        beta = self.Q @ beta_w
        if self.intercept_beta is not None:
            beta[self.intercept_beta] += self.shift[-1]
        return beta

    def beta_to_working(self, beta: np.ndarray) -> np.ndarray:
        b = np.array(beta, dtype=float)
        if self.intercept_beta is not None:
            b[self.intercept_beta] -= self.shift[-1]
        return self.Q_inv @ b

    def evaluation_to_original(self, ev: Evaluation) -> Evaluation:
        """Every field of a working-basis :class:`Evaluation` in the original basis."""
        Qi, Ei = self.Q_inv, np.linalg.inv(self.E_R)
        QiT, EiT = Qi.T, Ei.T
        beta_cov = self.Q @ ev.beta_cov @ self.Q.T
        AVy = ev.AVy
        if self.intercept_beta is not None:   # y = y_w + c_y 1 and 1 = A_w Q^-1 e_00
            AVy = AVy + self.shift[-1] * (ev.AVA @ Qi[:, self.intercept_beta])
        return Evaluation(
            sigma2=ev.sigma2, tau=self.tau_to_original(ev.tau),
            beta=self.beta_to_original(ev.beta), beta_cov=0.5 * (beta_cov + beta_cov.T),
            M=QiT @ ev.M @ Qi, K=_congruent(self.E_R, ev.K, self.E_R.T),
            AVA=_congruent(QiT, ev.AVA, Qi), AVy=AVy @ Qi, ZVZ=_congruent(EiT, ev.ZVZ, Ei),
            ZVA=_congruent(EiT, ev.ZVA, Qi), ZVe=ev.ZVe @ Ei,
            AVe=ev.AVe @ Qi, logdet_V=ev.logdet_V, quad=ev.quad, loglik_ml=ev.loglik_ml,
            loglik_reml=ev.loglik_reml + self.log_abs_det_Q)


def _congruent(left: np.ndarray, X: np.ndarray, right: np.ndarray) -> np.ndarray:
    """left @ X_j @ right for every j of X (J, a, b), as two matrix products of the stacked
    blocks (a batched product of small matrices costs far more)."""
    J, a, b = X.shape
    c, d = right.shape[1], left.shape[0]
    XR = (X.reshape(J * a, b) @ right).reshape(J, a, c)
    LXR = (np.swapaxes(XR, 1, 2).reshape(J * c, a) @ left.T).reshape(J, c, d)
    return np.ascontiguousarray(np.swapaxes(LXR, 1, 2))


def _free_index(K: np.ndarray) -> np.ndarray:
    return np.argmax(K != 0, axis=1)


def working_basis(design: Design, mom: UnitMoments) -> Basis:
    """Choose the shifts and scales for ``design`` from its moments (module docstring)."""
    spec = design.spec
    P = design.X.shape[1]
    K = design.constraint_matrix
    F, Fp = K.shape
    gc, W = design.gamma_column, design.W
    free = _free_index(K)
    singleton = (K != 0).sum(axis=0) == 1
    random = {int(q) for q in design.random_columns}
    intercepts = [p for p, c in enumerate(spec.coefficients) if c.predictor is None]
    p0 = intercepts[0] if intercepts else None

    uw = (np.ones(design.n_level2) if design.unit_weights is None
          else np.asarray(design.unit_weights, dtype=float))
    wt = uw * mom.weight
    total = max(float(wt.sum()), 1e-300)
    pooled_mean = wt @ mom.mean / total

    # level-2 shifts: W_f -> W_f - d_f where the equation of gamma f has an intercept gamma
    # (level-2 value 1) that is a free effect of its own, which absorbs d_f
    own_intercept = np.full(P, -1)
    for q in range(P):
        for f0 in np.flatnonzero(gc == q):
            if singleton[free[f0]] and np.all(W[:, f0] == 1.0):
                own_intercept[q] = f0
                break
    d = np.zeros(F)
    for f in range(F):
        w = W[:, f]
        if own_intercept[gc[f]] >= 0 and w.size and not np.all(w == w[0]):
            d[f] = wt @ w / total
    d[~np.isfinite(d)] = 0.0

    # partner of every gamma in the intercept equation (same level-2 values and shift, a free
    # effect)
    partner = np.full(F, -1)
    if p0 is not None:
        for f in range(F):
            if gc[f] == p0:
                continue
            for f0 in np.flatnonzero(gc == p0):
                if (singleton[free[f0]] and np.array_equal(W[:, f0], W[:, f])
                        and d[f0] == d[f]):
                    partner[f] = f0
                    break

    shift = np.zeros(P + 1)
    for q in range(P):
        if p0 is None or q == p0:
            continue
        mine = np.flatnonzero(gc == q)
        if np.all(partner[mine] >= 0) and (q not in random or p0 in random):
            shift[q] = pooled_mean[q]
    g00: int | None = None
    if p0 is not None:
        for f0 in np.flatnonzero(gc == p0):
            if singleton[free[f0]] and np.all(W[:, f0] == 1.0):
                g00 = int(free[f0])
                break
    if g00 is not None:
        shift[P] = pooled_mean[P]

    ms = (uw @ (np.diagonal(mom.centred, axis1=1, axis2=2)
                + mom.weight[:, None] * (mom.mean - shift) ** 2)) / total
    scale = np.sqrt(np.where(np.isfinite(ms) & (ms > 0), ms, 1.0))
    if p0 is not None:
        scale[p0] = 1.0
    scale[P] = 1.0

    E = np.eye(P)
    for q in range(P):
        if p0 is not None and shift[q] != 0.0:
            E[p0, q] = -shift[q] / scale[q]
        E[q, q] = 1.0 / scale[q]
    r = design.random_columns
    E_R = E[r][:, r]

    # A_w = A Q2 Q1: Q2 shifts the level-2 values (x_q W_f -> x_q (W_f - d_f) = col f -
    # d_f col(own intercept of q)), Q1 then the level-1 columns ((x_q - c_q)(W_f - d_f) =
    # col f - c_q col(partner f)).  Each is I + N with N^2 = 0 (N maps into intercept
    # columns, which are never shifted), so its inverse is I - N.
    Q2 = np.eye(Fp)
    for f in range(F):
        if d[f] != 0.0:
            Q2[free[own_intercept[gc[f]]], free[f]] -= d[f] * K[f, free[f]]
    Q1 = np.eye(Fp)
    for f in range(F):
        if gc[f] != p0 and shift[gc[f]] != 0.0:
            Q1[free[partner[f]], free[f]] -= shift[gc[f]] * K[f, free[f]]
    Q_shift = Q2 @ Q1
    Q_shift_inv = (2.0 * np.eye(Fp) - Q1) @ (2.0 * np.eye(Fp) - Q2)
    # working G_j before column scaling: A_w col k = sum_f s_q(f) x_w,q(f) (W_f - d_f) (times K)
    J = design.n_level2
    G0 = np.zeros((J, P, F))
    G0[:, gc, np.arange(F)] = (W - d) * scale[gc]
    G = G0 @ K
    # fixed-effect column scales: pooled RMS of the shifted columns A_w
    m = (mom.mean[:, :P] - shift[:P]) / scale[:P]
    C = mom.centred[:, :P, :P] / (scale[:P, None] * scale[None, :P])
    XXw = C + mom.weight[:, None, None] * (m[:, :, None] * m[:, None, :])
    aa = uw @ np.sum(G * (XXw @ G), axis=1) / total        # sum_j w_j diag(G_j' XXw_j G_j)
    a = np.sqrt(np.where(np.isfinite(aa) & (aa > 0), aa, 1.0))
    G = G / a
    Q = Q_shift / a[None, :]
    Q_inv = Q_shift_inv * a[:, None]
    return Basis(shift=shift, scale=scale, E=E, E_R=E_R, Q=Q, Q_inv=Q_inv,
                 intercept_beta=g00, log_abs_det_Q=float(-np.log(a).sum()), G=G)
