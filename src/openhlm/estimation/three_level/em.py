"""HLM mode for three-level models: HLM3's EM iterations (full maximum likelihood).

HLM3 estimates by full maximum likelihood only (its printouts say "Method of estimation: full
maximum likelihood"; docs/three-level.md).  As for two-level models
(:mod:`openhlm.estimation.em`), iteration k runs an E-step at theta^(k-1) = (sigma^2,
tau(pi), tau(beta)) -- the log-likelihood l_k that HLM prints as "the value of the
log-likelihood function at iteration k", and the GLS fixed effects -- and an M-step giving
theta^(k).  The run stops when |l_k - l_{k-1}| < stopval percent of |l_k| (1e-6 %, i.e. a
relative change below 1e-8: ``spec.defaults.STOP_SMALL_CHANGE``),
or after ``numit`` (100) iterations.  Every 5th iteration the current iterate is extrapolated
first (:func:`openhlm.estimation.accelerate.aitken_extrapolate`, as HLM2's ``ACCEL:5``).

E-step (Raudenbush & Bryk 2002, ch. 8 and 14; relative quantities are divided by sigma^2,
``G2 = tau(pi) / sigma^2 = L2 L2'``, ``G3 = tau(beta) / sigma^2 = L3 L3'``), batched over the
J level-2 and K level-3 units from the per-level-2-unit cross-products S_j of
``[A, Z3, y, Z2]`` (:mod:`openhlm.estimation.three_level.statistics`), e = y - A gamma::

    H_j  = L2 (I + L2' Z2j'Z2j L2)^-1 L2'                  Var(r_j | y, u_k) / sigma^2
    W_k  = sum_j [X'X - X'Z2 H Z2'X]_j,  X = [A, Z3, y]     X'V_b^-1 X per level-3 unit
    K_k  = L3 (I + L3' (W_k)_Z3Z3 L3)^-1 L3'                Var(u_k | y) / sigma^2
    u*_k = K_k (Z3'V_b^-1 e)_k
    r*_j = H_j Z2j'(e_j - Z3j u*_k)
    Var(r_j | y) / sigma^2    = H_j + H_j B_j K_k B_j' H_j,  B_j = Z2j'Z3j
    Cov(r_j, u_k | y)/sigma^2 = -H_j B_j K_k

M-step (ML; gamma at its GLS value)::

    tau(pi)_new   = (1/J) sum_j (r*_j r*_j' + Var(r_j | y))
    tau(beta)_new = (1/K) sum_k (u*_k u*_k' + Var(u_k | y))
    sigma^2_new   = (1/N) [ sum ||e - Z3 u* - Z2 r*||^2 + tr Cov(Z3 u + Z2 r | y) ]

Starting values: HLM3's are not documented (no printout of them was found), so openhlm's are
its own: gamma^(0) pooled OLS, sigma^2(0) the pooled within-level-2-unit OLS residual
variance of the level-1 design, tau(pi)(0) = sigma^2(0) I and tau(beta)(0) = sigma^2(0) I
(lme4's relative start L = I).  HLM3's printed iteration counts are therefore not expected to be
reproduced; the estimates converge to the ML optimum (tests).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from openhlm.errors import EstimationError
from openhlm.estimation.accelerate import MAX_FACTOR, aitken_extrapolate
from openhlm.estimation.three_level.design import Design3, level1_values
from openhlm.estimation.three_level.fit import Estimates3, estimates3_at
from openhlm.estimation.three_level.statistics import Stats3, unit_statistics
from openhlm.spec.defaults import HLM_LIMITS, STOP_MAX_ITERATIONS, STOP_SMALL_CHANGE

__all__ = ["EM3Solution", "EStep3", "em3_step", "estep3", "estimate3_hlm", "level1_ols", "run_em3",
           "starting_values3"]

LOG2PI = float(np.log(2.0 * np.pi))


@dataclass(frozen=True, eq=False)
class EStep3:
    """The E-step at (sigma^2, tau(pi), tau(beta)): the log-likelihood (gamma at its GLS
    value), gamma (centred parameterisation) and the posterior moments of r and u."""

    loglik: float
    gamma: np.ndarray          # (F,) centred
    r: np.ndarray              # (J, R2) E(r_j | y)
    u: np.ndarray              # (K, R3) E(u_k | y)
    var_r: np.ndarray          # (J, R2, R2) Var(r_j | y)
    var_u: np.ndarray          # (K, R3, R3) Var(u_k | y)
    cov_ru: np.ndarray         # (J, R2, R3) Cov(r_j, u_k | y)
    residual_ss: float         # sum ||e - Z3 u* - Z2 r*||^2
    trace: float               # tr Cov(Z3 u + Z2 r | y)


@dataclass(frozen=True, eq=False)
class EM3Solution:
    sigma2: float
    tau_pi: np.ndarray
    tau_beta: np.ndarray
    fixed_sigma2: float        # theta^(k-1): the last E-step's point (HLM's printed gammas)
    fixed_tau_pi: np.ndarray
    fixed_tau_beta: np.ndarray
    iterations: int
    converged: bool
    loglik_history: tuple[float, ...]   # l_1, ..., l_k (E-step log-likelihoods)
    start: tuple[float, np.ndarray, np.ndarray]
    accelerated_iterations: tuple[int, ...] = ()


def _root(G: np.ndarray) -> np.ndarray:
    """A square root L with L L' = G for a positive semi-definite G (eigenvalues < 0 -> 0)."""
    if not G.size:
        return G
    w, v = np.linalg.eigh((G + G.T) / 2)
    return v * np.sqrt(np.clip(w, 0.0, None))


def _inner(L: np.ndarray, S: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Batched ``L (I + L'S L)^-1 L'`` and ``log|I + L'S L|`` for S (n, r, r)."""
    n, r = S.shape[0], L.shape[0]
    if r == 0:
        return np.zeros((n, 0, 0)), np.zeros(n)
    M = np.eye(r) + L.T @ S @ L
    chol = np.linalg.cholesky(M)
    logdet = 2.0 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
    return L @ np.linalg.inv(M) @ L.T, logdet


def estep3(stats: Stats3, sigma2: float, tau_pi: np.ndarray, tau_beta: np.ndarray) -> EStep3:
    """The E-step (module docstring), vectorised over the level-2 and level-3 units."""
    F, r3, r2, g = stats.n_fixed, stats.n_r3, stats.n_r2, stats.g
    S = stats.S
    a, z3, yi, z2 = (np.arange(F), np.arange(F, F + r3), F + r3, np.arange(g, g + r2))
    L2 = _root(np.asarray(tau_pi, dtype=float) / sigma2)
    L3 = _root(np.asarray(tau_beta, dtype=float) / sigma2)
    H, ld2 = _inner(L2, stats.S_inner)                          # (J, r2, r2)
    cross = stats.S_cross                                       # (J, g, r2)
    W = stats.S_outer - cross @ H @ np.swapaxes(cross, 1, 2)    # (J, g, g)
    Wk = np.add.reduceat(W, stats.level3_starts, axis=0)        # (K, g, g)
    Kk, ld3 = _inner(L3, Wk[:, z3][:, :, z3])                   # (K, r3, r3)
    G = [*a, yi]
    Wz_G = Wk[:, z3][:, :, G]
    Ck = Wk[:, G][:, :, G] - np.swapaxes(Wz_G, 1, 2) @ Kk @ Wz_G
    C = Ck.sum(axis=0)
    if F:
        gamma = np.linalg.solve(C[:F, :F], C[:F, F])
        Q = float(C[F, F] - C[:F, F] @ gamma)
    else:
        gamma, Q = np.zeros(0), float(C[0, 0])
    n = stats.n1
    logdet = float(ld2.sum() + ld3.sum())
    loglik = -0.5 * (n * (LOG2PI + np.log(sigma2)) + logdet + Q / sigma2)
    # posterior means
    q3 = Wk[:, z3, yi] - Wk[:, z3][:, :, a] @ gamma             # (K, r3) (Z3'V_b^-1 e)_k
    u = np.einsum("kab,kb->ka", Kk, q3)
    k_of = stats.level3_of
    ze = S[:, z2, yi] - S[:, z2][:, :, a] @ gamma               # (J, r2) Z2j'e_j
    B = S[:, z2][:, :, z3]                                      # (J, r2, r3) Z2j'Z3j
    ze = ze - np.einsum("jab,jb->ja", B, u[k_of])
    r = np.einsum("jab,jb->ja", H, ze)
    # posterior (co)variances (absolute)
    HB = H @ B                                                  # (J, r2, r3)
    HBK = HB @ Kk[k_of]
    var_r = sigma2 * (H + HBK @ np.swapaxes(HB, 1, 2))
    cov_ru = -sigma2 * HBK
    var_u = sigma2 * Kk
    # residual sum of squares with the posterior means: w_j' S_j w_j
    w = np.zeros((S.shape[0], S.shape[1]))
    w[:, a] = -gamma
    w[:, z3] = -u[k_of]
    w[:, yi] = 1.0
    w[:, z2] = -r
    rss = float(np.einsum("ja,jab,jb->", w, S, w))
    S_k33 = stats.S_k[:, z3][:, :, z3]
    trace = (float(np.einsum("kab,kba->", S_k33, var_u))
             + float(np.einsum("jab,jba->", stats.S_inner, var_r))
             + 2.0 * float(np.einsum("jab,jab->", B, cov_ru)))
    return EStep3(loglik=float(loglik), gamma=gamma, r=r, u=u, var_r=var_r, var_u=var_u,
                  cov_ru=cov_ru, residual_ss=rss, trace=trace)


def em3_step(stats: Stats3, e: EStep3) -> tuple[float, np.ndarray, np.ndarray]:
    """The M-step from the E-step ``e``: (sigma^2, tau(pi), tau(beta))."""
    J, K = e.r.shape[0], e.u.shape[0]
    tau_pi = (e.r.T @ e.r + e.var_r.sum(axis=0)) / J
    tau_beta = (e.u.T @ e.u + e.var_u.sum(axis=0)) / K
    sigma2 = (e.residual_ss + e.trace) / stats.n1
    return float(sigma2), (tau_pi + tau_pi.T) / 2, (tau_beta + tau_beta.T) / 2


def level1_ols(design: Design3) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Per-level-2-unit OLS of the outcome on the level-1 design (the a_p of every pi, as the
    model enters them): (usable units, SSE_j, n_j, P).  A unit is usable when its design has
    full column rank and it has more records than columns.  One pass over the rows
    (``np.add.reduceat``); the outcome is centred at its grand mean first when the design has
    an intercept (the SSEs are unchanged)."""
    spec, mdm = design.spec, design.mdm
    unit, J = design.unit_index, design.n2
    X = np.column_stack([level1_values(mdm, p.predictor, unit, J) for p in spec.pis]) \
        if spec.pis else np.zeros((design.n1, 0))
    y = design.y
    if any(p.predictor is None for p in spec.pis):
        y = y - y.mean()
        X = X - np.where(np.all(X == 1.0, axis=0), 0.0, X.mean(axis=0))
    D = np.column_stack([X, y])
    starts = np.searchsorted(unit, np.arange(J))
    S = np.add.reduceat(D[:, :, None] * D[:, None, :], starts, axis=0)
    n = np.bincount(unit, minlength=J)
    P = X.shape[1]
    XX, Xy, yy = S[:, :P, :P], S[:, :P, P], S[:, P, P]
    if P:
        w = np.linalg.eigvalsh(XX)
        ok = w.min(axis=1) > 1e-10 * np.maximum(np.abs(w).max(axis=1), 1e-300)
    else:
        ok = np.ones(J, dtype=bool)
    ok &= n > P
    sse = np.full(J, np.nan)
    if ok.any():
        b = np.linalg.solve(XX[ok], Xy[ok][:, :, None])[:, :, 0] if P else np.zeros((ok.sum(), 0))
        sse[ok] = yy[ok] - np.einsum("jp,jp->j", b, Xy[ok])
    return ok, sse, n, P


def starting_values3(design: Design3) -> tuple[float, np.ndarray, np.ndarray]:
    """openhlm's starting values (module docstring): sigma^2(0) the pooled within-level-2-unit
    OLS residual variance (:func:`level1_ols`), tau(pi)(0) = tau(beta)(0) = sigma^2(0) I."""
    ok, sse, n, P = level1_ols(design)
    if not ok.any():
        raise EstimationError("HLM mode needs at least one level-2 unit with more level-1 "
                              "records than level-1 coefficients (and a full-rank level-1 "
                              "design) for its starting values; use mode='exact'")
    sigma2 = float(sse[ok].sum() / (n[ok] - P).sum())
    if not sigma2 > 0:
        raise EstimationError("HLM mode: the pooled within-unit residual variance is 0 (the "
                              "level-1 model fits every unit exactly); use mode='exact'")
    r2, r3 = design.Z2.shape[1], design.Z3.shape[1]
    return sigma2, sigma2 * np.eye(r2), sigma2 * np.eye(r3)


def _pack(sigma2: float, tp: np.ndarray, tb: np.ndarray) -> np.ndarray:
    return np.r_[sigma2, tp[np.triu_indices(tp.shape[0])], tb[np.triu_indices(tb.shape[0])]]


def _unpack(theta: np.ndarray, r2: int, r3: int) -> tuple[float, np.ndarray, np.ndarray]:
    out = []
    pos = 1
    for r in (r2, r3):
        k = r * (r + 1) // 2
        T = np.zeros((r, r))
        T[np.triu_indices(r)] = theta[pos:pos + k]
        out.append(T + T.T - np.diag(np.diag(T)))
        pos += k
    return float(theta[0]), out[0], out[1]


def _admissible(sigma2: float, tp: np.ndarray, tb: np.ndarray) -> bool:
    if not (np.isfinite(sigma2) and sigma2 > 0):
        return False
    return all(np.linalg.eigvalsh(T).min() > 0 for T in (tp, tb) if T.size)


def run_em3(stats: Stats3, start: tuple[float, np.ndarray, np.ndarray], *,
            max_iterations: int = 100, tolerance: float = 1e-6,
            accelerator_frequency: int | None = 5,
            max_factor: float | None = MAX_FACTOR) -> EM3Solution:
    """HLM's EM iterations for a three-level model from ``start`` (module docstring; the loop,
    the accelerator and the stopping rule are those of
    :func:`openhlm.estimation.em.run_em`)."""
    r2, r3 = stats.n_r2, stats.n_r3
    sigma2, tp, tb = start
    thetas = [_pack(sigma2, tp, tb)]
    e_next = estep3(stats, sigma2, tp, tb)
    em_logliks = [e_next.loglik]
    history: list[float] = []
    accelerated: list[int] = []
    prev = (sigma2, tp, tb)
    converged = False
    k = 0
    while k < max_iterations:
        k += 1
        e = None
        if accelerator_frequency and k % accelerator_frequency == 0 and len(thetas) >= 3:
            theta = aitken_extrapolate(np.array(thetas[-3:]), em_logliks[-3:], "loglik",
                                       max_factor)
            if theta is not None:
                s_acc, tp_acc, tb_acc = _unpack(theta, r2, r3)
                if _admissible(s_acc, tp_acc, tb_acc):
                    e_acc = estep3(stats, s_acc, tp_acc, tb_acc)
                    if e_acc.loglik > em_logliks[-1]:
                        sigma2, tp, tb, e = s_acc, tp_acc, tb_acc, e_acc
                        accelerated.append(k)
        if e is None:
            e = e_next
        history.append(e.loglik)                      # l_k = l(theta^(k-1))
        prev = (sigma2, tp, tb)
        sigma2, tp, tb = em3_step(stats, e)
        thetas.append(_pack(sigma2, tp, tb))
        e_next = estep3(stats, sigma2, tp, tb)        # the next E-step, unless extrapolated
        em_logliks.append(e_next.loglik)
        if k >= 2 and abs(history[-1] - history[-2]) < tolerance * abs(history[-1]) / 100.0:
            converged = True
            break
    return EM3Solution(sigma2=sigma2, tau_pi=tp, tau_beta=tb, fixed_sigma2=prev[0],
                       fixed_tau_pi=prev[1], fixed_tau_beta=prev[2], iterations=k,
                       converged=converged, loglik_history=tuple(history), start=start,
                       accelerated_iterations=tuple(accelerated))


def _theta(sigma2: float, tau_pi: np.ndarray, tau_beta: np.ndarray) -> np.ndarray:
    """theta (lower triangles of L2, L3 with L L' = T / sigma^2, row by row) of a point; a
    singular T gets a Cholesky factor of T + 1e-12 tr(T) I (its zero directions stay ~0)."""
    parts = []
    for T in (tau_pi, tau_beta):
        r = T.shape[0]
        G = np.asarray(T, dtype=float) / sigma2
        try:
            L = np.linalg.cholesky(G) if r else G
        except np.linalg.LinAlgError:
            L = np.linalg.cholesky(G + 1e-12 * max(float(np.trace(G)), 1e-300) * np.eye(r))
        parts.append(L[np.tril_indices(r)])
    return np.concatenate(parts)


def estimate3_hlm(design: Design3, *, max_iterations: int | None = None,
                  tolerance: float | None = None, accelerator_frequency: int | None = 5
                  ) -> Estimates3:
    """HLM mode for a three-level model: HLM3's EM (full ML) from openhlm's starting values
    with HLM's stopping rule (module docstring).

    As in HLM's printout, sigma^2, tau(pi) and tau(beta) are the last M-step's theta^(k); the
    gammas, their standard errors and the deviance come from the last E-step, at
    theta^(k-1) (the deviance is -2 l_k, the likelihood HLM prints).
    """
    stats = unit_statistics(design)
    start = starting_values3(design)
    limits = HLM_LIMITS
    sol = run_em3(stats, start,
                  max_iterations=int(limits.max_iterations if max_iterations is None
                                     else max_iterations),
                  tolerance=float(limits.tolerance if tolerance is None else tolerance),
                  accelerator_frequency=accelerator_frequency)
    fixed = estimates3_at(design, stats, _theta(sol.fixed_sigma2, sol.fixed_tau_pi,
                                                sol.fixed_tau_beta), "ml")
    # the E-step's SEs use its own sigma^2, not the profiled one
    scale = sol.fixed_sigma2 / fixed.sigma2
    message = STOP_SMALL_CHANGE if sol.converged else STOP_MAX_ITERATIONS
    return dataclasses.replace(
        fixed, sigma2=sol.sigma2, tau_pi=sol.tau_pi, tau_beta=sol.tau_beta,
        theta=_theta(sol.sigma2, sol.tau_pi, sol.tau_beta), cov_gamma=fixed.cov_gamma * scale,
        deviance=-2.0 * sol.loglik_history[-1], converged=sol.converged,
        iterations=sol.iterations, evaluations=len(sol.loglik_history), message=message,
        extras={**fixed.extras, "em": sol})
