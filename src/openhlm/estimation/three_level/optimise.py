"""The three-level profiled deviance as an objective of the engine's bounded Newton method.

:class:`Deviance3` gives :func:`openhlm.estimation.optimise.minimise` (projected Newton with
an Armijo search, negative-curvature escape, inward probes at bounds, convergence on the
Newton decrement, the boundary snap of small diagonal elements of L) the deviance, its
analytic gradient and its analytic Hessian (:mod:`openhlm.estimation.three_level.hessian`).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from openhlm.estimation.objective import Objective, Point
from openhlm.estimation.optimise import OptimiserResult, minimise
from openhlm.estimation.three_level.hessian import derivatives, release_workspace
from openhlm.estimation.three_level.likelihood import diagonal_positions, theta_size
from openhlm.estimation.three_level.statistics import Stats3
from openhlm.spec.defaults import EXACT_LIMITS

__all__ = ["Deviance3", "optimise3", "theta_scales"]


def theta_scales(r2: int, r3: int, z2_scale: np.ndarray | None,
                 z3_scale: np.ndarray | None) -> np.ndarray:
    """The scale of each element of theta: with column a of Z2 (Z3) in units s_a, row a of L2
    (L3) is in units 1 / s_a (``Z L`` is unit-free), so ``phi = theta * s_a`` does not depend
    on the units of the random-effect variables."""
    rows2, _ = np.tril_indices(r2)
    rows3, _ = np.tril_indices(r3)
    s2 = np.ones(r2) if z2_scale is None else np.asarray(z2_scale, dtype=float)
    s3 = np.ones(r3) if z3_scale is None else np.asarray(z3_scale, dtype=float)
    out = np.concatenate([s2[rows2], s3[rows3]])
    return np.where(np.isfinite(out) & (out > 0), out, 1.0)


class Deviance3(Objective):
    """lme4's profiled REML/ML deviance of a three-level model, over ``phi = theta * scale``
    (theta: the rows of L2 and L3; ``scale``: :func:`theta_scales`), so that the optimiser's
    path and its stopping rules do not depend on the units of the random-effect variables.
    Points hold phi; :meth:`theta` maps back."""

    def __init__(self, stats: Stats3, reml: bool, start: np.ndarray | None = None,
                 scale: np.ndarray | None = None) -> None:
        self.stats, self.reml = stats, reml
        r2, r3 = stats.n_r2, stats.n_r3
        k = theta_size(r2, r3)
        diag = diagonal_positions(r2, r3)
        self.scale = np.ones(k) if scale is None else np.asarray(scale, dtype=float)
        self.lower = np.full(k, -np.inf)
        self.lower[diag] = 0.0
        self.upper = np.full(k, np.inf)
        self.boundary_candidates = np.asarray(diag, dtype=int)
        if start is None:
            start = np.zeros(k)
            start[diag] = 1.0 / self.scale[diag]     # lme4's start, L = I (in these units)
        self.start = np.maximum(np.asarray(start, dtype=float) * self.scale, self.lower)
        self.evaluations = 0
        self._last: tuple[int, Point] | None = None

    def evaluate(self, x: np.ndarray, order: int = 0) -> Point:
        x = np.asarray(x, dtype=float)
        if self._last is not None and self._last[0] >= order and \
                np.array_equal(self._last[1].x, x):
            return self._last[1]      # the hand-over from the interior phase
        self.evaluations += 1
        pt = self._evaluate(x, order)
        self._last = (order, pt)
        return pt

    def theta(self, x: np.ndarray) -> np.ndarray:
        """theta of a point's phi."""
        return np.asarray(x, dtype=float) / self.scale

    def _evaluate(self, x: np.ndarray, order: int) -> Point:
        try:
            with np.errstate(all="raise"):
                d = derivatives(self.stats, self.theta(x), self.reml, order)
        except (np.linalg.LinAlgError, FloatingPointError, ValueError):
            return Point(x=x, value=np.inf)
        if not np.isfinite(d.deviance) or (order and not np.all(np.isfinite(d.gradient))) \
                or (order == 2 and (d.hessian is None
                                    or not np.all(np.isfinite(d.hessian)))):
            return Point(x=x, value=np.inf)
        s = self.scale         # chain rule: d/dphi = (d/dtheta) / s
        return Point(x=x, value=d.deviance, gradient=d.gradient / s if order else None,
                     hessian=(d.hessian / np.outer(s, s) if order == 2 and d.hessian is not None
                              else None), extra={"derivatives": d})


def _interior_phase(obj: Deviance3, pt: Point, iterations: int = 30,
                    until: float = 1e-3) -> tuple[Point, int]:
    """Newton steps that stay inside the bounds (fraction to the boundary).

    The profiled deviance is not convex in theta: from a start far from the optimum a full
    Newton step projected onto the bounds can set a diagonal element of L to 0 and leave the
    iterations in a local minimum on the boundary (e.g. a level-3 intercept variance of 0).
    So, first, each step is shortened so that a positive diagonal element falls to no less
    than a quarter of its value, with halving until the deviance decreases; this phase ends once
    the Newton decrement is below ``until`` (deviance units) or no step decreases the
    deviance.  The bounded Newton method then finishes (projections, bound probes, snap)."""
    used = 0
    lower = obj.lower
    bounded = np.isfinite(lower)
    while used < iterations:
        assert pt.gradient is not None and pt.hessian is not None
        lam, V = np.linalg.eigh(pt.hessian)
        top = max(float(np.abs(lam).max()), 1e-300)
        mod = np.maximum(np.abs(lam), 1e-10 * top)
        Vg = V.T @ pt.gradient
        step = -(V @ (Vg / mod))
        if 0.5 * float(np.sum(Vg * Vg / mod)) <= until:
            break
        room = pt.x - lower
        shrinking = bounded & (step < 0) & (room > 0)
        t = 1.0
        if np.any(shrinking):
            t = min(1.0, float(np.min(0.75 * room[shrinking] / -step[shrinking])))
        if np.any(bounded & (step < 0) & (room <= 0)):
            step = np.where(bounded & (room <= 0), np.maximum(step, 0.0), step)
        accepted = None
        for _ in range(30):
            new = obj.evaluate(pt.x + t * step, 2)
            if np.isfinite(new.value) and new.value < pt.value:
                accepted = new
                break
            t *= 0.5
        used += 1
        if accepted is None:
            break
        pt = accepted
    return pt, used


def optimise3(stats: Stats3, reml: bool, *, tolerance: float | None = None,
              max_iterations: int | None = None, start: np.ndarray | None = None,
              scale: np.ndarray | None = None) -> tuple[OptimiserResult, Deviance3]:
    """Minimise the profiled deviance: interior Newton steps (:func:`_interior_phase`) from
    ``start`` (theta, e.g. :func:`~openhlm.estimation.three_level.start.moment_start`) or
    lme4's L = I, whichever has the lower deviance, then the engine's bounded Newton method,
    all over phi = theta * ``scale`` (:func:`theta_scales`).  The result's ``x`` is theta."""
    obj = Deviance3(stats, reml, scale=scale)
    budget = max_iterations or 200
    first = None
    if start is not None:
        identity = obj.evaluate(obj.start, 0)
        candidate = obj.evaluate(
            np.maximum(np.asarray(start, dtype=float) * obj.scale, obj.lower), 2)
        if np.isfinite(candidate.value) and not candidate.value > identity.value:
            first = candidate
    if first is None:
        first = obj.evaluate(obj.start, 2)
    used = 0
    if np.isfinite(first.value):
        pt, used = _interior_phase(obj, first, iterations=min(30, budget))
        obj.start = pt.x
    res = minimise(obj, tolerance=EXACT_LIMITS.tolerance if tolerance is None else tolerance,
                   max_iterations=max(budget - used, 1))
    release_workspace(stats)
    return replace(res, x=obj.theta(res.x), iterations=res.iterations + used), obj
