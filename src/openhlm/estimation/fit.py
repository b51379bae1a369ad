"""Estimation entry point: design -> sufficient statistics -> optimiser -> :class:`Estimates`."""

from __future__ import annotations

import warnings

import numpy as np

from openhlm.errors import ConvergenceWarning, EstimationError
from openhlm.estimation.design import Design
from openhlm.estimation.em import run_em, starting_values
from openhlm.estimation.estimates import Estimates
from openhlm.estimation.exact import minimise_profiled
from openhlm.estimation.likelihood import evaluate
from openhlm.estimation.sufficient import unit_cross_products, unit_stats

__all__ = ["estimate", "check_identified"]


def check_identified(design: Design) -> None:
    """Refuse a design whose fixed effects are not identified, naming the gammas at fault."""
    if design.n_random == 0:
        raise EstimationError("the model has no random coefficient: add U0 (or another Uq) to a "
                              "level-2 equation")
    A = design.A()
    if A.shape[1] == 0:
        return
    s = np.linalg.svd(A, compute_uv=False)
    if s[-1] <= 1e-9 * s[0]:
        _, _, vt = np.linalg.svd(A, full_matrices=False)
        null = vt[-1] @ design.constraint_matrix.T
        involved = [g for g, v in zip(design.gamma_labels, null) if abs(v) > 1e-6]
        raise EstimationError(
            "the fixed effects are not identified: the columns for "
            f"{', '.join(involved)} are collinear (a predictor is constant or a linear "
            "combination of others in this model); remove one of them")


def estimate(design: Design, *, method: str = "reml", mode: str = "exact",
             max_iterations: int | None = None, tolerance: float | None = None) -> Estimates:
    """Estimate (sigma^2, T, gamma) by REML or ML.

    ``mode="exact"`` minimises the profiled deviance to convergence; ``mode="hlm"`` runs HLM's
    EM from HLM's starting values with HLM's stopping rule (see :mod:`openhlm.estimation.em`).
    """
    method, mode = method.lower(), mode.lower()
    if method not in ("reml", "ml"):
        raise EstimationError(f"method must be 'reml' or 'ml', not {method!r}")
    if mode not in ("exact", "hlm"):
        raise EstimationError(f"mode must be 'exact' or 'hlm', not {mode!r}")
    check_identified(design)
    reml = method == "reml"
    stats = unit_stats(design)
    XX, Xy, yy, _ = unit_cross_products(design)
    start = starting_values(stats, XX, Xy, yy, design.G(), design.random_columns)
    if mode == "hlm":
        max_it = 100 if max_iterations is None else int(max_iterations)
        tol = 1e-6 if tolerance is None else float(tolerance)
        sol = run_em(stats, start, reml, max_iterations=max_it, tolerance=tol)
        ev = evaluate(stats, sol.sigma2, sol.tau)
        fixed_ev = evaluate(stats, sol.fixed_sigma2, sol.fixed_tau)
        reason = ("Iterations stopped due to small change in likelihood function"
                  if sol.converged else
                  "Iterations stopped due to reaching the maximum number of iterations")
        if not sol.converged:
            warnings.warn(f"HLM-mode EM did not meet its stopping rule in {max_it} iterations; "
                          "raise max_iterations or use mode='exact'", ConvergenceWarning,
                          stacklevel=2)
        boundary = tuple(int(i) for i in np.flatnonzero(np.diag(sol.tau) <= 1e-10))
        return Estimates(design=design, stats=stats, method=method, mode=mode, evaluation=ev,
                         fixed_evaluation=fixed_ev, iterations=sol.iterations,
                         converged=sol.converged, stop_reason=reason, tolerance=tol,
                         max_iterations=max_it, loglik_history=sol.loglik_history,
                         boundary=boundary, start=start)
    max_it = 1000 if max_iterations is None else int(max_iterations)
    tol = 1e-10 if tolerance is None else float(tolerance)
    sol = minimise_profiled(stats, reml, tau0=start.tau, sigma2_0=start.sigma2,
                            tolerance=tol, max_iterations=max_it)
    if not sol.converged:
        warnings.warn("the optimiser did not converge (" + sol.message + "); check the model for "
                      "collinear predictors or try mode='hlm'", ConvergenceWarning, stacklevel=2)
    ev = evaluate(stats, sol.sigma2, sol.tau)
    return Estimates(design=design, stats=stats, method=method, mode=mode, evaluation=ev,
                     fixed_evaluation=ev, iterations=sol.iterations, converged=sol.converged,
                     stop_reason="Converged to the maximum of the likelihood (exact mode)",
                     tolerance=tol, max_iterations=max_it, loglik_history=(ev.loglik(reml),),
                     boundary=sol.boundary, start=start)
