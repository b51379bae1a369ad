"""Multiply imputed data sets and plausible values for three-level models: the data sets, and
pooling the M fits as for two-level models (:mod:`openhlm.runner.imputed`).

* fixed effects with model-based and robust standard errors: Rubin's rules with Barnard-Rubin
  d.f. (the single-data-set d.f. as complete-data d.f.) and the fraction of missing
  information (:func:`openhlm.inference.pooling.rubin_pool`, the two-level code);
* sigma^2, tau(pi), tau(beta), their SEs, reliabilities, chi-squares and deviances: plain
  averages over the M fits (no p-value for an averaged chi-square).

The pooled result is an :class:`HLM3Results` whose ``extras["multiple_imputation"]`` is the
:class:`~openhlm.results.imputation.ImputationSummary` (per-data-set numbers and fits).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from openhlm.data.mdm3 import MDM3, build_mdm3
from openhlm.errors import DataError, SpecError
from openhlm.inference.pooling import (
    mean_over_fits,
    pool_fixed_effects,
    pooled_covariance,
    pooled_row,
)
from openhlm.results.imputation import ImputationSummary
from openhlm.results.three_level import HLM3Results, VarianceComponent3
from openhlm.runner.imputed import (
    check_same_fixed_effects,
    fits_to_pool,
    listed,
    plausible_value_names,
    split_by_imputation,
)
from openhlm.spec.equations3 import parse_model3
from openhlm.spec.model3 import ModelSpec3

__all__ = ["check_same_structure3", "data_sets3", "pool_results3"]

def _mdm3(data: Any, *, id: Any, level2: Any, level3: Any, what: str) -> MDM3:
    if isinstance(data, MDM3):
        return data
    if id is None or isinstance(id, str):
        raise SpecError("three-level data need id=(level-2 ID, level-3 ID), e.g. "
                        "id=('childid', 'schoolid')")
    try:
        return build_mdm3(data, level2, level3, id=tuple(id))
    except SpecError as exc:
        raise SpecError(f"{what}: {exc}") from None


def _spec(model: str | ModelSpec3, mdm: MDM3, constraints: Sequence[Any]) -> ModelSpec3:
    text = str(model) if isinstance(model, ModelSpec3) else model
    if not isinstance(text, str):
        raise SpecError(f"model must be equation text or a ModelSpec3, not "
                        f"{type(model).__name__}")
    return parse_model3(text, level1_variables=mdm.level1_variables,
                        level2_variables=mdm.level2_variables,
                        level3_variables=mdm.level3_variables,
                        constraints=tuple(str(c) for c in constraints))


def check_same_structure3(mdms: Sequence[MDM3], labels: Sequence[str]) -> None:
    """Every data set must have the level-2 and level-3 units, the level-3 unit of each
    level-2 unit and the records per level-2 unit of the first (DataError naming them)."""
    first = mdms[0]

    def layout(m: MDM3) -> dict[str, tuple[str, int]]:
        ids2 = [str(u) for u in m.unit_ids]
        ids3 = np.asarray([str(u) for u in m.level3_ids], dtype=object)[np.asarray(
            m.level3_index)]
        n = np.bincount(np.asarray(m.unit_index), minlength=len(ids2))
        return {u: (str(k), int(c)) for u, k, c in zip(ids2, ids3, n, strict=True)}

    base = layout(first)
    for mdm, name in zip(mdms[1:], labels[1:], strict=True):
        other = layout(mdm)
        missing = [u for u in base if u not in other]
        extra = [u for u in other if u not in base]
        if missing or extra:
            parts = ([f"lacks level-2 unit(s) {listed(missing)}"] if missing else []) + (
                [f"has level-2 unit(s) {listed(extra)} not in {labels[0]}"] if extra else [])
            raise DataError(f"imputed data sets must have the same level-2 units: {name} "
                            + " and ".join(parts))
        moved = [u for u in base if base[u][0] != other[u][0]]
        if moved:
            raise DataError(f"imputed data sets must have the same level-3 unit for every "
                            f"level-2 unit: {name} differs from {labels[0]} for level-2 "
                            f"unit(s) {listed(moved)}")
        differ = [u for u in base if base[u][1] != other[u][1]]
        if differ:
            raise DataError(f"imputed data sets must have the same level-1 records: {name} has "
                            f"a different number of records than {labels[0]} in level-2 "
                            f"unit(s) {listed(differ)}")


def data_sets3(model: str | ModelSpec3, data: Any, *, imputation: str | None = None,
               plausible_values: Any = None, id: Any = None, level2: Any = None,
               level3: Any = None, constraints: Sequence[Any] = ()
               ) -> tuple[list[tuple[ModelSpec3, MDM3]], list[str], str]:
    """The M (specification, MDM3) pairs to fit, their labels and their kind: a list of data
    sets (MDM3s, DataFrames or files), one DataFrame/file with an imputation-number column, or
    one data set with several plausible-value outcomes."""
    if plausible_values is not None and imputation is not None:
        raise SpecError("give either imputation= (stacked completed data sets) or "
                        "plausible_values= (several outcome variables), not both")
    if plausible_values is not None:
        pvs = [plausible_values] if isinstance(plausible_values, str) else list(plausible_values)
        if isinstance(data, (list, tuple)):
            raise SpecError("plausible_values= needs one data set holding every plausible "
                            "value, not a list of data sets")
        if len(pvs) < 2:
            raise SpecError(f"plausible values need at least 2 outcome variables, got {len(pvs)}")
        mdm = _mdm3(data, id=id, level2=level2, level3=level3, what="plausible values")
        spec = _spec(model, mdm, constraints)
        labels = plausible_value_names(mdm, pvs)
        return ([(dataclasses.replace(spec, outcome=name), mdm) for name in labels], labels,
                "plausible values")
    if imputation is not None:
        parts = split_by_imputation(data, imputation)
        labels = [label for label, _ in parts]
        mdms = [_mdm3(part, id=id, level2=level2, level3=level3, what=label)
                for label, part in parts]
    else:
        if not isinstance(data, (list, tuple)):
            raise SpecError("give the completed data sets as a list (of MDMs, DataFrames or "
                            "files), or one data set with imputation= or plausible_values=")
        labels = [os.path.basename(os.fspath(d)) if isinstance(d, (str, os.PathLike))
                  else f"data set {k + 1}" for k, d in enumerate(data)]
        if len(set(labels)) < len(labels):
            labels = [f"data set {k + 1}" for k in range(len(data))]
        mdms = [_mdm3(d, id=id, level2=level2, level3=level3, what=label)
                for d, label in zip(data, labels, strict=True)]
    if len(mdms) < 2:
        raise SpecError(f"multiple imputation needs at least 2 data sets, got {len(mdms)}")
    check_same_structure3(mdms, labels)
    return [(_spec(model, m, constraints), m) for m in mdms], labels, "imputed data sets"


def pool_results3(fits: Sequence[HLM3Results], labels: Sequence[str], *,
                  kind: str = "data sets") -> HLM3Results:
    """Combine M fits of the same three-level model (module docstring)."""
    fits, labels = fits_to_pool(fits, labels)
    m = len(fits)
    first = fits[0]
    gammas = tuple(r.gamma for r in first.fixed)
    check_same_fixed_effects([f.fixed for f in fits], labels)
    pooled = pool_fixed_effects([f.fixed for f in fits])
    est, model, robust = pooled.estimates, pooled.model, pooled.robust
    rows = tuple(pooled_row(row, pooled, k) for k, row in enumerate(first.fixed))
    summary = ImputationSummary(
        m=m, kind=kind, labels=tuple(labels), gammas=gammas, model=model, robust=robust,
        estimates=est, se=pooled.se, robust_se=pooled.robust_se,
        deviances=np.array([f.deviance for f in fits]),
        converged=tuple(bool(f.converged) for f in fits), fits=fits)  # type: ignore[arg-type]

    def mean(name: str) -> Any:
        return mean_over_fits([getattr(f, name) for f in fits])

    components = []
    for k, c in enumerate(first.variance_components):
        var = float(np.mean([f.variance_components[k].variance for f in fits]))
        chi2 = (None if c.chi2 is None else
                float(np.mean([f.variance_components[k].chi2 for f in fits])))
        components.append(VarianceComponent3(c.level, c.effect, c.label,
                                             float(np.sqrt(max(var, 0.0))), var, c.df, chi2,
                                             None))
    note = (f"Results combined from {m} {kind}: fixed effects and their standard errors by "
            "Rubin's rules (d.f. Barnard-Rubin with the single-data-set d.f. as complete-data "
            "d.f.); sigma^2, tau(pi), tau(beta), reliabilities, chi-squares and the deviance "
            f"are averages over the {m} fits (no p-value is given for an averaged chi-square).")
    return dataclasses.replace(
        first, fixed=rows, sources=tuple(dict.fromkeys(s for f in fits for s in f.sources)),
        covariance=pooled_covariance(est, [f.covariance for f in fits]),
        robust_covariance=pooled_covariance(est, [f.robust_covariance for f in fits]),
        sigma2=float(mean("sigma2")), sigma2_se=float(mean("sigma2_se")),
        tau_pi=mean("tau_pi"), tau_beta=mean("tau_beta"), tau_pi_se=mean("tau_pi_se"),
        tau_beta_se=mean("tau_beta_se"),
        reliability_level2=tuple(float(np.mean([f.reliability_level2[i] for f in fits]))
                                 for i in range(len(first.reliability_level2))),
        reliability_level3=tuple(float(np.mean([f.reliability_level3[i] for f in fits]))
                                 for i in range(len(first.reliability_level3))),
        variance_components=tuple(components), deviance=float(np.mean(summary.deviances)),
        deviance_hlm=float(mean("deviance_hlm")),
        converged=all(summary.converged), iterations=max(f.iterations for f in fits),
        notes=(note, *first.notes), extras={"multiple_imputation": summary})
