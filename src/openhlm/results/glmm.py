"""The results of a two-level HGLM (binary, binomial or count outcome): immutable, numbers only.

Computed once in :mod:`openhlm.inference.glmm`; printed by :mod:`openhlm.report.text_glmm`
through the hook of :mod:`openhlm.results.hooks` (``str(results)``, ``to_dict``, ``to_json``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from openhlm.estimation.glmm.estimates import GLMMEstimates
from openhlm.estimation.weighting import WeightingSpec
from openhlm.results.hooks import render
from openhlm.results.output import RenderedResults
from openhlm.spec.model import ModelSpec

__all__ = ["GLMM_JSON_SCHEMA_VERSION", "GLMMFixedEffect", "GLMMResults",
           "GLMMVarianceComponent"]

#: Version of the HGLM keys of the JSON (``results.to_dict()["hglm_schema_version"]``); the
#: keys shared with linear models follow ``JSON_SCHEMA_VERSION``.
GLMM_JSON_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class GLMMFixedEffect:
    """One row of the unit-specific model's fixed effects.

    ``ratio`` is exp(gamma) (odds ratio for logit, event-rate ratio for log) with the 95%
    interval exp(gamma -/+ t(.975, df) se) from the model-based (``ci_*``) and robust
    (``robust_ci_*``) standard errors.
    """

    coefficient: str
    coefficient_index: int
    predictor: str
    gamma: str
    estimate: float
    se: float
    t: float
    df: float                   # HLM's approximate d.f. (an integer); pooled: Barnard-Rubin
    p: float
    ratio: float
    ci_low: float
    ci_high: float
    robust_se: float
    robust_t: float
    robust_p: float
    robust_ci_low: float
    robust_ci_high: float
    constrained: bool = False
    centering: str = "none"


@dataclass(frozen=True)
class GLMMVarianceComponent:
    effect: str                 # "U0", "U1", ...
    coefficient: str            # "INTRCPT1", "URBAN slope"
    sd: float
    variance: float
    df: int | None = None
    chi2: float | None = None
    p: float | None = None


@dataclass(frozen=True)
class GLMMResults(RenderedResults):
    """Everything the HGLM report prints.

    ``deviance`` is -2 log L (Laplace, AGQ; comparable with R's ``-2*logLik(glmer(...))``),
    ``None`` for PQL.  ``overdispersion`` is the level-1 scale sigma^2 when requested (PQL),
    else ``None``.  ``eb`` holds, one row per unit, the empirical Bayes (conditional mode)
    estimates of the random effects ``eb_<coef>`` on the linear-predictor scale with their
    posterior SDs ``eb_<coef>_sd``, the unit-specific coefficients ``b_<coef>`` (fixed
    part + EB), and ``mdist`` / ``chipct`` (the Mahalanobis distance of the EB estimates and
    its chi-square(R) plotting position, :func:`openhlm.inference.glmm.mahalanobis_distances`).  ``level1`` holds, one row per analysis row, the outcome, the unit-specific
    linear predictor ``eta`` (without the offset), the ``probability`` (logit) or ``rate`` per
    unit of exposure (log) it implies, the ``fitted`` mean (trials x probability, exposure x
    rate) and ``eta_fixed`` (random effects at 0).
    """

    spec: ModelSpec
    distribution: str
    link: str
    method: str
    quadrature_points: int | None
    pql_likelihood: str | None
    fixed_effects: tuple[GLMMFixedEffect, ...]
    covariance: np.ndarray
    robust_covariance: np.ndarray
    tau: np.ndarray
    tau_labels: tuple[str, ...]
    variance_components: tuple[GLMMVarianceComponent, ...]
    reliability: tuple[float, ...]
    chi2_units: int
    deviance: float | None
    n_parameters: int
    overdispersion: float | None
    n_level1: int
    n_level2: int
    deleted_rows: int
    outcome: str
    trials: str | None
    exposure: str | None
    converged: bool
    iterations: int
    micro_iterations: int
    message: str
    eb: pd.DataFrame
    level1: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: PQL: the population-average model's fixed effects (GEE with the unit-specific T as
    #: working covariance); ``None`` for Laplace / AGQ
    fixed_effects_population_average: tuple[GLMMFixedEffect, ...] | None = None
    notes: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)
    #: requested tests: ``"glh"`` (:class:`~openhlm.results.hypotheses.GLHResult`),
    #: ``"deviance_test"`` (:class:`~openhlm.results.hypotheses.DevianceTest`)
    tests: dict[str, Any] = field(default_factory=dict)
    #: PQL: "exact" (the PQL fixed point) or "hlm" (HLM's macro / micro iterations), and in
    #: HLM mode the micro iterations of each macro iteration
    mode: str = "exact"
    micro_history: tuple[int, ...] = ()
    #: the weights the fit used (level-2 design weights; ``None``: unweighted)
    weighting: WeightingSpec | None = None
    #: the estimates the numbers were computed from (design, data, modes): what the residual
    #: files and the graphs read; ``None`` for results rebuilt without them
    estimates: GLMMEstimates | None = field(default=None, repr=False, compare=False)
    #: optional blocks as for linear models: ``"multiple_imputation"``
    #: (:class:`~openhlm.results.imputation.ImputationSummary`) for a fit pooled over
    #: multiply imputed data sets or plausible values
    extras: dict[str, Any] = field(default_factory=dict)

    # -- views -----------------------------------------------------------------------------
    @property
    def tau_correlation(self) -> np.ndarray:
        sd = np.sqrt(np.diag(self.tau))
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.tau / np.outer(sd, sd)

    @property
    def gamma(self) -> dict[str, float]:
        return {r.gamma: r.estimate for r in self.fixed_effects}

    def fixed_effects_frame(self) -> pd.DataFrame:
        return pd.DataFrame([r.__dict__ for r in self.fixed_effects])

    # -- residual files (openhlm.report.residual_files, through openhlm.results.hooks) ----
    def level2_residuals(self, extra: Iterable[str] = ()) -> pd.DataFrame:
        """HLM's level-2 residual file of an HGLM as a DataFrame (labels in
        ``.attrs["labels"]``): EB estimates on the linear-predictor scale, posterior
        variances, fitted and EB coefficients, and the unit's predicted probability / rate."""
        frame: pd.DataFrame = render("level2_residuals", self, extra).to_frame()
        return frame

    def level1_residuals(self, extra: Iterable[str] = ()) -> pd.DataFrame:
        """HLM's level-1 residual file of an HGLM as a DataFrame: per record the linear
        predictor and the predicted probability / rate."""
        frame: pd.DataFrame = render("level1_residuals", self, extra).to_frame()
        return frame

    def write_residuals(self, level2: str | Path | None = None,
                        level1: str | Path | None = None, *,
                        extra_level2: Iterable[str] = (), extra_level1: Iterable[str] = (),
                        format: str | None = None) -> dict[str, Path]:
        """Write residual files (.csv .sav .dta .xpt .parquet .xlsx), as for linear models."""
        written: dict[str, Path] = render("write_residuals", self, level2, level1,
                                          extra_level2=extra_level2,
                                          extra_level1=extra_level1, format=format)
        return written

    # to_dict, to_json, report, str() and _repr_html_: RenderedResults (results/output.py)
