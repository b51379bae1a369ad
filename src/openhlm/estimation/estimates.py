"""Point estimates of a fitted model, before inference.

:class:`Estimates` is what :func:`openhlm.estimation.fit.estimate` returns: the design, the
sufficient statistics and the two likelihood evaluations HLM's output draws from
(``evaluation`` at the final (sigma^2, T); ``fixed_evaluation`` where the printed fixed effects
come from: the same point in exact mode, the previous EM iterate in HLM mode).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from openhlm.estimation.basis import Basis
from openhlm.estimation.design import Design
from openhlm.estimation.em import StartingValues
from openhlm.estimation.likelihood import LOG_2PI, Evaluation
from openhlm.estimation.statistics import UnitMoments
from openhlm.estimation.sufficient import UnitStats
from openhlm.estimation.variance_model import HeterogeneousFit

__all__ = ["Estimates", "WorkingFit"]


@dataclass(frozen=True)
class WorkingFit:
    """The working basis of an exact fit, its statistics and the evaluation there."""

    basis: Basis
    stats: UnitStats
    evaluation: Evaluation
    #: the per-unit moments of [X, y] the statistics were formed from (with the fit's row
    #: precisions), reused by the offset-free per-unit regressions of inference/unit_fit.py
    moments: UnitMoments | None = None


@dataclass(frozen=True)
class Estimates:
    design: Design
    stats: UnitStats
    method: str                      # "reml" | "ml"
    mode: str                        # "exact" | "hlm"
    evaluation: Evaluation
    fixed_evaluation: Evaluation
    iterations: int
    converged: bool
    stop_reason: str
    tolerance: float
    max_iterations: int
    loglik_history: tuple[float, ...]
    boundary: tuple[int, ...]        # random coefficients (positions in R) with zero variance
    start: StartingValues | None
    #: heterogeneous level-1 variance (docs/statistics.md 10): the relative row precision
    #: exp(-sum_k alpha_k C_kij) passed to ``unit_stats(design, precision=...)`` (so that
    #: ``stats`` is reproducible), and the variance model
    #: (:class:`openhlm.estimation.heterogeneous.HeterogeneousFit`).  ``None`` when sigma^2 is
    #: homogeneous.
    row_precision: np.ndarray | None = None
    heterogeneous: HeterogeneousFit | None = None
    #: exact mode: the fit in its working basis (docs/engine.md), where inference that must
    #: invert an information matrix is well conditioned; None in HLM mode / at given values
    working: WorkingFit | None = None

    @property
    def level1_variance(self) -> np.ndarray:
        """sigma^2_ij for every row of the analysis (design order): sigma^2 / p_ij.

        Under homogeneous sigma^2 (and no known precision weights) every entry is sigma^2.
        EB residuals, residual files, reliabilities and chi-squares use these per-row values.
        """
        p = np.ones(self.design.n_level1)
        known = self.design.precision_weights
        if known is not None:
            p = p * known
        if self.row_precision is not None:
            p = p * self.row_precision
        return self.sigma2 / p

    @property
    def reml(self) -> bool:
        return self.method == "reml"

    @property
    def sigma2(self) -> float:
        return self.evaluation.sigma2

    @property
    def tau(self) -> np.ndarray:
        return self.evaluation.tau

    @property
    def gamma(self) -> np.ndarray:
        """All F gammas (constrained ones repeated), in ``design.gamma_labels`` order."""
        return self.design.constraint_matrix @ self.fixed_evaluation.beta

    @property
    def gamma_cov(self) -> np.ndarray:
        K = self.design.constraint_matrix
        return K @ self.fixed_evaluation.beta_cov @ K.T

    @property
    def loglik(self) -> float:
        """The log-likelihood of the fit.

        Exact mode: at the estimates.  HLM mode: HLM's printed value, the likelihood of the
        last E-step, i.e. at the iterate the fixed effects come from (theta^(k-1); it matches
        the printed deviances of the seminar's Models 1, 3 and 4 to 1e-6, docs/hlm-iterations.md
        section G), one EM step short of the printed sigma^2 and T.
        """
        ev = self.fixed_evaluation if self.mode == "hlm" else self.evaluation
        return ev.loglik(self.reml)

    @property
    def deviance(self) -> float:
        """Standard -2 log-likelihood (lme4's REML criterion / ML deviance)."""
        return -2.0 * self.loglik

    @property
    def deviance_hlm(self) -> float:
        """The deviance as HLM 6.08 prints it.

        Measured on every model of the seminar (docs/statistics.md section 20): HLM prints the
        standard value minus log(2 pi), except for a REML model with a single fixed effect
        (the null model), where it prints the standard value.
        """
        if self.reml and self.design.n_free_gammas == 1:
            return self.deviance
        return self.deviance - LOG_2PI

    @property
    def n_parameters(self) -> int:
        """HLM's count: sigma^2 (or the alphas of a heterogeneous sigma^2) and the free
        elements of T, plus the free gammas under ML."""
        R = self.design.n_random
        n_sigma = 1 if self.heterogeneous is None else len(self.heterogeneous.alpha)
        count = n_sigma + R * (R + 1) // 2
        return count if self.reml else count + self.design.n_free_gammas
