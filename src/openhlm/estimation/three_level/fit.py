"""Exact REML/ML for three-level models: optimise the profiled deviance, then the estimates.

The deviance (:mod:`openhlm.estimation.three_level.likelihood`) is minimised over theta, the
lower triangles of the relative Cholesky factors L2 (T_pi / sigma^2 = L2 L2') and L3
(T_beta / sigma^2 = L3 L3'), their diagonals bounded below by 0 (Bates et al. 2015): scipy's
L-BFGS-B with central finite-difference gradients from lme4's starting point (L = I), then a
projected Newton polish with a finite-difference Hessian on the free coordinates (kept only when
it lowers the deviance).

At the optimum: sigma^2 = Q / (N - F) (REML) or Q / N (ML), T = sigma^2 L L', the model-based
covariance of gamma sigma^2 (A'V^-1 A)^-1 and the robust (CR0 sandwich, clustered on level-3
units, as HLM's robust standard errors) ``H^-1 (sum_k s_k s_k') H^-1`` with
``H = A'V^-1 A`` and ``s_k = A_k'V_k^-1 (y_k - A_k gamma)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize

from openhlm.errors import EstimationError
from openhlm.estimation.three_level.design import Design3
from openhlm.estimation.three_level.likelihood import (
    Evaluation,
    diagonal_positions,
    evaluate,
    theta_size,
)
from openhlm.estimation.three_level.statistics import Stats3, unit_statistics

__all__ = ["Estimates3", "estimate3", "estimates3_at"]


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


class _Counter:
    def __init__(self, stats: Stats3, reml: bool):
        self.stats, self.reml, self.n = stats, reml, 0

    def __call__(self, theta: np.ndarray) -> float:
        self.n += 1
        try:
            return evaluate(self.stats, theta, self.reml).deviance
        except (np.linalg.LinAlgError, FloatingPointError, ValueError):
            return np.inf


def _value_and_gradient(f: _Counter, x: np.ndarray, lower: np.ndarray,
                        central: bool) -> tuple[float, np.ndarray]:
    f0 = f(x)
    if central:
        return f0, _gradient(f, x, lower)
    g = np.zeros_like(x)
    for i in range(len(x)):
        h = 1e-7 * max(1.0, abs(x[i]))
        z = x.copy()
        z[i] += h
        g[i] = (f(z) - f0) / h
    return f0, g


def _gradient(f: _Counter, x: np.ndarray, lower: np.ndarray) -> np.ndarray:
    g = np.zeros_like(x)
    f0 = None
    for i in range(len(x)):
        h = 1e-6 * max(1.0, abs(x[i]))
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        if x[i] - h >= lower[i]:
            xm[i] -= h
            g[i] = (f(xp) - f(xm)) / (2 * h)
        else:
            if f0 is None:
                f0 = f(x)
            g[i] = (f(xp) - f0) / h
    return g


def _hessian(f: _Counter, x: np.ndarray, idx: np.ndarray) -> np.ndarray:
    k = len(idx)
    H = np.zeros((k, k))
    f0 = f(x)
    h = np.array([1e-4 * max(1.0, abs(x[i])) for i in idx])
    for a in range(k):
        for b in range(a, k):
            xs = {}
            for sa in (1, -1):
                for sb in (1, -1):
                    z = x.copy()
                    z[idx[a]] += sa * h[a]
                    z[idx[b]] += sb * h[b]
                    xs[sa, sb] = f(z)
            if a == b:
                zp, zm = x.copy(), x.copy()
                zp[idx[a]] += h[a]
                zm[idx[a]] -= h[a]
                H[a, a] = (f(zp) - 2 * f0 + f(zm)) / h[a] ** 2
            else:
                H[a, b] = H[b, a] = (xs[1, 1] - xs[1, -1] - xs[-1, 1] + xs[-1, -1]) / (
                    4 * h[a] * h[b])
    return H


def _polish(f: _Counter, x: np.ndarray, lower: np.ndarray, steps: int = 6) -> np.ndarray:
    fx = f(x)
    for _ in range(steps):
        g = _gradient(f, x, lower)
        free = ~((x <= lower) & (g > 0))
        idx = np.flatnonzero(free)
        if not len(idx):
            break
        H = _hessian(f, x, idx)
        w, v = np.linalg.eigh(H)
        w = np.maximum(np.abs(w), 1e-8 * max(np.abs(w).max(), 1e-12))
        step = np.zeros_like(x)
        step[idx] = -(v @ ((v.T @ g[idx]) / w))
        t, improved = 1.0, False
        while t > 1e-4:
            z = np.maximum(x + t * step, lower)
            fz = f(z)
            if fz < fx:
                x, fx, improved = z, fz, True
                break
            t /= 2
        if not improved or abs(float(g[idx] @ step[idx])) < 1e-12:
            break
    return x


def _stationary(f: _Counter, x: np.ndarray, lower: np.ndarray) -> bool:
    """Projected gradient small (L-BFGS-B may stop on rounding at the optimum)."""
    g = _gradient(f, x, lower)
    g = np.where((x <= lower) & (g > 0), 0.0, g)
    return bool(np.max(np.abs(g)) < 1e-3)


def estimates3_at(design: Design3, stats: Stats3, theta: np.ndarray, method: str, *,
                  converged: bool = True, iterations: int = 0, evaluations: int = 0,
                  message: str = "") -> Estimates3:
    """Everything at given theta."""
    reml = method == "reml"
    ev: Evaluation = evaluate(stats, theta, reml)
    F, n = stats.n_fixed, stats.n1
    sigma2 = ev.Q / (n - F if reml else n)
    Hinv = np.linalg.inv(ev.AVA) if F else np.zeros((0, 0))
    cov_c = sigma2 * Hinv
    if F:
        scores = ev.Ck[:, :F, F] - ev.Ck[:, :F, :F] @ ev.gamma     # (K, F)
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
              tolerance: float | None = None, polish_steps: int = 0) -> Estimates3:
    """Exact REML (``method="reml"``) or ML estimates of a three-level model."""
    if method not in ("reml", "ml"):
        raise EstimationError(f"method must be 'reml' or 'ml', not {method!r}")
    stats = unit_statistics(design)
    r2, r3 = stats.n_r2, stats.n_r3
    k = theta_size(r2, r3)
    diag = diagonal_positions(r2, r3)
    lower = np.full(k, -np.inf)
    lower[diag] = 0.0
    f = _Counter(stats, method == "reml")
    x0 = np.zeros(k)
    x0[diag] = 1.0
    if k == 0:
        return estimates3_at(design, stats, x0, method, evaluations=1)
    bounds = [(0.0, None) if i in diag else (None, None) for i in range(k)]
    finite_lower = np.where(np.isfinite(lower), lower, -np.inf)
    iterations = 0
    x = x0
    # phase 1: forward differences (k + 1 evaluations a gradient); phase 2 from its optimum:
    # central differences (the accuracy of the optimum)
    for central in (False, True):
        res = minimize(lambda z, c=central: _value_and_gradient(f, z, finite_lower, c), x,
                       jac=True, method="L-BFGS-B", bounds=bounds,
                       options={"maxiter": max_iterations or 1000, "ftol": 1e-15,
                                "gtol": tolerance or 1e-9, "maxcor": 20})
        x = np.asarray(res.x, dtype=float)
        iterations += int(res.nit)
    x = _polish(f, x, finite_lower, steps=polish_steps)
    if not np.isfinite(f(x)):
        raise EstimationError("the three-level likelihood could not be evaluated at the optimum")
    return estimates3_at(design, stats, x, method, converged=bool(res.success) or _stationary(f, x, finite_lower),
                         iterations=iterations, evaluations=f.n, message=str(res.message))
