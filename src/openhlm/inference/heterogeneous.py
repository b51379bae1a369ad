"""Inference for a heterogeneous level-1 variance model (docs/statistics.md 10).

Everything HLM prints under "RESULTS FOR HETEROGENEOUS SIGMA-SQUARED":

* "Model for level-1 variance": alpha_k, its standard error, Z = alpha / SE and the two-sided
  normal p-value.  SEs come from the inverse of the expected (Fisher) information of the
  variance parameters (alpha_0..K, tau_kl k >= l) under ML,

      I_ab = 1/2 sum_j tr(V_j^-1 dV_j/da V_j^-1 dV_j/db),
      dV_j/dalpha_k = diag(C_kij sigma^2_ij),   dV_j/dtau_kl = Z_j E_kl Z_j',

  taking the alpha block of the inverse of the full matrix (the fixed effects are orthogonal
  to the variance parameters in the ML expected information).  At the ML optimum of the HS&B
  example this gives 0.024720 / 0.033940 against HLM's printed 0.024718 / 0.033936; the
  alpha block alone (treating T as known) would give 0.024608 for alpha_0, so HLM accounts for
  the estimation of T.  Every term is a per-unit R x R product of row sums (one ``bincount``
  per element; no loop over units):

      alpha-alpha: sum_i c_a c_b - 2 tr(K_j S^ab_j) + tr(K_j S^a_j K_j S^b_j)
      alpha-tau  : tr(E_kl (I - Q0_j K_j) S^a_j (I - K_j Q0_j)) / sigma^2
      tau-tau    : tr(E_kl Q_j E_mn Q_j)

  with S^a_j = sum_i p_ij C_aij z_ij z_ij', S^ab_j = sum_i p_ij C_aij C_bij z_ij z_ij',
  Q0_j = Z_j' Omega_j Z_j, Q_j = Z_j' V_j^-1 Z_j and K_j, p_ij as in
  :mod:`openhlm.estimation.likelihood` / :mod:`openhlm.estimation.heterogeneous`.
* The implied level-1 variance exp(alpha_0 + alpha_k v) for each value v of a categorical
  variance predictor (one with at most :data:`MAX_CATEGORIES` distinct values), the other
  predictors at 0.
* "Summary of Model Fit": the homogeneous and heterogeneous models' numbers of parameters and
  deviances, chi-square = D_hom - D_het on K d.f. (the non-intercept alphas) and its p-value.
  In HLM mode the deviances are HLM 6's printed convention (standard - log 2 pi), in exact mode
  the standard -2 log L; the chi-square is the same in both.

Reliabilities and variance-component chi-squares need no special code: with the fitted row
precisions in the sufficient statistics, :mod:`openhlm.inference.variance` computes the unit
OLS weighted by 1 / sigma^2_ij and V_qqj = [(X_j' S_j^-1 X_j)^-1]_qq (see that module and the
``hetero_reliability_chi2`` assumption in the nlme cross-check).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special

from openhlm.errors import EstimationError
from openhlm.estimation.estimates import Estimates
from openhlm.estimation.heterogeneous import HeterogeneousFit, working_variance_predictors
from openhlm.results.heterogeneous import (
    EXTRA_KEY,
    AlphaRow,
    HeterogeneityTest,
    HeterogeneousSigma2,
    ImpliedVariance,
)

__all__ = [
    "EXTRA_KEY",
    "MAX_CATEGORIES",
    "AlphaRow",
    "HeterogeneityTest",
    "HeterogeneousSigma2",
    "ImpliedVariance",
    "heterogeneous_sigma2",
    "variance_information",
    "variance_standard_errors_heterogeneous",
]

#: A variance predictor with at most this many distinct values is treated as categorical.
MAX_CATEGORIES = 10
def _heterogeneous_fit(est: Estimates) -> HeterogeneousFit:
    if est.heterogeneous is None:
        raise EstimationError("these estimates have a homogeneous sigma^2: the heterogeneous "
                              "sigma^2 results need a fit with variance predictors "
                              "(heterogeneous_sigma2=...)")
    return est.heterogeneous


def _row_sums(unit: np.ndarray, J: int, weights: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """sum_i weights_i z_i z_i' per unit, (J, R, R)."""
    R = Z.shape[1]
    out = np.empty((J, R, R))
    for a in range(R):
        for b in range(a, R):
            out[:, a, b] = out[:, b, a] = np.bincount(unit, weights=weights * Z[:, a] * Z[:, b],
                                                      minlength=J)
    return out


def variance_information(est: Estimates, *, working: bool = False
                         ) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Expected ML information of (alpha_0..K, tau_kl for k >= l) at the estimates.

    Returns the matrix and the (k, l) pairs of the tau parameters (after the alphas).  With
    ``working`` (exact fits, ``est.working`` set) the tau parameters are those of the working
    basis, T_w with T = E_R T_w E_R' (docs/engine.md): well conditioned whatever the units and
    offsets of the random predictors; :func:`_covariance` maps the inverse back.
    """
    het = _heterogeneous_fit(est)
    if het.row_sums is not None:   # out of core: the row sums were made by a pass
        return _information_from_sums(est, het)
    design = est.design
    unit, J, R = design.unit, design.n_level2, design.n_random
    r = design.random_columns
    C = het.variance.C
    if working and est.working is not None:
        work = est.working
        s, ev = work.stats, work.evaluation
        Z = (design.X[:, r] - work.basis.shift[r]) / work.basis.scale[r]
        C = working_variance_predictors(C)[2]
    else:
        s, ev = est.stats, est.evaluation
        Z = design.X[:, r]
    Ka = C.shape[1]
    sigma2, K = ev.sigma2, ev.K
    p = sigma2 / het.level1_variance                       # total precision per row
    d = np.ones(design.n_level1) if design.row_weights is None else design.row_weights
    uw = s.unit_weights
    dp = d * p
    S1 = [_row_sums(unit, J, dp * C[:, a], Z) for a in range(Ka)]
    pairs = [(k, l) for k in range(R) for l in range(k + 1)]
    n_par = Ka + len(pairs)
    info = np.zeros((n_par, n_par))
    Cd = C * (d * uw[unit])[:, None]
    for a in range(Ka):
        for b in range(a + 1):
            S2 = _row_sums(unit, J, dp * C[:, a] * C[:, b], Z)
            val = (Cd[:, a] @ C[:, b]
                   - 2.0 * np.einsum("j,jrs,jsr->", uw, K, S2)
                   + np.einsum("j,jrs,jst,jtu,jur->", uw, K, S1[a], K, S1[b]))
            info[a, b] = info[b, a] = val
    _tau_blocks(info, pairs, S1, s, ev)
    return 0.5 * info, pairs


def _information_from_sums(est: Estimates, het: HeterogeneousFit
                           ) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """:func:`variance_information` (working basis) from the row sums of an out-of-core fit:
    the same terms, with S^a_j = ``weighted[(a, 0)]`` and S^ab_j = ``weighted[(a, b)]``."""
    sums = het.row_sums
    assert sums is not None and est.working is not None
    s, ev = est.working.stats, est.working.evaluation
    R = est.design.n_random
    Ka = sums.cross.shape[0]
    K, uw = ev.K, s.unit_weights

    def S(a: int, b: int) -> np.ndarray:
        return sums.weighted[(a, b) if a >= b else (b, a)]

    pairs = [(k, l) for k in range(R) for l in range(k + 1)]
    n_par = Ka + len(pairs)
    info = np.zeros((n_par, n_par))
    for a in range(Ka):
        for b in range(a + 1):
            val = (sums.cross[a, b] - 2.0 * np.einsum("j,jrs,jsr->", uw, K, S(a, b))
                   + np.einsum("j,jrs,jst,jtu,jur->", uw, K, S(a, 0), K, S(b, 0)))
            info[a, b] = info[b, a] = val
    _tau_blocks(info, pairs, [S(a, 0) for a in range(Ka)], s, ev)
    return 0.5 * info, pairs


def _tau_blocks(info: np.ndarray, pairs: list[tuple[int, int]], S1: list[np.ndarray],
                s: Any, ev: Any) -> None:
    """Fill the alpha-tau and tau-tau blocks of ``info`` (twice the information; its first
    ``len(S1)`` rows are the alphas) from S^a_j = ``S1[a]`` (the per-unit sums of
    d p C_a z z'), the statistics ``s`` and the evaluation ``ev`` at the estimates (shared by
    the in-memory and the out-of-core information)."""
    Ka, R = len(S1), ev.K.shape[1]
    uw = s.unit_weights
    left = np.eye(R) - s.ZZ @ ev.K                          # (I - Q0 K)
    Es = []
    for k, l in pairs:
        E = np.zeros((R, R))
        E[k, l] = E[l, k] = 1.0
        Es.append(E)
    for a in range(Ka):
        Ma = left @ S1[a] @ np.swapaxes(left, 1, 2) / ev.sigma2
        for t, E in enumerate(Es):
            info[a, Ka + t] = info[Ka + t, a] = np.einsum("j,rs,jsr->", uw, E, Ma)
    Q = ev.ZVZ
    for t, Et in enumerate(Es):
        for u, Eu in enumerate(Es[: t + 1]):
            val = np.einsum("j,ab,jbc,cd,jda->", uw, Et, Q, Eu, Q)
            info[Ka + t, Ka + u] = info[Ka + u, Ka + t] = val


def _working_predictors(het: HeterogeneousFit) -> tuple[np.ndarray, np.ndarray]:
    """(centre, scale) of the working variance predictors."""
    if het.row_sums is not None:
        return het.row_sums.centre, het.row_sums.scale
    c, sc, _ = working_variance_predictors(het.variance.C)
    return c, sc


def _covariance(est: Estimates, Ka: int, *, pinv: bool) -> np.ndarray:
    """Inverse information of (alpha, vech T) in the original parameterisation.

    Exact fits form the information in the working basis, with centred and scaled variance
    predictors, and map its inverse back, Cov = J Cov_w J' with
    J = blockdiag(d alpha / d alpha_w, d vech(E_R T_w E_R') / d vech T_w).  A singular matrix (T on the boundary) gives the pseudo-inverse
    with ``pinv``, NaN otherwise.
    """
    work = est.working
    info, pairs = variance_information(est, working=work is not None)
    try:
        cov = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        cov = np.linalg.pinv(info) if pinv else np.full(info.shape, np.nan)
    if work is not None:
        E = work.basis.E_R
        Jac = np.eye(info.shape[0])
        # alpha = [[1, -c'/s], [0, diag(1/s)]] alpha_w (working variance predictors)
        c, sc = _working_predictors(_heterogeneous_fit(est))
        Jac[0, 1:Ka] = -c / sc
        Jac[np.arange(1, Ka), np.arange(1, Ka)] = 1.0 / sc
        for a, (k, l) in enumerate(pairs, start=Ka):
            for b, (m, n) in enumerate(pairs, start=Ka):
                Jac[a, b] = E[k, m] * E[l, n] + (E[k, n] * E[l, m] if m != n else 0.0)
        cov = Jac @ cov @ Jac.T
    return cov


def _implied(het: HeterogeneousFit, alpha: np.ndarray) -> tuple[ImpliedVariance, ...]:
    out = []
    C = het.variance.C
    known = ({k: (v, n) for k, v, n in het.row_sums.categories} if het.row_sums is not None
             else None)
    for k, label in enumerate(het.variance.labels[1:], start=1):
        if known is not None:
            if k not in known:
                continue
            values, counts = known[k]
        else:
            values, counts = np.unique(C[:, k], return_counts=True)
        if values.size > MAX_CATEGORIES:
            continue
        for v, n in zip(values, counts):
            out.append(ImpliedVariance(predictor=label, value=float(v),
                                       variance=float(np.exp(alpha[0] + alpha[k] * v)),
                                       n_rows=int(n)))
    return tuple(out)


def heterogeneous_sigma2(est: Estimates) -> HeterogeneousSigma2:
    """The alpha table, implied variances and the model comparison of a heterogeneous fit."""
    het = _heterogeneous_fit(est)
    alpha = np.asarray(het.alpha, dtype=float)
    Ka = alpha.size
    cov = _covariance(est, Ka, pinv=True)[:Ka, :Ka]
    se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    rows = []
    for k, (label, a, s_) in enumerate(zip(het.variance.labels, alpha, se)):
        z = float(a / s_) if s_ > 0 else float("nan")
        rows.append(AlphaRow(label=label, parameter=f"alpha{k}", estimate=float(a), se=float(s_),
                             z=z, p=float(2.0 * special.ndtr(-abs(z)))))
    hlm = est.mode == "hlm"
    d_hom = het.homogeneous_deviance_hlm if hlm else het.homogeneous_deviance
    d_het = est.deviance_hlm if hlm else est.deviance
    chi2 = float(het.homogeneous_deviance - est.deviance)
    df = Ka - 1
    test = HeterogeneityTest(
        homogeneous_parameters=int(het.homogeneous_parameters),
        heterogeneous_parameters=int(est.n_parameters), homogeneous_deviance=float(d_hom),
        heterogeneous_deviance=float(d_het), chi2=chi2, df=df,
        p=float(special.chdtrc(df, chi2)) if chi2 >= 0 else 1.0,
        convention="hlm" if hlm else "standard")
    return HeterogeneousSigma2(
        predictors=het.variance.labels[1:], rows=tuple(rows), covariance=cov,
        implied=_implied(het, alpha), test=test, macro_iterations=het.macro_iterations,
        micro_iterations=het.micro_iterations, converged=het.converged, mode=est.mode)


def variance_standard_errors_heterogeneous(est: Estimates) -> tuple[float, np.ndarray]:
    """(SE of sigma^2 = exp(alpha_0), R x R SEs of T) from the joint (alpha, T) information.

    The homogeneous formulas (:mod:`openhlm.inference.variance_se`) would treat the variance
    ratios exp(alpha_k C_k) as known; here they are estimated with T.  SE(sigma^2) is the delta
    method, sigma^2 SE(alpha_0).
    """
    Ka = len(_heterogeneous_fit(est).alpha)
    R = est.design.n_random
    pairs = [(k, l) for k in range(R) for l in range(k + 1)]
    se = np.sqrt(np.clip(np.diag(_covariance(est, Ka, pinv=False)), 0.0, None))
    tau_se = np.zeros((R, R))
    for t, (k, l) in enumerate(pairs):
        tau_se[k, l] = tau_se[l, k] = se[Ka + t]
    return float(est.sigma2 * se[0]), tau_se
