"""Exact REML/ML for three-level models: optimise the profiled deviance, then the estimates.

The deviance (:mod:`openhlm.estimation.three_level.likelihood`) is minimised over theta, the
lower triangles of the relative Cholesky factors L2 (T_pi / sigma^2 = L2 L2') and L3
(T_beta / sigma^2 = L3 L3'), their diagonals bounded below by 0 (Bates et al. 2015), by Newton's
method with the analytic gradient and Hessian (:mod:`openhlm.estimation.three_level.hessian`)
from a moment start (:mod:`openhlm.estimation.three_level.start`; lme4's L = I when that
has the lower deviance): interior steps first, then the engine's bounded Newton
method (:mod:`openhlm.estimation.three_level.optimise`).  Converged when the Newton decrement
lambda^2 / 2 (deviance units) is at most 1e-10.

At the optimum: sigma^2 = Q / (N - F) (REML) or Q / N (ML) (N the weighted number of rows
under design weights), T = sigma^2 L L', the model-based
covariance of gamma sigma^2 (A'V^-1 A)^-1 and the robust (CR0 sandwich, clustered on level-3
units, as HLM's robust standard errors) ``H^-1 (sum_k s_k s_k') H^-1`` with
``H = A'V^-1 A`` and ``s_k = A_k'V_k^-1 (y_k - A_k gamma)`` (times the level-3 weight v_k
under design weights).  With equality constraints gamma holds the free fixed effects (the
columns of ``A K``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from openhlm.errors import EstimationError
from openhlm.estimation.three_level.design import Design3
from openhlm.estimation.three_level.hessian import derivatives
from openhlm.estimation.three_level.likelihood import (
    Evaluation,
    evaluate,
    theta_size,
    unpack,
)
from openhlm.estimation.three_level.optimise import optimise3, theta_scales
from openhlm.estimation.three_level.start import moment_start
from openhlm.estimation.three_level.statistics import Stats3, unit_statistics

__all__ = ["Estimates3", "estimate3", "estimates3_at", "variance_covariance"]


@dataclass(frozen=True, eq=False)
class Estimates3:
    design: Design3
    method: str                 # "reml" | "ml"
    deviance: float
    gamma: np.ndarray
    cov_gamma: np.ndarray
    cov_gamma_robust: np.ndarray
    sigma2: float
    tau_pi: np.ndarray
    tau_beta: np.ndarray
    theta: np.ndarray
    n_parameters: int
    converged: bool
    iterations: int
    evaluations: int
    message: str = ""
    extras: dict = field(default_factory=dict)


def estimates3_at(design: Design3, stats: Stats3, theta: np.ndarray, method: str, *,
                  converged: bool = True, iterations: int = 0, evaluations: int = 0,
                  message: str = "") -> Estimates3:
    """Everything at given theta."""
    reml = method == "reml"
    ev: Evaluation = evaluate(stats, theta, reml)
    F, n = stats.n_fixed, stats.nu
    sigma2 = ev.Q / (n - F if reml else n)
    Hinv = np.linalg.inv(ev.AVA) if F else np.zeros((0, 0))
    cov_c = sigma2 * Hinv
    if F:
        scores = ev.Ck[:, :F, F] - ev.Ck[:, :F, :F] @ ev.gamma     # (K, F)
        if stats.w3 is not None:       # pseudo-likelihood: the unit's score times its weight
            scores = scores * stats.w3[:, None]
        meat = scores.T @ scores
        robust_c = Hinv @ meat @ Hinv
    else:
        robust_c = np.zeros((0, 0))
    gamma, cov = stats.to_original(ev.gamma, cov_c)
    _, robust = stats.to_original(ev.gamma, robust_c)
    r2, r3 = stats.n_r2, stats.n_r3
    n_par = theta_size(r2, r3) + 1 + (0 if reml else F)
    return Estimates3(
        design=design, method=method, deviance=ev.deviance, gamma=gamma, cov_gamma=cov,
        cov_gamma_robust=robust, sigma2=float(sigma2), tau_pi=sigma2 * ev.L2 @ ev.L2.T,
        tau_beta=sigma2 * ev.L3 @ ev.L3.T, theta=np.asarray(theta, dtype=float),
        n_parameters=n_par, converged=converged, iterations=iterations,
        evaluations=evaluations, message=message, extras={"stats": stats})


def estimate3(design: Design3, *, method: str = "reml", max_iterations: int | None = None,
              tolerance: float | None = None) -> Estimates3:
    """Exact REML (``method="reml"``) or ML estimates of a three-level model."""
    if method not in ("reml", "ml"):
        raise EstimationError(f"method must be 'reml' or 'ml', not {method!r}")
    stats = unit_statistics(design)
    k = theta_size(stats.n_r2, stats.n_r3)
    if k == 0:
        return estimates3_at(design, stats, np.zeros(0), method, evaluations=1)
    start = moment_start(stats, np.bincount(design.unit_index, minlength=design.n2))
    res, _ = optimise3(stats, method == "reml", tolerance=tolerance,
                       max_iterations=max_iterations, start=start,
                       scale=theta_scales(stats.n_r2, stats.n_r3, _rms(design.Z2),
                                          _rms(design.Z3)))
    if not np.isfinite(res.value):
        raise EstimationError("the three-level likelihood could not be evaluated at the optimum")
    return estimates3_at(design, stats, res.x, method, converged=res.converged,
                         iterations=res.iterations, evaluations=res.evaluations,
                         message=res.message)


def _rms(Z: np.ndarray) -> np.ndarray:
    """Root mean square of each column (its scale: equivariant to the column's units)."""
    return np.sqrt(np.mean(np.square(Z), axis=0)) if Z.shape[1] else np.zeros(0)


def variance_covariance(stats: Stats3, theta: np.ndarray, sigma2: float, reml: bool
                        ) -> np.ndarray:
    """Asymptotic covariance of (sigma^2, vech tau(pi), vech tau(beta)) (lower triangles row by
    row): twice the inverse Hessian of the unprofiled deviance
    ``D(s, theta) = logdet(theta) + nu log(2 pi s) + Q(theta) / s`` (REML: the restricted one)
    at the optimum, mapped by the delta method through ``T = s L L'``.  The second derivatives
    in theta are analytic (:func:`openhlm.estimation.three_level.hessian.derivatives`), as are
    those in s.  NaN when the Hessian is not positive definite (an estimate on the
    boundary)."""
    r2, r3 = stats.n_r2, stats.n_r3
    k = len(theta)
    base = derivatives(stats, theta, reml, 2)
    s, Q, nu = float(sigma2), base.Q, base.nu
    H = np.zeros((k + 1, k + 1))
    H[0, 0] = -nu / s**2 + 2.0 * Q / s**3
    H[0, 1:] = H[1:, 0] = -base.d_Q / s**2
    assert base.dd_logdet is not None and base.dd_Q is not None
    H[1:, 1:] = base.dd_logdet + base.dd_Q / s
    n_out = 1 + r2 * (r2 + 1) // 2 + r3 * (r3 + 1) // 2
    try:
        np.linalg.cholesky(H)
        cov_phi = 2.0 * np.linalg.inv(H)
    except np.linalg.LinAlgError:
        return np.full((n_out, n_out), np.nan)
    L2, L3 = unpack(theta, r2, r3)
    J = np.zeros((n_out, k + 1))
    J[0, 0] = 1.0
    row, col = 1, 1
    for L in (L2, L3):
        r = L.shape[0]
        low = np.tril_indices(r)
        J[row:row + len(low[0]), 0] = (L @ L.T)[low]
        for a, b in zip(*low, strict=True):
            E = np.zeros((r, r))
            E[a, b] = 1.0
            J[row:row + len(low[0]), col] = (s * (E @ L.T + L @ E.T))[low]
            col += 1
        row += len(low[0])
    return J @ cov_phi @ J.T
