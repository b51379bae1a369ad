"""HLM-compatible estimation: HLM's starting values and EM iterations (``mode="hlm"``).

HLM 6 estimates (sigma^2, T) by EM (RB02 ch. 3 and 14; docs/statistics.md 2.2-2.3) from moment
starting values.  Iteration k runs an E-step at theta^(k-1) -- computing the log-likelihood
l_k = l(theta^(k-1)) that HLM prints as "the likelihood function at iteration k", and the GLS
fixed effects and standard errors it prints -- and an M-step giving theta^(k), whose sigma^2,
T and reliabilities HLM prints.  The run stops when l_k changes by less than ``stopval`` (1e-6)
percent, i.e. |l_k - l_{k-1}| < 1e-8 |l_k|, or after ``numit`` (100) iterations.  Every 5th
iteration (``ACCEL:5``) theta^(k-1) is extrapolated before the E-step
(:mod:`openhlm.estimation.accelerate`).  This reproduces the stop iterations 4, 6, 6 and 61 of
the seminar's REML runs and their printed numbers; Model 3 stops one iteration early
(``docs/hlm-iterations.md``, section G, has the evidence and the remaining gaps).
Reproducing that is the point of this module; :mod:`openhlm.estimation.exact` is the one to
use for inference.  The likelihood is computed in double precision (section E of the log).

Conventions
-----------
E-step at theta = (sigma^2, T), with e_j = y_j - A_j gamma_hat (Woodbury forms in
:mod:`openhlm.estimation.likelihood`)::

    u*_j = T Z_j'V_j^-1 e_j
    C_j  = T - T Z_j'V_j^-1 Z_j T  [+ T Z_j'V_j^-1 A_j M^-1 A_j'V_j^-1 Z_j T   under REML]

M-step::

    T_new       = (1/J) sum_j (u*_j u*_j' + C_j)
    sigma^2_new = (1/N) [ sum_j r*_j'r*_j + N sigma^2 - sigma^4 tr P ]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from openhlm.estimation.accelerate import MAX_FACTOR, admissible, aitken_extrapolate, pack, unpack
from openhlm.estimation.likelihood import Evaluation, evaluate
from openhlm.estimation.sufficient import UnitStats, unit_ols

__all__ = ["EMSolution", "StartingValues", "em_step", "run_em", "starting_values"]


@dataclass(frozen=True)
class StartingValues:
    """HLM's starting values (printed under "STARTING VALUES" in its full output)."""

    gamma_ols: np.ndarray   # pooled OLS of Y on A (free gammas)
    sigma2: float           # pooled within-unit OLS residual variance
    tau: np.ndarray         # D_bar - V_bar, repaired if not positive definite
    tau_unrepaired: np.ndarray
    units_used: int


@dataclass(frozen=True)
class EMSolution:
    sigma2: float
    tau: np.ndarray
    fixed_sigma2: float       # theta^(k-1): where HLM's printed gammas and SEs come from
    fixed_tau: np.ndarray
    iterations: int
    converged: bool
    loglik_history: tuple[float, ...]
    start: StartingValues
    accelerated_iterations: tuple[int, ...] = ()   # iterations whose EM iterate was extrapolated


def starting_values(stats: UnitStats, XX: np.ndarray, Xy: np.ndarray, yy: np.ndarray,
                    G: np.ndarray, random_columns: np.ndarray, *,
                    sigma2: float | None = None) -> StartingValues:
    """HLM's moment starting values (docs/statistics.md 2.3).

    gamma^(0): pooled OLS.  sigma^2(0) = sum SSE_j / sum (n_j - P) over units with full-rank
    level-1 OLS.  T^(0) = D_bar - V_bar with D_bar = sum (b_Rj - fitted_Rj)(...)' / (J' - 1) and
    V_bar = sigma^2(0) mean_j [(X_j'X_j)^-1]_RR.  The J' - 1 divisor reproduces HLM's printed
    null-model iterates (J' does not).

    With level-2 weights w_j every sum over units is weighted and J' becomes sum_j w_j over the
    units with sufficient data (so integer weights give the starting values of the data with
    each unit repeated w_j times); level-1 weights are already in the cross-products and n_j.

    ``sigma2`` fixes the level-1 variance instead of estimating it (PQL's linearised model of
    an HGLM, whose level-1 variance is 1 without over-dispersion): V_bar then uses it.
    """
    w2 = stats.unit_weights
    weighted = not np.all(w2 == 1.0)
    AA = np.tensordot(w2, stats.AA, axes=1) if weighted else stats.AA.sum(axis=0)
    Ay = w2 @ stats.Ay if weighted else stats.Ay.sum(axis=0)
    gamma0 = np.linalg.lstsq(AA, Ay, rcond=None)[0] if AA.size else np.zeros(0)
    ok, b, XXi = unit_ols(XX, Xy, stats.n)
    sse = yy - np.einsum("jp,jp->j", b, Xy)
    P = XX.shape[1]
    Jp = int(ok.sum())
    if Jp == 0:
        # no unit has a full-rank level-1 design (e.g. a level-2 value used at level 1): there
        # is no moment start; NaN says so (exact mode then starts from T / sigma^2 = I)
        R = len(random_columns)
        nan = np.full((R, R), np.nan)
        return StartingValues(gamma_ols=gamma0, sigma2=float("nan"), tau=nan,
                              tau_unrepaired=nan.copy(), units_used=0)
    fitted = np.einsum("jpf,f->jp", G, gamma0)
    d = (b - fitted)[ok][:, random_columns]
    XXi_R = XXi[ok][:, random_columns][:, :, random_columns]
    if weighted:
        wk = w2[ok]
        sigma2_pooled = float(wk @ sse[ok] / (wk @ (stats.n[ok] - P)))
        D = (d.T * wk) @ d / max(wk.sum() - 1.0, 1.0)
        mean_XXi = np.tensordot(wk, XXi_R, axes=1) / wk.sum()
    else:
        sigma2_pooled = float(sse[ok].sum() / (stats.n[ok] - P).sum())
        D = d.T @ d / max(Jp - 1, 1)
        mean_XXi = XXi_R.mean(axis=0)
    if sigma2 is not None:      # a fixed level-1 variance: V_bar at that value
        sigma2_pooled = float(sigma2)
    Vbar = sigma2_pooled * mean_XXi
    tau_raw = D - Vbar
    return StartingValues(gamma_ols=gamma0, sigma2=sigma2_pooled, tau=_repair(tau_raw, D),
                          tau_unrepaired=tau_raw, units_used=Jp)


def _repair(tau: np.ndarray, D: np.ndarray) -> np.ndarray:
    """Make a non-positive-definite T^(0) usable.

    HLM's own repair rule is not documented (docs/statistics.md 19.11); we keep the positive
    diagonal elements, replace non-positive ones by a tenth of D_bar's diagonal and drop the
    covariances.
    """
    if tau.size == 0:
        return tau
    w = np.linalg.eigvalsh(tau)
    if w.min() > 0:
        return tau
    diag = np.diag(tau).copy()
    floor = 0.1 * np.abs(np.diag(D))
    # a last-resort floor relative to the data's scale (an absolute one would make the start,
    # and so HLM mode's path, depend on the units of the outcome)
    scale = max(float(np.abs(np.diag(D)).max()), float(np.abs(np.diag(tau)).max()), 1e-300)
    diag = np.where(diag > 0, diag, np.maximum(floor, 1e-8 * scale))
    return np.diag(diag)


def em_step(stats: UnitStats, ev: Evaluation, reml: bool) -> tuple[float, np.ndarray]:
    """One M-step from the E-step quantities in ``ev``: returns (sigma^2_new, T_new)."""
    sigma2, T, K = ev.sigma2, ev.tau, ev.K
    w2 = stats.unit_weights
    beta = ev.beta
    u = ev.ZVe @ T                                   # (J, R): u*_j = T Z'V^-1 e_j (T symmetric)
    TZVZT = T @ ev.ZVZ @ T
    C = T - TZVZT
    if reml and beta.size:
        TZVA = T @ ev.ZVA                            # (J, R, F)
        C = C + TZVA @ ev.beta_cov @ np.swapaxes(TZVA, 1, 2)
    W = w2.sum()
    T_new = (np.einsum("j,jr,js->rs", w2, u, u) + np.einsum("j,jrs->rs", w2, C)) / W
    # r*'Omega r* = e'Omega e - 2 u*'Z'Omega e + u*'Z'Omega Z u*
    ee = stats.yy - 2.0 * stats.Ay @ beta + np.einsum("f,jfg,g->j", beta, stats.AA, beta)
    Ze = stats.Zy - np.einsum("jfr,f->jr", stats.AZ, beta)
    rr = ee - 2.0 * np.einsum("jr,jr->j", u, Ze) + np.einsum("jr,jrs,js->j", u, stats.ZZ, u)
    KZZ = K @ stats.ZZ
    trP = w2 @ (stats.n - np.trace(KZZ, axis1=1, axis2=2)) / sigma2
    if reml and beta.size:
        ZA = np.swapaxes(stats.AZ, 1, 2)
        KZA = K @ ZA
        AVOVA = (stats.AA - 2.0 * stats.AZ @ KZA + np.swapaxes(KZA, 1, 2) @ stats.ZZ @ KZA)
        AVOVA = np.einsum("j,jfg->fg", w2, AVOVA) / sigma2**2
        trP -= float(np.sum(ev.beta_cov * AVOVA))
    N = float(w2 @ stats.n)
    sigma2_new = float((w2 @ rr + N * sigma2 - sigma2**2 * trP) / N)
    return sigma2_new, 0.5 * (T_new + T_new.T)


def run_em(stats: UnitStats, start: StartingValues, reml: bool, *, max_iterations: int = 100,
           tolerance: float = 1e-6, accelerator_frequency: int | None = 5,
           accelerator: str = "loglik", max_factor: float | None = MAX_FACTOR,
           estimate_sigma2: bool = True) -> EMSolution:
    """HLM's EM iterations from ``start`` (docs/hlm-iterations.md, section G).

    Iteration k: (1) every ``accelerator_frequency``-th iteration (HLM's ``ACCEL``, default 5;
    None or 0 for plain EM) the current iterate theta_{k-1} is replaced by its Aitken
    extrapolation from theta_{k-3}, theta_{k-2}, theta_{k-1}
    (:mod:`openhlm.estimation.accelerate`, factor capped at ``max_factor``) when that keeps T
    positive definite and does not lower the likelihood; (2) E-step at that point, giving the
    log-likelihood l_k that HLM prints as "the likelihood function at iteration k" and the GLS
    fixed effects HLM prints; (3) M-step -> theta_k.  The run stops after iteration k when
    |l_k - l_{k-1}| < tolerance percent of |l_k| (HLM's convergence criterion 1e-6 read as a
    percentage, i.e. a relative change below 1e-8), or after ``max_iterations``.

    ``estimate_sigma2=False``: keep sigma^2 at ``start.sigma2`` (only T is estimated; PQL's linearised
    model of an HGLM without over-dispersion has level-1 variance 1).

    ``loglik_history[j]`` is the log-likelihood of iterate j as used by the next E-step (the
    extrapolated point where the accelerator acted), the last entry that of theta_k;
    ``fixed_sigma2``/``fixed_tau`` are the last E-step's point, where HLM's printed gammas and
    likelihood come from.
    """
    R = stats.n_random
    sigma2, tau = start.sigma2, start.tau
    history = [evaluate(stats, sigma2, tau).loglik(reml)]
    thetas = [pack(sigma2, tau)]
    em_logliks = list(history)       # likelihoods of the plain M-step results (Aitken's input)
    accelerated: list[int] = []
    prev_sigma2, prev_tau = sigma2, tau
    converged = False
    k = 0
    while k < max_iterations:
        k += 1
        ev = None
        if (accelerator_frequency and k % accelerator_frequency == 0 and len(thetas) >= 3):
            theta = aitken_extrapolate(np.array(thetas[-3:]), em_logliks[-3:], accelerator,
                                       max_factor)
            if theta is not None and admissible(theta, R):
                s2_acc, tau_acc = unpack(theta, R)
                ev_acc = evaluate(stats, s2_acc, tau_acc)
                if ev_acc.loglik(reml) > history[-1]:
                    sigma2, tau, ev = s2_acc, tau_acc, ev_acc
                    history[-1] = ev.loglik(reml)
                    accelerated.append(k)
        if ev is None:
            ev = evaluate(stats, sigma2, tau)
        # E-step at theta_{k-1} (history[-1] = l_k); the stop rule compares l_k with l_{k-1}
        prev_sigma2, prev_tau = sigma2, tau
        sigma2_new, tau = em_step(stats, ev, reml)
        if estimate_sigma2:
            sigma2 = sigma2_new
        l_new = evaluate(stats, sigma2, tau).loglik(reml)
        thetas.append(pack(sigma2, tau))
        em_logliks.append(l_new)
        stop = k >= 2 and abs(history[-1] - history[-2]) < tolerance * abs(history[-1]) / 100.0
        history.append(l_new)
        if stop:
            converged = True
            break
    return EMSolution(sigma2=sigma2, tau=tau, fixed_sigma2=prev_sigma2, fixed_tau=prev_tau,
                      iterations=k, converged=converged, loglik_history=tuple(history),
                      start=start, accelerated_iterations=tuple(accelerated))
