"""Empirical Bayes residuals and HLM's residual-file quantities (docs/statistics.md section 12).

Everything is computed from the per-unit quantities of the final likelihood evaluation
(:class:`openhlm.estimation.likelihood.Evaluation`) and the level-1 design, vectorised over
units.  Notation as in :mod:`openhlm.estimation.likelihood`: V_j = Z_j T Z_j' + sigma^2 Omega_j^-1,
M = sum_j A_j'V_j^-1 A_j, e_j = y_j - A_j gamma_hat.

* EB residual (lme4's conditional mode):  u*_j = T Z_j'V_j^-1 e_j.
* Fitted coefficient (FV):  W_j gamma_hat for every level-1 coefficient (G_j beta_hat).
* EB coefficient (EC):  FV + u*_j on the random coefficients, FV otherwise.
* Conditional covariance of u_j given y and gamma_hat (lme4's ``condVar``, HLM's ML C_j):
  C_j = T - T Z'V^-1 Z T.
* With gamma's uncertainty (HLM's REML C_j):  C_j + B_j M^-1 B_j',  B_j = T Z_j'V_j^-1 A_j.
* Posterior covariance of the random coefficients beta_j (PVC):
  (G_jR - B_j) M^-1 (G_jR - B_j)' + C_j, G_jR the rows of G_j of the random coefficients.
* Sampling covariance of u*_j:  T Z'V^-1 Z T - B_j M^-1 B_j'  (= T - REML C_j).
* MDIST_j = u*_j' Var(u*_j)^+ u*_j (pseudo-inverse, so units with fewer rows than random
  coefficients and boundary estimates of T are handled); CHIPCT_j = the chi-square(Q_R)
  quantile at (rank_j - 0.5) / J.
* Level-1 fitted value X_ij' beta*_j = A_ij gamma_hat + Z_ij u*_j (lme4's ``fitted``), residual
  y_ij - fitted.

Heterogeneous level-1 variance: when the estimates carry row precisions (``est.row_precision``,
the (N,) array of sigma^2 / sigma^2_ij that the sufficient statistics were built with, times any
known ``design.precision_weights``), the evaluation already uses V_j = Z T Z' + diag(sigma^2_ij), so u*_j and every covariance above use
the model's sigma^2_ij; the level-1 column SIGMA is then sqrt(sigma^2_ij).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special

from openhlm.errors import EstimationError
from openhlm.estimation.estimates import Estimates, WorkingFit
from openhlm.estimation.statistics import UnitMoments
from openhlm.estimation.sufficient import design_moments
from openhlm.inference.unit_fit import centred_unit_ols, intercept_column
from openhlm.inference.variance import unit_ols
from openhlm.results.residuals import NO_RANDOM_COEFFICIENTS, EBEstimates

__all__ = ["EBEstimates", "chi_square_order_quantiles", "eb_estimates", "level1_linear_form",
           "row_precision", "sym_pinv_quadratic"]


def row_precision(est: Estimates) -> np.ndarray | None:
    """The (N,) relative level-1 precisions of the fit (sigma^2 / sigma^2_ij), or None.

    Known precision weights of the design times the heterogeneous-variance precisions
    ``est.row_precision``; None when sigma^2 is homogeneous.
    """
    p = getattr(est.design, "precision_weights", None)
    extra = getattr(est, "row_precision", None)
    if extra is not None:
        p = extra if p is None else p * extra
    return None if p is None else np.asarray(p, dtype=float)


def chi_square_order_quantiles(values: np.ndarray, df: float) -> np.ndarray:
    """Chi-square(df) quantile at (rank - 0.5) / J of each value (ranks 1..J, ties in order).

    HLM documents CHIPCT as the expected chi-square order statistic matching the unit's rank;
    its exact plotting position is not published (docs/statistics.md 19, question 10).
    """
    values = np.asarray(values, dtype=float)
    out = np.full(values.shape, np.nan)
    ok = np.isfinite(values)
    J = int(ok.sum())
    if J == 0 or df <= 0:
        return out
    rank = np.empty(int(ok.sum()))
    rank[np.argsort(values[ok], kind="stable")] = np.arange(1, rank.size + 1)  # ordinal ranks
    out[ok] = special.chdtri(df, 1.0 - (rank - 0.5) / J)
    return out


def _log_sd(ss: np.ndarray, dof: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 0.5 * np.log(ss / dof)
    out[~np.isfinite(out) | (dof <= 0)] = np.nan
    return out


def sym_pinv_quadratic(cov: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """u' cov^+ u per unit and the numerical rank of each cov (symmetric PSD stack)."""
    vals, vecs = np.linalg.eigh(cov)
    top = np.max(np.abs(vals), axis=1, keepdims=True)
    keep = vals > 1e-10 * np.maximum(top, 1e-300)
    proj = np.einsum("jrk,jr->jk", vecs, u)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(keep, proj**2 / np.where(keep, vals, 1.0), 0.0)
    return terms.sum(axis=1), keep.sum(axis=1)


def _working(est: Estimates) -> WorkingFit | None:
    """The exact fit's working basis (homogeneous or heterogeneous sigma^2), if
    ``est.evaluation`` is the one mapped from it (not an evaluation replaced afterwards, e.g.
    with other row precisions)."""
    work = getattr(est, "working", None)
    if work is None:
        return None
    ev = est.evaluation
    if (work.evaluation.sigma2 != ev.sigma2
            or not np.array_equal(work.basis.beta_to_original(work.evaluation.beta), ev.beta)):
        return None
    return work


def eb_estimates(est: Estimates) -> EBEstimates:
    """Compute every residual-file quantity of ``est`` at its final (sigma^2, T).

    The EB quantities use the final evaluation (its GLS gamma_hat); in exact mode that is the
    point the printed fixed effects come from.  In HLM mode HLM prints gamma from the previous
    EM iterate; which iterate HLM's residual file uses is not documented.
    """
    d = est.design
    ev = est.evaluation
    if d.n_random == 0:
        raise EstimationError(NO_RANDOM_COEFFICIENTS)
    J, R = d.n_level2, d.n_random
    P = d.X.shape[1]
    r = d.random_columns
    tau = ev.tau
    beta = ev.beta
    G = d.G()                                               # (J, P, F')
    fitted = np.einsum("jpf,f->jp", G, beta)
    work = _working(est)
    if work is None:
        u = np.einsum("rs,js->jr", tau, ev.ZVe)
    else:   # exact mode: from the working basis, u_j = E_R u_w,j (docs/engine.md, section 7)
        evw = work.evaluation
        u_w = np.einsum("rs,js->jr", evw.tau, evw.ZVe)
        u = u_w @ work.basis.E_R.T
    eb_coef = fitted.copy()
    eb_coef[:, r] += u

    TZVZT = tau @ ev.ZVZ @ tau
    B = tau @ ev.ZVA                                        # (J, R, F') = T Z'V^-1 A
    BMB = B @ ev.beta_cov @ np.swapaxes(B, 1, 2)
    cond = tau - TZVZT
    reml_cov = cond + BMB
    posterior = reml_cov if est.reml else cond
    D = G[:, r, :] - B
    coef_cov = D @ ev.beta_cov @ np.swapaxes(D, 1, 2) + cond
    u_cov = TZVZT - BMB
    sym = lambda a: 0.5 * (a + np.swapaxes(a, 1, 2))
    cond, posterior, coef_cov, u_cov = sym(cond), sym(posterior), sym(coef_cov), sym(u_cov)
    if work is None:
        mdist, rank = sym_pinv_quadratic(u_cov, u)
    else:   # u'Var(u)^+ u is the same in every basis: formed where it is well conditioned
        Bw = evw.tau @ evw.ZVA
        u_cov_w = sym(evw.tau @ evw.ZVZ @ evw.tau - Bw @ evw.beta_cov @ np.swapaxes(Bw, 1, 2))
        mdist, rank = sym_pinv_quadratic(u_cov_w, u_w)
    chipct = chi_square_order_quantiles(mdist, R)

    # OLS residuals of the random coefficients (fixed part at gamma_hat removed), as in the
    # chi-square test of tau_qq (inference/variance.py), but at this evaluation's gamma_hat:
    # the OLS coefficients of e_j = y_j - X_j (G_j gamma_hat) on Z_j, from the centred moments
    # (inference/unit_fit.py; no offset of y or x costs digits).  Which units have enough data
    # is decided on the cross-products, as before.
    # unweighted moments of [X, y] (the fit's, unless sigma^2_ij are estimated: then those of
    # the rows, kept by an out-of-core design)
    weighted = (getattr(est, "row_precision", None) is not None
                or getattr(est, "heterogeneous", None) is not None)
    if est.working is not None and est.working.moments is not None and not weighted:
        mom = est.working.moments
    elif not getattr(d, "rows_in_memory", True):
        mom = d.moments  # type: ignore[attr-defined]  # an out-of-core design keeps them
    else:
        mom = design_moments(d)
    raw = mom.raw()
    XX, Xy = raw[:, :P, :P], raw[:, :P, P]
    fixed_cols = np.setdiff1d(np.arange(P), r)
    rhs = Xy[:, r] - np.einsum("jrf,jf->jr", XX[:, r][:, :, fixed_cols], fitted[:, fixed_cols])
    ok_r, _, _ = unit_ols(XX[:, r][:, :, r], rhs, d.n_per_unit)
    p0 = intercept_column(d)
    target = np.concatenate([-fitted, np.ones((J, 1))], axis=1)       # e_j = [X, y] a_j
    ols_resid = centred_unit_ols(mom, r, target, p0).coef

    n = d.n_per_unit.astype(float)
    ok_full, _, _ = unit_ols(XX, Xy, d.n_per_unit)
    y_only = np.zeros((J, P + 1))
    y_only[:, P] = 1.0
    sse = centred_unit_ols(mom, np.arange(P), y_only, p0).sse
    olsrsvar = _log_sd(np.where(ok_full, np.clip(sse, 0.0, None), np.nan), n - P)
    common: dict[str, Any] = {
        "unit_ids": np.asarray(d.unit_ids), "n": d.n_per_unit.copy(),
        "coefficient_labels": tuple(c.short_label for c in d.spec.coefficients),
        "coefficient_indices": tuple(c.index for c in d.spec.coefficients),
        "random_positions": r.copy(), "fitted": fitted, "eb_coefficients": eb_coef,
        "eb_residuals": u, "ols_residuals": np.where(ok_r[:, None], ols_resid, np.nan),
        "ols_sufficient": ok_r, "conditional_cov": cond, "posterior_cov": posterior,
        "coefficient_cov": coef_cov, "eb_residual_cov": u_cov, "mdist": mdist,
        "mdist_df": rank, "chipct": chipct, "olsrsvar": olsrsvar, "method": est.method}
    if not getattr(d, "rows_in_memory", True):
        # out of core (openhlm.scale): the per-unit columns from the unweighted moments of
        # [X, y]; the level-1 columns are streamed from the rows when the file is written
        plain = getattr(d, "plain_moments", None)   # without level-1 weights, as in memory
        return EBEstimates(**common, **_row_free_columns(est, mom if plain is None else plain,
                                                         eb_coef),
                           level1_fitted=np.zeros(0), level1_residuals=np.zeros(0),
                           level1_sigma=np.zeros(0))

    # Level-1 fitted values and residuals with the EB coefficients.
    unit = d.unit
    if work is None:
        l1_fitted = np.einsum("ip,ip->i", d.X, eb_coef[unit])
        l1_resid = d.y - l1_fitted
    else:
        # residual y_w - X_w beta*_w in the working basis (shifted, scaled columns: no large
        # terms cancel), fitted value y - residual
        bs = work.basis
        eb_w = np.einsum("jpf,f->jp", bs.G, evw.beta)
        eb_w[:, r] += u_w
        Xw = (d.X - bs.shift[:P]) / bs.scale[:P]
        l1_resid = (d.y - bs.shift[P]) - np.einsum("ip,ip->i", Xw, eb_w[unit])
        l1_fitted = d.y - l1_resid
    precision = row_precision(est)
    sigma = np.sqrt(ev.sigma2 / precision) if precision is not None else np.full(
        d.n_level1, np.sqrt(ev.sigma2))

    ybar = np.bincount(unit, weights=d.y, minlength=J) / n
    ss_tot = np.bincount(unit, weights=(d.y - ybar[unit]) ** 2, minlength=J)
    lntotvar = _log_sd(ss_tot, n - 1)
    mdrsvar = _log_sd(np.bincount(unit, weights=l1_resid**2, minlength=J), n)
    return EBEstimates(**common, lntotvar=lntotvar, mdrsvar=mdrsvar, level1_fitted=l1_fitted,
                       level1_residuals=l1_resid, level1_sigma=sigma)


def level1_linear_form(est: Estimates) -> tuple[np.ndarray, np.ndarray, float]:
    """The level-1 residual as a linear form in each unit's design row, for a pass over rows
    that are not in memory (:mod:`openhlm.scale.residuals`).

    Returns ``(coef, shift, shift_y)``: (J, P) and (P,) with, for the design row x_ij of unit j
    (centred as in the model),

        L1RESID_ij = (y_ij - shift_y) - sum_p (x_ijp - shift_p) coef_jp,

    the arithmetic of :func:`eb_estimates` (the working basis of an exact fit: shifted, scaled
    columns, so no large terms cancel; otherwise shift = 0 and coef the EB coefficients).
    """
    d, ev = est.design, est.evaluation
    r = d.random_columns
    P = len(d.spec.coefficients)
    work = _working(est)
    if work is None:
        coef = np.einsum("jpf,f->jp", d.G(), ev.beta)
        coef[:, r] += np.einsum("rs,js->jr", ev.tau, ev.ZVe)
        return coef, np.zeros(P), 0.0
    evw, bs = work.evaluation, work.basis
    eb_w = np.einsum("jpf,f->jp", bs.G, evw.beta)
    eb_w[:, r] += np.einsum("rs,js->jr", evw.tau, evw.ZVe)
    return eb_w / bs.scale[:P], np.asarray(bs.shift[:P], dtype=float), float(bs.shift[P])


def _row_free_columns(est: Estimates, mom: UnitMoments, eb_coef: np.ndarray
                      ) -> dict[str, Any]:
    """LNTOTVAR and MDRSVAR from the unweighted per-unit moments of [X, y] (n_j, means m_j,
    centred cross-products C_j): sum_i (y_ij - ybar_j)^2 = C_j,yy and, for the residual
    a_j'[x_ij, y_ij] - b_j of :func:`level1_linear_form`,
    sum_i e_ij^2 = n_j (a_j'm_j - b_j)^2 + a_j'C_j a_j."""
    d = est.design
    P = eb_coef.shape[1]
    n = d.n_per_unit.astype(float)
    lntotvar = _log_sd(mom.centred[:, P, P].copy(), n - 1)
    coef, shift, shift_y = level1_linear_form(est)
    a = np.concatenate([-coef, np.ones((coef.shape[0], 1))], axis=1)
    mean_e = (mom.mean[:, P] - shift_y) - np.einsum("jp,jp->j", mom.mean[:, :P] - shift, coef)
    ss = n * mean_e**2 + np.einsum("ja,jab,jb->j", a, mom.centred, a)
    return {"lntotvar": lntotvar, "mdrsvar": _log_sd(np.clip(ss, 0.0, None), n)}
