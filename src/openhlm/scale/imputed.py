"""Multiply imputed data and plausible values out of core: one out-of-core fit per data set,
pooled as in memory (:func:`openhlm.runner.imputed.pool_results`: Rubin's rules for the fixed
effects, averages for the rest).

* **A list of data sets** (:func:`openhlm.fit_imputed` with ``engine="duckdb"|"dask"``): each
  item is one completed data set, given as the out-of-core engines take data (a file, a glob, a
  folder, a list of files, or a Dask DataFrame); one pass over each.
* **Plausible values** (``plausible_values=[...]``): one data set holding every plausible
  value; one fit per plausible-value outcome, so one pass per plausible value (each pass reads
  only the model's columns and that outcome).
* **An imputation-number column** is refused: splitting it needs a filter in every engine's
  pass; write each completed data set to its own files and pass the file sets as a list.

What is not pooled in memory is not pooled here (:func:`openhlm.runner.imputed.refuse_unpooled`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from openhlm.errors import DataError, SpecError
from openhlm.results import HLMResults
from openhlm.runner.imputed import pool_results, refuse_unpooled
from openhlm.scale.run import is_dask_frame, scaled_spec, variable_names
from openhlm.spec.model import ModelSpec
from openhlm.spec.options import FitOptions
from openhlm.spec.settings import Imputation

__all__ = ["scaled_imputed"]

_LISTED = 5


def _label(data: Any, k: int) -> str:
    if isinstance(data, (str, os.PathLike)):
        return os.fspath(data)
    return f"data set {k}"


def _same_units(fits: list[HLMResults], labels: list[str]) -> None:
    """Every fit has the first one's analysis units, with the same level-1 counts."""
    first = fits[0].estimates
    assert first is not None
    ids0 = np.asarray(first.design.unit_ids).astype(str)
    n0 = np.asarray(first.design.n_per_unit)
    for fit, label in zip(fits[1:], labels[1:]):
        est = fit.estimates
        assert est is not None
        ids = np.asarray(est.design.unit_ids).astype(str)
        if ids.shape != ids0.shape or (ids != ids0).any():
            raise DataError(f"imputed data sets must have the same level-2 units: {label} has "
                            f"{ids.size} unit(s) in the analysis, {labels[0]} {ids0.size}")
        differ = ids0[np.asarray(est.design.n_per_unit) != n0]
        if differ.size:
            shown = ", ".join(differ[:_LISTED]) + (" ..." if differ.size > _LISTED else "")
            raise DataError(f"imputed data sets must have the same level-1 records: {label} "
                            f"has other record counts than {labels[0]} in unit(s) {shown}")


def scaled_imputed(model: str | ModelSpec, data: Any, options: FitOptions, *, id: str | None,
                   level2: Any = None, fit: Callable[..., HLMResults],
                   data_sets: bool = False) -> HLMResults:
    """Out-of-core fits of multiply imputed data, pooled (module docstring).

    ``data_sets``: ``data`` is a list of completed data sets; otherwise one data set with
    ``options.imputation``.  ``fit`` is :func:`openhlm.runner.run` (each fit goes through the
    one runner).
    """
    engine = options.engine
    refuse_unpooled(options)
    imp = options.imputation
    single = options.replace(imputation=Imputation())
    if imp.column is not None:
        raise SpecError(f"engine={engine!r}: an imputation-number column ('{imp.column}') is "
                        "not split out of core; write each completed data set to its own "
                        "file(s) and pass them as a list: openhlm.fit_imputed(model, "
                        "['imp1/*.parquet', 'imp2/*.parquet', ...], id=..., "
                        f"engine={engine!r})")
    if imp.plausible_values:
        if data_sets:
            raise SpecError("plausible_values= needs one data set holding every plausible "
                            "value, not a list of data sets")
        if id is None:
            raise SpecError(f"engine={engine!r} needs the level-2 ID variable: id=...")
        pvs = list(imp.plausible_values)
        if len(pvs) < 2:
            raise SpecError(f"plausible values need at least 2 outcome variables, got "
                            f"{len(pvs)}")
        level1, _ = variable_names(data, id, level2)
        lower = {c.lower(): c for c in level1}
        names = []
        for pv in pvs:
            if pv.lower() not in lower:
                raise SpecError(f"plausible value '{pv}' is not a level-1 variable of the data "
                                f"(level-1 variables: {', '.join(level1)})")
            names.append(lower[pv.lower()])
        spec = scaled_spec(model, data, single, id=id, level2=level2)
        fits = [fit(dataclasses.replace(spec, outcome=name), data, single, id=id,
                    level2=level2) for name in names]
        _same_units(fits, names)
        return pool_results(fits, names, kind="plausible values")
    if not isinstance(data, (list, tuple)) or is_dask_frame(data):
        raise SpecError("give the completed data sets as a list (one file, glob, folder or "
                        "Dask DataFrame per data set), or one data set with plausible_values=")
    if len(data) < 2:
        raise SpecError(f"multiple imputation needs at least 2 data sets, got {len(data)}")
    labels = [_label(d, k + 1) for k, d in enumerate(data)]
    if len(set(labels)) < len(labels):
        labels = [f"data set {k + 1}" for k in range(len(data))]
    fits = [fit(model, d, single, id=id, level2=level2) for d in data]
    _same_units(fits, labels)
    return pool_results(fits, labels, kind="imputed data sets")
