"""Results pooled over multiply imputed data sets (HLM's "Multiple imputation").

Rubin's rules are computed in :mod:`openhlm.inference.pooling`, the pooled
:class:`~openhlm.results.HLMResults` is built by :func:`openhlm.imputation.pool_results`; its
``extras["multiple_imputation"]`` holds the :class:`ImputationSummary`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from openhlm.results.hlm import HLMResults

__all__ = ["ImputationSummary", "RubinPooled"]


@dataclass(frozen=True)
class RubinPooled:
    """Rubin's-rules combination of M estimates of each of F parameters (arrays of length F)."""

    m: int
    estimate: np.ndarray        # q_bar
    within: np.ndarray          # U_bar
    between: np.ndarray         # B
    total: np.ndarray           # T
    se: np.ndarray              # sqrt(T)
    t: np.ndarray               # q_bar / SE
    df: np.ndarray              # Barnard-Rubin (with df_complete) or Rubin (1987) d.f.
    p: np.ndarray               # two-sided, Student t on df
    riv: np.ndarray             # r, relative increase in variance
    missing_variance: np.ndarray  # lambda = (1 + 1/M) B / T
    fmi: np.ndarray             # fraction of missing information
    df_complete: np.ndarray | None
    df_method: str              # "barnard-rubin" | "rubin"


@dataclass(frozen=True)
class ImputationSummary:
    """How a pooled result was combined (``results.extras["multiple_imputation"]``).

    Attributes
    ----------
    m : int
        Number of data sets combined.
    kind : str
        ``"data sets"``, ``"imputation column '<name>'"`` or ``"plausible values"``.
    labels : tuple of str
        One label per data set (file name, imputation number or plausible-value variable).
    gammas : tuple of str
        Fixed-effect labels (free gammas, in the order of the tables).
    model, robust : RubinPooled
        Rubin's-rules combination with model-based and robust (CR0) standard errors.
    estimates, se, robust_se : ndarray (M, F)
        Per-data-set gammas and standard errors.
    deviances : ndarray (M,)
        Per-data-set deviances (the pooled result reports their average).
    converged : tuple of bool
    fits : tuple of HLMResults
        The M individual fits (not exported to JSON).
    """

    m: int
    kind: str
    labels: tuple[str, ...]
    gammas: tuple[str, ...]
    model: RubinPooled
    robust: RubinPooled
    estimates: np.ndarray
    se: np.ndarray
    robust_se: np.ndarray
    deviances: np.ndarray
    converged: tuple[bool, ...]
    fits: tuple[HLMResults, ...] = field(default=(), repr=False, compare=False)
