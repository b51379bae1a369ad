"""Estimation entry point: design -> sufficient statistics -> optimiser -> :class:`Estimates`."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import numpy.typing as npt

from openhlm.errors import ConvergenceWarning, EstimationError
from openhlm.estimation.basis import Basis
from openhlm.estimation.design import Design
from openhlm.estimation.em import run_em, starting_values
from openhlm.estimation.estimates import Estimates, WorkingFit
from openhlm.estimation.exact import fit_exact_homogeneous, working_basis
from openhlm.estimation.heterogeneous import estimate_heterogeneous, refuse_reml, variance_design
from openhlm.estimation.identification import (
    WithinUnit,
    check_design,
    check_fixed_effects,
    within_unit,
)
from openhlm.estimation.likelihood import evaluate
from openhlm.estimation.statistics import UnitMoments
from openhlm.estimation.sufficient import UnitStats, stable_unit_stats, unit_stats
from openhlm.spec.defaults import (
    STOP_EXACT,
    STOP_MAX_ITERATIONS,
    STOP_SMALL_CHANGE,
    iteration_limits,
)

__all__ = ["check_identified", "check_max_iterations", "estimate", "estimate_exact_from",
           "estimate_hlm_from", "estimates_at"]


def check_identified(design: Design, stats: UnitStats | None = None) -> WithinUnit | None:
    """Refuse a design that cannot be estimated, naming the cause (one-line errors).

    The variance components (:func:`openhlm.estimation.identification.check_design`: a
    constant outcome, one level-2 unit, no within-unit degrees of freedom for sigma^2, a random
    slope constant within every unit, an outcome constant within every unit) and the fixed
    effects (:func:`~openhlm.estimation.identification.check_fixed_effects`: constant, zero or
    collinear columns, decided scale-free from centred columns).  ``stats`` is not needed
    (kept for callers that pass it).  Returns the pass over the rows the checks made
    (:func:`openhlm.estimation.identification.within_unit`), which also gives the moments.
    """
    if design.n_random == 0:
        raise EstimationError("the model has no random coefficient: add U0 (or another Uq) to a "
                              "level-2 equation")
    ws = within_unit(design)   # one stable pass over the rows, shared by both checks
    check_design(design, ws)
    check_fixed_effects(design, _free_labels(design), ws)
    return ws


def check_max_iterations(max_iterations: int | None) -> None:
    """Refuse an iteration limit below 1 (``None`` means the mode's default)."""
    if max_iterations is not None and int(max_iterations) < 1:
        raise EstimationError(f"max_iterations must be at least 1, not {max_iterations}")


def check_tolerance(tolerance: float | None) -> None:
    """Refuse a convergence criterion that is not a positive number (``None``: the default)."""
    if tolerance is not None and not (np.isfinite(float(tolerance)) and float(tolerance) > 0):
        raise EstimationError(f"tolerance must be a positive number (e.g. 1e-6), not {tolerance}")


def _limits(mode: str, max_iterations: int | None, tolerance: float | None
            ) -> tuple[int, float]:
    limits = iteration_limits(mode, max_iterations, tolerance)  # None: the mode's default
    return limits.max_iterations, limits.tolerance


def _free_labels(design: Design) -> list[str]:
    K = design.constraint_matrix
    return [design.gamma_labels[int(np.flatnonzero(K[:, k])[0])] for k in range(K.shape[1])]


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
    check_max_iterations(max_iterations)
    check_tolerance(tolerance)
    ws = check_identified(design)
    if design.spec.variance_predictors:   # heterogeneous sigma^2 (docs/statistics.md 10)
        return _estimate_heterogeneous(design, method, mode, max_iterations, tolerance)
    reml = method == "reml"
    if mode == "exact":
        return _estimate_exact(design, reml, max_iterations, tolerance, ws)
    return estimate_hlm_from(design, unit_stats(design), reml, max_iterations=max_iterations,
                             tolerance=tolerance)


def estimate_hlm_from(design: Design, stats: UnitStats, reml: bool, *,
                      max_iterations: int | None = None, tolerance: float | None = None,
                      stacklevel: int = 3) -> Estimates:
    """HLM mode from statistics already formed (the in-memory rows' cross-products, or those
    of an out-of-core engine's per-unit moments, :mod:`openhlm.scale`): HLM's starting values,
    its EM and stopping rule (:mod:`openhlm.estimation.em`), and the :class:`Estimates`."""
    start = starting_values(stats, stats.XX, stats.Xy, stats.yy, design.G(),
                            design.random_columns)
    max_it, tol = _limits("hlm", max_iterations, tolerance)
    em = run_em(stats, start, reml, max_iterations=max_it, tolerance=tol)
    ev = evaluate(stats, em.sigma2, em.tau)
    fixed_ev = evaluate(stats, em.fixed_sigma2, em.fixed_tau)
    reason = STOP_SMALL_CHANGE if em.converged else STOP_MAX_ITERATIONS
    if not em.converged:
        warnings.warn(f"HLM-mode EM did not meet its stopping rule in {max_it} iterations; "
                      "raise max_iterations or use mode='exact'", ConvergenceWarning,
                      stacklevel=stacklevel)
    boundary = tuple(int(i) for i in np.flatnonzero(np.diag(em.tau) <= 1e-10))
    return Estimates(design=design, stats=stats, method="reml" if reml else "ml", mode="hlm",
                     evaluation=ev, fixed_evaluation=fixed_ev, iterations=em.iterations,
                     converged=em.converged, stop_reason=reason, tolerance=tol,
                     max_iterations=max_it, loglik_history=em.loglik_history,
                     boundary=boundary, start=start)


def _estimate_exact(design: Design, reml: bool, max_iterations: int | None,
                    tolerance: float | None, ws: WithinUnit | None = None) -> Estimates:
    """Exact mode (docs/engine.md): working basis, bounded Newton, back to the original basis.

    ``max_iterations`` counts Newton iterations (default 1000); ``tolerance`` is the Newton
    decrement, in deviance units, below which the optimum is declared reached (1e-10).
    """
    moments = None
    if ws is not None and design.row_weights is None and design.precision_weights is None:
        moments = ws.moments(design.n_per_unit)   # the checks' pass over the rows
    stats, mom = stable_unit_stats(design, moments=moments)
    basis = working_basis(design, mom)
    wstats = basis.stats(mom, design.random_columns, stats.unit_weights)
    return estimate_exact_from(design, stats, mom, basis, wstats, reml,
                               max_iterations=max_iterations, tolerance=tolerance)


def estimate_exact_from(design: Design, stats: UnitStats, mom: UnitMoments, basis: Basis,
                        wstats: UnitStats, reml: bool, *, max_iterations: int | None = None,
                        tolerance: float | None = None,
                        advice: str = "check the model for collinear predictors or try "
                                      "mode='hlm'") -> Estimates:
    """Exact mode from statistics already formed (the in-memory pass, or the per-unit moments
    of an out-of-core engine, :mod:`openhlm.scale`): optimise in the working basis and build
    the :class:`Estimates` (original-basis ``stats``, working-basis ``wstats``, ``mom`` kept
    for the offset-free per-unit regressions of inference)."""
    max_it, tol = _limits("exact", max_iterations, tolerance)
    fit = fit_exact_homogeneous(wstats, basis, design.random_columns, reml, tolerance=tol,
                                max_iterations=max_it)
    sol = fit.solution
    if not sol.converged:
        warnings.warn(f"the optimiser did not converge ({sol.message}); {advice}",
                      ConvergenceWarning, stacklevel=4)
    ev = fit.evaluation
    if sol.converged:
        reason = STOP_EXACT
    elif sol.iterations >= max_it:
        reason = STOP_MAX_ITERATIONS
    else:
        reason = "Iterations stopped before convergence (exact mode): " + sol.message
    return Estimates(design=design, stats=stats, method="reml" if reml else "ml", mode="exact",
                     evaluation=ev, fixed_evaluation=ev, iterations=sol.iterations,
                     converged=sol.converged, stop_reason=reason, tolerance=tol,
                     max_iterations=max_it, loglik_history=(ev.loglik(reml),),
                     boundary=sol.boundary, start=fit.start,
                     working=WorkingFit(basis=fit.basis, stats=fit.working_stats,
                                        evaluation=fit.working_evaluation, moments=mom))


def _estimate_heterogeneous(design: Design, method: str, mode: str, max_iterations: int | None,
                            tolerance: float | None) -> Estimates:
    """Heterogeneous sigma^2: the homogeneous fit first, then the variance model."""
    refuse_reml(design, method)
    hom_design = dataclasses.replace(
        design, spec=dataclasses.replace(design.spec, variance_predictors=()))
    variance_design(design)   # refuse unusable variance predictors before any fitting
    # The homogeneous fit (the "Summary of Model Fit" row 1 and the starting point) is the ML
    # optimum in both modes: HLM's printed homogeneous deviance (46494.59261) is within 5e-4 of
    # the optimum, far closer than its EM stopping rule gets on this model (0.07 above), so HLM
    # evidently fits it to convergence (docs/hlm-iterations.md, section H).
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hom = estimate(hom_design, method="ml", mode="exact",
                       max_iterations=None if mode == "hlm" else max_iterations,
                       tolerance=None if mode == "hlm" else tolerance)
    for w in caught:   # say which fit they are about
        warnings.warn(f"homogeneous-sigma^2 fit (model 1 of the 'Summary of Model Fit'): "
                      f"{w.message}", w.category, stacklevel=4)
    return estimate_heterogeneous(design, hom, method=method, mode=mode,
                                  max_iterations=max_iterations, tolerance=tolerance)


def estimates_at(design: Design, sigma2: float, tau: npt.ArrayLike, *, method: str = "reml",
                 fixed_sigma2: float | None = None, fixed_tau: npt.ArrayLike | None = None
                 ) -> Estimates:
    """:class:`Estimates` at given variance parameters, without optimising.

    The basis of fixed-parameter tests (given a published sigma^2 and T, every printed
    statistic must follow) and of reports at chosen parameters.  ``fixed_sigma2``/``fixed_tau``
    optionally give the iterate the fixed effects come from (HLM prints gammas from the
    previous EM iterate); the one not given is the same as ``sigma2``/``tau``.
    """
    method = method.lower()
    check_identified(design)
    stats = unit_stats(design)
    tau_arr = np.atleast_2d(np.asarray(tau, dtype=float))
    ev = evaluate(stats, float(sigma2), tau_arr)
    if fixed_sigma2 is None and fixed_tau is None:
        fixed_ev = ev
    else:
        fixed_ev = evaluate(
            stats, float(sigma2 if fixed_sigma2 is None else fixed_sigma2),
            tau_arr if fixed_tau is None else np.atleast_2d(np.asarray(fixed_tau, dtype=float)))
    return Estimates(design=design, stats=stats, method=method, mode="fixed", evaluation=ev,
                     fixed_evaluation=fixed_ev, iterations=0, converged=True,
                     stop_reason="Evaluated at given parameters (no iterations)",
                     tolerance=0.0, max_iterations=0, loglik_history=(ev.loglik(method == "reml"),),
                     boundary=(), start=None)
