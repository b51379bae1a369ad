"""Standard errors of sigma^2 and T from the expected (Fisher) information.

theta = (sigma^2, tau_kl for k >= l).  dV_j/dsigma^2 = Omega_j^-1, dV_j/dtau_kl = Z_j E_kl Z_j'
with E_kl = e_k e_l' + e_l e_k' (k != l) or e_k e_k'.  (docs/statistics.md section 6.)

    ML:   I_ab = 1/2 sum_j tr(V_j^-1 dV_a V_j^-1 dV_b)
    REML: I_ab = 1/2 tr(P dV_a P dV_b),  P = V^-1 - V^-1 A M^-1 A' V^-1,

where tr(P X P Y) = tr(V^-1 X V^-1 Y) - 2 tr(M^-1 sum_j A'V^-1 X V^-1 Y V^-1 A)
+ tr(M^-1 Q_X M^-1 Q_Y), Q_X = sum_j A'V^-1 X V^-1 A.  Every term is a small per-unit matrix
product of the cross-products, using V^-1 = (Omega - Omega Z K Z' Omega)/sigma^2.
HLM 6 prints these SEs for full-ML runs (the seminar's constraint example); whether it uses the
expected or observed information is not documented (open question 6); we use the expected one.
"""

from __future__ import annotations

import functools
import math

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
        return _standard_errors(_information_hlm(est.evaluation, est.stats, est.reml), None)
    info = _information(work.evaluation, work.stats, est.reml)
    return _standard_errors(info, work.basis.E_R)


def _standard_errors(info: np.ndarray, E: np.ndarray | None) -> tuple[float, np.ndarray]:
    n_par = info.shape[0]
    R = (math.isqrt(8 * (n_par - 1) + 1) - 1) // 2  # n_par = 1 + R(R+1)/2
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


@functools.cache
def _trace_terms(R: int) -> tuple[tuple[np.ndarray, np.ndarray],
                                 tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Index lists of the traces of the information: ``one`` = (entries (0, a) and (a, 0),
    flat positions (s, r) of X in tr(X E_a)); ``two`` = (entries (a, b) and (b, a) for
    1 <= b <= a, flat positions (q, r) and (s, p) in tr(X E_a Y E_b) = sum X_qr Y_sp over
    the ones (p, q) of E_a and (r, s) of E_b)."""
    pairs = [(k, l) for k in range(R) for l in range(k + 1)]
    e1: list[tuple[int, int]] = []
    x1: list[int] = []
    e2: list[tuple[int, int]] = []
    x2: list[int] = []
    y2: list[int] = []
    for a, (k, l) in enumerate(pairs, start=1):
        for r_, s_ in _nonzeros(k, l):
            e1.append((0, a))
            x1.append(s_ * R + r_)
        for b, (m, n) in enumerate(pairs[:a], start=1):
            for p_, q in _nonzeros(k, l):
                for r_, s_ in _nonzeros(m, n):
                    e2.append((a, b))
                    x2.append(q * R + r_)
                    y2.append(s_ * R + p_)
    return ((np.array(e1, dtype=np.int64).reshape(-1, 2), np.array(x1, dtype=np.int64)),
            (np.array(e2, dtype=np.int64).reshape(-1, 2), np.array(x2, dtype=np.int64),
             np.array(y2, dtype=np.int64)))


def _accumulate(out: np.ndarray, entries: np.ndarray, values: np.ndarray) -> None:
    """out[a, b] += v, and out[b, a] += v when a != b, for every (a, b) of ``entries``."""
    a, b = entries[:, 0], entries[:, 1]
    np.add.at(out, (a, b), values)
    off = a != b
    np.add.at(out, (b[off], a[off]), values[off])


#: units per block of :func:`_information` (bounds its (J, ., .) temporaries at ~10 MB each)
_BLOCK = 1 << 16


def _information(ev: Evaluation, s: UnitStats, reml: bool) -> np.ndarray:
    """The expected information of (sigma^2, vech T) (module docstring).

    Every sum over units is a matrix product of the stacked per-unit blocks, taken over
    blocks of :data:`_BLOCK` units (:func:`_information_sums`) so that no (J, ., .)
    temporary is larger than a block's; the sums are then combined as before (one block,
    J <= ``_BLOCK``, gives the same numbers bit for bit as the unblocked products).
    """
    sigma2, K = ev.sigma2, ev.K
    w2 = s.unit_weights
    R = s.n_random
    J = K.shape[0]
    pairs = [(k, l) for k in range(R) for l in range(k + 1)]
    n_par = 1 + len(pairs)
    one, two = _trace_terms(R)
    F = ev.beta.size
    use_reml = bool(reml and F)
    Minv = ev.beta_cov if use_reml else None
    ZA = s.ZA
    total: list | None = None
    for j0 in range(0, max(J, 1), _BLOCK):
        b = slice(j0, min(J, j0 + _BLOCK))
        part = _information_sums(sigma2, K[b], s.ZZ[b], ZA[b], s.AA[b], s.n[b], w2[b],
                                 ev.ZVZ[b], ev.ZVA[b], Minv, one, two)
        total = part if total is None else [x + y for x, y in zip(total, part)]
    assert total is not None
    info = np.zeros((n_par, n_par))
    info[0, 0] = total[0]
    _accumulate(info, one[0], total[1])
    _accumulate(info, two[0], total[2])
    if use_reml:
        assert Minv is not None
        sum_AA, AZKZA, AZKZZKZA, AZKZZKZZKZA, VV, t_one, t_two = total[3:]
        Q = np.empty((n_par, F, F))
        Q[0] = (sum_AA - 2 * AZKZA + AZKZZKZA) / sigma2**2        # sum_j w A'V^-1 Om^-1 V^-1 A
        AWWA = (sum_AA - 3 * AZKZA + 3 * AZKZZKZA - AZKZZKZZKZA) / sigma2**3
        for a, pair in enumerate(pairs, start=1):
            Q[a] = sum(VV[p_, :, q, :] for p_, q in _nonzeros(*pair))
        T = np.zeros((n_par, n_par))                              # tr(M^-1 triple(a, b))
        T[0, 0] = np.sum(Minv * AWWA.T)
        _accumulate(T, one[0], t_one)
        _accumulate(T, two[0], t_two)
        MQ = Minv @ Q
        tr2 = MQ.reshape(n_par, F * F) @ np.swapaxes(MQ, 1, 2).reshape(n_par, F * F).T
        corr = -2 * T + tr2
        for a in range(n_par):
            for b_ in range(a + 1):
                info[a, b_] += corr[a, b_]
                if a != b_:
                    info[b_, a] += corr[a, b_]
    info *= 0.5
    return info


def _information_sums(sigma2: float, K: np.ndarray, ZZ: np.ndarray, ZA: np.ndarray,
                      AA: np.ndarray, n: np.ndarray, w2: np.ndarray, ZVZ: np.ndarray,
                      ZVA: np.ndarray, Minv: np.ndarray | None, one: tuple, two: tuple
                      ) -> list:
    """The sums over the units of one block that :func:`_information` needs.

    With V^-1 = (Omega - Omega Z K Z' Omega) / sigma^2 per unit, Z'V^-1 Om^-1 V^-1 Z =
    Z'V^-1 Z (I - K Z'Z) / sigma^2 and A'V^-1 Om^-1 V^-1 Z = A'V^-1 Z (I - K Z'Z) / sigma^2;
    the traces tr(M^-1 sum_j A'V^-1 X V^-1 Y V^-1 A) are sum_j tr(X_j' S_j) with the R x R
    S_j = Z'V^-1 A M^-1 A'V^-1 [Om^-1 V^-1] Z.
    """
    J, R = K.shape[0], K.shape[1]
    KZZ = K @ ZZ
    IKZZ = np.eye(R) - KZZ
    ZWZ = ZVZ @ IKZZ / sigma2                                     # Z'V^-1 Om^-1 V^-1 Z
    tWW = (n - 2 * np.trace(KZZ, axis1=1, axis2=2)
           + np.sum(KZZ * np.swapaxes(KZZ, 1, 2), axis=(1, 2))) / sigma2**2   # tr((V^-1 Om^-1)^2)
    # tr(ZWZ E_a) and tr(ZVZ E_a ZVZ E_b), every term of every pair at once
    out = [w2 @ tWW, w2 @ ZWZ.reshape(J, R * R)[:, one[1]],
           w2 @ (ZVZ.reshape(J, R * R)[:, two[1]] * ZVZ.reshape(J, R * R)[:, two[2]])]
    if Minv is None:
        return out
    F = ZA.shape[2]
    AVZ = np.swapaxes(ZVA, 1, 2)
    AWZ = AVZ @ IKZZ / sigma2                                     # A'V^-1 Om^-1 V^-1 Z
    KZA = K @ ZA
    ZZKZA = ZZ @ KZA
    KZZKZA = K @ ZZKZA
    wflat = lambda X: (X * w2[:, None, None]).reshape(J * R, F).T
    flat = lambda X: X.reshape(J * R, F)
    out.append(np.tensordot(w2, AA, axes=1))                      # sum_j w A'A
    out.append(wflat(ZA) @ flat(KZA))                             # sum_j w A'Z K Z'A
    out.append(wflat(KZA) @ flat(ZZKZA))                          # sum_j w A'Z K Z'Z K Z'A
    out.append(wflat(ZZKZA) @ flat(KZZKZA))
    # blocks [p, f, q, g] = sum_j w (A'V^-1 Z)_fp (Z'V^-1 A)_qg: Q_a = sum over E_a's ones
    out.append(((ZVA * w2[:, None, None]).transpose(1, 2, 0).reshape(R * F, J)
                @ ZVA.reshape(J, R * F)).reshape(R, F, R, F))
    # S_j = Z'V^-1 A M^-1 [A'V^-1 Z | A'V^-1 Om^-1 V^-1 Z], (J, R, 2R)
    HM = (ZVA.reshape(J * R, F) @ Minv).reshape(J, R, F)
    SS = HM @ np.concatenate([AVZ, AWZ], axis=2)
    S, S2 = SS[:, :, :R], SS[:, :, R:]
    # tr(M^-1 sum_j w A'WZ E_a Z'V^-1 A) = sum_j w tr(E_a S2_j) and
    # tr(M^-1 sum_j w A'V^-1 Z E_a Z'V^-1 Z E_b Z'V^-1 A) = sum_j w tr(E_a ZVZ_j E_b S_j)
    out.append(w2 @ np.ascontiguousarray(S2).reshape(J, R * R)[:, one[1]])
    out.append(w2 @ (ZVZ.reshape(J, R * R)[:, two[1]]
                     * np.ascontiguousarray(S).reshape(J, R * R)[:, two[2]]))
    return out


def _information_hlm(ev: Evaluation, s: UnitStats, reml: bool) -> np.ndarray:
    """The expected information of (sigma^2, vech T) (module docstring), computed as HLM
    mode has always computed it (its printed SEs stay the same to the last bit); exact fits
    use :func:`_information`, equal to rounding and faster."""
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
