"""Multiply imputed data sets and plausible values: the data sets, and pooling the M fits.

HLM's "Multiple imputation" option (docs/statistics.md section 14; seminar section 7): the model
is fitted to each of M completed data sets (or to each of M plausible-value outcomes in one data
set) and the results are combined:

* fixed effects, with model-based and robust standard errors: Rubin's rules, d.f. per Barnard &
  Rubin (1999) with the single-data-set d.f. as complete-data d.f., and the fraction of missing
  information per gamma (:mod:`openhlm.inference.pooling`);
* sigma^2, T, their standard errors, reliabilities, chi-squares and deviances: plain averages over
  the M fits (HLM does not apply Rubin's rules to them); the report labels them as averages and
  gives no p-value for an averaged chi-square.

:func:`data_sets` splits the data into the M data sets; :func:`openhlm.runner.run` fits each
and :func:`pool_results` combines them (:func:`openhlm.fit_imputed` is the public door).
The pooled result is an :class:`openhlm.HLMResults` (it prints and exports like any fit) whose
``extras["multiple_imputation"]`` holds the :class:`ImputationSummary` (the per-data-set numbers
and the fits themselves).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from openhlm.data import MDM, read_table
from openhlm.errors import DataError, SpecError
from openhlm.inference.hypotheses import hypotheses_requested
from openhlm.inference.infer import tau_correlations
from openhlm.inference.pooling import (
    mean_over_fits,
    pool_fixed_effects,
    pooled_covariance,
    pooled_row,
)
from openhlm.results import (
    ConvergenceInfo,
    FixedEffectsTable,
    HLMResults,
    OLSTable,
    VarianceComponent,
    VarianceComponentsTable,
)
from openhlm.results.imputation import ImputationSummary
from openhlm.runner.inputs import as_mdm, as_spec
from openhlm.spec.model import Constraint, ModelSpec
from openhlm.spec.options import FitOptions

__all__ = ["ImputationSummary", "check_same_fixed_effects", "check_same_structure", "data_sets",
           "fits_to_pool", "listed", "plausible_value_names", "pool_results", "refuse_unpooled",
           "split_by_imputation"]

_MAX_LISTED = 5


def refuse_unpooled(options: FitOptions) -> None:
    """What is not pooled over imputed data sets (in memory and out of core): one line."""
    if options.heterogeneous_sigma2:
        raise SpecError("heterogeneous_sigma2 is not supported with multiply imputed data or "
                        "plausible values yet; fit each data set with openhlm.fit")
    tests = options.tests
    if hypotheses_requested(tests.hypotheses) or tests.homogeneity \
            or tests.deviance_test is not None:
        raise SpecError("hypothesis tests (hypotheses=, homogeneity=, deviance_test=) are not "
                        "pooled over imputed data sets; fit each data set on its own")
    if options.exploratory is not None:
        raise SpecError("the exploratory analysis (exploratory=) is not pooled over imputed "
                        "data sets; run openhlm.exploratory on the fit of each data set")



# -- data sets ---------------------------------------------------------------------------------

def listed(items: Iterable[Any]) -> str:
    """The first few items, comma-separated, and how many more (for one-line messages)."""
    items = [str(i) for i in items]
    text = ", ".join(items[:_MAX_LISTED])
    return text + (f" and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else "")


def _to_mdm(data: Any, *, id: str | None, level2: Any, what: str) -> MDM:
    try:
        return as_mdm(data, id=id, level2=level2)
    except SpecError as exc:
        raise SpecError(f"{what}: {exc}") from None


def _label(data: Any, k: int) -> str:
    if isinstance(data, (str, os.PathLike)):
        return os.path.basename(os.fspath(data))
    sources = getattr(data, "sources", ())
    if sources:
        return os.path.basename(str(sources[0]))
    return f"data set {k}"


def check_same_structure(mdms: Sequence[MDM], labels: Sequence[str]) -> None:
    """Every data set must have the same units, variables and rows per unit as the first.

    Raises
    ------
    DataError
        Naming the data set and the units or variables that differ.
    """
    first, name0 = mdms[0], labels[0]
    ids0 = [str(u) for u in first.unit_ids]
    n0 = dict(zip(ids0, np.asarray(first.n_per_unit).tolist()))
    vars0 = {1: {v.casefold(): v for v in first.level1_variables},
             2: {v.casefold(): v for v in first.level2_variables}}
    for mdm, name in zip(mdms[1:], labels[1:]):
        ids = [str(u) for u in mdm.unit_ids]
        extra = [u for u in ids if u not in n0]
        missing = sorted(set(ids0) - set(ids), key=ids0.index)
        if extra or missing:
            parts = []
            if missing:
                parts.append(f"lacks unit(s) {listed(missing)}")
            if extra:
                parts.append(f"has unit(s) {listed(extra)} not in {name0}")
            raise DataError(f"imputed data sets must have the same level-2 units: {name} "
                            f"{' and '.join(parts)}")
        for level, have in ((1, mdm.level1_variables), (2, mdm.level2_variables)):
            mine = {v.casefold(): v for v in have}
            lacks = [v for k, v in vars0[level].items() if k not in mine]
            adds = [v for k, v in mine.items() if k not in vars0[level]]
            if lacks or adds:
                parts = []
                if lacks:
                    parts.append(f"lacks level-{level} variable(s) {listed(lacks)}")
                if adds:
                    parts.append(f"has level-{level} variable(s) {listed(adds)} not in {name0}")
                raise DataError(f"imputed data sets must have the same variables: {name} "
                                f"{' and '.join(parts)}")
        counts = dict(zip(ids, np.asarray(mdm.n_per_unit).tolist()))
        differ = [u for u in ids0 if counts[u] != n0[u]]
        if differ:
            raise DataError(f"imputed data sets must have the same level-1 records: {name} has a "
                            f"different number of level-1 records than {name0} in unit(s) "
                            f"{listed(differ)}")


def split_by_imputation(data: Any, imputation: str) -> list[tuple[str, pd.DataFrame]]:
    """One DataFrame or data file holding every completed data set, split by the values of its
    ``imputation`` column (matched case-insensitively, dropped from the parts): the
    (label ``"column=value"``, rows) of each data set, in sorted order of the values.  Shared
    with the three-level runner.

    Raises SpecError for other data or an unknown column, DataError for a missing number.
    """
    if isinstance(data, (str, os.PathLike)):
        frame = read_table(data).data
        source = os.path.basename(os.fspath(data))
    elif isinstance(data, pd.DataFrame):
        frame, source = data, "data"
    else:
        raise SpecError("imputation= needs one DataFrame or data file holding all completed data "
                        f"sets, not {type(data).__name__}")
    lower = {str(c).casefold(): c for c in frame.columns}
    if imputation.casefold() not in lower:
        raise SpecError(f"imputation column '{imputation}' is not in {source} (columns: "
                        f"{listed(frame.columns)})")
    column = lower[imputation.casefold()]
    values = frame[column]
    if values.isna().any():
        raise DataError(f"imputation column '{column}' of {source} has missing values; every "
                        "row must say which completed data set it belongs to")
    parts = []
    for value in sorted(values.unique()):
        part = frame.loc[values == value].drop(columns=[column]).reset_index(drop=True)
        label = f"{column}={value:g}" if isinstance(value, (int, float, np.number)) \
            else f"{column}={value}"
        parts.append((label, part))
    return parts


def plausible_value_names(mdm: Any, plausible_values: Sequence[str]) -> list[str]:
    """The plausible-value outcomes as spelled in ``mdm`` (an MDM or MDM3), each checked to
    be a level-1 variable (SpecError otherwise); shared with the three-level runner."""
    names = []
    for pv in plausible_values:
        name = mdm.canonical_name(pv)
        if name is None or mdm.level_of(name) != 1:
            raise SpecError(f"plausible value '{pv}' is not a level-1 variable of the data "
                            f"(level-1 variables: {listed(mdm.level1_variables)})")
        names.append(name)
    return names


# -- pooling -----------------------------------------------------------------------------------

def fits_to_pool(fits: Sequence[Any], labels: Sequence[str] | None
                 ) -> tuple[tuple[Any, ...], tuple[str, ...]]:
    """The M fits and their labels (``"data set k"`` when not given); SpecError for fewer than
    2 fits.  Shared by the linear, three-level and HGLM pooling."""
    fits = tuple(fits)
    if len(fits) < 2:
        raise SpecError(f"multiple imputation needs at least 2 data sets, got {len(fits)}")
    if labels is None:
        return fits, tuple(f"data set {k + 1}" for k in range(len(fits)))
    return fits, tuple(labels)


def check_same_fixed_effects(tables: Sequence[Sequence[Any]], labels: Sequence[str]) -> None:
    """The M fits to pool must have the same gammas (rows with ``gamma``) as the first
    (SpecError naming the fit that differs); shared with the three-level pooling."""
    gammas = tuple(r.gamma for r in tables[0])
    for table, label in zip(tables[1:], labels[1:]):
        if tuple(r.gamma for r in table) != gammas:
            raise SpecError(f"the model fitted to {label} has different fixed effects than the "
                            f"one fitted to {labels[0]}")


def _average_variance_table(fits: Sequence[HLMResults]) -> VarianceComponentsTable:
    first = fits[0].variance
    rows = []
    for k, row in enumerate(first.rows):
        var = float(np.mean([f.variance.rows[k].variance for f in fits]))
        chi2 = None
        if row.chi2 is not None:
            chi2 = float(np.mean([f.variance.rows[k].chi2 for f in fits]))
        rows.append(VarianceComponent(effect=row.effect, coefficient=row.coefficient,
                                      sd=float(np.sqrt(max(var, 0.0))), variance=var,
                                      df=row.df, chi2=chi2, p=None))
    return VarianceComponentsTable(rows=tuple(rows), units_used=first.units_used,
                                   n_units=first.n_units)


def _average_ols(fits: Sequence[HLMResults]) -> OLSTable:
    first = fits[0].level1_ols
    same = all(f.level1_ols.unit_ids == first.unit_ids for f in fits)
    if not same:
        return first
    return dataclasses.replace(
        first, coefficients=mean_over_fits([f.level1_ols.coefficients for f in fits]),
        average=mean_over_fits([f.level1_ols.average for f in fits]))


def pool_results(fits: Sequence[HLMResults], labels: Sequence[str] | None = None, *,
                 kind: str = "data sets") -> HLMResults:
    """Combine M fits of the same model (module docstring) into one :class:`HLMResults`."""

    fits, labels = fits_to_pool(fits, labels)
    m = len(fits)
    first = fits[0]
    gammas = tuple(r.gamma for r in first.fixed.rows)
    check_same_fixed_effects([f.fixed.rows for f in fits], labels)
    pooled = pool_fixed_effects([f.fixed.rows for f in fits])
    est, model, robust = pooled.estimates, pooled.model, pooled.robust
    rows = tuple(pooled_row(row, pooled, k) for k, row in enumerate(first.fixed.rows))
    fixed = FixedEffectsTable(
        rows=rows, covariance=pooled_covariance(est, [f.fixed.covariance for f in fits]),
        robust_covariance=pooled_covariance(est, [f.fixed.robust_covariance for f in fits]))
    summary = ImputationSummary(
        m=m, kind=kind, labels=labels, gammas=gammas, model=model, robust=robust, estimates=est,
        se=pooled.se, robust_se=pooled.robust_se, deviances=np.array([f.deviance for f in fits]),
        converged=tuple(bool(f.converged) for f in fits), fits=fits)
    tau = mean_over_fits([f.tau for f in fits])
    conv: ConvergenceInfo = dataclasses.replace(
        first.convergence, converged=all(summary.converged),
        iterations=max(f.iterations for f in fits), loglik_history=())
    sources = tuple(dict.fromkeys(s for f in fits for s in f.data.sources))
    note = (f"Results combined from {m} {kind}: fixed effects and their standard errors by "
            "Rubin's rules (d.f. Barnard-Rubin with the single-data-set d.f. as complete-data "
            "d.f.); sigma^2, tau, reliabilities, chi-squares and the deviance are averages over "
            f"the {m} fits (no p-value is given for an averaged chi-square).")
    notes = (note,) + tuple(n for n in first.notes)
    extras = {"multiple_imputation": summary,
              **{k: v for k, v in first.extras.items() if k == "weighting"}}
    return dataclasses.replace(
        first, convergence=conv, data=dataclasses.replace(first.data, sources=sources),
        sigma2=float(np.mean([f.sigma2 for f in fits])),
        sigma2_se=float(np.mean([f.sigma2_se for f in fits])), tau=tau,
        tau_se=mean_over_fits([f.tau_se for f in fits]), tau_correlations=tau_correlations(tau),
        reliability={k: float(np.mean([f.reliability[k] for f in fits]))
                     for k in first.reliability},
        fixed=fixed, variance=_average_variance_table(fits),
        deviance=float(np.mean(summary.deviances)),
        deviance_hlm=float(np.mean([f.deviance_hlm for f in fits])),
        loglik=float(np.mean([f.loglik for f in fits])), level1_ols=_average_ols(fits),
        notes=notes, extras=extras, estimates=None, eb=None)


# -- the data sets -------------------------------------------------------------------------

def data_sets(model: str | ModelSpec, data: Any, *, imputation: str | None = None,
              plausible_values: str | Sequence[str] | None = None, id: str | None = None,
              level2: Any = None, constraints: Iterable[str | Constraint] = (),
              residual: bool = True
              ) -> tuple[list[tuple[str | ModelSpec, MDM]], list[str], str]:
    """The M (model, MDM) pairs to fit, their labels and their kind.

    ``data`` is a list of MDMs, DataFrames or files (one per completed data set), one
    DataFrame/file with an imputation-number column (``imputation=``), or one data set with
    several plausible-value outcomes (``plausible_values=``; the model's outcome is replaced by
    each in turn, the ``constraints`` added once).  ``residual=False`` (non-normal outcomes)
    makes the level-1 ``R`` of the model optional.

    Raises
    ------
    SpecError
        Fewer than 2 data sets, or an imputation column / plausible value that does not exist.
    DataError
        Data sets that differ in their units, variables or level-1 records (names them).
    """
    datasets = data
    if plausible_values is not None and imputation is not None:
        raise SpecError("give either imputation= (stacked completed data sets) or "
                        "plausible_values= (several outcome variables), not both")
    if plausible_values is not None:
        pvs = [plausible_values] if isinstance(plausible_values, str) else list(plausible_values)
        if isinstance(datasets, (list, tuple)):
            raise SpecError("plausible_values= needs one data set holding every plausible value, "
                            "not a list of data sets")
        mdm = _to_mdm(datasets, id=id, level2=level2, what="plausible values")
        if len(pvs) < 2:
            raise SpecError(f"plausible values need at least 2 outcome variables, got {len(pvs)}")
        labels = plausible_value_names(mdm, pvs)
        spec = as_spec(model, mdm, constraints, residual=residual)
        return ([(dataclasses.replace(spec, outcome=name), mdm) for name in labels], labels,
                "plausible values")
    if imputation is not None:
        parts = split_by_imputation(datasets, imputation)
        labels = [label for label, _ in parts]
        mdms = [_to_mdm(part, id=id, level2=level2, what=label) for label, part in parts]
    else:
        if not isinstance(datasets, (list, tuple)):
            raise SpecError("give the completed data sets as a list (of MDMs, DataFrames or "
                            "files), or one data set with imputation= or plausible_values=")
        labels = [_label(d, k + 1) for k, d in enumerate(datasets)]
        if len(set(labels)) < len(labels):
            labels = [f"data set {k + 1}" for k in range(len(datasets))]
        mdms = [_to_mdm(d, id=id, level2=level2, what=label)
                for d, label in zip(datasets, labels)]
    if len(mdms) < 2:
        raise SpecError(f"multiple imputation needs at least 2 data sets, got {len(mdms)}")
    check_same_structure(mdms, labels)
    return [(model, mdm) for mdm in mdms], labels, "imputed data sets"
