"""Multiply imputed data sets and plausible values with HGLMs: fit each, pool as for linear
models (:mod:`openhlm.runner.imputed`).

The data sets are those of :func:`openhlm.runner.imputed.data_sets` (a list of data sets, one
stacked data set with an imputation-number column, or plausible-value outcomes); each is fitted
by :func:`openhlm.runner.glmm.run_glmm` with the same options, and the M fits are combined:

* the unit-specific fixed effects (and, for PQL, the population-average ones) with model-based
  and robust standard errors: Rubin's rules with Barnard-Rubin d.f. (the single-data-set d.f.
  as complete-data d.f.) and the fraction of missing information
  (:func:`openhlm.inference.pooling.rubin_pool`); the odds / event-rate ratios and their 95%
  intervals from the pooled gamma, SE and d.f.
  (:func:`openhlm.inference.glmm.pooled_fixed_effects`); the covariance matrices
  U_bar + (1 + 1/M) B (:func:`openhlm.inference.pooling.pooled_covariance`);
* T, the variance components, reliabilities, chi-squares, the over-dispersion scale and the
  deviance (Laplace / AGQ; PQL has none): plain averages over the M fits, as HLM does for
  linear models; no p-value for an averaged chi-square and no deviance test.

The pooled :class:`~openhlm.results.glmm.GLMMResults` prints and exports like any HGLM fit;
``extras["multiple_imputation"]`` holds the
:class:`~openhlm.results.imputation.ImputationSummary` (per-data-set numbers and the fits).
It has no EB estimates of its own: residual files and EB graphs come from each fit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from openhlm.errors import SpecError
from openhlm.inference.glmm import pooled_fixed_effects
from openhlm.inference.hypotheses import hypotheses_requested
from openhlm.inference.pooling import (
    FixedEffectsPooling,
    mean_over_fits,
    pool_fixed_effects,
    pooled_covariance,
)
from openhlm.results.glmm import GLMMFixedEffect, GLMMResults, GLMMVarianceComponent
from openhlm.results.imputation import ImputationSummary
from openhlm.runner.glmm import run_glmm
from openhlm.runner.imputed import data_sets, fits_to_pool
from openhlm.spec.model import ModelSpec
from openhlm.spec.options import FitOptions

__all__ = ["pool_glmm_results", "run_glmm_imputed"]


def run_glmm_imputed(model: str | ModelSpec, data: Any, options: FitOptions, *,
                     id: str | None, level2: Any) -> GLMMResults:
    """Fit the HGLM to every completed data set (or plausible value) and pool the fits."""
    tests = options.tests
    if hypotheses_requested(tests.hypotheses) or tests.deviance_test is not None:
        raise SpecError("hypothesis tests (hypotheses=, deviance_test=) are not pooled over "
                        "imputed data sets; fit each data set on its own")
    imp = options.imputation
    pairs, labels, kind = data_sets(
        model, data, imputation=imp.column, plausible_values=imp.plausible_values or None,
        id=id, level2=level2, constraints=options.constraints, residual=False)
    fits = [run_glmm(m, mdm, options) for m, mdm in pairs]
    return pool_glmm_results(fits, labels, kind=kind)


def _pool_rows(rows: Sequence[Sequence[GLMMFixedEffect]]
               ) -> tuple[tuple[GLMMFixedEffect, ...], FixedEffectsPooling]:
    """Rubin's rules on M tables of fixed effects: the pooled rows (with the ratios and their
    intervals) and the pooling."""
    pooled = pool_fixed_effects(rows)
    return pooled_fixed_effects(tuple(rows[0]), pooled.model, pooled.robust), pooled


def pool_glmm_results(fits: Sequence[GLMMResults], labels: Sequence[str] | None = None, *,
                      kind: str = "data sets") -> GLMMResults:
    """Combine M fits of the same HGLM (module docstring) into one :class:`GLMMResults`."""
    fits, labels = fits_to_pool(fits, labels)
    m = len(fits)
    first = fits[0]
    gammas = tuple(r.gamma for r in first.fixed_effects)
    for f, label in zip(fits[1:], labels[1:]):
        if tuple(r.gamma for r in f.fixed_effects) != gammas or f.tau_labels != first.tau_labels:
            raise SpecError(f"the model fitted to {label} has different fixed or random effects "
                            f"than the one fitted to {labels[0]}")
        if (f.distribution, f.method, f.quadrature_points) != (
                first.distribution, first.method, first.quadrature_points):
            raise SpecError(f"the model fitted to {label} differs from the one fitted to "
                            f"{labels[0]} in its distribution or estimation method")
    rows, pooled = _pool_rows([f.fixed_effects for f in fits])
    est = pooled.estimates
    pa = None
    if first.fixed_effects_population_average is not None:   # PQL's population-average model
        pa_fits = [f.fixed_effects_population_average for f in fits]
        if all(p is not None for p in pa_fits):
            pa = _pool_rows(pa_fits)[0]  # type: ignore[arg-type]
    deviances = np.array([np.nan if f.deviance is None else f.deviance for f in fits])
    summary = ImputationSummary(
        m=m, kind=kind, labels=labels, gammas=gammas, model=pooled.model, robust=pooled.robust,
        estimates=est, se=pooled.se, robust_se=pooled.robust_se, deviances=deviances,
        converged=tuple(bool(f.converged) for f in fits), fits=fits)  # type: ignore[arg-type]
    components = []
    for k, c in enumerate(first.variance_components):
        var = float(np.mean([f.variance_components[k].variance for f in fits]))
        chis = [f.variance_components[k].chi2 for f in fits]
        chi2 = None if any(x is None for x in chis) else float(np.mean(chis))  # type: ignore
        components.append(GLMMVarianceComponent(
            effect=c.effect, coefficient=c.coefficient, sd=float(np.sqrt(max(var, 0.0))),
            variance=var, df=c.df, chi2=chi2, p=None))
    averaged = ["tau", "reliabilities", "chi-squares"] + (
        ["the over-dispersion scale"] if first.overdispersion is not None else []) + (
        ["the deviance"] if first.deviance is not None else [])
    note = (f"Results combined from {m} {kind}: fixed effects and their standard errors by "
            "Rubin's rules (d.f. Barnard-Rubin with the single-data-set d.f. as complete-data "
            "d.f.; odds / event-rate ratios and their intervals from the pooled gamma, SE and "
            f"d.f.); {', '.join(averaged[:-1])} and {averaged[-1]} are averages over the {m} "
            "fits (no p-value is given for an averaged chi-square, and no deviance test is "
            "pooled).")
    notes = (note, *dict.fromkeys(n for f in fits for n in f.notes))
    converged = all(summary.converged)
    message = first.message if converged else (
        "not converged in " + ", ".join(label for label, ok in zip(labels, summary.converged)
                                        if not ok))
    return dataclasses.replace(
        first, fixed_effects=rows, fixed_effects_population_average=pa,
        covariance=pooled_covariance(est, [f.covariance for f in fits]),
        robust_covariance=pooled_covariance(est, [f.robust_covariance for f in fits]),
        tau=mean_over_fits([f.tau for f in fits]),
        variance_components=tuple(components),
        reliability=tuple(float(np.mean([f.reliability[k] for f in fits]))
                          for k in range(len(first.reliability))),
        deviance=None if first.deviance is None else float(np.mean(deviances)),
        overdispersion=None if first.overdispersion is None
        else float(np.mean([f.overdispersion for f in fits])),
        converged=converged, iterations=max(f.iterations for f in fits),
        micro_iterations=max(f.micro_iterations for f in fits), message=message,
        micro_history=(), eb=pd.DataFrame(), level1=pd.DataFrame(), notes=notes, tests={},
        estimates=None, extras={"multiple_imputation": summary})
