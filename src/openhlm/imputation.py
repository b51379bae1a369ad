"""Multiply imputed data sets and plausible values: fit the model M times and pool.

HLM's "Multiple imputation" option (docs/statistics.md section 14; seminar section 7): the model
is fitted to each of M completed data sets (or to each of M plausible-value outcomes in one data
set) and the results are combined:

* fixed effects, with model-based and robust standard errors: Rubin's rules, d.f. per Barnard &
  Rubin (1999) with the single-data-set d.f. as complete-data d.f., and the fraction of missing
  information per gamma (:mod:`openhlm.inference.pooling`);
* sigma^2, T, their standard errors, reliabilities, chi-squares and deviances: plain averages over
  the M fits (HLM does not apply Rubin's rules to them); the report labels them as averages and
  gives no p-value for an averaged chi-square.

The data sets and the pooling are in :mod:`openhlm.runner.imputed`; every fit goes through the
one runner (:func:`openhlm.runner.run`).  The pooled result is an :class:`openhlm.HLMResults`
(it prints and exports like any fit) whose ``extras["multiple_imputation"]`` holds the
:class:`ImputationSummary` (the per-data-set numbers and the fits themselves).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from openhlm.errors import SpecError
from openhlm.results import HLMResults
from openhlm.runner import run
from openhlm.runner.imputed import ImputationSummary, check_same_structure, pool_results
from openhlm.spec.model import ModelSpec
from openhlm.spec.options import FitOptions

__all__ = ["ImputationSummary", "check_same_structure", "fit_imputed", "pool_results"]


def fit_imputed(model: str | ModelSpec, datasets: Any = None, *, imputation: str | None = None,
                plausible_values: str | Sequence[str] | None = None, id: str | None = None,
                level2: Any = None, **fit_options: Any) -> HLMResults:
    """Fit ``model`` to M completed data sets (or M plausible values) and pool the results.

    Parameters
    ----------
    model : str or ModelSpec
        The model (HLM's equation format).  With ``plausible_values`` its outcome is replaced by
        each plausible value in turn (write it with the first one, e.g. ``pv1 = B0 + ...``).
    datasets : list, DataFrame, path or MDM
        A list of MDMs, DataFrames or files (one per completed data set); or one DataFrame/file
        holding all of them with an imputation-number column (``imputation=``); or one data
        set with several plausible-value outcome variables (``plausible_values=``).
    imputation : str, optional
        Name of the imputation-number column of a single stacked data set.
    plausible_values : sequence of str, optional
        Level-1 outcome variables, one per plausible value.
    id, level2 :
        As in :func:`openhlm.fit` (needed for DataFrames and files).
    **fit_options :
        Any other keyword of :func:`openhlm.fit` (``method``, ``mode``, ``constraints``,
        weights, ...), applied to every fit.

    Returns
    -------
    HLMResults
        The pooled results (a :class:`~openhlm.results.glmm.GLMMResults` for a non-normal
        ``distribution=``: :mod:`openhlm.runner.imputed_glmm`);
        ``extras["multiple_imputation"]`` is an :class:`ImputationSummary`.

    Raises
    ------
    SpecError
        Fewer than 2 data sets, or an imputation column / plausible value that does not exist.
    DataError
        Data sets that differ in their units, variables or level-1 records (names them).
    """
    options = FitOptions.from_kwargs(imputation=imputation, plausible_values=plausible_values,
                                     **fit_options)
    if not options.imputation.requested and not isinstance(datasets, (list, tuple)):
        raise SpecError("give the completed data sets as a list (of MDMs, DataFrames or "
                        "files), or one data set with imputation= or plausible_values=")
    if options.engine != "memory" and not options.imputation.requested:
        # out of core: each item of the list is one data set (a file, glob, folder or list)
        from openhlm.scale.imputed import scaled_imputed

        return scaled_imputed(model, datasets, options, id=id, level2=level2, fit=run,
                              data_sets=True)
    return run(model, datasets, options, id=id, level2=level2)
