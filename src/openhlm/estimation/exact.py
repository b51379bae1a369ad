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

import numpy as np

from openhlm.estimation.basis import Basis, working_basis
from openhlm.estimation.em import StartingValues, starting_values
from openhlm.estimation.likelihood import Evaluation, evaluate, lower_to_theta, theta_to_lower
from openhlm.estimation.objective import ProfiledDeviance
from openhlm.estimation.optimise import minimise
from openhlm.estimation.sufficient import UnitStats

__all__ = ["ExactSolution", "minimise_profiled", "fit_exact_homogeneous", "start_theta"]


@dataclass(frozen=True)
class ExactSolution:
    theta: np.ndarray          # working basis
    sigma2: float
    tau: np.ndarray            # working basis (of the stats passed to minimise_profiled)
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


def minimise_profiled(stats: UnitStats, reml: bool, *, tau0: np.ndarray | None = None,
                      sigma2_0: float | None = None, tolerance: float = 1e-10,
                      max_iterations: int = 1000) -> ExactSolution:
    """Minimise the profiled (RE)ML deviance of ``stats`` over theta (bounded Newton)."""
    R = stats.n_random
    x0 = start_theta(tau0, sigma2_0, R)
    obj = ProfiledDeviance(stats, reml, x0)
    if not np.isfinite(obj.evaluate(obj.start).value):
        obj.start = lower_to_theta(np.eye(R))
    res = minimise(obj, tolerance=tolerance, max_iterations=max_iterations)
    sigma2, tau = obj.sigma2_tau(res.x)
    L = theta_to_lower(res.x, R)
    zero = tuple(int(i) for i in np.flatnonzero(np.diag(L) == 0.0))
    return ExactSolution(theta=res.x, sigma2=sigma2, tau=tau, deviance=res.value,
                         iterations=res.iterations, function_evaluations=res.evaluations,
                         converged=res.converged, message=res.message, boundary=zero)


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
    sol = minimise_profiled(wstats, reml, tau0=sv.tau, sigma2_0=sv.sigma2, tolerance=tolerance,
                            max_iterations=max_iterations)
    ev_w = evaluate(wstats, sol.sigma2, sol.tau)
    return ExactFit(solution=sol, evaluation=basis.evaluation_to_original(ev_w), start=start,
                    basis=basis, working_stats=wstats, working_evaluation=ev_w)


__all__ += ["ExactFit", "working_basis", "working_start"]
