"""Results of a heterogeneous level-1 variance model (HLM's "RESULTS FOR HETEROGENEOUS
SIGMA-SQUARED"), stored in ``HLMResults.extras["heterogeneous_sigma2"]``.

Computed by :func:`openhlm.inference.heterogeneous.heterogeneous_sigma2` (the formulas are
documented there).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["EXTRA_KEY", "AlphaRow", "HeterogeneityTest", "HeterogeneousSigma2",
           "ImpliedVariance"]

#: Key of the block in ``HLMResults.extras``.
EXTRA_KEY = "heterogeneous_sigma2"


@dataclass(frozen=True)
class AlphaRow:
    """One row of "Model for level-1 variance"."""

    label: str        # "INTRCPT1", "FEMALE"
    parameter: str    # "alpha0", "alpha1"
    estimate: float
    se: float
    z: float
    p: float


@dataclass(frozen=True)
class ImpliedVariance:
    """sigma^2 implied for one value of a categorical variance predictor (others at 0)."""

    predictor: str
    value: float
    variance: float
    n_rows: int


@dataclass(frozen=True)
class HeterogeneityTest:
    """"Summary of Model Fit": homogeneous (model 1) vs heterogeneous (model 2) sigma^2."""

    homogeneous_parameters: int
    heterogeneous_parameters: int
    homogeneous_deviance: float        # in ``convention``
    heterogeneous_deviance: float
    chi2: float
    df: int
    p: float
    convention: str                    # "standard" (-2 log L) | "hlm" (HLM 6: - log 2 pi)


@dataclass(frozen=True)
class HeterogeneousSigma2:
    """The heterogeneous-sigma^2 block of the results (``results.extras["heterogeneous_sigma2"]``)."""

    predictors: tuple[str, ...]        # HLM labels of the variance predictors ("FEMALE",)
    rows: tuple[AlphaRow, ...]
    covariance: np.ndarray             # Var(alpha) (K+1 x K+1)
    implied: tuple[ImpliedVariance, ...]
    test: HeterogeneityTest
    macro_iterations: int
    micro_iterations: int
    converged: bool
    mode: str
    se_method: str = "expected information of (alpha, T), alpha block of the inverse"

    @property
    def alpha(self) -> np.ndarray:
        return np.array([r.estimate for r in self.rows])

    @property
    def alpha_se(self) -> np.ndarray:
        return np.array([r.se for r in self.rows])
