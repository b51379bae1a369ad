"""A small LOWESS smoother (Cleveland 1979), for the EB-residual plots.

Local linear regression with tricube weights over the ``frac * n`` nearest neighbours and
``iterations`` robustifying passes with bisquare weights (the defaults of R's ``lowess`` and
statsmodels' ``lowess``: frac 2/3, 3 iterations).  Vectorised: O(n^2) memory, fine for the
number of level-2 units a plot shows.
"""

from __future__ import annotations

import numpy as np

__all__ = ["lowess"]


def _local_linear(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    s0, s1, s2 = w.sum(axis=1), w @ x, w @ (x * x)
    t0, t1 = w @ y, w @ (x * y)
    denom = s0 * s2 - s1**2
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = np.where(np.abs(denom) > 1e-12 * np.maximum(s0 * s2, 1e-300),
                         (s0 * t1 - s1 * t0) / denom, 0.0)
        return (t0 - slope * s1) / s0 + slope * x


def lowess(x, y, frac: float = 2.0 / 3.0, iterations: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Smooth ``y`` against ``x``; returns ``(x_sorted, fitted)`` (NaN pairs dropped).

    Parameters
    ----------
    x, y : array-like
    frac : float
        Share of the points in each local regression (0 < frac <= 1).
    iterations : int
        Robustifying iterations (0 = plain local regression).
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    order = np.argsort(x[keep], kind="stable")
    x, y = x[keep][order], y[keep][order]
    n = x.size
    if n < 3:
        return x, y.copy()
    k = min(n, max(2, int(frac * n + 1e-10)))
    dist = np.abs(x[:, None] - x[None, :])
    h = np.partition(dist, k - 1, axis=1)[:, k - 1]
    h = np.where(h > 0, h, np.finfo(float).tiny)
    base = np.clip(1.0 - (dist / h[:, None]) ** 3, 0.0, 1.0) ** 3
    robust = np.ones(n)
    fitted = y
    for _ in range(iterations + 1):
        fitted = _local_linear(x, y, base * robust[None, :])
        resid = y - fitted
        scale = np.median(np.abs(resid))
        if scale <= 0:
            break
        robust = np.clip(1.0 - (resid / (6.0 * scale)) ** 2, 0.0, 1.0) ** 2
    return x, fitted
