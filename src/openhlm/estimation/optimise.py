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
* Negative curvature: where the gradient vanishes but the Hessian of the free coordinates has
  a negative eigenvalue (a saddle, or a maximum in a variance direction as at L_qq = 0 when
  the deviance falls into the interior), the point is no optimum: the search moves along the
  eigenvector (into the interior at a bound) until the deviance decreases.
* Convergence (scale-free): the Newton decrement lambda^2 = g_F' H_F^-1 g_F of the free
  coordinates estimates twice the distance f(x) - f*, in deviance units, which do not depend
  on the units of the data.  Converged when lambda^2 / 2 <= ``tolerance``.  When no step
  length decreases f (rounding), or a step gains less than 1e-14 |f| (the rounding floor of f),
  the point is accepted as the optimum only if lambda^2 / 2 is below 1e-6, else reported as not
  converged; so a ``tolerance`` below what rounding allows cannot make the iterations run on.
* On convergence the final Newton step is still taken (it costs one evaluation and, the
  convergence being quadratic, leaves the parameters at the optimum to rounding) unless it
  raises the deviance beyond rounding; it is not counted as an iteration.
* ``max_iterations`` counts Newton steps; when they run out before the convergence test holds
  the result says converged=False.

Bound probe: a converged point with coordinates on their lower bound is accepted only if small
steps inwards (1e-3, 1e-2, 1e-1 along each such coordinate) do not lower the deviance;
otherwise the iterations continue from the best of them.

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
    point: Point              # the objective's evaluation at x (with its ``extra``)


@dataclass(frozen=True)
class _Direction:
    step: np.ndarray          # modified Newton step (zeros on the held coordinates)
    decrement: float          # lambda^2 / 2
    curvature: float          # smallest Hessian eigenvalue on the free coordinates, relative
    descent: np.ndarray       # its eigenvector (full length, zeros elsewhere)


NEGATIVE_CURVATURE = 1e-8     # relative to the largest |eigenvalue|


def _direction(pt: Point, free: np.ndarray) -> _Direction:
    """Newton step with the Hessian's eigenvalues made positive, and the most negative
    curvature direction (a saddle or a maximum has a zero gradient but is no optimum)."""
    g, H = pt.gradient, pt.hessian
    assert g is not None and H is not None
    every = bool(free.all())
    if every:
        gf, Hf = g, H
    else:
        if not free.any():
            return _Direction(np.zeros_like(g), 0.0, 0.0, np.zeros_like(g))
        gf = g[free]
        Hf = H[np.ix_(free, free)]
    if not np.isfinite(Hf).all():
        return _Direction(np.zeros_like(g), np.inf, 0.0, np.zeros_like(g))
    lam, V = np.linalg.eigh(Hf)
    top = max(float(np.abs(lam).max()), 1e-300)
    mod = np.maximum(np.abs(lam), 1e-10 * top)
    Vg = V.T @ gf
    coef = Vg / mod
    if every:
        step, descent = -(V @ coef), V[:, 0].copy()
    else:
        step, descent = np.zeros_like(g), np.zeros_like(g)
        descent[free] = V[:, 0]
        step[free] = -(V @ coef)
    return _Direction(step, 0.5 * float(np.sum(Vg * coef)), float(lam[0]) / top, descent)


def _newton_direction(pt: Point, free: np.ndarray) -> tuple[np.ndarray, float]:
    d = _direction(pt, free)
    return d.step, d.decrement


def _free(x: np.ndarray, g: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    at_lower = (x <= lower) & (g > 0)
    at_upper = (x >= upper) & (g < 0)
    return ~(at_lower | at_upper)


def _search(obj: Objective, pt: Point, step: np.ndarray) -> Point | None:
    """Backtracking along the projected path x(t) = P(x + t step): the first t = 1, 1/2, ...
    whose point lowers the deviance by the Armijo amount (and at all)."""
    assert pt.gradient is not None
    t = 1.0
    for _ in range(40):
        x_new = np.clip(pt.x + t * step, obj.lower, obj.upper)
        if np.array_equal(x_new, pt.x):
            return None
        new = obj.evaluate(x_new, 2)
        slope = min(0.0, float(pt.gradient @ (x_new - pt.x)))
        if np.isfinite(new.value) and new.gradient is not None and new.hessian is not None \
                and new.value < pt.value and new.value <= pt.value + 1e-4 * slope:
            return new
        t *= 0.5
    return None


def _escape(obj: Objective, pt: Point, d: _Direction) -> Point | None:
    """From a point with zero gradient and negative curvature, move along the curvature
    direction (into the interior at a bound) until the deviance decreases."""
    assert pt.gradient is not None
    v = d.descent.copy()
    at_lower = pt.x <= obj.lower
    g_v = float(pt.gradient @ v)
    if g_v > 0 or (g_v == 0 and np.any(v[at_lower] < 0)):
        v = -v
    scale = max(1.0, float(np.abs(pt.x).max()))
    return _search(obj, pt, v * scale)


def _probe_bounds(obj: Objective, pt: Point) -> Point | None:
    """A point held at a lower bound is an optimum only if the deviance rises into the
    interior: try small steps inwards along each bounded coordinate."""
    best = None
    slack = 1e-10 * max(1.0, abs(pt.value))
    for q in np.flatnonzero(pt.x <= obj.lower):
        for t in (1e-3, 1e-2, 1e-1):
            x = pt.x.copy()
            x[q] = obj.lower[q] + t
            trial = obj.evaluate(x, 0)
            if np.isfinite(trial.value) and trial.value < pt.value - slack and (
                    best is None or trial.value < best.value):
                best = trial
    return None if best is None else obj.evaluate(best.x, 2)


def _iterate(obj: Objective, pt: Point, tolerance: float, budget: int
             ) -> tuple[Point, int, bool, float, str]:
    lower, upper = obj.lower, obj.upper
    iterations = 0
    while True:
        assert pt.gradient is not None
        free = _free(pt.x, pt.gradient, lower, upper)
        d = _direction(pt, free)
        step, dec = d.step, d.decrement
        saddle = d.curvature < -NEGATIVE_CURVATURE
        if dec <= tolerance and not saddle:
            # the final Newton step is free accuracy (quadratic convergence): take it unless
            # it makes the deviance worse beyond rounding
            x_new = np.clip(pt.x + step, lower, upper)
            new = obj.evaluate(x_new, 2)
            if np.isfinite(new.value) and new.gradient is not None and \
                    new.value <= pt.value + 1e-13 * max(1.0, abs(pt.value)):
                new_free = _free(new.x, new.gradient, lower, upper)
                pt, dec = new, _newton_direction(new, new_free)[1]
            probe = _probe_bounds(obj, pt) if iterations < budget else None
            if probe is None:
                return pt, iterations, True, dec, "Newton decrement below the tolerance"
            pt = probe
            iterations += 1
            continue
        if iterations >= budget:
            return pt, iterations, False, dec, (
                f"the iteration limit ({budget}) was reached with the deviance still "
                f"~{dec:.2g} above its minimum")
        accepted = _search(obj, pt, step) if dec > tolerance else None
        if accepted is None and saddle:
            accepted = _escape(obj, pt, d)
        iterations += 1
        if accepted is None:
            ok = dec <= SLACK_DECREMENT and not saddle
            return pt, iterations, ok, dec, (
                "no step decreases the deviance further (rounding level)" if ok else
                f"the line search failed with the deviance ~{dec:.2g} above its minimum"
                + (" at a point of negative curvature" if saddle else ""))
        gained = pt.value - accepted.value
        pt = accepted
        if dec <= SLACK_DECREMENT and gained <= 1e-14 * max(1.0, abs(pt.value)) \
                and not saddle:
            # at the rounding floor of the deviance: further steps only trade noise
            assert pt.gradient is not None
            new_dec = _newton_direction(pt, _free(pt.x, pt.gradient, lower, upper))[1]
            return pt, iterations, True, new_dec, (
                "the deviance no longer changes beyond rounding (Newton decrement "
                f"{new_dec:.2g})")


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
                           message=message, at_bound=at_bound, point=pt)
