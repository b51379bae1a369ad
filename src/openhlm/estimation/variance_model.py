"""The variance model of heterogeneous level-1 variance, as data (docs/statistics.md 10).

Kept apart from :mod:`openhlm.estimation.heterogeneous` (the estimation) so that
:class:`openhlm.estimation.estimates.Estimates` can refer to it without an import cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from openhlm.errors import EstimationError

__all__ = ["HeterogeneousFit", "VarianceDesign", "VarianceRowSums", "checked_variance_design"]


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


def checked_variance_design(names: Sequence[str], column: Callable[[str], np.ndarray],
                            n_rows: int) -> VarianceDesign:
    """C = [1, C_1, ..., C_K] over the ``n_rows`` level-1 rows of the analysis, ``column(name)``
    giving each variance predictor's values in those rows (shared by the two- and three-level
    estimation).

    Raises
    ------
    EstimationError
        No predictor, or one with missing values, constant in the rows of the analysis, or a
        linear combination of the others (with the intercept).
    """
    if not names:
        raise EstimationError("heterogeneous sigma^2 needs at least one variance predictor")
    cols = [np.ones(n_rows)]
    for name in names:
        x = column(name)
        if not np.all(np.isfinite(x)):
            raise EstimationError(f"heterogeneous sigma^2: variance predictor '{name}' has "
                                  "missing or infinite values in the rows of the analysis")
        if np.ptp(x) <= 1e-12 * max(1.0, float(np.abs(x).max())):
            raise EstimationError(
                f"heterogeneous sigma^2: variance predictor '{name}' is constant "
                f"({x[0]:g}) in the {n_rows} level-1 rows of the analysis; it cannot "
                "explain differences in sigma^2 - remove it from the variance model")
        cols.append(x)
    C = np.column_stack(cols)
    # collinearity: smallest eigenvalue of the correlation of the centred predictors
    if C.shape[1] > 2:
        Xc = C[:, 1:] - C[:, 1:].mean(axis=0)
        Xc = Xc / np.sqrt((Xc**2).sum(axis=0))
        w, v = np.linalg.eigh(Xc.T @ Xc)
        if w[0] <= 1e-10 * w[-1]:
            involved = [n for n, x in zip(names, v[:, 0], strict=True) if abs(x) > 1e-3]
            raise EstimationError(
                "heterogeneous sigma^2: the variance predictors "
                f"{', '.join(involved)} are collinear (one is a linear combination of the "
                "others and the intercept); remove one of them from the variance model")
    labels = ("INTRCPT1",) + tuple(n.upper() for n in names)
    return VarianceDesign(C=C, labels=labels, names=tuple(names))


@dataclass(frozen=True)
class VarianceRowSums:
    """What the variance model's inference reads from the level-1 rows, summed, for a fit whose
    rows are not in memory (``openhlm.scale``; then ``VarianceDesign.C`` has no rows).

    With the working variance predictors Cw = [1, (C_k - centre_k) / scale_k], the relative
    precision p_ij at the estimates and the working random columns z_ij:
    ``weighted[(a, b)]`` (a >= b) = per unit sum_i p_ij Cw_aij Cw_bij z_ij z_ij' (J, R, R);
    ``cross`` = sum_j w_j sum_i Cw_aij Cw_bij ((K+1, K+1), w_j the level-2 weight);
    ``categories``: (k, values, row counts) of each variance predictor with few values.
    """

    centre: np.ndarray
    scale: np.ndarray
    weighted: dict[tuple[int, int], np.ndarray]
    cross: np.ndarray
    categories: tuple[tuple[int, np.ndarray, np.ndarray], ...]


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
    #: the row sums of the inference when the rows are not in memory (out-of-core fits)
    row_sums: VarianceRowSums | None = None

    @property
    def labels(self) -> tuple[str, ...]:
        return self.variance.labels
