"""Inference: from :class:`Estimates` to :class:`HLMResults` (every printed number, once).

:func:`infer` computes every statistic HLM2 prints, the empirical Bayes estimates of the
residual files and plots (``results.eb``), and the blocks a fit asks for (weighting, tests,
exploratory analysis), and builds the :class:`HLMResults` in one go: nothing downstream
patches it.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import numpy as np

from openhlm._version import __version__
from openhlm.estimation.estimates import Estimates
from openhlm.estimation.weights import weighting_notes
from openhlm.inference.exploratory import exploratory as _exploratory
from openhlm.inference.fixed import fixed_effects_table
from openhlm.inference.requests import requested_blocks
from openhlm.inference.residuals import eb_estimates
from openhlm.inference.variance import (
    level1_ols_table,
    random_coefficient_ols,
    reliabilities,
    variance_components_table,
)
from openhlm.inference.variance_se import variance_standard_errors
from openhlm.results import ConvergenceInfo, DataSummary, EBEstimates, HLMResults
from openhlm.results.residuals import LazyEBEstimates

if TYPE_CHECKING:
    from openhlm.estimation.weights import WeightingSpec

__all__ = ["FEW_UNITS_THRESHOLD", "infer", "tau_correlations"]

# HLM prints its warning about robust SEs for J = 10 and not for J = 23, 47, 100, 131, 160
# (docs/statistics.md 3, open question 2); we warn below 20 level-2 units.
FEW_UNITS_THRESHOLD = 20


def _fingerprint(est: Estimates) -> str:
    h = hashlib.sha256()
    d = est.design
    for a in (d.y, d.X, d.unit, d.W):
        h.update(np.ascontiguousarray(a).data)   # the bytes, without a copy
    summary = getattr(d, "outcome_moments", None)   # out of core: the per-unit statistics
    if summary is not None:
        h.update(np.ascontiguousarray(d.n_per_unit).tobytes())
        h.update(np.ascontiguousarray(summary).tobytes())
    return h.hexdigest()[:16]


def tau_correlations(tau: np.ndarray) -> np.ndarray:
    """HLM's "Tau (as correlations)": tau_kl / sqrt(tau_kk tau_ll), 0 where a variance is 0."""
    sd = np.sqrt(np.clip(np.diag(tau), 0, None))
    with np.errstate(invalid="ignore", divide="ignore"):
        c = tau / np.outer(sd, sd)
    c[~np.isfinite(c)] = 0.0
    np.fill_diagonal(c, 1.0)
    return c


def _stop_reason(est: Estimates) -> str:
    """Why estimation stopped, as every report prints it (never "converged" for a fit that
    did not converge: the exact optimiser's reason can read "Converged ..." although its
    gradient test failed)."""
    reason = est.stop_reason.strip()
    if not est.converged and (not reason or reason.lower().startswith("converged")):
        return "the optimiser's convergence test was not met"
    return reason


def _boundary(est: Estimates) -> tuple[list[int], int]:
    """(random coefficients with zero variance, rank of T) as the notes report them.

    Exact mode: the optimiser's own decision (``est.boundary``: the diagonal elements of the
    relative Cholesky factor it put at 0), which does not depend on the units of the
    predictors; a zero row of that factor is a zero variance, otherwise T is singular.
    Other modes: T's diagonal and eigenvalues relative to its largest ones (1e-8).
    """
    tau = est.tau
    R = tau.shape[0]
    if est.mode == "exact":
        zero = [int(k) for k in est.boundary if tau[k, k] == 0.0]
        return zero, R - len(est.boundary)
    scale = max(float(np.max(np.abs(np.diag(tau)))), 1e-300) if R else 1.0
    zero = [k for k in range(R) if tau[k, k] <= 1e-8 * scale]
    if not R or zero:
        return zero, R - len(zero)
    w = np.linalg.eigvalsh(tau)
    return zero, int(np.sum(w > 1e-8 * max(w[-1], 1e-300)))


def _notes(est: Estimates, units_used: int) -> list[str]:
    d = est.design
    notes = []
    if d.deleted_rows:
        notes.append(f"Run-time deletion has reduced the number of level-1 records by "
                     f"{d.deleted_rows} (rows missing a variable the model uses).")
    if d.dropped_units:
        notes.append(f"{len(d.dropped_units)} level-2 unit(s) have no level-1 records left and "
                     f"are not in the analysis: {', '.join(d.dropped_units[:10])}"
                     + (" ..." if len(d.dropped_units) > 10 else ""))
    labels = [c.label for c in d.spec.random_coefficients]
    zero, rank = _boundary(est)
    for k in zero:
        notes.append(f"The variance of {labels[k]} is estimated at zero: the likelihood is "
                     f"maximised on the boundary; consider making {labels[k]} non-random.")
    if rank < len(labels) and not zero:
        notes.append(f"Tau is singular (rank {rank} of {len(labels)}): the random "
                     "coefficients are perfectly correlated at the maximum of the likelihood, "
                     "on the boundary of the parameter space; consider a simpler random part.")
    how = getattr(d, "statistics_note", None)   # out-of-core / distributed statistics
    if how:
        notes.append(how)
    if est.mode == "exact" and est.converged:
        notes.append("Estimates are fully converged (openhlm exact mode); HLM 6 stops its EM "
                     "iterations earlier, so its printed values can differ in the last digits.")
    elif est.mode in ("exact", "hlm") and not est.converged:
        what = ("iterations of the optimiser of the profiled deviance" if est.mode == "exact"
                else "EM iterations")
        notes.append(f"The estimates are NOT converged: estimation stopped after "
                     f"{est.iterations} {what} ({_stop_reason(est)}); they are not the maximum "
                     "of the likelihood. Raise max_iterations or check the model.")
    return notes


def _estimation_extras(est: Estimates) -> dict:
    """Optional blocks that come with the estimates (heterogeneous sigma^2)."""
    if est.heterogeneous is None:
        return {}
    from openhlm.inference.heterogeneous import EXTRA_KEY, heterogeneous_sigma2

    return {EXTRA_KEY: heterogeneous_sigma2(est)}


def _eb(est: Estimates) -> EBEstimates | None:
    """The EB estimates of the residual files and plots; None without random coefficients.
    (Out of core, openhlm.scale, the per-unit ones come from the per-unit statistics and the
    level-1 ones are streamed when the level-1 residual file is written.)

    Computed on first use (:class:`openhlm.results.residuals.LazyEBEstimates`), once: the
    printed report does not need them."""
    return LazyEBEstimates(functools.partial(eb_estimates, est)) if est.design.n_random else None


def infer(est: Estimates, *, ols_units: int = 10, sources: Iterable[str] = (),
          variable_labels: Mapping[str, str] | None = None,
          weighting: WeightingSpec | None = None, hypotheses: Any = None,
          homogeneity: bool = False, deviance_test: Mapping[str, Any] | None = None,
          exploratory: Iterable[str] | None = None) -> HLMResults:
    """Compute every statistic HLM2 prints for the estimates ``est`` and build the results.

    Parameters
    ----------
    est : Estimates
    ols_units : int
        Units shown in the "Level-1 OLS regressions" table.
    sources : iterable of str
        The data files (the report's "data source").
    variable_labels : mapping, optional
        Variable labels of the MDM (plots' axes, residual files): ``results.data.variable_labels``.
    weighting : WeightingSpec, optional
        The design's weighting (:func:`openhlm.estimation.weights.weighted_design`): stored as
        ``results.extras["weighting"]`` (first block) with its notes after the others.
    hypotheses, homogeneity, deviance_test :
        Tests to compute (:func:`openhlm.inference.requests.requested_blocks`): stored as
        ``extras["glh"]``, ``["homogeneity"]``, ``["deviance_test"]``.
    exploratory : iterable of str, optional
        Candidate level-2 predictors of the exploratory analysis (``extras["exploratory"]``).

    Returns
    -------
    HLMResults
        With ``eb`` (the EB estimates, None without random coefficients) and ``estimates``.
    """
    d = est.design
    spec = d.spec
    fixed = fixed_effects_table(est)
    ols = random_coefficient_ols(est)
    variance = variance_components_table(est, ols)
    rel, rel_units = reliabilities(est, ols)
    sigma2_se, tau_se = variance_standard_errors(est)
    if est.heterogeneous is not None:   # T estimated jointly with alpha
        from openhlm.inference.heterogeneous import variance_standard_errors_heterogeneous

        sigma2_se, tau_se = variance_standard_errors_heterogeneous(est)
    conv = ConvergenceInfo(method=est.method, mode=est.mode, iterations=est.iterations,
                           converged=est.converged, stop_reason=_stop_reason(est),
                           tolerance=est.tolerance, max_iterations=est.max_iterations,
                           loglik_history=est.loglik_history)
    data = DataSummary(n_level1=d.n_level1, n_level2=d.n_level2, outcome=spec.outcome,
                       deleted_level1_rows=d.deleted_rows, dropped_units=d.dropped_units,
                       sources=tuple(sources), centering_means=dict(d.centering_means),
                       data_fingerprint=_fingerprint(est),
                       variable_labels=dict(variable_labels or {}))
    notes = tuple(_notes(est, variance.units_used))
    extras: dict[str, Any] = {}
    if weighting is not None:
        extras["weighting"] = weighting
        notes += weighting_notes(weighting)
    extras.update(_estimation_extras(est))
    fields: dict[str, Any] = {
        "spec": spec, "method": est.method, "mode": est.mode, "convergence": conv, "data": data,
        "sigma2": est.sigma2, "sigma2_se": sigma2_se, "tau": est.tau,
        "tau_labels": tuple(c.short_label for c in spec.random_coefficients), "tau_se": tau_se,
        "tau_correlations": tau_correlations(est.tau), "reliability": rel,
        "reliability_units_used": rel_units, "fixed": fixed, "variance": variance,
        "deviance": est.deviance, "deviance_hlm": est.deviance_hlm, "loglik": est.loglik,
        "n_parameters": est.n_parameters, "level1_ols": level1_ols_table(est, ols_units, ols),
        "few_units_warning": d.n_level2 < FEW_UNITS_THRESHOLD, "notes": notes,
        "version": __version__, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "estimates": est, "eb": _eb(est)}
    results = HLMResults(**fields, extras=extras)
    # the tests and the exploratory analysis are computed from the fitted model above; the
    # results are then built from the same fields with every block
    added = requested_blocks(results, hypotheses=hypotheses, homogeneity=homogeneity,
                             deviance_test=deviance_test)
    if exploratory is not None:
        added["exploratory"] = _exploratory(results, exploratory)
    if not added:
        return results
    return HLMResults(**fields, extras={**extras, **added})
