"""Standard errors of sigma^2 and T from the expected (Fisher) information.

theta = (sigma^2, tau_kl for k >= l).  dV_j/dsigma^2 = Omega_j^-1, dV_j/dtau_kl = Z_j E_kl Z_j'
with E_kl = e_k e_l' + e_l e_k' (k != l) or e_k e_k'.  (hlm-statistics.md section 6.)

    ML:   I_ab = 1/2 sum_j tr(V_j^-1 dV_a V_j^-1 dV_b)
    REML: I_ab = 1/2 tr(P dV_a P dV_b),  P = V^-1 - V^-1 A M^-1 A' V^-1,

where tr(P X P Y) = tr(V^-1 X V^-1 Y) - 2 tr(M^-1 sum_j A'V^-1 X V^-1 Y V^-1 A)
+ tr(M^-1 Q_X M^-1 Q_Y), Q_X = sum_j A'V^-1 X V^-1 A.  Every term is a small per-unit matrix
product of the cross-products, using V^-1 = (Omega - Omega Z K Z' Omega)/sigma^2.
HLM 6 prints these SEs for full-ML runs (the seminar's constraint example); whether it uses the
expected or observed information is not documented (open question 6); we use the expected one.
"""

from __future__ import annotations

import numpy as np

from openhlm.estimation.estimates import Estimates
from openhlm.estimation.likelihood import Evaluation
from openhlm.estimation.sufficient import UnitStats

__all__ = ["variance_standard_errors"]


def _nonzeros(k: int, l: int) -> list[tuple[int, int]]:
    """Positions of the ones in E_kl = e_k e_l' + e_l e_k' (or e_k e_k')."""
    return [(k, l)] if k == l else [(k, l), (l, k)]


def _sandwich(w: np.ndarray, left: np.ndarray, a: tuple[int, int], right: np.ndarray,
              middle: np.ndarray | None = None, b: tuple[int, int] | None = None) -> np.ndarray:
    """sum_j w_j left_j E_a [middle_j E_b] right_j as GEMMs (left (J,F,R), right (J,R,G))."""
    out = np.zeros((left.shape[1], right.shape[2]))
    for r, s in _nonzeros(*a):
        if middle is None:
            out = out + (left[:, :, r] * w[:, None]).T @ right[:, s, :]
            continue
        assert b is not None, "middle needs its own pair b"
        for t, u in _nonzeros(*b):
            out = out + (left[:, :, r] * (w * middle[:, s, t])[:, None]).T @ right[:, u, :]
    return out


def variance_standard_errors(est: Estimates) -> tuple[float, np.ndarray]:
    """(SE of sigma^2, R x R matrix of SEs of T) at the final estimates.

    Exact-mode fits carry their working basis (docs/engine.md): the information is formed
    there, where it is well conditioned whatever the units and offsets of the data, and its
    inverse mapped to the original basis, Cov(sigma^2, vech T) = J Cov_w J' with J the linear
    map (sigma^2, vech T_w) -> (sigma^2, vech E_R T_w E_R').
    """
    work = est.working
    if work is None:
        return _standard_errors(_information(est.evaluation, est.stats, est.reml), None)
    info = _information(work.evaluation, work.stats, est.reml)
    return _standard_errors(info, work.basis.E_R)


def _standard_errors(info: np.ndarray, E: np.ndarray | None) -> tuple[float, np.ndarray]:
    n_par = info.shape[0]
    R = int(round((np.sqrt(8 * (n_par - 1) + 1) - 1) / 2))
    pairs = [(k, l) for k in range(R) for l in range(k + 1)]
    try:
        cov = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        cov = np.full((n_par, n_par), np.nan)
    if E is not None:
        Jac = np.zeros((n_par, n_par))
        Jac[0, 0] = 1.0
        for a, (k, l) in enumerate(pairs, start=1):
            for b, (m, n) in enumerate(pairs, start=1):
                Jac[a, b] = E[k, m] * E[l, n] + (E[k, n] * E[l, m] if m != n else 0.0)
        cov = Jac @ cov @ Jac.T
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    tau_se = np.zeros((R, R))
    for a, (k, l) in enumerate(pairs, start=1):
        tau_se[k, l] = tau_se[l, k] = se[a]
    return float(se[0]), tau_se


def _information(ev: Evaluation, s: UnitStats, reml: bool) -> np.ndarray:
    """The expected information of (sigma^2, vech T) (module docstring)."""
    sigma2, K = ev.sigma2, ev.K
    w2 = s.unit_weights
    R = s.n_random
    ZZ, AZ = s.ZZ, s.AZ
    ZA = s.ZA
    KZZ = K @ ZZ
    ZVZ = ev.ZVZ
    ZWZ = (ZZ - 2 * ZZ @ KZZ + ZZ @ KZZ @ KZZ) / sigma2**2        # Z'V^-1 Om^-1 V^-1 Z
    tWW = (s.n - 2 * np.trace(KZZ, axis1=1, axis2=2)
           + np.sum(KZZ * np.swapaxes(KZZ, 1, 2), axis=(1, 2))) / sigma2**2   # tr((V^-1 Om^-1)^2)
    pairs = [(k, l) for k in range(R) for l in range(k + 1)]
    n_par = 1 + len(pairs)
    info = np.zeros((n_par, n_par))
    info[0, 0] = w2 @ tWW
    for a, (k, l) in enumerate(pairs, start=1):
        info[0, a] = info[a, 0] = sum(w2 @ ZWZ[:, s_, r_] for r_, s_ in _nonzeros(k, l))
        for b, (m, n) in enumerate(pairs[:a], start=1):
            # tr(ZVZ E_a ZVZ E_b)
            val = sum(w2 @ (ZVZ[:, q, r_] * ZVZ[:, s_, p_])
                      for p_, q in _nonzeros(k, l) for r_, s_ in _nonzeros(m, n))
            info[a, b] = info[b, a] = val
    if reml and ev.beta.size:
        Minv = ev.beta_cov
        AVZ = np.ascontiguousarray(np.swapaxes(ev.ZVA, 1, 2))
        ZVA = ev.ZVA
        KZA = K @ ZA
        AWA = (s.AA - 2 * AZ @ KZA + np.swapaxes(KZA, 1, 2) @ ZZ @ KZA) / sigma2**2
        AWZ = (AZ - 2 * AZ @ KZZ + AZ @ KZZ @ KZZ) / sigma2**2
        AWWA = (s.AA - 3 * AZ @ KZA + 3 * AZ @ K @ ZZ @ KZA
                - AZ @ K @ ZZ @ KZZ @ KZA) / sigma2**3
        Q = [np.tensordot(w2, AWA, axes=1)]
        Q += [_sandwich(w2, AVZ, pair, ZVA) for pair in pairs]

        def triple(a: int, b: int) -> np.ndarray:
            if a == 0 and b == 0:
                return np.tensordot(w2, AWWA, axes=1)
            if a == 0 or b == 0:
                return _sandwich(w2, AWZ, pairs[max(a, b) - 1], ZVA)
            return _sandwich(w2, AVZ, pairs[a - 1], ZVA, ZVZ, pairs[b - 1])

        for a in range(n_par):
            for b in range(a + 1):
                corr = (-2 * np.sum(Minv * triple(a, b).T)
                        + np.trace(Minv @ Q[a] @ Minv @ Q[b]))
                info[a, b] += corr
                if a != b:
                    info[b, a] += corr
    info *= 0.5
    return info
