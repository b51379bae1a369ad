"""What a GLMM fit returns before inference: :class:`GLMMEstimates`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from openhlm.estimation.glmm.data import GLMMData

__all__ = ["GLMMEstimates"]


@dataclass(frozen=True)
class GLMMEstimates:
    """Point estimates and their covariance for a two-level GLMM.

    ``beta`` are the free fixed effects (gamma = K beta, as for linear models); ``tau`` is T,
    the covariance of the random coefficients on the linear-predictor scale; ``u`` the
    empirical Bayes (conditional mode) estimates of the random effects with ``u_cov`` their
    approximate posterior covariances.  ``cov_beta`` is model-based, ``cov_beta_robust`` the
    CR0 sandwich over units.  ``deviance`` is -2 log L (``None`` for PQL, which has no
    likelihood); ``sigma2`` the over-dispersion scale (``None`` unless requested).
    """

    data: GLMMData
    method: str                  # "pql" | "laplace" | "agq"
    nodes: int                   # Gauss-Hermite nodes per dimension (1 = Laplace; 0 = PQL)
    beta: np.ndarray
    tau: np.ndarray
    theta: np.ndarray
    cov_beta: np.ndarray
    cov_beta_robust: np.ndarray
    deviance: float | None
    sigma2: float | None
    u: np.ndarray
    u_cov: np.ndarray
    converged: bool
    iterations: int              # ML: optimiser iterations; PQL: macro iterations
    micro_iterations: int        # PQL: total micro iterations; ML: Newton steps of the modes
    message: str
    linearised_likelihood: str | None = None   # PQL: "reml" | "ml"
    notes: tuple[str, ...] = field(default=())
    #: PQL: the population-average model's (beta, model-based cov, robust cov)
    population_average: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    #: PQL: "exact" (the PQL fixed point) or "hlm" (HLM's macro / micro iterations)
    mode: str = "exact"
    #: PQL in HLM mode: the micro (EM) iterations of each macro iteration
    micro_history: tuple[int, ...] = ()

    @property
    def gamma(self) -> np.ndarray:
        return self.data.design.constraint_matrix @ self.beta

    @property
    def n_parameters(self) -> int:
        return self.data.p + self.theta.size + (self.sigma2 is not None)
