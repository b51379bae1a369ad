"""Exact REML/ML for three-level models: optimise the profiled deviance, then the estimates.

The deviance (:mod:`openhlm.estimation.three_level.likelihood`) is minimised over theta, the
lower triangles of the relative Cholesky factors L2 (T_pi / sigma^2 = L2 L2') and L3
(T_beta / sigma^2 = L3 L3'), their diagonals bounded below by 0 (Bates et al. 2015): scipy's
L-BFGS-B with the analytic gradient (:func:`~openhlm.estimation.three_level.likelihood.
deviance_and_gradient`) from lme4's starting point (L = I), then projected Newton steps with
the Hessian from central differences of the gradient on the free coordinates (a step is kept
only when it lowers the deviance).  Converged when the Newton decrement lambda^2 / 2 (deviance
units) is at most 1e-6.

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
from scipy.optimize import minimize

from openhlm.errors import EstimationError
from openhlm.estimation.three_level.design import Design3
from openhlm.estimation.three_level.likelihood import (
    Evaluation,
    deviance_and_gradient,
    deviance_parts,
    diagonal_positions,
    evaluate,
    theta_size,
    unpack,
)
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


class _WithGradient:
    """The deviance and its analytic gradient; (inf, 0) where it cannot be evaluated."""

    def __init__(self, stats: Stats3, reml: bool):
        self.stats, self.reml, self.n = stats, reml, 0

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        self.n += 1
        try:
            value, grad = deviance_and_gradient(self.stats, theta, self.reml)
        except (np.linalg.LinAlgError, FloatingPointError, ValueError):
            return np.inf, np.zeros_like(theta)
        if not np.isfinite(value):
            return np.inf, np.zeros_like(theta)
        return value, grad


def _newton_polish(fg: _WithGradient, x: np.ndarray, lower: np.ndarray,
                   steps: int = 3) -> tuple[np.ndarray, float]:
    """Projected Newton steps with the Hessian from central differences of the analytic
    gradient; a step is kept only when it lowers the deviance.  Stops when the Newton
    decrement lambda^2 / 2 = g'H^-1 g / 2 of the free coordinates (an estimate of the distance
    to the minimum in deviance units, scale-free) is below 1e-9; returns (x, decrement at the
    last Hessian)."""
    fx, g = fg(x)
    decrement = np.inf
    for _ in range(steps):
        free = np.flatnonzero(~((x <= lower) & (g > 0)))
        if not len(free):
            break
        H = np.zeros((len(free), len(free)))
        for col, i in enumerate(free):
            h = 1e-5 * max(1.0, abs(x[i]))
            xp, xm = x.copy(), x.copy()
            xp[i] += h
            xm[i] = max(x[i] - h, lower[i])
            H[:, col] = (fg(xp)[1][free] - fg(xm)[1][free]) / (xp[i] - xm[i])
        H = (H + H.T) / 2
        w, v = np.linalg.eigh(H)
        w = np.maximum(np.abs(w), 1e-8 * max(float(np.abs(w).max()), 1e-12))
        step = np.zeros_like(x)
        step[free] = -(v @ ((v.T @ g[free]) / w))
        decrement = float(-g[free] @ step[free]) / 2
        if decrement <= 1e-9:
            break
        t, improved = 1.0, False
        while t > 1e-3:
            z = np.maximum(x + t * step, lower)
            fz, gz = fg(z)
            if fz < fx:
                x, fx, g, improved = z, fz, gz, True
                break
            t /= 2
        if not improved:
            break
    if not np.isfinite(decrement) and not len(np.flatnonzero(~((x <= lower) & (g > 0)))):
        decrement = 0.0
    return x, decrement


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
    r2, r3 = stats.n_r2, stats.n_r3
    k = theta_size(r2, r3)
    diag = diagonal_positions(r2, r3)
    lower = np.full(k, -np.inf)
    lower[diag] = 0.0
    x0 = np.zeros(k)
    x0[diag] = 1.0
    if k == 0:
        return estimates3_at(design, stats, x0, method, evaluations=1)
    bounds = [(0.0, None) if i in diag else (None, None) for i in range(k)]
    fg = _WithGradient(stats, method == "reml")
    res = minimize(fg, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                   options={"maxiter": max_iterations or 1000, "ftol": 1e-15,
                            "gtol": tolerance or 1e-10, "maxcor": 20})
    x, decrement = _newton_polish(fg, np.asarray(res.x, dtype=float), lower, steps=4)
    value, _ = fg(x)
    if not np.isfinite(value):
        raise EstimationError("the three-level likelihood could not be evaluated at the optimum")
    converged = decrement <= 1e-6
    return estimates3_at(design, stats, x, method, converged=converged,
                         iterations=int(res.nit), evaluations=fg.n, message=str(res.message))


def variance_covariance(stats: Stats3, theta: np.ndarray, sigma2: float, reml: bool
                        ) -> np.ndarray:
    """Asymptotic covariance of (sigma^2, vech tau(pi), vech tau(beta)) (lower triangles row by
    row): twice the inverse Hessian of the unprofiled deviance
    ``D(s, theta) = logdet(theta) + nu log(2 pi s) + Q(theta) / s`` (REML: the restricted one)
    at the optimum, mapped by the delta method through ``T = s L L'``.  The second derivatives
    in theta are central differences of the analytic first derivatives of ``logdet`` and ``Q``;
    those in s are exact.  NaN when the Hessian is not positive definite (an estimate on the
    boundary)."""
    r2, r3 = stats.n_r2, stats.n_r3
    k = len(theta)
    base = deviance_parts(stats, theta, reml)
    s, Q, nu = float(sigma2), base.Q, base.nu
    H = np.zeros((k + 1, k + 1))
    H[0, 0] = -nu / s**2 + 2.0 * Q / s**3
    H[0, 1:] = H[1:, 0] = -base.d_Q / s**2
    for i in range(k):
        h = 1e-5 * max(1.0, abs(theta[i]))
        plus, minus = theta.copy(), theta.copy()
        plus[i] += h
        minus[i] -= h
        p, m = deviance_parts(stats, plus, reml), deviance_parts(stats, minus, reml)
        H[1:, 1 + i] = ((p.d_logdet - m.d_logdet) + (p.d_Q - m.d_Q) / s) / (2 * h)
    H[1:, 1:] = (H[1:, 1:] + H[1:, 1:].T) / 2
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
