"""The one-call API: ``openhlm.fit(model, data)``.

Runs HLM's workflow end to end, (MDM) -> specification -> design -> estimation -> inference,
through the one runner (:func:`openhlm.runner.run`) with the options of its keyword arguments
(:meth:`openhlm.spec.options.FitOptions.from_kwargs`).  Each step is also public on its own
(:func:`openhlm.data.build_mdm`, :func:`openhlm.spec.equations.parse_model`,
:func:`openhlm.estimation.design.build_design`, :func:`openhlm.estimation.fit.estimate`,
:func:`openhlm.inference.infer.infer`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from openhlm.errors import HypothesisError
from openhlm.inference.glmm import glmm_compare, glmm_glh
from openhlm.inference.hypotheses import compare as _linear_compare
from openhlm.inference.hypotheses import glh as _linear_glh
from openhlm.results import HLMResults
from openhlm.results.glmm import GLMMResults
from openhlm.results.hypotheses import DevianceTest, GLHResult
from openhlm.runner import run
from openhlm.runner.inputs import as_mdm, as_spec, hlm_single_precision
from openhlm.spec.model import Constraint, ModelSpec
from openhlm.spec.options import DEFAULT_OLS_UNITS, FitOptions

__all__ = ["as_mdm", "as_spec", "compare", "fit", "glh"]

# as_mdm, as_spec and hlm_single_precision live in openhlm.runner.inputs; they stay importable
# from here.
_REEXPORTED = (as_mdm, as_spec, hlm_single_precision)


def fit(model: str | ModelSpec, data: Any, *,
        method: Literal["reml", "ml", "pql", "laplace", "agq"] | None = None,
        mode: Literal["exact", "hlm"] = "exact", constraints: Iterable[str | Constraint] = (),
        max_iterations: int | None = None, tolerance: float | None = None,
        id: Any = None, level2: Any = None, level3: Any = None, ols_units: int = DEFAULT_OLS_UNITS,
        level1_weight: str | None = None, level2_weight: str | None = None,
        normalize_weights: bool | str = True, precision_weight: str | None = None,
        level3_weight: str | None = None, imputation: str | None = None,
        plausible_values: str | Sequence[str] | None = None,
        heterogeneous_sigma2: str | Iterable[str] = (), hypotheses: Any = None,
        homogeneity: bool = False, deviance_test: Mapping[str, Any] | None = None,
        exploratory: Iterable[str] | None = None, exploratory3: Iterable[str] | None = None,
        distribution: Literal["normal", "bernoulli", "binomial", "poisson"] = "normal",
        trials: str | None = None, exposure: str | None = None,
        quadrature_points: int | None = None, overdispersion: bool = False,
        pql_likelihood: Literal["ml", "reml"] | None = None,
        macro_iterations: int | None = None, micro_iterations: int | None = None,
        stop_macro: float | None = None, stop_micro: float | None = None,
        engine: Literal["memory", "duckdb", "dask"] = "memory", scheduler: str | None = None,
        quiet: bool = False) -> HLMResults | GLMMResults:
    """Fit a two- or three-level model (linear, or an HGLM) and compute everything HLM prints.

    Parameters
    ----------
    model : str or ModelSpec
        HLM's equation format, e.g. ``"mathach = B0 + B1*group(ses) + R;
        B0 = G00 + G01*sector + U0; B1 = G10 + U1"``.
    data : MDM, DataFrame or path
        An :class:`openhlm.MDM`; a DataFrame or file path needs ``id=`` (and optionally a
        ``level2=`` table).  Three-level models (HLM3's equation format, ``P``/``B``/``G``
        coefficients): an :class:`openhlm.MDM3`, or data with ``id=(level-2 ID, level-3 ID)``
        and optionally ``level2=`` and ``level3=`` tables; the result is an ``HLM3Results``.
    method : {"reml", "ml"} or {"pql", "laplace", "agq"}
        Linear model: restricted (HLM's default) or full maximum likelihood.  Non-normal
        outcome (``distribution=``): penalised quasi-likelihood (HLM's default), or maximum
        likelihood by the Laplace approximation or adaptive Gauss-Hermite quadrature.
    mode : {"exact", "hlm"}
        ``"exact"`` maximises the likelihood to convergence; ``"hlm"`` reproduces HLM 6's EM
        iterations, starting values and stopping rule (and so its printed numbers).
    constraints : iterable of str
        Equality constraints on fixed effects, e.g. ``["G02 = G12"]``.
    max_iterations, tolerance :
        Iteration limit and convergence criterion; ``None``: the mode's default (HLM mode: 100
        iterations, 1e-6 change in log-likelihood; exact mode: 1000 and 1e-10; see
        :mod:`openhlm.spec.defaults`).
    level1_weight, level2_weight : str, optional
        Design (sampling) weight variables at level 1 / level 2 (pseudo-maximum likelihood;
        see :mod:`openhlm.estimation.weights` and ``docs/weights-and-imputation.md``).
    level3_weight : str, optional
        Three-level models: design weight variable at level 3 (docs/three-level.md).
    normalize_weights : bool or {"within", "overall", "none"}
        HLM's "Normalized?": True (= ``"within"``, the default) rescales level-1 weights to sum
        to n_j within each unit and level-2 weights to sum to J; ``"overall"`` rescales level-1
        weights to sum to N; False (= ``"none"``) uses the raw weights.
    precision_weight : str, optional
        Level-1 variable of known relative precisions, Var(r_ij) = sigma^2 / p_ij (HLM's
        ``varianceknown``; never normalised).
    imputation, plausible_values :
        Multiply imputed data: ``data`` may be a list of data sets, or one data set with an
        imputation-number column ``imputation=``, or ``plausible_values=["pv1", ...]`` naming
        several outcome variables; the fits are pooled by :func:`openhlm.fit_imputed`.
    heterogeneous_sigma2 : str or iterable of str
        Level-1 variables of a log-linear model for the level-1 variance,
        ln sigma^2_ij = alpha_0 + sum_k alpha_k C_kij (HLM's "Heterogeneous sigma^2"; full ML
        only, so pass ``method="ml"``).  The alpha table and the comparison with the
        homogeneous model are in ``results.extras["heterogeneous_sigma2"]``.
    hypotheses, homogeneity, deviance_test :
        Tests printed at the end of the report (HLM's "Hypothesis Testing" settings):
        general linear hypotheses on the gammas (``["G01 = 0; G11 = 0"]``, see
        :func:`openhlm.glh`), the test of homogeneity of level-1 variance, and a deviance test
        against a prior model (``{"deviance": 46502.95, "n_parameters": 2}``, optionally
        ``"convention": "hlm"``; see :func:`openhlm.deviance_test`).  Stored in
        ``results.extras["glh"]``, ``["homogeneity"]`` and ``["deviance_test"]``.
    exploratory : iterable of str, optional
        Level-2 variables of the MDM not in the model, e.g. ``["pracad", "disclim"]``: HLM's
        "Exploratory Analysis" of potential level-2 predictors (the EB residuals of each random
        coefficient regressed on each variable; see :func:`openhlm.exploratory`), stored in
        ``results.extras["exploratory"]`` and printed at the end of the report.  For a
        three-level model: level-2 variables, regressed on the EB residuals r of each pi random
        at level 2 (HLM3's "potential level-2 predictors").
    exploratory3 : iterable of str, optional
        Three-level models: level-3 variables not in the model's level-3 equations, regressed on
        the EB residuals u of each beta random at level 3 (HLM3's "potential level-3
        predictors"; :func:`openhlm.inference.exploratory3.exploratory3`), stored in
        ``results.extras["exploratory_level3"]``.
    engine : {"memory", "duckdb", "dask"}
        What computes the per-unit statistics (``docs/scale.md``): ``"memory"`` (the rows in
        memory, the default); ``"duckdb"``: Parquet or CSV files (one file, a glob such as
        ``"scores/*.parquet"``, or a folder) aggregated by DuckDB out of core, with bounded
        memory; ``"dask"``: a ``dask.dataframe.DataFrame`` (or files) on Dask.  Same results;
        ``pip install "openhlm[scale]"``.
    scheduler : str, optional
        ``engine="dask"``: address of a Dask scheduler (``"tcp://host:8786"``).
    quiet : bool
        No progress lines (rows read, elapsed time) on standard error during the pass.

    distribution : {"normal", "bernoulli", "binomial", "poisson"}
        The level-1 sampling model.  ``"normal"`` is the linear model; the others are HLM's
        HGLMs (logit link for Bernoulli / binomial, log link for Poisson) and return
        :class:`~openhlm.results.glmm.GLMMResults` (``docs/hglm.md``).  The level-1 equation
        needs no ``R`` then.  Ordinal and multinomial outcomes are refused for now.
    trials : str, optional
        Binomial: the level-1 variable with each row's number of trials (the outcome counts
        the successes).
    exposure : str, optional
        Poisson: the level-1 variable with each row's exposure (log exposure is an offset).
    quadrature_points : int, optional
        ``method="agq"``: Gauss-Hermite nodes per random effect (default 10; the grid has
        nodes^R points).
    overdispersion : bool
        PQL with binomial or Poisson outcomes: estimate a level-1 scale sigma^2.
    pql_likelihood : {"ml", "reml"}, optional
        The likelihood of PQL's linearised model.  Default: as HLM, restricted PQL (REML,
        HLM2's default; full PQL when a command file says ``mlf:y``); ``"ml"`` is full PQL
        (as MASS::glmmPQL), ``"reml"`` restricted.  ``mode="hlm"`` runs HLM's own macro /
        micro iterations for PQL (``docs/hglm.md``).
    macro_iterations, micro_iterations, stop_macro, stop_micro : optional
        HLM-mode PQL's iteration settings (HLM's MACROIT, MICROIT, STOPMACRO, STOPMICRO;
        ``None``: HLM's defaults in :data:`openhlm.spec.defaults.HLM_PQL_LIMITS`).

    Returns
    -------
    HLMResults or GLMMResults
    """
    options = FitOptions.from_kwargs(
        method=method, mode=mode, constraints=constraints, max_iterations=max_iterations,
        tolerance=tolerance, ols_units=ols_units, level1_weight=level1_weight,
        level2_weight=level2_weight, normalize_weights=normalize_weights,
        precision_weight=precision_weight, level3_weight=level3_weight, imputation=imputation,
        plausible_values=plausible_values, heterogeneous_sigma2=heterogeneous_sigma2,
        hypotheses=hypotheses, homogeneity=homogeneity, deviance_test=deviance_test,
        exploratory=exploratory, exploratory3=exploratory3, distribution=distribution, trials=trials,
        exposure=exposure, quadrature_points=quadrature_points, overdispersion=overdispersion,
        pql_likelihood=pql_likelihood, macro_iterations=macro_iterations,
        micro_iterations=micro_iterations, stop_macro=stop_macro, stop_micro=stop_micro,
        engine=engine, scheduler=scheduler,
        quiet=quiet)
    return run(model, data, options, id=id, level2=level2, level3=level3)


def glh(results: HLMResults | GLMMResults, hypotheses: Any, *, robust: bool | None = None
        ) -> GLHResult:
    """General linear hypotheses C gamma = d on a fitted model's fixed effects: Wald
    chi-squares with the robust (primary unless ``robust=False``) and the model-based
    covariance.  Linear models: :func:`openhlm.inference.glh.glh` (its docstring gives the
    hypothesis syntax); HGLMs: the same test on the unit-specific gammas
    (:func:`openhlm.inference.glmm.glmm_glh`)."""
    if isinstance(results, GLMMResults):
        return glmm_glh(results, hypotheses, robust=robust)
    return _linear_glh(results, hypotheses, robust=robust)


def compare(a: HLMResults | GLMMResults, b: HLMResults | GLMMResults, *,
            labels: tuple[str, str] = ("model a", "model b")) -> DevianceTest:
    """Deviance (likelihood-ratio) test between two fits of the same data.  Linear models:
    :func:`openhlm.inference.deviance.compare`; HGLMs: Laplace or AGQ fits only (PQL has no
    deviance), same distribution, data and method (:func:`openhlm.inference.glmm.glmm_compare`).
    """
    hglm = [isinstance(r, GLMMResults) for r in (a, b)]
    if any(hglm):
        if not all(hglm):
            raise HypothesisError("cannot compare an HGLM (non-normal outcome) with a linear "
                                  "model: their deviances are of different likelihoods")
        return glmm_compare(a, b, labels=labels)  # type: ignore[arg-type]
    return _linear_compare(a, b, labels=labels)  # type: ignore[arg-type]
