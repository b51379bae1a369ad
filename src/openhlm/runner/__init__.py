"""One way to run a model: ``run(model, data, options) -> HLMResults``.

Every door goes through :func:`run`: :func:`openhlm.fit` and :func:`openhlm.fit_imputed` (with
:meth:`FitOptions.from_kwargs`), and ``openhlm fit|residuals|plot`` (with the options of a TOML
model file, an HLM command file or a bundled example, plus the command line's overrides).  It
is the only place that goes

    data -> MDM -> specification -> (HLM mode: single precision) -> design with its rows and
    weights -> estimation -> inference, tests and exploratory analysis -> HLMResults,

so the same model and options give the same results whichever door they came in by.
Multiply imputed data (a list of data sets, ``options.imputation``) run once per data set and
are pooled (:mod:`openhlm.runner.imputed`; HGLMs: :mod:`openhlm.runner.imputed_glmm`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from openhlm.data import MDM
from openhlm.errors import HypothesisError, SpecError
from openhlm.estimation.design import build_design
from openhlm.estimation.estimates import Estimates
from openhlm.estimation.fit import estimate
from openhlm.inference.infer import infer
from openhlm.results import HLMResults
from openhlm.runner.imputed import data_sets, pool_results, refuse_unpooled
from openhlm.runner.inputs import as_mdm, as_spec, hlm_single_precision
from openhlm.runner.three_level import is_three_level, run3
from openhlm.spec.equations import validate_spec
from openhlm.spec.equations3 import looks_three_level
from openhlm.spec.model import ModelSpec
from openhlm.spec.options import FitOptions

__all__ = ["run"]


def run(model: str | ModelSpec, data: Any, options: FitOptions | None = None, *,
        id: Any = None, level2: Any = None, level3: Any = None) -> HLMResults:
    """Fit ``model`` to ``data`` as ``options`` say, and compute everything HLM2 prints.

    Parameters
    ----------
    model : str or ModelSpec
        HLM's equation format, or a specification (``options.constraints`` and
        ``options.heterogeneous_sigma2`` are added to it).
    data : MDM, DataFrame, path, or a list of them
        A DataFrame or a path needs ``id=`` (and optionally ``level2=``); a list of data sets,
        or ``options.imputation``, means multiply imputed data (pooled).  An ``MDM3``, a
        ``level3=`` table or ``id=(level-2 ID, level-3 ID)`` means a three-level model
        (:mod:`openhlm.runner.three_level`; returns ``HLM3Results``).  With ``options.engine``
        ``"duckdb"`` or ``"dask"``: Parquet/CSV file(s), a glob or a folder, or a Dask
        DataFrame (:mod:`openhlm.scale`).
    options : FitOptions, optional
        Defaults: :class:`FitOptions()`.

    Returns
    -------
    HLMResults
        (:class:`~openhlm.results.glmm.GLMMResults` for a non-normal ``options.outcome``:
        :mod:`openhlm.runner.glmm`.)
    """
    options = FitOptions() if options is None else options
    if options.exploratory3 is not None and not is_three_level(data, id, level3):
        raise SpecError("exploratory3 names level-3 candidates of a three-level model; the "
                        "data are two-level (use exploratory= for level-2 candidates)")
    if options.engine != "memory":   # out of core / distributed (docs/scale.md)
        if not options.outcome.normal or is_three_level(data, id, level3):
            raise SpecError(f"engine={options.engine!r} fits two-level linear models only; use "
                            "engine='memory' for HGLMs and three-level models")
        if options.imputation.requested:   # plausible values: a fit per outcome, pooled
            from openhlm.scale.imputed import scaled_imputed

            return scaled_imputed(model, data, options, id=id, level2=level2, fit=run)
        from openhlm.scale.run import scaled_estimates

        est, where = scaled_estimates(model, data, options, id=id, level2=level2)
        return _infer(est, options, where)
    if is_three_level(data, id, level3):
        return run3(model, data, options, id=id, level2=level2, level3=level3)  # type: ignore
    if options.weights.level3 is not None:
        raise SpecError("level3_weight applies to three-level models only (pass "
                        "id=(level-2 ID, level-3 ID) or a three-level MDM)")
    if isinstance(model, str) and looks_three_level(model):
        raise SpecError("the model is in HLM3's three-level format (P, B, G coefficients) but "
                        "the data are two-level: build a three-level MDM with "
                        "openhlm.build_mdm(..., id=(level-2 ID, level-3 ID)) or pass "
                        "id=(level-2 ID, level-3 ID)")
    if not options.outcome.normal:
        from openhlm.runner.glmm import refuse_unsupported, run_glmm
        refuse_unsupported(options)
        if isinstance(data, (list, tuple)) or options.imputation.requested:
            from openhlm.runner.imputed_glmm import run_glmm_imputed
            return run_glmm_imputed(model, data, options, id=id, level2=level2)  # type: ignore
        return run_glmm(model, as_mdm(data, id=id, level2=level2), options)  # type: ignore
    if isinstance(data, (list, tuple)) or options.imputation.requested:
        return _run_imputed(model, data, options, id=id, level2=level2)
    return _run_one(model, as_mdm(data, id=id, level2=level2), options)


def _run_one(model: str | ModelSpec, mdm: MDM, options: FitOptions) -> HLMResults:
    spec = as_spec(model, mdm, options.constraints)
    if options.mode == "hlm":
        mdm = hlm_single_precision(mdm)
    if options.heterogeneous_sigma2:
        spec = validate_spec(
            dataclasses.replace(spec, variance_predictors=options.heterogeneous_sigma2),
            level1_variables=mdm.level1_variables, level2_variables=mdm.level2_variables)
    design = build_design(spec, mdm, weights=options.weights if options.weights.used else None)
    est = estimate(design, method=options.method, mode=options.mode,
                   max_iterations=options.max_iterations, tolerance=options.tolerance)
    return _infer(est, options, mdm)


def _infer(est: Estimates, options: FitOptions, mdm: Any) -> HLMResults:
    """Everything printed, from the estimates: the one call into inference."""
    tests = options.tests
    try:
        return infer(est, ols_units=options.output.ols_units,
                     sources=tuple(getattr(mdm, "sources", ())),
                     variable_labels=getattr(mdm, "variable_labels", None),
                     weighting=est.design.weighting, hypotheses=tests.hypotheses,
                     homogeneity=tests.homogeneity, deviance_test=tests.deviance_test,
                     exploratory=options.exploratory)
    except HypothesisError as exc:
        where = options.sources.get("tests")
        if where is None:
            raise
        raise HypothesisError(f"{where}: {exc}") from None
    except SpecError as exc:
        where = options.sources.get("exploratory")
        if where is None:
            raise
        raise SpecError(f"{where}: {exc}") from None


def _run_imputed(model: str | ModelSpec, data: Any, options: FitOptions, *,
                 id: str | None, level2: Any) -> HLMResults:
    refuse_unpooled(options)
    imp = options.imputation
    pairs, labels, kind = data_sets(
        model, data, imputation=imp.column, plausible_values=imp.plausible_values or None,
        id=id, level2=level2, constraints=options.constraints)
    fits = [_run_one(m, mdm, options) for m, mdm in pairs]
    return pool_results(fits, labels, kind=kind)
