"""One bounded optimiser: projected Newton with an Armijo search, and the boundary snap.

(docs/engine.md, sections 4-6.)  Minimise f(x) subject to lower <= x <= upper (in the exact
engine: L's diagonal >= 0, Bates et al. 2015) by the projected Newton method of Bertsekas
(1982):

* At x, the *active* set holds the coordinates at a bound whose gradient points outwards; the
  others are free.  The step is the Newton step on the free coordinates with the Hessian's
  eigenvalues replaced by their absolute values (floored relative to the largest), so it is a
  descent direction also where f is not convex; the active coordinates do not move.
* Step length: the largest of 1, 1/2, 1/4, ... for which the projected point x(t) satisfies
  the Armijo condition f(x(t)) <= f(x) + 1e-4 g'(x(t) - x).
* Convergence (scale-free): the Newton decrement lambda^2 = g_F' H_F^-1 g_F of the free
  coordinates estimates twice the distance f(x) - f*, in deviance units, which do not depend
  on the units of the data.  Converged when lambda^2 / 2 <= ``tolerance``.  When no step
  length decreases f (rounding) the point is accepted as the optimum only if lambda^2 / 2 is
  below 1e-6, else reported as not converged.
* On convergence the final Newton step is still taken (it costs one evaluation and, the
  convergence being quadratic, leaves the parameters at the optimum to rounding) unless it
  raises the deviance beyond rounding; it is not counted as an iteration.
* ``max_iterations`` counts Newton steps; when they run out before the convergence test holds
  the result says converged=False.

Boundary rule (as MixedModels.jl's ``fit!``): after convergence, each coordinate in
``boundary_candidates`` that is small (<= 1e-4) but not at its bound 0 is set to 0; the point is
kept when f does not get worse (by more than 1e-10 |f|, rounding), and the Newton iterations
resume with that coordinate on the bound.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from openhlm.estimation.objective import Objective, Point

__all__ = ["OptimiserResult", "minimise"]

SNAP_BELOW = 1e-4
SLACK_DECREMENT = 1e-6


@dataclass(frozen=True)
class OptimiserResult:
    x: np.ndarray
    value: float
    gradient: np.ndarray
    iterations: int
    evaluations: int
    converged: bool
    decrement: float          # lambda^2 / 2 at the returned point (free coordinates)
    message: str
    at_bound: tuple[int, ...]


def _newton_direction(pt: Point, free: np.ndarray) -> tuple[np.ndarray, float]:
    """(step, lambda^2 / 2) on the free coordinates, Hessian made positive definite."""
    g, H = pt.gradient, pt.hessian
    assert g is not None and H is not None
    step = np.zeros_like(g)
    if not free.any():
        return step, 0.0
    gf = g[free]
    Hf = H[np.ix_(free, free)]
    if not np.all(np.isfinite(Hf)):
        return step, np.inf
    lam, V = np.linalg.eigh(Hf)
    top = max(float(np.abs(lam).max()), 1e-300)
    lam = np.maximum(np.abs(lam), 1e-10 * top)
    coef = (V.T @ gf) / lam
    step[free] = -(V @ coef)
    return step, 0.5 * float(np.sum((V.T @ gf) * coef))


def _free(x: np.ndarray, g: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    at_lower = (x <= lower) & (g > 0)
    at_upper = (x >= upper) & (g < 0)
    return ~(at_lower | at_upper)


def _iterate(obj: Objective, pt: Point, tolerance: float, budget: int
             ) -> tuple[Point, int, bool, float, str]:
    lower, upper = obj.lower, obj.upper
    iterations = 0
    while True:
        assert pt.gradient is not None
        free = _free(pt.x, pt.gradient, lower, upper)
        step, dec = _newton_direction(pt, free)
        if dec <= tolerance:
            # the final Newton step is free accuracy (quadratic convergence): take it unless
            # it makes the deviance worse beyond rounding
            x_new = np.clip(pt.x + step, lower, upper)
            new = obj.evaluate(x_new, 2)
            if np.isfinite(new.value) and new.gradient is not None and \
                    new.value <= pt.value + 1e-13 * max(1.0, abs(pt.value)):
                new_free = _free(new.x, new.gradient, lower, upper)
                pt, dec = new, _newton_direction(new, new_free)[1]
            return pt, iterations, True, dec, "Newton decrement below the tolerance"
        if iterations >= budget:
            return pt, iterations, False, dec, (
                f"the iteration limit ({budget}) was reached with the deviance still "
                f"~{dec:.2g} above its minimum")
        t = 1.0
        accepted = None
        for _ in range(40):
            x_new = np.clip(pt.x + t * step, lower, upper)
            new = obj.evaluate(x_new, 2)
            if np.isfinite(new.value) and new.gradient is not None and new.hessian is not None \
                    and new.value <= pt.value + 1e-4 * float(pt.gradient @ (x_new - pt.x)):
                accepted = new
                break
            t *= 0.5
        iterations += 1
        if accepted is None:
            ok = dec <= SLACK_DECREMENT
            return pt, iterations, ok, dec, (
                "no step decreases the deviance further (rounding level)" if ok else
                f"the line search failed with the deviance ~{dec:.2g} above its minimum")
        pt = accepted


def minimise(obj: Objective, *, tolerance: float = 1e-10, max_iterations: int = 1000
             ) -> OptimiserResult:
    """Minimise ``obj`` within its bounds (module docstring)."""
    x0 = np.clip(np.asarray(obj.start, dtype=float), obj.lower, obj.upper)
    pt = obj.evaluate(x0, 2)
    if not np.isfinite(pt.value) or pt.gradient is None or pt.hessian is None:
        raise ValueError("the objective is not finite at the starting point")
    pt, used, converged, dec, message = _iterate(obj, pt, tolerance, max_iterations)
    # boundary snap (MixedModels.jl): small diagonal elements of L to exactly 0
    if converged:
        for q in obj.boundary_candidates:
            if not (0.0 < pt.x[q] <= SNAP_BELOW):
                continue
            trial_x = pt.x.copy()
            trial_x[q] = obj.lower[q]
            trial = obj.evaluate(trial_x, 2)
            if not (np.isfinite(trial.value) and trial.value <= pt.value + 1e-10 * max(
                    1.0, abs(pt.value))):
                continue
            budget = max(max_iterations - used, 0)
            new, more, ok, new_dec, new_msg = _iterate(obj, trial, tolerance, budget)
            if ok and new.value <= pt.value + 1e-10 * max(1.0, abs(pt.value)):
                pt, dec, message = new, new_dec, new_msg
                used += more
    g = pt.gradient if pt.gradient is not None else np.full(pt.x.size, np.nan)
    at_bound = tuple(int(i) for i in np.flatnonzero(pt.x <= obj.lower))
    return OptimiserResult(x=pt.x, value=pt.value, gradient=g, iterations=used,
                           evaluations=obj.evaluations, converged=converged, decrement=dec,
                           message=message, at_bound=at_bound)
