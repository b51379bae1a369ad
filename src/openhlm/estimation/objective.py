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
from functools import cache

import numpy as np

from openhlm.estimation.likelihood import (
    batched_logdet,
    batched_solve,
    lower_order,
    lower_to_theta,
    theta_to_lower,
)
from openhlm.estimation.sufficient import UnitStats

__all__ = ["Objective", "Point", "ProfiledDeviance"]

#: units per block of the Hessian's per-unit products (:meth:`ProfiledDeviance._evaluate_small`)
_BLOCK = 1 << 16


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


@cache
def _units(R: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """E_a (k, R, R), the unit matrices of theta's positions in L, and their rows/columns."""
    rows, cols = lower_order(R)
    E = np.zeros((rows.size, R, R))
    E[np.arange(rows.size), rows, cols] = 1.0
    return E, rows, cols


@cache
def _pairs(R: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(D_ab != 0, i.e. equal columns; row of a; row of b) for every pair of theta's
    coordinates."""
    rows, cols = lower_order(R)
    ia, ib = np.meshgrid(rows, rows, indexing="ij")
    return cols[:, None] == cols[None, :], ia, ib


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
        rows, cols = lower_order(R)
        self.lower = np.where(rows == cols, 0.0, -np.inf)
        self.upper = np.full(rows.size, np.inf)
        self.boundary_candidates = np.flatnonzero(rows == cols)
        self.start = np.maximum(np.asarray(start, dtype=float), self.lower)
        self.evaluations = 0
        self._pairs = _pairs(R)
        same, ia, ib = self._pairs
        self._dab = (ia * R + ib, np.where(same, 2.0, 0.0))   # tr(S D_ab) = S.flat[idx] * fac
        self._small = R <= 2 and stats.AZ.shape[0] > 0
        if self._small:
            self._prepare_small()

    def _prepare_small(self) -> None:
        """Component-major layout of the per-unit statistics for R <= 2 (:meth:`_evaluate_small`).

        ``_Zc[r, j]`` is row r of [Z'Z_j | Z'A_j | Z'y_j] (R + F + 1 values), ``_Zw`` the same
        weighted by w_j as one (R + F + 1, R J) matrix, ``_Caug`` [[sum A'A, sum A'y],
        [sum y'A, sum y'y]].
        """
        s = self.stats
        R = s.n_random
        J, F = s.AZ.shape[0], s.AZ.shape[1]
        C = R + F + 1
        Zc = np.empty((R, J, C))
        Zc[:, :, :R] = np.swapaxes(s.ZZ, 0, 1)
        Zc[:, :, R:R + F] = np.swapaxes(s.ZA, 0, 1)
        Zc[:, :, R + F] = s.Zy.T
        w = s.unit_weights
        self._Zc = Zc
        self._Zw = np.ascontiguousarray((Zc * w[None, :, None]).reshape(R * J, C).T)
        Caug = np.empty((F + 1, F + 1))
        Caug[:F, :F] = s.sum_AA
        Caug[:F, F] = Caug[F, :F] = s.sum_Ay
        Caug[F, F] = s.sum_yy
        self._Caug = Caug

    def evaluate(self, x: np.ndarray, order: int = 0) -> Point:
        """Deviance (order 0), with the gradient (1) and the analytic Hessian (2)."""
        self.evaluations += 1
        if self._small:
            return self._evaluate_small(x, order)
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
        D, _, _ = _directions(L)
        k = D.shape[0]
        Psum = w @ P.reshape(J, R * R)
        Psum = Psum.reshape(R, R)
        gw = g * w[:, None]
        ggs = gw.T @ g                                     # sum w g g'
        Minv = np.linalg.inv(M) if F else np.zeros((0, 0))
        if self.reml and F:
            HM = (H.reshape(J * R, F) @ Minv).reshape(J, R, F)
            S = HM @ np.swapaxes(H, 1, 2)                  # (J, R, R): H_j M^-1 H_j'
            HMH = (w @ S.reshape(J, R * R)).reshape(R, R)
        else:
            HMH = np.zeros((R, R))
        Gmat = Psum - (dof / r2) * ggs - HMH
        grad = np.einsum("rs,ars->a", Gmat, D)
        if order == 1:
            return Point(x=x, value=float(value), gradient=grad, extra=extra)
        same, ia, ib = self._pairs

        def d_ab(S: np.ndarray) -> np.ndarray:             # tr(S D_ab) for symmetric S
            return np.where(same, 2.0 * S[ia, ib], 0.0)

        # every sum over units below is one matrix product over the stacked (J*R, .) arrays
        Dcat = np.swapaxes(D, 0, 1).reshape(R, k * R)      # [s, (a, t)] = D_a[s, t]
        PD = (P.reshape(J * R, R) @ Dcat).reshape(J, R, k, R)   # [j, r, a, t] = (P_j D_a)_rt
        X = PD.transpose(2, 0, 1, 3).reshape(k, J * R * R)       # P_j D_a, flattened (j, r, t)
        Y = PD.transpose(2, 0, 3, 1).reshape(k, J * R * R)       # its transpose, flattened
        Yw = Y * np.repeat(w, R * R)[None, :]
        hess = d_ab(Psum) - Yw @ X.T                       # sum_j w tr(P D_a P D_b)
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
            # tr(M^-1 sum H'D_a P D_b H) = sum_j w tr(D_a P_j D_b S_j), S_j = H_j M^-1 H_j'
            SD = (S.reshape(J * R, R) @ Dcat).reshape(J, R, k, R)
            T1 = Yw @ SD.transpose(2, 0, 1, 3).reshape(k, J * R * R).T
            # M_a = sum_j w H_j' D_a H_j = sum_rs D_a[r, s] HH[r, s], HH = sum_j w H_j[r]' H_j[s]
            HH = ((H * w[:, None, None]).reshape(J, R * F).T @ H.reshape(J, R * F)).reshape(
                R, F, R, F)
            Ma = np.einsum("ars,rfsg->afg", D, HH)
            MiMa = Minv[None] @ Ma
            hess += T1 + T1.T - d_ab(HMH) - np.einsum("afg,bgf->ab", MiMa, MiMa)
        hess = 0.5 * (hess + hess.T)
        return Point(x=x, value=float(value), gradient=grad, hessian=hess, extra=extra)

    def _evaluate_small(self, x: np.ndarray, order: int) -> Point:
        """:meth:`evaluate` for one or two random effects: the same quantities with every
        per-unit R x R product written out on (J,) vectors (numpy's stacked products of tiny
        matrices cost far more than the arithmetic), M, A'V1^-1 y and y'V1^-1 y from one
        product of the stacked statistics and one Cholesky factor of the augmented
        [[M, b], [b', y'V1^-1 y]] (which gives log|M|, z = chol(M)^-1 b and r^2 at once)."""
        s = self.stats
        R = s.n_random
        J, F = s.AZ.shape[0], s.AZ.shape[1]
        w = s.unit_weights
        L = theta_to_lower(x, R)
        Tr = L @ L.T
        Zc = self._Zc
        C = Zc.shape[2]
        KZ = np.empty((R, J, C))
        if R == 1:
            det = 1.0 + Tr[0, 0] * Zc[0, :, 0]                 # B = I + Tr Z'Z
            if not det.min() > 0:
                return Point(x=x, value=np.inf)
            k00 = Tr[0, 0] / det                                # K = B^-1 Tr
            np.multiply(k00[:, None], Zc[0], out=KZ[0])
        else:
            t00, t01, t11 = Tr[0, 0], Tr[0, 1], Tr[1, 1]
            z00, z01, z10, z11 = Zc[0, :, 0], Zc[0, :, 1], Zc[1, :, 0], Zc[1, :, 1]
            b00 = 1.0 + t00 * z00 + t01 * z10
            b01 = t00 * z01 + t01 * z11
            b10 = t01 * z00 + t11 * z10
            b11 = 1.0 + t01 * z01 + t11 * z11
            det = b00 * b11 - b01 * b10
            if not det.min() > 0:
                return Point(x=x, value=np.inf)
            k00 = (b11 * t00 - b01 * t01) / det
            k01 = (b11 * t01 - b01 * t11) / det
            k11 = (b00 * t11 - b10 * t01) / det
            np.multiply(k00[:, None], Zc[0], out=KZ[0])
            KZ[0] += k01[:, None] * Zc[1]
            np.multiply(k01[:, None], Zc[0], out=KZ[1])
            KZ[1] += k11[:, None] * Zc[1]
        N = self._Zw @ KZ.reshape(R * J, C)                     # sum_j w Zc_j' K_j Zc_j
        try:
            chol = np.linalg.cholesky(self._Caug - N[R:, R:])
        except np.linalg.LinAlgError:
            return Point(x=x, value=np.inf)
        r2 = float(chol[F, F]) ** 2
        if not (r2 > 0) or not np.isfinite(r2):
            return Point(x=x, value=np.inf)
        logdet_M = 0.0
        beta = np.zeros(F)
        Li = np.zeros((0, 0))
        if F:
            Li = np.linalg.inv(chol[:F, :F])                    # M^-1 = Li' Li
            beta = Li.T @ chol[F, :F]
            logdet_M = 2.0 * float(np.log(np.diagonal(chol)[:F]).sum())
        dof = s.n_total - F if self.reml else s.n_total
        sigma2 = r2 / dof
        value = (float(w @ np.log(det)) - s.sum_weighted_log_w
                 + dof * (1.0 + np.log(2.0 * np.pi * sigma2)))
        if self.reml:
            value += logdet_M
        extra = {"sigma2": sigma2, "beta": beta}
        if order == 0:
            return Point(x=x, value=float(value), extra=extra)
        # P_j = Z'Z - Z'Z K Z'Z, H_j = Z'A - Z'Z K Z'A, Z'y - Z'Z K Z'y: Zc - Z'Z K Zc
        if R == 1:
            PH = Zc - Zc[0, :, 0][None, :, None] * KZ
        else:
            PH = np.empty((R, J, C))
            np.multiply(z00[:, None], KZ[0], out=PH[0])
            PH[0] += z01[:, None] * KZ[1]
            np.multiply(z10[:, None], KZ[0], out=PH[1])
            PH[1] += z11[:, None] * KZ[1]
            np.subtract(Zc, PH, out=PH)
        del KZ                                                  # (R, J, C): not needed below
        P = PH[:, :, :R]                                        # [r, j, s] = (P_j)_rs
        g = PH[:, :, R:] @ np.append(-beta, 1.0)                # [r, j] = (g_j)_r = h_y - H beta
        D, _, _ = _directions(L)
        k = D.shape[0]
        Psum = s.sum_ZZ - N[:R, :R]                             # sum_j w P_j
        ggs = (g * w) @ g.T
        # with M^-1 = Li' Li, every M^-1 product goes through HL_j = H_j Li' (R x F)
        HL = PH[:, :, R:R + F] @ Li.T if F else PH[:, :, R:R]
        reml = self.reml and F > 0
        if reml:
            S = np.empty((R, J, R))                             # S_j = H_j M^-1 H_j'
            for r in range(R):
                for q in range(r, R):
                    S[r, :, q] = S[q, :, r] = np.einsum("jf,jf->j", HL[r], HL[q])
            HMH = w @ S                                         # sum_j w H_j M^-1 H_j'
            Gmat = Psum - (dof / r2) * ggs - HMH
        else:
            Gmat = Psum - (dof / r2) * ggs
        grad = D.reshape(k, R * R) @ Gmat.reshape(R * R)
        if order == 1:
            return Point(x=x, value=float(value), gradient=grad, extra=extra)
        idx, fac = self._dab
        # Every term below is one matrix product over the stacked (R, J, .) arrays; terms whose
        # transposes add up are doubled instead (the Hessian is symmetrised at the end):
        #   tr(S D_ab) terms:             tr(Gmat D_ab)
        #   - sum_j w tr(P D_a P D_b) + 2 sum_j w tr(P D_a S D_b)  =  sum_j w tr(P D_a Q D_b),
        #     Q = 2 S - P
        #   r^2 terms:  c (2 sum w g'D_a P D_b g - 2 u_a'M^-1 u_b - r2_a r2_b / r^2), c = d / r^2
        #   log|M| term:  - tr(M^-1 M_a M^-1 M_b) = - <Li M_a Li', Li M_b Li'>
        Dcat = np.swapaxes(D, 0, 1).reshape(R, k * R)          # [s, (a, t)] = D_a[s, t]
        hess = Gmat.reshape(-1)[idx] * fac
        # over blocks of units: the (R, J, k, R) products stay a block's size (one block,
        # J <= _BLOCK, is the unblocked product bit for bit)
        for j0 in range(0, J, _BLOCK):
            b = slice(j0, min(J, j0 + _BLOCK))
            nb = b.stop - j0
            Pb = P[:, b]
            PD = (Pb.reshape(R * nb, R) @ Dcat).reshape(R, nb, k, R)   # (P_j D_a)_rt
            Xw = PD.transpose(2, 0, 3, 1).reshape(k, R * R * nb) * np.tile(w[b], R * R)
            Q = (2.0 * S[:, b] - Pb) if reml else -Pb
            QD = (Q.reshape(R * nb, R) @ Dcat).reshape(R, nb, k, R)
            hess = hess + Xw @ QD.transpose(2, 3, 0, 1).reshape(k, R * R * nb).T
        Dg = D @ g                                              # [a, r, j] = (D_a g_j)_r
        Dgw = (Dg * w).reshape(k, R * J)
        r2_a = -(Dgw @ g.reshape(R * J))
        PDg = np.empty((k, R, J))                               # [b, r, j] = (P_j D_b g_j)_r
        for r in range(R):
            PDg[:, r] = P[r, :, 0] * Dg[:, 0]
            for q in range(1, R):
                PDg[:, r] += P[r, :, q] * Dg[:, q]
        c = dof / r2
        hess += (2.0 * c) * (Dgw @ PDg.reshape(k, R * J).T) - (c / r2) * np.outer(r2_a, r2_a)
        del PDg, Dg, P, PH                                      # freed before the log|M| terms
        if reml:
            del S
        if F:
            uL = Dgw @ HL.reshape(R * J, F)                     # u_a' Li', u_a = sum w H'D_a g
            hess -= (2.0 * c) * (uL @ uL.T)
        del Dgw
        if reml:
            HLc = HL.transpose(1, 0, 2).reshape(J, R * F)
            LHHL = (HLc * w[:, None]).T @ HLc                   # [(r, f), (s, g)]
            B = D.reshape(k, R * R) @ LHHL.reshape(R, F, R, F).transpose(0, 2, 1, 3).reshape(
                R * R, F * F)                                   # Li M_a Li', flattened
            hess -= B @ B.T
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
