"""The profiled deviance as an objective: value, analytic gradient and Hessian, start, bounds.

(docs/engine.md, section 3.)  With the relative covariance Tr = T / sigma^2 = L L' (L lower
triangular, theta its column-major lower triangle as in lme4, Bates et al. 2015, section 3.4)
and sigma^2 and the fixed effects profiled out, the deviance is

    f(theta) = sum_j w_j log|I + Tr Z_j'Z_j| - sum_j w_j sum_i d_ij log p_ij
               + d (1 + log(2 pi r^2 / d))  [+ log|M|  under REML],

d = N (ML) or N - F (REML), r^2 the generalised residual sum of squares at the GLS fixed
effects, M = sum_j w_j A_j'V1_j^-1 A_j, V1_j = Omega_j^-1 + Z_j Tr Z_j'
(:func:`openhlm.estimation.likelihood.profiled_deviance`).  Per unit let

    P_j = Z'V1^-1 Z,   H_j = Z'V1^-1 A,   g_j = Z'V1^-1 e_j   (e_j at the GLS beta),

and for coordinate a of theta, with E_a the unit matrix of its position in L,
D_a = dTr/dtheta_a = E_a L' + L E_a' and D_ab = E_a E_b' + E_b E_a'.  Then
(dV1^-1 = -V1^-1 Z dTr Z' V1^-1, d beta = -M^-1 sum_j H_j' D g_j, u_a = sum_j H_j' D_a g_j,
M_a = sum_j H_j' D_a H_j, all sums weighted by w_j):

    d r^2 / da       = -sum g'D_a g
    d^2 r^2 / da db  = -sum g'D_ab g + 2 sum g'D_a P D_b g - 2 u_a' M^-1 u_b
    d log|I+Tr Z'Z|  = sum tr(P D_a),
    d^2 (same)       = sum tr(P D_ab) - sum tr(P D_a P D_b)
    d log|M| / da    = -tr(M^-1 M_a)
    d^2 log|M|       = tr(M^-1 sum H'(D_a P D_b + D_b P D_a - D_ab) H) - tr(M^-1 M_a M^-1 M_b)

and d log r^2 contributes d (r^2_ab / r^2 - r^2_a r^2_b / r^4).  The Hessian costs
O(J k^2 R^2 F^2) for k = R(R+1)/2 parameters, a few gradient evaluations' worth, and makes
the optimiser (:mod:`openhlm.estimation.optimise`) a Newton method.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from openhlm.estimation.likelihood import (
    _lower_order,
    batched_logdet,
    batched_solve,
    lower_to_theta,
    theta_to_lower,
)
from openhlm.estimation.sufficient import UnitStats

__all__ = ["Objective", "ProfiledDeviance", "Point"]


@dataclass(frozen=True)
class Point:
    """One evaluation of an objective: value, gradient, Hessian (None when not asked for)."""

    x: np.ndarray
    value: float
    gradient: np.ndarray | None = None
    hessian: np.ndarray | None = None
    extra: dict = field(default_factory=dict)


class Objective:
    """What the bounded optimiser minimises.

    Subclasses give ``start`` (a feasible x), ``lower``/``upper`` bounds (-inf/inf for free
    coordinates), ``boundary_candidates`` (coordinates whose lower bound 0 is a legitimate
    optimum to snap to, the diagonal of L) and :meth:`evaluate`.  The default Hessian is a
    central difference of the analytic gradient.
    """

    start: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    boundary_candidates: np.ndarray
    evaluations: int = 0

    def evaluate(self, x: np.ndarray, order: int = 0) -> Point:   # pragma: no cover - abstract
        raise NotImplementedError

    def finite_difference_hessian(self, x: np.ndarray, gradient: np.ndarray) -> np.ndarray:
        k = x.size
        H = np.empty((k, k))
        for a in range(k):
            h = 1e-5 * max(1.0, abs(float(x[a])))
            up, down = x.copy(), x.copy()
            up[a] += h
            down[a] -= h
            if down[a] < self.lower[a]:        # one-sided at a bound
                gu = self.evaluate(up, 1).gradient
                H[:, a] = (gu - gradient) / h if gu is not None else np.nan
                continue
            gu, gd = self.evaluate(up, 1).gradient, self.evaluate(down, 1).gradient
            H[:, a] = (gu - gd) / (2.0 * h) if gu is not None and gd is not None else np.nan
        return 0.5 * (H + H.T)


@lru_cache(maxsize=None)
def _units(R: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """E_a (k, R, R), the unit matrices of theta's positions in L, and their rows/columns."""
    rows, cols = _lower_order(R)
    E = np.zeros((rows.size, R, R))
    E[np.arange(rows.size), rows, cols] = 1.0
    return E, rows, cols


def _directions(L: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """D_a = E_a L' + L E_a' (k, R, R) and the (row, column) of every theta coordinate."""
    E, rows, cols = _units(L.shape[0])
    EL = E @ L.T
    return EL + np.swapaxes(EL, 1, 2), rows, cols


class ProfiledDeviance(Objective):
    """lme4's profiled (RE)ML deviance over theta on (working-basis) :class:`UnitStats`."""

    def __init__(self, stats: UnitStats, reml: bool, start: np.ndarray) -> None:
        self.stats, self.reml = stats, reml
        R = stats.n_random
        rows, cols = _lower_order(R)
        self.lower = np.where(rows == cols, 0.0, -np.inf)
        self.upper = np.full(rows.size, np.inf)
        self.boundary_candidates = np.flatnonzero(rows == cols)
        self.start = np.maximum(np.asarray(start, dtype=float), self.lower)
        self.evaluations = 0

    def evaluate(self, x: np.ndarray, order: int = 0) -> Point:
        """Deviance (order 0), with the gradient (1) and the analytic Hessian (2)."""
        self.evaluations += 1
        s = self.stats
        R = s.n_random
        L = theta_to_lower(x, R)
        Tr = L @ L.T
        ZZ, ZA = s.ZZ, s.ZA
        J, F = s.AZ.shape[0], s.AZ.shape[1]
        w = s.unit_weights
        B = Tr @ ZZ
        B += np.eye(R)
        K = batched_solve(B, Tr)                       # (I + Tr Z'Z)^-1 Tr, symmetric
        KZy = (K @ s.Zy[:, :, None])[:, :, 0]
        KZA = K @ ZA
        AZw = s.AZ_weighted_flat
        M = s.sum_AA - AZw @ KZA.reshape(J * R, F)
        b = s.sum_Ay - AZw @ KZy.reshape(J * R)
        yVy = s.sum_yy - float(w @ np.einsum("jr,jr->j", s.Zy, KZy))
        beta = np.zeros(F)
        logdet_M = 0.0
        chol = None
        if F:
            try:
                chol = np.linalg.cholesky(M)
            except np.linalg.LinAlgError:
                return Point(x=x, value=np.inf)
            z = np.linalg.solve(chol, b)
            beta = np.linalg.solve(chol.T, z)
            r2 = float(yVy - z @ z)
            logdet_M = 2.0 * float(np.log(np.diag(chol)).sum())
        else:
            r2 = float(yVy)
        logdet_B = batched_logdet(B)
        if not (r2 > 0) or not np.all(np.isfinite(logdet_B)):
            return Point(x=x, value=np.inf)
        dof = s.n_total - F if self.reml else s.n_total
        sigma2 = r2 / dof
        value = (float(w @ logdet_B) - s.sum_weighted_log_w
                 + dof * (1.0 + np.log(2.0 * np.pi * sigma2)))
        if self.reml:
            value += logdet_M
        extra = {"sigma2": sigma2, "beta": beta}
        if order == 0:
            return Point(x=x, value=float(value), extra=extra)
        # per-unit P, H, g
        ZZK = ZZ @ K
        P = ZZ - ZZK @ ZZ
        H = ZA - ZZK @ ZA                                  # (J, R, F)
        eZ = s.Zy - (ZA.reshape(J * R, F) @ beta).reshape(J, R)
        g = eZ - (ZZK @ eZ[:, :, None])[:, :, 0]
        D, rows, cols = _directions(L)
        k = D.shape[0]
        Psum = np.tensordot(w, P, axes=1)
        gw = g * w[:, None]
        ggs = gw.T @ g                                     # sum w g g'
        Minv = np.linalg.inv(M) if F else np.zeros((0, 0))
        if self.reml and F:
            Hw = H * w[:, None, None]
            HMH = np.swapaxes(Hw, 0, 1).reshape(R, J * F) @ (
                (H.reshape(J * R, F) @ Minv).reshape(J, R, F).transpose(0, 2, 1).reshape(J * F, R))
        else:
            HMH = np.zeros((R, R))
        Gmat = Psum - (dof / r2) * ggs - HMH
        grad = np.einsum("rs,ars->a", Gmat, D)
        if order == 1:
            return Point(x=x, value=float(value), gradient=grad, extra=extra)
        same = cols[:, None] == cols[None, :]              # D_ab != 0 only for equal columns
        ia, ib = np.meshgrid(rows, rows, indexing="ij")

        def d_ab(S: np.ndarray) -> np.ndarray:             # tr(S D_ab) for symmetric S
            return np.where(same, 2.0 * S[ia, ib], 0.0)

        # every sum over units below is one matrix product over the stacked (J*R, .) arrays
        PD = P[None] @ D[:, None]                          # (k, J, R, R): P_j D_a
        PDt = np.swapaxes(PD, 2, 3).reshape(k, J * R * R)
        hess = d_ab(Psum) - (PD * w[None, :, None, None]).reshape(k, J * R * R) @ PDt.T
        Dg = g @ D                                         # (k, J, R): D_a g_j (D symmetric)
        Dgw = (Dg * w[None, :, None]).reshape(k, J * R)
        r2_a = -(Dgw @ g.reshape(J * R))
        PDg = (P[None] @ Dg[..., None])[..., 0]            # P_j D_b g_j
        r2_ab = -d_ab(ggs) + 2.0 * Dgw @ PDg.reshape(k, J * R).T
        if F:
            u = Dgw @ H.reshape(J * R, F)                  # (k, F): sum_j w H_j' D_a g_j
            r2_ab -= 2.0 * u @ Minv @ u.T
        hess += dof * (r2_ab / r2 - np.outer(r2_a, r2_a) / r2**2)
        if self.reml and F:
            DH = D[:, None] @ H[None]                      # (k, J, R, F): D_a H_j
            Ma = Hw.reshape(J * R, F).T[None] @ DH.reshape(k, J * R, F)      # (k, F, F)
            PDHM = (P[None] @ DH) @ Minv                   # P_j D_b H_j M^-1
            T1 = (DH * w[None, :, None, None]).reshape(k, J * R * F) @ PDHM.reshape(
                k, J * R * F).T
            MiMa = Minv[None] @ Ma
            hess += T1 + T1.T - d_ab(HMH) - np.einsum("afg,bgf->ab", MiMa, MiMa)
        hess = 0.5 * (hess + hess.T)
        return Point(x=x, value=float(value), gradient=grad, hessian=hess, extra=extra)

    def sigma2_tau(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """(sigma^2, T) at theta, sigma^2 profiled."""
        pt = self.evaluate(x, 0)
        L = theta_to_lower(x, self.stats.n_random)
        sigma2 = float(pt.extra.get("sigma2", np.nan))
        return sigma2, sigma2 * (L @ L.T)

    @staticmethod
    def theta_from(tau: np.ndarray, sigma2: float) -> np.ndarray:
        return lower_to_theta(np.linalg.cholesky(np.asarray(tau) / sigma2))
