"""Combining estimates from M completed data sets: Rubin's rules with Barnard-Rubin d.f.

For one parameter with estimates q_m and squared standard errors u_m, m = 1..M
(Rubin 1987; docs/statistics.md section 14; the rules mitml's ``testEstimates`` applies):

    q_bar  = mean_m q_m                        pooled estimate
    U_bar  = mean_m u_m                        within-imputation variance
    B      = sum_m (q_m - q_bar)^2 / (M - 1)   between-imputation variance
    T      = U_bar + (1 + 1/M) B               total variance; SE = sqrt(T)
    r      = (1 + 1/M) B / U_bar               relative increase in variance
    lambda = (1 + 1/M) B / T                   proportion of variance due to missingness

d.f.: Rubin (1987) nu_R = (M - 1) (1 + 1/r)^2; with a complete-data d.f. nu_c (openhlm uses
the single-data-set d.f. HLM prints, J - F_q or N - F) Barnard & Rubin (1999)

    nu_obs = (nu_c + 1) / (nu_c + 3) nu_c (1 - lambda),   nu_BR = 1 / (1/nu_R + 1/nu_obs).

Fraction of missing information (Rubin 1987, as mitml computes it): (r + 2/(nu + 3)) / (r + 1)
with nu the d.f. used.  When B = 0 the Rubin d.f. are infinite and nu_BR = nu_obs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, NamedTuple, TypeVar

import numpy as np
from scipy import special

from openhlm._typing import ArrayLike, FloatArray
from openhlm.errors import EstimationError
from openhlm.results.imputation import RubinPooled

__all__ = ["FixedEffectsPooling", "RubinPooled", "barnard_rubin_df", "mean_over_fits",
           "pool_fixed_effects", "pooled_covariance", "pooled_row", "rubin_pool"]

Row = TypeVar("Row")


def _rubin_df(riv: np.ndarray, m: int) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.where(riv > 0, (m - 1) * (1.0 + 1.0 / np.where(riv > 0, riv, 1.0)) ** 2,
                        np.inf)


def barnard_rubin_df(riv: np.ndarray, missing_variance: np.ndarray, m: int,
                     df_complete: np.ndarray) -> np.ndarray:
    """Barnard-Rubin (1999) small-sample d.f. (module docstring)."""
    nu_c = np.asarray(df_complete, dtype=float)
    nu_r = _rubin_df(riv, m)
    nu_obs = (nu_c + 1.0) / (nu_c + 3.0) * nu_c * (1.0 - missing_variance)
    return 1.0 / (1.0 / nu_r + 1.0 / nu_obs)


def rubin_pool(estimates: np.ndarray, variances: np.ndarray,
               df_complete: np.ndarray | float | None = None) -> RubinPooled:
    """Pool (M, F) estimates and squared standard errors by Rubin's rules.

    Parameters
    ----------
    estimates, variances : array (M, F)
        Per-data-set estimates and squared standard errors.
    df_complete : array (F,) or float, optional
        Complete-data d.f.; given -> Barnard-Rubin d.f., omitted -> Rubin (1987) d.f.
    """
    q = np.atleast_2d(np.asarray(estimates, dtype=float))
    u = np.atleast_2d(np.asarray(variances, dtype=float))
    if q.shape != u.shape:
        raise EstimationError("estimates and variances to pool have different shapes "
                              f"{q.shape} and {u.shape}")
    m = q.shape[0]
    if m < 2:
        raise EstimationError(f"pooling needs at least 2 data sets, got {m}")
    qbar = q.mean(axis=0)
    ubar = u.mean(axis=0)
    b = q.var(axis=0, ddof=1)
    total = ubar + (1.0 + 1.0 / m) * b
    riv = (1.0 + 1.0 / m) * b / ubar
    lam = (1.0 + 1.0 / m) * b / total
    if df_complete is None:
        nu_c = None
        df = _rubin_df(riv, m)
        method = "rubin"
    else:
        nu_c = np.broadcast_to(np.asarray(df_complete, dtype=float), qbar.shape).copy()
        df = barnard_rubin_df(riv, lam, m, nu_c)
        method = "barnard-rubin"
    se = np.sqrt(total)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = qbar / se
    p = 2.0 * special.stdtr(df, -np.abs(t))
    fmi = (riv + 2.0 / (df + 3.0)) / (riv + 1.0)
    return RubinPooled(m=m, estimate=qbar, within=ubar, between=b, total=total, se=se, t=t,
                       df=df, p=p, riv=riv, missing_variance=lam, fmi=fmi, df_complete=nu_c,
                       df_method=method)


def pooled_covariance(estimates: ArrayLike, covariances: ArrayLike) -> FloatArray:
    """Total covariance matrix U_bar + (1 + 1/M) B of (M, F) estimates with (M, F, F)
    per-data-set covariance matrices (its diagonal is :attr:`RubinPooled.total`)."""
    q = np.asarray(estimates, dtype=float)
    m = q.shape[0]
    d = q - q.mean(axis=0)
    between = d.T @ d / (m - 1)
    return np.asarray(covariances, dtype=float).mean(axis=0) + (1.0 + 1.0 / m) * between


class FixedEffectsPooling(NamedTuple):
    """Rubin's rules on M tables of fixed effects (:func:`pool_fixed_effects`)."""

    model: RubinPooled        # with the model-based SEs
    robust: RubinPooled       # with the robust SEs
    estimates: FloatArray     # (M, F)
    se: FloatArray            # (M, F)
    robust_se: FloatArray     # (M, F)


def pool_fixed_effects(tables: Sequence[Sequence[Any]]) -> FixedEffectsPooling:
    """Pool M tables of fixed-effect rows (each with ``estimate``, ``se``, ``robust_se`` and
    ``df``, the same F gammas in the same order) by Rubin's rules, the model-based and the
    robust SEs separately, with the first table's d.f. as complete-data d.f. (Barnard-Rubin).
    Shared by the two-level, three-level and HGLM pooling of imputed data sets."""
    est = np.array([[r.estimate for r in t] for t in tables], dtype=float)
    se = np.array([[r.se for r in t] for t in tables], dtype=float)
    rse = np.array([[r.robust_se for r in t] for t in tables], dtype=float)
    df_com = np.array([r.df for r in tables[0]], dtype=float)
    return FixedEffectsPooling(rubin_pool(est, se**2, df_com), rubin_pool(est, rse**2, df_com),
                               est, se, rse)


def pooled_row(row: Row, pooled: FixedEffectsPooling, k: int) -> Row:
    """Fixed-effect row ``row`` (a dataclass with the fields of a linear model's row) carrying
    gamma ``k``'s pooled estimate, SEs, t-ratios, d.f. and p-values."""
    model, robust = pooled.model, pooled.robust
    return dataclasses.replace(  # type: ignore[type-var]
        row, estimate=float(model.estimate[k]), se=float(model.se[k]), t=float(model.t[k]),
        df=float(model.df[k]), p=float(model.p[k]), robust_se=float(robust.se[k]),
        robust_t=float(robust.t[k]), robust_p=float(robust.p[k]))


def mean_over_fits(values: Sequence[Any]) -> Any:
    """The plain average of M numbers or arrays (one per fit) that pooling does not combine
    by Rubin's rules (sigma^2, T, their SEs)."""
    return sum(values[1:], values[0]) / len(values)
