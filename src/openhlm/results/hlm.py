"""The results of a fitted two-level model: immutable, typed, numbers only.

Every statistic HLM prints is a field here, computed once in :mod:`openhlm.inference`
(:func:`openhlm.inference.infer.infer` builds the whole object, empirical Bayes estimates and
requested tests included).  Reports (:mod:`openhlm.report`), plots and the CLI only format what
is here; the methods that print or write (``__str__``, ``report``, ``to_dict``, ``to_json``,
``_repr_html_``, the residual files) reach the report through the hook of
:mod:`openhlm.results.hooks`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from openhlm.errors import SpecError
from openhlm.results.hooks import render
from openhlm.results.output import RenderedResults
from openhlm.spec.model import ModelSpec

if TYPE_CHECKING:
    from openhlm.estimation.estimates import Estimates
    from openhlm.results.residuals import EBEstimates

__all__ = [
    "JSON_SCHEMA_VERSION",
    "ConvergenceInfo",
    "DataSummary",
    "FixedEffect",
    "FixedEffectsTable",
    "HLMResults",
    "OLSTable",
    "VarianceComponent",
    "VarianceComponentsTable",
]

JSON_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class FixedEffect:
    """One row of "Final estimation of fixed effects"."""

    coefficient: str        # "INTRCPT1", "SES slope"
    coefficient_index: int  # q of Bq
    predictor: str          # "INTRCPT2", "SECTOR"
    gamma: str              # "G01"
    estimate: float
    se: float
    t: float
    df: int | float          # HLM's approximate d.f.; Barnard-Rubin d.f. (float) when pooled
    p: float
    robust_se: float
    robust_t: float
    robust_p: float
    constrained: bool = False   # shares its estimate with other gammas (HLM's '*')
    centering: str = "none"     # centring of the level-2 predictor


@dataclass(frozen=True)
class FixedEffectsTable:
    rows: tuple[FixedEffect, ...]
    covariance: np.ndarray          # model-based Var(gamma), printed rows' order
    robust_covariance: np.ndarray   # sandwich (CR0)

    def to_frame(self) -> pd.DataFrame:
        """One row per fixed effect, HLM's columns first, in the printed order."""
        frame = pd.DataFrame([r.__dict__ for r in self.rows])
        first = ["gamma", "coefficient", "predictor", "estimate", "se", "t", "df", "p",
                 "robust_se", "robust_t", "robust_p"]
        rest = [c for c in frame.columns if c not in first]
        return frame[first + rest] if len(frame) else frame

    def __iter__(self) -> Iterator[FixedEffect]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, gamma: str) -> FixedEffect:
        for r in self.rows:
            if r.gamma == gamma.upper():
                return r
        raise KeyError(gamma)


@dataclass(frozen=True)
class VarianceComponent:
    """One row of "Final estimation of variance components"."""

    effect: str             # "U0", ..., or "R" for the level-1 row
    coefficient: str        # "INTRCPT1", "SES slope", "level-1"
    sd: float
    variance: float
    df: int | None = None
    chi2: float | None = None
    p: float | None = None


@dataclass(frozen=True)
class VarianceComponentsTable:
    rows: tuple[VarianceComponent, ...]
    units_used: int          # J': units with sufficient data for the chi-square tests
    n_units: int             # J

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([r.__dict__ for r in self.rows])

    def __iter__(self) -> Iterator[VarianceComponent]:
        return iter(self.rows)

    def __getitem__(self, effect: str) -> VarianceComponent:
        for r in self.rows:
            if r.effect == effect.upper():
                return r
        raise KeyError(effect)


@dataclass(frozen=True)
class OLSTable:
    """"Level-1 OLS regressions" for the first units, and the average OLS coefficients."""

    labels: tuple[str, ...]          # "INTRCPT1", "SES slope", ...
    unit_ids: tuple[str, ...]
    coefficients: np.ndarray         # (len(unit_ids), P)
    average: np.ndarray              # (P,) over the units with sufficient data
    units_used: int


@dataclass(frozen=True)
class ConvergenceInfo:
    method: str
    mode: str
    iterations: int
    converged: bool
    stop_reason: str
    tolerance: float
    max_iterations: int
    loglik_history: tuple[float, ...]


@dataclass(frozen=True)
class DataSummary:
    n_level1: int
    n_level2: int
    outcome: str
    deleted_level1_rows: int
    dropped_units: tuple[str, ...]
    sources: tuple[str, ...]
    centering_means: dict[str, float]
    data_fingerprint: str
    variable_labels: dict[str, str] = field(default_factory=dict)   # from the MDM (plots, files)


@dataclass(frozen=True)
class HLMResults(RenderedResults):
    """A fitted HLM2 model.  ``print(results)`` gives HLM's text report."""

    spec: ModelSpec
    method: str
    mode: str
    convergence: ConvergenceInfo
    data: DataSummary
    sigma2: float
    sigma2_se: float
    tau: np.ndarray
    tau_labels: tuple[str, ...]          # "INTRCPT1", "SES"
    tau_se: np.ndarray
    tau_correlations: np.ndarray
    reliability: dict[str, float]        # label -> reliability
    reliability_units_used: int
    fixed: FixedEffectsTable
    variance: VarianceComponentsTable
    deviance: float                      # standard -2 log-likelihood (REML criterion under REML)
    deviance_hlm: float                  # HLM 6.08's printed convention (see Estimates)
    loglik: float
    n_parameters: int
    level1_ols: OLSTable
    few_units_warning: bool              # HLM's robust-SE warning for few level-2 units
    notes: tuple[str, ...]
    version: str
    created: str
    extras: dict[str, Any] = field(default_factory=dict)   # optional blocks (tests, ...)
    estimates: Estimates | None = field(default=None, repr=False, compare=False)
    # empirical Bayes estimates and residual-file quantities (None without random coefficients
    # or without estimates); read by the residual files, the plots and the exploratory analysis
    eb: EBEstimates | None = field(default=None, repr=False, compare=False)

    # -- convenient views --------------------------------------------------------------
    @property
    def n_level1(self) -> int:
        return self.data.n_level1

    @property
    def n_level2(self) -> int:
        return self.data.n_level2

    @property
    def converged(self) -> bool:
        return self.convergence.converged

    @property
    def iterations(self) -> int:
        return self.convergence.iterations

    @property
    def gamma(self) -> pd.Series:
        return pd.Series({r.gamma: r.estimate for r in self.fixed.rows}, name="gamma")

    @property
    def gamma_cov(self) -> pd.DataFrame:
        labels = [r.gamma for r in self.fixed.rows]
        return pd.DataFrame(self.fixed.covariance, index=labels, columns=labels)

    @property
    def fixed_effects(self) -> pd.DataFrame:
        return self.fixed.to_frame()

    @property
    def variance_components(self) -> pd.DataFrame:
        return self.variance.to_frame()

    @property
    def tau_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.tau, index=list(self.tau_labels), columns=list(self.tau_labels))

    # -- the seminar's hand computations, done for the user ------------------------------
    def icc(self) -> float:
        """Intraclass correlation tau_00 / (tau_00 + sigma^2) (conditional when predictors).

        Only defined when the model has a random level-1 intercept.
        """
        if "INTRCPT1" not in self.tau_labels:
            raise SpecError("the intraclass correlation needs a random level-1 intercept: add "
                            "U0 to the level-2 equation of INTRCPT1")
        t00 = float(self.tau[self.tau_labels.index("INTRCPT1")][self.tau_labels.index("INTRCPT1")])
        return t00 / (t00 + self.sigma2)

    def plausible_value_ranges(self, level: float = 0.95) -> pd.DataFrame:
        """Range of each random coefficient for a unit with all level-2 predictors at 0:
        gamma_q0 +/- z * sqrt(tau_qq) (RB02 p. 71)."""
        from scipy.stats import norm

        z = float(norm.ppf(0.5 + level / 2))
        rows = []
        for k, coef in enumerate(self.spec.random_coefficients):
            mean = 0.0
            if coef.equation.intercept:
                mean = self.fixed[f"G{coef.index}0"].estimate
            sd = float(np.sqrt(self.tau[k, k]))
            rows.append({"coefficient": coef.label, "mean": mean, "sd": sd,
                         "lower": mean - z * sd, "upper": mean + z * sd})
        return pd.DataFrame(rows)

    def variance_explained(self, baseline: HLMResults) -> pd.DataFrame:
        """Proportion of variance explained relative to ``baseline`` (RB02 ch. 4):
        (var_base - var_fit) / var_base for sigma^2 and each tau_qq present in both models."""
        rows = [{"component": "level-1, R", "baseline": baseline.sigma2, "model": self.sigma2,
                 "proportion": (baseline.sigma2 - self.sigma2) / baseline.sigma2}]
        for k, label in enumerate(self.tau_labels):
            if label in baseline.tau_labels:
                b = baseline.tau_labels.index(label)
                vb, vm = float(baseline.tau[b, b]), float(self.tau[k, k])
                rows.append({"component": f"{label}, U{self.spec.random_coefficients[k].index}",
                             "baseline": vb, "model": vm,
                             "proportion": (vb - vm) / vb if vb > 0 else float("nan")})
        return pd.DataFrame(rows)

    # -- residual files (openhlm.report.residual_files, through openhlm.results.hooks) ----
    def level2_residuals(self, extra: Iterable[str] = ()) -> pd.DataFrame:
        """HLM's level-2 residual file as a DataFrame (labels in ``.attrs["labels"]``)."""
        frame: pd.DataFrame = render("level2_residuals", self, extra).to_frame()
        return frame

    def level1_residuals(self, extra: Iterable[str] = ()) -> pd.DataFrame:
        """HLM's level-1 residual file as a DataFrame (labels in ``.attrs["labels"]``)."""
        frame: pd.DataFrame = render("level1_residuals", self, extra).to_frame()
        return frame

    def write_residuals(self, level2: str | Path | None = None,
                        level1: str | Path | None = None, *,
                        extra_level2: Iterable[str] = (), extra_level1: Iterable[str] = (),
                        format: str | None = None) -> dict[str, Path]:
        """Write residual files (.csv .sav .dta .xpt .parquet); see
        :func:`openhlm.report.residual_files.write_residuals`."""
        written: dict[str, Path] = render("write_residuals", self, level2, level1,
                                          extra_level2=extra_level2,
                                          extra_level1=extra_level1, format=format)
        return written

    # to_dict, to_json, report, str() and _repr_html_: RenderedResults (results/output.py)
    def __repr__(self) -> str:
        return (f"<HLMResults {self.method.upper()} ({self.mode}) {self.spec.outcome}: "
                f"N={self.n_level1}, J={self.n_level2}, deviance={self.deviance:.6f}>")
