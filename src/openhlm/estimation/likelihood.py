"""Likelihood of the two-level model from per-unit sufficient statistics.

Model: y_j ~ N(A_j gamma, V_j),  V_j = Z_j T Z_j' + sigma^2 Omega_j^-1  (docs/statistics.md 2.1).

With K_j = T (sigma^2 I + Z_j'Omega Z_j T)^-1 (well defined for singular T) Woodbury gives

    V_j^-1 = (Omega - Omega Z_j K_j Z_j' Omega) / sigma^2,
    log|V_j| = n_j log sigma^2 - sum_i log w_ij + log|I + T Z_j'Omega Z_j / sigma^2|,

so a' V_j^-1 b = (a'Omega b - (a'Omega Z) K_j (Z'Omega b)) / sigma^2 for every pair of design
blocks.  Deviances are the standard ones (lme4's REML criterion and ML deviance):

    -2 l_ML   = sum_j [ n_j log 2pi + log|V_j| + e_j' V_j^-1 e_j ]           (gamma at GLS)
    -2 l_REML = -2 l_ML - F log 2pi + log| sum_j A_j' V_j^-1 A_j |.

:func:`profiled_deviance` is the same objective with sigma^2 profiled out and
T = sigma^2 L L' (L lower triangular, the lme4 parameterisation), the function the exact
optimiser minimises.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from openhlm.estimation.sufficient import UnitStats

__all__ = [
    "Evaluation",
    "evaluate",
    "gls_solution",
    "lower_order",
    "lower_to_theta",
    "profiled_deviance",
    "theta_to_lower",
]

LOG_2PI = float(np.log(2.0 * np.pi))


@cache
def lower_order(R: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of the lower triangle in column-major (lme4) order."""
    rows, cols = np.tril_indices(R)
    order = np.lexsort((rows, cols))
    return rows[order], cols[order]


def theta_to_lower(theta: np.ndarray, R: int) -> np.ndarray:
    """Column-major lower triangle (lme4's order) -> L (R x R)."""
    L = np.zeros((R, R))
    rows, cols = lower_order(R)
    L[rows, cols] = theta
    return L


def lower_to_theta(L: np.ndarray) -> np.ndarray:
    rows, cols = lower_order(L.shape[0])
    return L[rows, cols].copy()


def batched_solve(B: np.ndarray, T: np.ndarray) -> np.ndarray:
    """B_j^-1 T for every j; closed forms for 1 x 1 and 2 x 2 (the common HLM cases)."""
    R = B.shape[-1]
    if R == 1:
        return T[None, :, :] / B
    if R == 2:
        a, b, c, d = B[:, 0, 0], B[:, 0, 1], B[:, 1, 0], B[:, 1, 1]
        det = a * d - b * c
        inv = np.empty_like(B)
        inv[:, 0, 0], inv[:, 0, 1], inv[:, 1, 0], inv[:, 1, 1] = d, -b, -c, a
        inv /= det[:, None, None]
        return inv @ T
    return np.linalg.solve(B, np.broadcast_to(T, B.shape))


def batched_logdet(B: np.ndarray) -> np.ndarray:
    """log|B_j| (inf where B_j is not positive definite-like, i.e. det <= 0)."""
    R = B.shape[-1]
    if R == 1:
        det = B[:, 0, 0]
    elif R == 2:
        det = B[:, 0, 0] * B[:, 1, 1] - B[:, 0, 1] * B[:, 1, 0]
    else:
        sign, logdet = np.linalg.slogdet(B)
        return np.where(sign > 0, logdet, np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(det > 0, np.log(np.where(det > 0, det, 1.0)), np.inf)


def _mv(A: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Batched matrix-vector product (J, a, b) @ (J, b) -> (J, a)."""
    return (A @ x[..., None])[..., 0]


@dataclass(frozen=True)
class Evaluation:
    """Everything computed at one value of (sigma^2, T).

    Per-unit arrays have a leading J axis.  ``beta`` are the free fixed effects (GLS), with
    ``beta_cov`` = (sum_j A_j'V_j^-1 A_j)^-1.  ``K`` is T (sigma^2 I + Z'Omega Z T)^-1.
    """

    sigma2: float
    tau: np.ndarray
    beta: np.ndarray
    beta_cov: np.ndarray
    M: np.ndarray              # sum_j A'V^-1 A
    K: np.ndarray              # (J, R, R)
    AVA: np.ndarray            # (J, F, F)
    AVy: np.ndarray            # (J, F)
    ZVZ: np.ndarray            # (J, R, R)
    ZVA: np.ndarray            # (J, R, F)
    ZVe: np.ndarray            # (J, R) Z'V^-1 e at beta
    AVe: np.ndarray            # (J, F) A'V^-1 e at beta
    logdet_V: np.ndarray       # (J,)
    quad: np.ndarray           # (J,) e'V^-1 e
    loglik_ml: float
    loglik_reml: float

    def loglik(self, reml: bool) -> float:
        return self.loglik_reml if reml else self.loglik_ml

    def deviance(self, reml: bool) -> float:
        return -2.0 * self.loglik(reml)


def gls_solution(M: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
    """The GLS fixed effects of the normal equations M beta = b (M = sum_j w_j A_j'V_j^-1 A_j):
    (beta, Cov(beta) = M^-1 symmetrised, log|M|, sign of |M|); no fixed effects (F = 0): empty
    arrays, 0 and 1.  Shared with the stacked evaluation of :mod:`openhlm.estimation.exact`."""
    if not M.shape[0]:
        return np.zeros(0), np.zeros((0, 0)), 0.0, 1.0
    beta = np.linalg.solve(M, b)
    beta_cov = np.linalg.inv(M)
    sign, logdet_M = np.linalg.slogdet(M)
    return beta, 0.5 * (beta_cov + beta_cov.T), float(logdet_M), float(sign)


def evaluate(stats: UnitStats, sigma2: float, tau: np.ndarray) -> Evaluation:
    """Evaluate GLS fixed effects and both log-likelihoods at (sigma2, tau)."""
    R = stats.n_random
    tau = np.asarray(tau, dtype=float).reshape(R, R)
    ZZ, AZ = stats.ZZ, stats.AZ
    ZA = np.swapaxes(AZ, 1, 2)
    eye = np.eye(R)
    B = sigma2 * eye + tau @ ZZ                       # (J,R,R) = sigma2 I + T Z'Z
    # K = T (sigma2 I + Z'Z T)^-1 = (sigma2 I + T Z'Z)^-1 T (symmetric).
    K = np.linalg.solve(B, np.broadcast_to(tau, B.shape))
    KZA = K @ ZA
    KZy = np.einsum("jrs,js->jr", K, stats.Zy)
    AVA = (stats.AA - AZ @ KZA) / sigma2
    AVy = (stats.Ay - np.einsum("jfr,jr->jf", AZ, KZy)) / sigma2
    ZVZ = (ZZ - ZZ @ K @ ZZ) / sigma2
    ZVA = (ZA - ZZ @ KZA) / sigma2
    ZVy = (stats.Zy - np.einsum("jrs,js->jr", ZZ, KZy)) / sigma2
    yVy = (stats.yy - np.einsum("jr,jr->j", stats.Zy, KZy)) / sigma2

    w2 = stats.unit_weights
    M = np.einsum("j,jfg->fg", w2, AVA)
    b = w2 @ AVy
    F = M.shape[0]
    beta, beta_cov, logdet_M, sign = gls_solution(M, b)
    AVe = AVy - AVA @ beta
    ZVe = ZVy - ZVA @ beta
    quad = yVy - 2.0 * AVy @ beta + np.einsum("f,jfg,g->j", beta, AVA, beta)
    _, logdet_B = np.linalg.slogdet(B)
    logdet_V = (stats.n - R) * np.log(sigma2) - stats.sum_log_w + logdet_B
    minus2_ml = float(w2 @ (stats.n * LOG_2PI + logdet_V + quad))
    minus2_reml = minus2_ml - F * LOG_2PI + (logdet_M if sign > 0 else np.inf)
    return Evaluation(sigma2=float(sigma2), tau=tau, beta=beta, beta_cov=beta_cov, M=M, K=K,
                      AVA=AVA, AVy=AVy, ZVZ=ZVZ, ZVA=ZVA, ZVe=ZVe, AVe=AVe, logdet_V=logdet_V,
                      quad=quad, loglik_ml=-0.5 * minus2_ml, loglik_reml=-0.5 * minus2_reml)


def profiled_deviance(theta: np.ndarray, stats: UnitStats, reml: bool, *,
                      gradient: bool = False) -> tuple[float, float, np.ndarray | None]:
    """Deviance with sigma^2 profiled out, at T = sigma^2 L(theta) L(theta)'.

    Returns ``(deviance, sigma2_hat, gradient)``; the deviance is lme4's ``devfun(theta)``.

    Notes
    -----
    With Tr = L L' and V1_j = Omega^-1 + Z_j Tr Z_j' (V_j = sigma^2 V1_j), the profiled deviance is
    sum_j log|I + Tr Z'Z_j| [+ log|M|] + d (1 + log(2 pi r^2 / d)), r^2 the generalised RSS at
    the GLS fixed effects and d = N (ML) or N - F (REML).  Its gradient with respect to the
    symmetric Tr is (envelope theorem for r^2)

        G = sum_j Z'V1^-1Z_j  -  (d / r^2) sum_j (Z'V1^-1 e_j)(Z'V1^-1 e_j)'
            [- sum_j Z'V1^-1 A_j M^-1 A_j'V1^-1 Z_j   under REML],

    and with respect to L it is 2 G L.
    """
    R = stats.n_random
    L = theta_to_lower(theta, R)
    Tr = L @ L.T
    ZZ, AZ, ZA = stats.ZZ, stats.AZ, stats.ZA
    J, F = AZ.shape[0], AZ.shape[1]
    B = Tr @ ZZ
    B += np.eye(R)
    K = batched_solve(B, Tr)                      # (I + Tr Z'Z)^-1 Tr, symmetric
    w2 = stats.unit_weights
    KZy = _mv(K, stats.Zy)
    KZA = K @ ZA
    AZw = stats.AZ_weighted_flat                  # (F, J*R): columns w_j * (A_j'Z_j)
    M = stats.sum_AA - AZw @ KZA.reshape(J * R, F)
    b = stats.sum_Ay - AZw @ KZy.reshape(J * R)
    n = stats.n_total
    beta = np.zeros(F)
    yVy = stats.sum_yy - float(np.sum(w2 * np.sum(stats.Zy * KZy, axis=1)))
    if F:
        try:
            chol = np.linalg.cholesky(M)
        except np.linalg.LinAlgError:
            return np.inf, np.nan, None
        z = np.linalg.solve(chol, b)
        beta = np.linalg.solve(chol.T, z)
        r2 = float(yVy - z @ z)
        logdet_M = 2.0 * float(np.log(np.diag(chol)).sum())
    else:
        r2, logdet_M = float(yVy), 0.0
    logdet_B = batched_logdet(B)
    if r2 <= 0 or not np.all(np.isfinite(logdet_B)):
        return np.inf, np.nan, None
    logdet = float(w2 @ logdet_B) - stats.sum_weighted_log_w
    dof = n - F if reml else n
    sigma2 = r2 / dof
    dev = logdet + dof * (1.0 + np.log(2.0 * np.pi * sigma2))
    if reml:
        dev += logdet_M
    if not gradient:
        return dev, sigma2, None
    ZZK = ZZ @ K
    wZZK = ZZK * w2[:, None, None]
    G = stats.sum_ZZ - np.swapaxes(wZZK, 0, 1).reshape(R, J * R) @ ZZ.reshape(J * R, R)
    eZ = stats.Zy - (ZA.reshape(J * R, F) @ beta).reshape(J, R)
    ZVe = eZ - _mv(ZZK, eZ)
    G -= (dof / r2) * ((ZVe * w2[:, None]).T @ ZVe)
    if reml and F:
        Minv = np.linalg.inv(M)
        ZVA = ZA - ZZK @ ZA
        ZVAM = (ZVA.reshape(J * R, F) @ Minv).reshape(J, R, F) * w2[:, None, None]
        G -= np.swapaxes(ZVAM, 0, 1).reshape(R, J * F) @ np.swapaxes(ZVA, 0, 1).reshape(R, J * F).T
    return dev, sigma2, lower_to_theta(np.tril(2.0 * G @ L))
