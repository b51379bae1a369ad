"""The variance model of heterogeneous level-1 variance, as data (hlm-statistics.md 10).

Kept apart from :mod:`openhlm.estimation.heterogeneous` (the estimation) so that
:class:`openhlm.estimation.estimates.Estimates` can refer to it without an import cycle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["HeterogeneousFit", "VarianceDesign"]


@dataclass(frozen=True)
class VarianceDesign:
    """The design of the level-1 variance model.

    ``C`` is N x (K+1): a column of ones (alpha_0) and the K variance predictors, uncentred, in
    the rows of the analysis; ``labels`` are HLM's row labels (``INTRCPT1``, ``FEMALE``);
    ``names`` the variables as spelled in the data.
    """

    C: np.ndarray
    labels: tuple[str, ...]
    names: tuple[str, ...]

    @property
    def n_alpha(self) -> int:
        return int(self.C.shape[1])


@dataclass(frozen=True)
class HeterogeneousFit:
    """The variance model of a heterogeneous-sigma^2 fit (kept on ``Estimates.heterogeneous``).

    ``alpha`` are (alpha_0, alpha_1, ...); ``level1_variance`` the fitted sigma^2_ij per row of
    the analysis (sigma^2 / p_ij with known precision weights); ``homogeneous_deviance`` /
    ``homogeneous_deviance_hlm`` / ``homogeneous_parameters`` describe the homogeneous fit of
    the same model (the first row of HLM's "Summary of Model Fit").
    """

    variance: VarianceDesign
    alpha: np.ndarray
    level1_variance: np.ndarray
    homogeneous_deviance: float
    homogeneous_deviance_hlm: float
    homogeneous_parameters: int
    macro_iterations: int
    micro_iterations: int
    converged: bool
    message: str

    @property
    def labels(self) -> tuple[str, ...]:
        return self.variance.labels
