"""Heterogeneous level-1 variance for three-level models: a log-linear model for sigma^2.

Model (as for two-level models, :mod:`openhlm.estimation.heterogeneous`)::

    ln sigma^2_ijk = alpha_0 + sum_k alpha_k C_k,ijk,
    V = diag(sigma^2_ijk) + Z2 T_pi Z2' + Z3 T_beta Z3'.

With sigma^2 = exp(alpha_0) and the relative precision ``p_i = exp(-sum_{k>=1} alpha_k C_ki)``
(sigma^2_i = sigma^2 / p_i), scaling every row of ``[A, Z3, y, Z2]`` by sqrt(p_i) gives a
homogeneous three-level model (``V* = P^1/2 V P^1/2 / sigma^2``), so for given alpha_1..K the
nested Woodbury deviance of :mod:`openhlm.estimation.three_level.likelihood` applies to the
scaled rows unchanged, and

    -2 l(theta, alpha) = D*(theta; alpha) - sum_i ln p_i

(``D*`` the profiled ML deviance of the scaled rows; the Jacobian term from
``log|V| = log|V*| + N ln sigma^2 - sum ln p_i``).  Estimation is full ML (REML is refused, as
for two-level models and in HLM): L-BFGS-B over x = (theta, alpha_1..K) with sigma^2 and gamma
profiled out, the gradient analytic in theta and central differences in alpha, then projected
Newton steps with a central-difference Hessian until the Newton decrement is below 1e-9
(converged: <= 1e-6).

Standard errors of alpha: twice the inverse of the observed information, the central-
difference Hessian of the unprofiled-in-sigma^2 deviance in (alpha_0, alpha_1..K, theta) at the
optimum (alpha's block is the same in any parameterisation of the covariance components).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from openhlm.errors import EstimationError
from openhlm.estimation.three_level.design import Design3
from openhlm.estimation.three_level.fit import Estimates3, estimate3, estimates3_at
from openhlm.estimation.three_level.likelihood import (
    deviance_and_gradient,
    deviance_parts,
    diagonal_positions,
    theta_size,
)
from openhlm.estimation.three_level.statistics import Stats3, unit_statistics
from openhlm.estimation.variance_model import VarianceDesign, checked_variance_design

__all__ = ["Heterogeneous3", "estimate3_heterogeneous", "scaled_design",
           "variance_design3"]

LOG2PI = float(np.log(2.0 * np.pi))


@dataclass(frozen=True, eq=False)
class Heterogeneous3:
    """The variance model of a three-level heterogeneous-sigma^2 fit
    (``Estimates3.extras["heterogeneous"]``)."""

    variance: VarianceDesign
    alpha: np.ndarray                 # (alpha_0, ..., alpha_K)
    alpha_covariance: np.ndarray      # twice the inverse observed information, alpha block
    level1_variance: np.ndarray       # sigma^2_i of the rows analysed
    homogeneous_deviance: float
    homogeneous_parameters: int
    converged: bool
    iterations: int
    message: str = ""


def _column(design: Design3, name: str) -> np.ndarray:
    mdm = design.mdm
    for frame, index in ((mdm.level1, None), (mdm.level2, design.unit_index),
                         (mdm.level3, design.row_level3_index)):
        cols = {str(c).lower(): c for c in frame.columns}
        if name.lower() in cols:
            values = frame[cols[name.lower()]].to_numpy(dtype=float)
            return values if index is None else values[index]
    raise EstimationError(f"heterogeneous sigma^2: variable '{name}' is not in the data of the "
                          "analysis; name a variable of the MDM")


def variance_design3(design: Design3, names: tuple[str, ...]) -> VarianceDesign:
    """C = [1, C_1, ..., C_K] over the rows analysed, refusing unusable predictors."""
    return checked_variance_design(names, lambda name: _column(design, name), design.n1)


def scaled_design(design: Design3, p: np.ndarray) -> Design3:
    """``design`` with every row of y, A, Z2, Z3 multiplied by sqrt(p_i)."""
    s = np.sqrt(p)
    return dataclasses.replace(design, y=design.y * s, A=design.A * s[:, None],
                               Z2=design.Z2 * s[:, None], Z3=design.Z3 * s[:, None])


class _Objective:
    """-2 l at x = (theta, alpha_1..K), sigma^2 and gamma profiled; the scaled statistics are
    cached for the last alpha."""

    def __init__(self, design: Design3, C: np.ndarray, k_theta: int):
        self.design, self.C, self.k = design, C, k_theta
        self._alpha: np.ndarray | None = None
        self._stats: Stats3 | None = None
        self.evaluations = 0

    def stats(self, alpha_rest: np.ndarray) -> tuple[Stats3, float]:
        if self._alpha is None or not np.array_equal(alpha_rest, self._alpha):
            eta = self.C[:, 1:] @ alpha_rest
            self._stats = unit_statistics(scaled_design(self.design, np.exp(-eta)))
            self._alpha = alpha_rest.copy()
            self._logp = -float(eta.sum())
        assert self._stats is not None
        return self._stats, self._logp

    def value(self, x: np.ndarray) -> float:
        stats, logp = self.stats(x[self.k:])
        self.evaluations += 1
        return float(deviance_parts(stats, x[:self.k], False).deviance) - logp

    def __call__(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        try:
            stats, logp = self.stats(x[self.k:])
            self.evaluations += 1
            dev, g_theta = deviance_and_gradient(stats, x[:self.k], False)
            g = np.zeros_like(x)
            g[:self.k] = g_theta
            for i in range(self.k, len(x)):
                h = 1e-6 * max(1.0, abs(x[i]))
                xp, xm = x.copy(), x.copy()
                xp[i] += h
                xm[i] -= h
                g[i] = (self.value(xp) - self.value(xm)) / (2 * h)
            self.stats(x[self.k:])
        except (np.linalg.LinAlgError, FloatingPointError, ValueError):
            return np.inf, np.zeros_like(x)
        value = float(dev) - logp
        if not np.isfinite(value):
            return np.inf, np.zeros_like(x)
        return value, g


def _polish(f: _Objective, x: np.ndarray, lower: np.ndarray, steps: int = 4
            ) -> tuple[np.ndarray, float]:
    """Projected Newton steps (central-difference Hessian of the gradient); returns x and the
    Newton decrement at the last Hessian."""
    fx, g = f(x)
    decrement = np.inf
    for _ in range(steps):
        free = np.flatnonzero(~((x <= lower) & (g > 0)))
        H = np.zeros((len(free), len(free)))
        for col, i in enumerate(free):
            h = 1e-5 * max(1.0, abs(x[i]))
            xp, xm = x.copy(), x.copy()
            xp[i] += h
            xm[i] = max(x[i] - h, lower[i])
            H[:, col] = (f(xp)[1][free] - f(xm)[1][free]) / (xp[i] - xm[i])
        H = (H + H.T) / 2
        w, v = np.linalg.eigh(H)
        w = np.maximum(np.abs(w), 1e-8 * max(float(np.abs(w).max()), 1e-12))
        step = np.zeros_like(x)
        step[free] = -(v @ ((v.T @ g[free]) / w))
        decrement = float(-g[free] @ step[free]) / 2
        if decrement <= 1e-9:
            break
        t, improved = 1.0, False
        while t > 1e-3:
            z = np.maximum(x + t * step, lower)
            fz, gz = f(z)
            if fz < fx:
                x, fx, g, improved = z, fz, gz, True
                break
            t /= 2
        if not improved:
            break
    return x, decrement


def _alpha_covariance(f: _Objective, theta: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Twice the inverse central-difference Hessian of -2 l in (alpha_0..K, theta), sigma^2
    not profiled (``-2 l = logdet* + N (ln 2 pi + alpha_0) + Q* e^-alpha_0 - sum ln p``); the
    alpha block.  NaN when the Hessian is not positive definite."""
    k = len(theta)
    Ka = len(alpha)

    def full(z: np.ndarray) -> float:
        a0, rest, th = z[0], z[1:Ka], z[Ka:]
        stats, logp = f.stats(rest)
        parts = deviance_parts(stats, th, False)
        n = stats.n1
        # parts.deviance = logdet + n (1 + log(2 pi Q / n)); recover logdet and Q
        return (parts.logdet + n * (LOG2PI + a0) + parts.Q * np.exp(-a0) - logp)

    z0 = np.r_[alpha, theta]
    m = len(z0)
    H = np.zeros((m, m))
    hs = 1e-4 * np.maximum(1.0, np.abs(z0))
    f0 = full(z0)
    for i in range(m):
        for j in range(i, m):
            if i == j:
                zp, zm = z0.copy(), z0.copy()
                zp[i] += hs[i]
                zm[i] -= hs[i]
                H[i, i] = (full(zp) - 2 * f0 + full(zm)) / hs[i] ** 2
            else:
                vals = []
                for si, sj in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
                    z = z0.copy()
                    z[i] += si * hs[i]
                    z[j] += sj * hs[j]
                    vals.append(full(z))
                H[i, j] = H[j, i] = (vals[0] - vals[1] - vals[2] + vals[3]) / (4 * hs[i] * hs[j])
    f.stats(alpha[1:])
    del k
    try:
        np.linalg.cholesky(H)
    except np.linalg.LinAlgError:
        return np.full((Ka, Ka), np.nan)
    return (2.0 * np.linalg.inv(H))[:Ka, :Ka]


def estimate3_heterogeneous(design: Design3, names: tuple[str, ...], *,
                            method: str = "ml", max_iterations: int | None = None
                            ) -> Estimates3:
    """Three-level model with heterogeneous level-1 variance (full ML; module docstring).

    The returned estimates hold, beside the usual ones, ``extras["heterogeneous"]``
    (:class:`Heterogeneous3`) and, in ``extras["stats"]``, the statistics of the rows scaled
    by sqrt(p_i) (so that the empirical Bayes estimates, reliabilities and chi-squares are
    those of the heteroscedastic model).  sigma^2 is exp(alpha_0), the level-1 variance where
    every variance predictor is 0.
    """
    if method.lower() != "ml":
        raise EstimationError(
            f"heterogeneous sigma^2 (variance predictors {', '.join(names)}) is estimated by "
            "full maximum likelihood only, as in HLM: use method='ml' (TOML: method = \"ml\")")
    vd = variance_design3(design, names)
    hom = estimate3(design, method="ml")
    r2, r3 = design.Z2.shape[1], design.Z3.shape[1]
    k = theta_size(r2, r3)
    Ka = vd.C.shape[1]
    f = _Objective(design, vd.C, k)
    x0 = np.r_[hom.theta, np.zeros(Ka - 1)]
    diag = diagonal_positions(r2, r3)
    lower = np.full(len(x0), -np.inf)
    lower[diag] = 0.0
    bounds = [(0.0, None) if i in diag else (None, None) for i in range(len(x0))]
    res = minimize(f, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                   options={"maxiter": max_iterations or 1000, "ftol": 1e-15, "gtol": 1e-9,
                            "maxcor": 20})
    x, decrement = _polish(f, np.asarray(res.x, dtype=float), lower)
    value, _ = f(x)
    if not np.isfinite(value):
        raise EstimationError("the heterogeneous three-level likelihood could not be evaluated "
                              "at the optimum; check the variance predictors")
    theta, alpha_rest = x[:k], x[k:]
    stats, logp = f.stats(alpha_rest)
    est = estimates3_at(design, stats, theta, "ml", converged=decrement <= 1e-6,
                        iterations=int(res.nit), evaluations=f.evaluations,
                        message=str(res.message))
    # estimates3_at's deviance and sigma^2 are those of the scaled rows
    alpha = np.r_[np.log(est.sigma2), alpha_rest]
    cov_alpha = _alpha_covariance(f, theta, alpha)
    het = Heterogeneous3(
        variance=vd, alpha=alpha, alpha_covariance=cov_alpha,
        level1_variance=est.sigma2 * np.exp(vd.C[:, 1:] @ alpha_rest),
        homogeneous_deviance=hom.deviance, homogeneous_parameters=hom.n_parameters,
        converged=est.converged, iterations=est.iterations, message=est.message)
    return dataclasses.replace(est, deviance=est.deviance - logp,
                               n_parameters=est.n_parameters + Ka - 1,
                               extras={**est.extras, "heterogeneous": het})
