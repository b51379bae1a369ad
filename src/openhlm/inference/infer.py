"""Inference: from :class:`Estimates` to :class:`HLMResults` (every printed number, once)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

import numpy as np

from openhlm._version import __version__
from openhlm.estimation.estimates import Estimates
from openhlm.inference.fixed import fixed_effects_table
from openhlm.inference.variance import (
    level1_ols_table,
    random_coefficient_ols,
    reliabilities,
    variance_components_table,
)
from openhlm.inference.variance_se import variance_standard_errors
from openhlm.results import ConvergenceInfo, DataSummary, HLMResults

__all__ = ["infer", "tau_correlations", "FEW_UNITS_THRESHOLD"]

# HLM prints its warning about robust SEs for J = 10 and not for J = 23, 47, 100, 131, 160
# (hlm-statistics.md 3, open question 2); we warn below 20 level-2 units.
FEW_UNITS_THRESHOLD = 20


def _fingerprint(est: Estimates) -> str:
    h = hashlib.sha256()
    d = est.design
    for a in (d.y, d.X, d.unit, d.W):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def tau_correlations(tau: np.ndarray) -> np.ndarray:
    """HLM's "Tau (as correlations)": tau_kl / sqrt(tau_kk tau_ll), 0 where a variance is 0."""
    sd = np.sqrt(np.clip(np.diag(tau), 0, None))
    with np.errstate(invalid="ignore", divide="ignore"):
        c = tau / np.outer(sd, sd)
    c[~np.isfinite(c)] = 0.0
    np.fill_diagonal(c, 1.0)
    return c


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
    tau = est.tau
    scale = max(float(np.max(np.abs(np.diag(tau)))), 1e-300)
    zero = [k for k in range(len(labels)) if tau[k, k] <= 1e-8 * scale]
    if est.working is not None and tau.size:
        # exact mode: decide in the working basis (docs/engine.md, 2), where T does not depend
        # on the units or offsets of the predictors; a shifted intercept's variance is the one
        # at the predictors' means, so the original one must vanish too
        tau_w = est.working.evaluation.tau
        scale_w = max(float(np.max(np.abs(np.diag(tau_w)))), 1e-300)
        shifted = bool(np.any(est.working.basis.E_R[0, 1:] != 0.0))
        zero = [k for k in range(len(labels)) if tau_w[k, k] <= 1e-8 * scale_w
                and not (k == 0 and shifted and tau[0, 0] > 1e-8 * scale)]
        tau = tau_w
    for k in zero:
        notes.append(f"The variance of {labels[k]} is estimated at zero: the likelihood is "
                     f"maximised on the boundary; consider making {labels[k]} non-random.")
    if tau.size and not zero:
        w = np.linalg.eigvalsh(tau)
        if w[0] <= 1e-8 * max(w[-1], 1e-300):
            rank = int(np.sum(w > 1e-8 * w[-1]))
            notes.append(f"Tau is singular (rank {rank} of {len(labels)}): the random "
                         "coefficients are perfectly correlated at the maximum of the likelihood, "
                         "on the boundary of the parameter space; consider a simpler random part.")
    if est.mode == "exact":
        notes.append("Estimates are fully converged (openhlm exact mode); HLM 6 stops its EM "
                     "iterations earlier, so its printed values can differ in the last digits.")
    return notes


def _estimation_extras(est: Estimates) -> dict:
    """Optional blocks that come with the estimates (heterogeneous sigma^2)."""
    if est.heterogeneous is None:
        return {}
    from openhlm.inference.heterogeneous import EXTRA_KEY, heterogeneous_sigma2

    return {EXTRA_KEY: heterogeneous_sigma2(est)}


def infer(est: Estimates, *, ols_units: int = 10, sources: tuple[str, ...] = ()) -> HLMResults:
    """Compute every statistic HLM2 prints for the estimates ``est``."""
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
                           converged=est.converged, stop_reason=est.stop_reason,
                           tolerance=est.tolerance, max_iterations=est.max_iterations,
                           loglik_history=est.loglik_history)
    data = DataSummary(n_level1=d.n_level1, n_level2=d.n_level2, outcome=spec.outcome,
                       deleted_level1_rows=d.deleted_rows, dropped_units=d.dropped_units,
                       sources=tuple(sources), centering_means=dict(d.centering_means),
                       data_fingerprint=_fingerprint(est))
    return HLMResults(
        spec=spec, method=est.method, mode=est.mode, convergence=conv, data=data,
        sigma2=est.sigma2, sigma2_se=sigma2_se, tau=est.tau,
        tau_labels=tuple(c.short_label for c in spec.random_coefficients), tau_se=tau_se,
        tau_correlations=tau_correlations(est.tau), reliability=rel,
        reliability_units_used=rel_units, fixed=fixed, variance=variance,
        deviance=est.deviance, deviance_hlm=est.deviance_hlm, loglik=est.loglik,
        n_parameters=est.n_parameters, level1_ols=level1_ols_table(est, ols_units),
        few_units_warning=d.n_level2 < FEW_UNITS_THRESHOLD, notes=tuple(_notes(est, variance.units_used)),
        version=__version__, created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        estimates=est, extras=_estimation_extras(est))
