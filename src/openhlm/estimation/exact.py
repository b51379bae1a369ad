"""Exact (RE)ML: the profiled deviance minimised in the working basis (docs/engine.md).

1. Moments of [X, y] per unit (:mod:`openhlm.estimation.statistics`) and the working basis
   (:mod:`openhlm.estimation.basis`): outcome and level-1 columns shifted and scaled by an exact
   reparameterisation, so the statistics carry no large constant.
2. HLM's moment starting values (:func:`openhlm.estimation.em.starting_values`) computed on the
   working statistics, theta_0 = chol(T_0 / sigma^2_0) (a non-positive-definite start is
   repaired, and the identity is the fallback).
3. The profiled deviance (:class:`openhlm.estimation.objective.ProfiledDeviance`, analytic
   gradient and Hessian) minimised by the bounded projected Newton method of
   :mod:`openhlm.estimation.optimise`, L's diagonal >= 0, with the boundary snap.
4. sigma^2, T and the evaluation mapped back to the original basis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from openhlm.estimation.basis import Basis, working_basis
from openhlm.estimation.em import StartingValues, starting_values
from openhlm.estimation.likelihood import (
    LOG_2PI,
    Evaluation,
    evaluate,
    gls_solution,
    lower_to_theta,
    theta_to_lower,
)
from openhlm.estimation.objective import ProfiledDeviance
from openhlm.estimation.optimise import minimise
from openhlm.estimation.sufficient import UnitStats

__all__ = [
    "ExactSolution",
    "fit_exact_homogeneous",
    "minimise_profiled",
    "minimize_profiled",
    "start_theta",
]


@dataclass(frozen=True)
class ExactSolution:
    theta: np.ndarray          # working basis
    sigma2: float
    tau: np.ndarray            # working basis (of the stats passed to minimize_profiled)
    deviance: float            # working-basis criterion
    iterations: int
    function_evaluations: int
    converged: bool
    message: str
    boundary: tuple[int, ...]  # random coefficients with zero variance (L_qq = 0)


def start_theta(tau0: np.ndarray | None, sigma2_0: float | None, R: int) -> np.ndarray:
    """theta of a (repaired) starting T / sigma^2; the identity when there is none."""
    if tau0 is None or sigma2_0 is None or not np.isfinite(sigma2_0) or sigma2_0 <= 0 \
            or not np.all(np.isfinite(tau0)):
        return lower_to_theta(np.eye(R))
    rel = np.asarray(tau0, dtype=float) / sigma2_0
    rel = 0.5 * (rel + rel.T)
    w = np.linalg.eigvalsh(rel)
    if w.min() <= 1e-8 * max(1.0, w.max()):
        # keep the diagonal, floor it, drop the correlations
        d = np.maximum(np.diag(rel), 0.05 * max(np.diag(rel).max(), 1e-3))
        rel = np.diag(d)
    return lower_to_theta(np.linalg.cholesky(rel))


def minimize_profiled(stats: UnitStats, reml: bool, *, tau0: np.ndarray | None = None,
                      sigma2_0: float | None = None, tolerance: float = 1e-10,
                      max_iterations: int = 1000) -> ExactSolution:
    """Minimise the profiled (RE)ML deviance of ``stats`` over theta (bounded Newton)."""
    R = stats.n_random
    x0 = start_theta(tau0, sigma2_0, R)
    obj = ProfiledDeviance(stats, reml, x0)
    try:
        res = minimise(obj, tolerance=tolerance, max_iterations=max_iterations)
    except ValueError:       # deviance not finite at the moment start: from the identity
        obj.start = lower_to_theta(np.eye(R))
        res = minimise(obj, tolerance=tolerance, max_iterations=max_iterations)
    sigma2 = float(res.point.extra["sigma2"])
    L = theta_to_lower(res.x, R)
    tau = sigma2 * (L @ L.T)
    zero = tuple(int(i) for i in np.flatnonzero(np.diag(L) == 0.0))
    return ExactSolution(theta=res.x, sigma2=sigma2, tau=tau, deviance=res.value,
                         iterations=res.iterations, function_evaluations=res.evaluations,
                         converged=res.converged, message=res.message, boundary=zero)


def _batched_K(ZZ: np.ndarray, sigma2: float, tau: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(K_j = (sigma^2 I + T Z'Z_j)^-1 T, log|sigma^2 I + T Z'Z_j|) for every unit; closed
    forms for R <= 2."""
    J, R = ZZ.shape[0], ZZ.shape[1]
    if R == 1:
        b = sigma2 + tau[0, 0] * ZZ[:, 0, 0]
        return (tau[0, 0] / b)[:, None, None], np.log(b)
    if R == 2:
        t00, t01, t10, t11 = tau[0, 0], tau[0, 1], tau[1, 0], tau[1, 1]
        z00, z01, z10, z11 = ZZ[:, 0, 0], ZZ[:, 0, 1], ZZ[:, 1, 0], ZZ[:, 1, 1]
        b00 = sigma2 + t00 * z00 + t01 * z10
        b01 = t00 * z01 + t01 * z11
        b10 = t10 * z00 + t11 * z10
        b11 = sigma2 + t10 * z01 + t11 * z11
        det = b00 * b11 - b01 * b10
        K = np.empty((J, 2, 2))
        K[:, 0, 0] = (b11 * t00 - b01 * t10) / det
        K[:, 0, 1] = (b11 * t01 - b01 * t11) / det
        K[:, 1, 0] = (b00 * t10 - b10 * t00) / det
        K[:, 1, 1] = (b00 * t11 - b10 * t01) / det
        return K, np.log(det)
    B = sigma2 * np.eye(R) + tau @ ZZ
    return np.linalg.solve(B, np.broadcast_to(tau, B.shape)), np.linalg.slogdet(B)[1]


def evaluate_stacked(stats: UnitStats, sigma2: float, tau: np.ndarray) -> Evaluation:
    """:func:`openhlm.estimation.likelihood.evaluate` (the same fields, equal to rounding)
    with the per-unit products written as sums over the R random effects of products of
    (J, .) arrays, and closed-form 1 x 1 / 2 x 2 solves: the exact engine's final
    evaluation for R <= 2 (``evaluate`` itself otherwise, and in HLM mode, bit for bit)."""
    R = stats.n_random
    if R > 2 or stats.AZ.shape[0] == 0:     # no gain over the batched products
        return evaluate(stats, sigma2, tau)
    tau = np.asarray(tau, dtype=float).reshape(R, R)
    ZZ, AZ, ZA, Zy = stats.ZZ, stats.AZ, stats.ZA, stats.Zy
    J, F = AZ.shape[0], AZ.shape[1]
    K, logdet_B = _batched_K(ZZ, sigma2, tau)
    # K Z'A, K Z'y, Z'Z K: sums over the R columns of K
    KZA = K[:, :, 0, None] * ZA[:, None, 0, :]
    KZy = K[:, :, 0] * Zy[:, 0, None]
    ZZK = ZZ[:, :, 0, None] * K[:, None, 0, :]
    for r in range(1, R):
        KZA += K[:, :, r, None] * ZA[:, None, r, :]
        KZy += K[:, :, r] * Zy[:, r, None]
        ZZK += ZZ[:, :, r, None] * K[:, None, r, :]
    AZKZA = AZ[:, :, 0, None] * KZA[:, None, 0, :]
    AZKZy = AZ[:, :, 0] * KZy[:, 0, None]
    ZZKZZ = ZZK[:, :, 0, None] * ZZ[:, None, 0, :]
    ZZKZA = ZZK[:, :, 0, None] * ZA[:, None, 0, :]
    ZZKZy = ZZK[:, :, 0] * Zy[:, 0, None]
    for r in range(1, R):
        AZKZA += AZ[:, :, r, None] * KZA[:, None, r, :]
        AZKZy += AZ[:, :, r] * KZy[:, r, None]
        ZZKZZ += ZZK[:, :, r, None] * ZZ[:, None, r, :]
        ZZKZA += ZZK[:, :, r, None] * ZA[:, None, r, :]
        ZZKZy += ZZK[:, :, r] * Zy[:, r, None]
    AVA = (stats.AA - AZKZA) / sigma2
    AVy = (stats.Ay - AZKZy) / sigma2
    ZVZ = (ZZ - ZZKZZ) / sigma2
    ZVA = (ZA - ZZKZA) / sigma2
    ZVy = (Zy - ZZKZy) / sigma2
    yVy = (stats.yy - np.einsum("jr,jr->j", Zy, KZy)) / sigma2
    w2 = stats.unit_weights
    M = (w2 @ AVA.reshape(J, F * F)).reshape(F, F)
    b = w2 @ AVy
    beta, beta_cov, logdet_M, sign = gls_solution(M, b)
    AVAb = AVA.reshape(J * F, F) @ beta if F else np.zeros(J * F)
    AVe = AVy - AVAb.reshape(J, F)
    ZVe = ZVy - (ZVA.reshape(J * R, F) @ beta).reshape(J, R) if F else ZVy.copy()
    quad = yVy - 2.0 * AVy @ beta + AVAb.reshape(J, F) @ beta
    logdet_V = (stats.n - R) * np.log(sigma2) - stats.sum_log_w + logdet_B
    minus2_ml = float(w2 @ (stats.n * LOG_2PI + logdet_V + quad))
    minus2_reml = minus2_ml - F * LOG_2PI + (logdet_M if sign > 0 else np.inf)
    return Evaluation(sigma2=float(sigma2), tau=tau, beta=beta, beta_cov=beta_cov, M=M, K=K,
                      AVA=AVA, AVy=AVy, ZVZ=ZVZ, ZVA=ZVA, ZVe=ZVe, AVe=AVe, logdet_V=logdet_V,
                      quad=quad, loglik_ml=-0.5 * minus2_ml, loglik_reml=-0.5 * minus2_reml)


@dataclass(frozen=True)
class ExactFit:
    """An exact homogeneous fit: the solution, the original-basis evaluation and the start."""

    solution: ExactSolution
    evaluation: Evaluation
    start: StartingValues
    basis: Basis
    working_stats: UnitStats
    working_evaluation: Evaluation


def working_start(basis: Basis, wstats: UnitStats, random_columns: np.ndarray
                  ) -> tuple[StartingValues, StartingValues]:
    """HLM's moment start on the working statistics, and the same mapped to the original
    basis (for ``Estimates.start``)."""
    sv = starting_values(wstats, wstats.XX, wstats.Xy, wstats.yy, basis.G, random_columns)
    orig = StartingValues(gamma_ols=basis.beta_to_original(sv.gamma_ols), sigma2=sv.sigma2,
                          tau=basis.tau_to_original(sv.tau),
                          tau_unrepaired=basis.tau_to_original(sv.tau_unrepaired),
                          units_used=sv.units_used)
    return sv, orig


def fit_exact_homogeneous(wstats: UnitStats, basis: Basis, random_columns: np.ndarray,
                          reml: bool, *, tolerance: float, max_iterations: int) -> ExactFit:
    """Steps 2-4 of the module docstring on the working statistics ``wstats``
    (``basis.stats(moments, ...)``)."""
    sv, start = working_start(basis, wstats, random_columns)
    sol = minimize_profiled(wstats, reml, tau0=sv.tau, sigma2_0=sv.sigma2, tolerance=tolerance,
                            max_iterations=max_iterations)
    ev_w = evaluate_stacked(wstats, sol.sigma2, sol.tau)
    return ExactFit(solution=sol, evaluation=basis.evaluation_to_original(ev_w), start=start,
                    basis=basis, working_stats=wstats, working_evaluation=ev_w)


__all__ += ["ExactFit", "evaluate_stacked", "working_basis", "working_start"]


def minimise_profiled(*args: Any, **kwargs: Any) -> ExactSolution:
    """Deprecated spelling of :func:`minimize_profiled` (public names use the -ize family)."""
    import warnings

    warnings.warn("minimise_profiled is deprecated; use minimize_profiled", DeprecationWarning,
                  stacklevel=2)
    return minimize_profiled(*args, **kwargs)
