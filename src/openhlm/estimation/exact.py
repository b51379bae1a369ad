"""Exact estimation: minimise the profiled deviance to convergence.

The variance parameters are theta = the lower triangle of L, T = sigma^2 L L' (lme4's
parameterisation).  sigma^2 and the fixed effects are profiled out in closed form
(:func:`openhlm.estimation.likelihood.profiled_deviance`).  We run BFGS (unconstrained: T depends
on L only through L L', so L's columns are flipped to a non-negative diagonal afterwards) from a
moment-based start, then polish with Newton steps on a central-difference Hessian, which takes
the deviance to the optimum within ~1e-9.  A variance component on the boundary (a singular T) is
a legitimate optimum: for each small diagonal element of L we re-optimise with it fixed at 0 and
keep that point when it is at least as good.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import optimize

from openhlm.estimation.likelihood import lower_to_theta, profiled_deviance, theta_to_lower
from openhlm.estimation.sufficient import UnitStats

__all__ = ["ExactSolution", "minimise_profiled"]

#: theta -> (deviance, gradient), the objective the optimisers minimise.
Objective = Callable[[np.ndarray], tuple[float, np.ndarray]]


@dataclass(frozen=True)
class ExactSolution:
    theta: np.ndarray
    sigma2: float
    tau: np.ndarray
    deviance: float
    iterations: int
    function_evaluations: int
    converged: bool
    message: str
    boundary: tuple[int, ...]   # indices (into the random coefficients) with zero variance


def _start_theta(stats: UnitStats, tau0: np.ndarray | None, sigma2_0: float | None) -> np.ndarray:
    R = stats.n_random
    if tau0 is None or sigma2_0 is None or sigma2_0 <= 0:
        return lower_to_theta(np.eye(R))
    rel = np.asarray(tau0, dtype=float) / sigma2_0
    # repair a non-positive-definite moment start: keep the diagonal, floor it, drop correlations
    w, v = np.linalg.eigh(0.5 * (rel + rel.T))
    if w.min() <= 1e-8 * max(1.0, w.max()):
        d = np.maximum(np.diag(rel), 0.05 * max(np.diag(rel).max(), 1e-3))
        rel = np.diag(d)
    return lower_to_theta(np.linalg.cholesky(rel))


def minimise_profiled(stats: UnitStats, reml: bool, *, tau0: np.ndarray | None = None,
                      sigma2_0: float | None = None, tolerance: float = 1e-10,
                      max_iterations: int = 1000) -> ExactSolution:
    """Minimise the profiled (RE)ML deviance over theta."""
    R = stats.n_random
    evaluations = 0

    def f(theta: np.ndarray) -> float:
        nonlocal evaluations
        evaluations += 1
        return profiled_deviance(theta, stats, reml)[0]

    def fg(theta: np.ndarray) -> tuple[float, np.ndarray]:
        nonlocal evaluations
        evaluations += 1
        dev, _, grad = profiled_deviance(theta, stats, reml, gradient=True)
        if grad is None:
            return np.inf, np.zeros_like(theta)
        return dev, grad

    best: optimize.OptimizeResult | None = None
    for x0 in (_start_theta(stats, tau0, sigma2_0), lower_to_theta(np.eye(R))):
        res = optimize.minimize(fg, x0, jac=True, method="BFGS",
                                options={"maxiter": max_iterations, "gtol": 1e-7})
        if best is None or res.fun < best.fun:
            best = res
        if np.isfinite(best.fun):
            break   # the second start is only a fallback
    assert best is not None   # the loop runs at least once
    theta, dev, _ = _newton_polish(fg, np.array(best.x), tolerance)
    # T = sigma^2 L L' does not depend on the signs of L's columns: make the diagonal >= 0
    L = theta_to_lower(theta, R)
    L = L * np.where(np.diag(L) < 0, -1.0, 1.0)
    # A boundary optimum (a zero variance, or a singular T) is approached only slowly by a
    # smooth optimiser, because the deviance is flat in L_qq there.  For each small diagonal
    # element, re-optimise with L_qq fixed at 0 and keep that when it is at least as good.
    for q in np.flatnonzero(np.abs(np.diag(L)) < 0.05):
        L, dev = _try_boundary(fg, L, dev, int(q))
    theta = lower_to_theta(L)
    dev, sigma2, grad = profiled_deviance(theta, stats, reml, gradient=True)
    tau = sigma2 * (L @ L.T)
    zero = tuple(int(i) for i in np.flatnonzero(np.diag(L) == 0.0))
    # Converged: a finite deviance and a vanishing gradient in every interior direction (a
    # coordinate held at the boundary may keep a gradient pointing outwards).  The deviance
    # changes by about |grad| * |step|; 1e-3 leaves a margin of orders of magnitude over
    # what BFGS + Newton reach (~1e-6) while catching a stalled optimiser.
    interior = ~lower_to_theta(np.diag(np.diag(L) == 0.0).astype(float)).astype(bool)
    converged = bool(np.isfinite(dev) and grad is not None
                     and np.max(np.abs(grad[interior]), initial=0.0) < 1e-3)
    message = str(best.message) if converged else (
        f"gradient {np.max(np.abs(grad)) if grad is not None else float('nan'):.2g} after "
        f"{best.nit} iterations")
    return ExactSolution(theta=theta, sigma2=float(sigma2), tau=tau, deviance=float(dev),
                         iterations=int(best.nit), function_evaluations=evaluations,
                         converged=converged, message=message, boundary=zero)


def _try_boundary(fg: Objective, L: np.ndarray, dev: float, q: int) -> tuple[np.ndarray, float]:
    R = L.shape[0]
    theta = lower_to_theta(L)
    fixed = lower_to_theta(np.eye(R) * (np.arange(R) == q)).astype(bool)
    free = ~fixed

    def sub(x: np.ndarray) -> tuple[float, np.ndarray]:
        full = theta.copy()
        full[free], full[fixed] = x, 0.0
        f, g = fg(full)
        return f, g[free]

    if not free.any():
        trial = theta.copy()
        trial[fixed] = 0.0
        f_trial = fg(trial)[0]
        return (theta_to_lower(trial, R), f_trial) if f_trial <= dev + 1e-10 else (L, dev)
    res = optimize.minimize(sub, theta[free], jac=True, method="BFGS", options={"gtol": 1e-8})
    if res.fun <= dev + 1e-10:
        trial = theta.copy()
        trial[free], trial[fixed] = res.x, 0.0
        return theta_to_lower(trial, R), float(min(res.fun, dev))
    return L, dev


def _newton_polish(fg: Objective, theta: np.ndarray, tolerance: float, steps: int = 10
                   ) -> tuple[np.ndarray, float, np.ndarray]:
    """Newton steps with a central-difference Hessian of the analytic gradient.

    BFGS stops once the gradient is small relative to the deviance (~5e4 here); a few Newton
    steps take the deviance the rest of the way to the optimum.
    """
    dev, grad = fg(theta)
    k = theta.size
    for _ in range(steps):
        h = 1e-5 * np.maximum(1.0, np.abs(theta))
        H = np.empty((k, k))
        for a in range(k):
            e = np.zeros(k)
            e[a] = h[a]
            H[:, a] = (fg(theta + e)[1] - fg(theta - e)[1]) / (2.0 * h[a])
        H = 0.5 * (H + H.T)
        try:
            if np.linalg.eigvalsh(H).min() <= 0:
                break
            step = np.linalg.solve(H, grad)
        except np.linalg.LinAlgError:
            break
        t = 1.0
        while t > 1e-4:
            trial = theta - t * step
            f_new, g_new = fg(trial)
            if f_new <= dev:
                break
            t *= 0.5
        else:
            break
        improvement = dev - f_new
        theta, dev, grad = trial, f_new, g_new
        if improvement < tolerance:
            break
    return theta, dev, grad
