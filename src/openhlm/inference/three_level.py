"""Every number HLM3 prints, computed once from :class:`Estimates3`: :func:`infer3`.

* Fixed effects: model-based SEs ``sqrt(diag(sigma^2 (A'V^-1A)^-1))`` and robust SEs (CR0
  sandwich clustered on level-3 units), t ratios, HLM's approximate d.f.: ``K - F_pq`` for a
  gamma of ``Bpq`` random at level 3; else ``J - F_p`` (``F_p`` gammas of ``Pp``) when ``Pp``
  is random at level 2; else ``N - F``.
* Reliabilities (Raudenbush & Bryk 2002, ch. 8): level 2, the mean over level-2 units with
  full-rank ``Z2'Z2`` of ``tau_pi,pp / (tau_pi,pp + v_jk,pp)``, ``v_jk = sigma^2 (Z2'Z2)^-1``
  (the unit's OLS sampling variance of its random pi's); level 3, the mean over level-3 units of
  ``tau_beta,qq / (tau_beta,qq + V_k,qq)``, ``V_k = sigma^2 (Z3' V_b^-1 Z3)_k^-1`` (the
  sampling variance of the unit's GLS estimate given level 2).
* Chi-square tests of tau = 0: level 3, ``sum_k d_kq^2 / V_k,qq`` over those units, ``d_k`` the
  unit's GLS deviation of its random betas from the fitted fixed part, d.f. ``K' - F_pq``;
  level 2, ``sum_j d_jp^2 / v_jk,pp`` over units with more rows than random pi's, ``d_j`` the
  unit's OLS deviation of its random pi's from the fitted fixed part plus the level-3 empirical
  Bayes effects, d.f. ``J' - Q_p`` (``Q_p`` betas in the equation of ``Pp``).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import special
from scipy import stats as sps

from openhlm.errors import HypothesisError
from openhlm.estimation.three_level.design import level1_values, level2_values, level3_values
from openhlm.estimation.three_level.fit import Estimates3, variance_covariance
from openhlm.estimation.three_level.likelihood import level3_blocks, random_effects
from openhlm.estimation.three_level.small import (
    bmm,
    equilibrated_condition_and_inverse,
    inverse,
    left,
)
from openhlm.inference.glh import parse_hypothesis_rows, wald_test
from openhlm.inference.residuals import chi_square_order_quantiles
from openhlm.results.hypotheses import DevianceTest, GLHResult, LinearHypothesis
from openhlm.results.three_level import FixedEffect3, HLM3Results, VarianceComponent3

__all__ = ["compare3", "deviance_test3", "glh3", "infer3"]


_LOG_2PI = float(np.log(2.0 * np.pi))


def _two_sided(t: float, df: float) -> float:
    return float(2.0 * special.stdtr(df, -abs(t))) if np.isfinite(t) else float("nan")


def infer3(est: Estimates3, *, mode: str = "exact") -> HLM3Results:
    """The :class:`HLM3Results` of ``est``."""
    design = est.design
    spec = design.spec
    N, J, K = design.n1, design.n2, design.n3
    se = np.sqrt(np.diag(est.cov_gamma))
    rse = np.sqrt(np.diag(est.cov_gamma_robust))
    rows = []
    Kc = _constraints(design)
    # each gamma: (pi, beta, predictor label, equation key); a shared (constrained) gamma
    # belongs to the equation of its first gamma, and the d.f. count free parameters
    info = []
    for pi in spec.pis:
        for beta in pi.betas:
            eq = beta.equation
            preds = (["INTRCPT3"] if eq.intercept else []) + [p.name.upper()
                                                              for p in eq.predictors]
            info += [(pi, beta, pred) for pred in preds]
    first = [int(np.flatnonzero(Kc[:, k])[0]) for k in range(Kc.shape[1])]
    Fp = len(first)
    per_beta: dict[tuple[int, int], int] = {}
    per_pi: dict[int, int] = {}
    for f in first:
        pi, beta, _ = info[f]
        per_beta[(beta.p, beta.q)] = per_beta.get((beta.p, beta.q), 0) + 1
        per_pi[pi.index] = per_pi.get(pi.index, 0) + 1
    for k, f in enumerate(first):
        pi, beta, pred = info[f]
        if beta.equation.random:
            df = K - per_beta[(beta.p, beta.q)]
        elif pi.random:
            df = J - per_pi[pi.index]
        else:
            df = N - Fp
        t, rt = est.gamma[k] / se[k], est.gamma[k] / rse[k]
        rows.append(FixedEffect3(pi=pi.label, beta=beta.label, predictor=pred,
                                 gamma=design.gamma_labels[k], estimate=float(est.gamma[k]),
                                 se=float(se[k]), t=float(t), df=int(df),
                                 p=_two_sided(t, df), robust_se=float(rse[k]),
                                 robust_t=float(rt), robust_p=_two_sided(rt, df)))
    rel2, rel3, chi2 = _reliability_and_chi2(est)
    random_pis = spec.random_pis
    random_betas = spec.random_betas
    components = [VarianceComponent3(1, "e", "level-1", float(np.sqrt(est.sigma2)),
                                     float(est.sigma2))]
    for i, pi in enumerate(random_pis):
        v = float(est.tau_pi[i, i])
        df, c, p = chi2["level2"][i]
        components.append(VarianceComponent3(2, f"R{pi.index}", pi.short_label,
                                             float(np.sqrt(max(v, 0))), v, df, c, p))
    beta_labels = []
    for i, beta in enumerate(random_betas):
        pi = next(p for p in spec.pis if p.index == beta.p)
        label = f"{pi.short_label}/{beta.label}"
        beta_labels.append(label)
        v = float(est.tau_beta[i, i])
        df, c, p = chi2["level3"][i]
        components.append(VarianceComponent3(3, f"U{beta.p}{beta.q}", label,
                                             float(np.sqrt(max(v, 0))), v, df, c, p))
    eb = _eb(est)
    ses = _variance_ses(est)
    post = _posterior(est)
    mdist2, df2 = _mahalanobis(post.pop("_ucov2", np.zeros((J, 0, 0))), eb["eb_level2"])
    mdist3, df3 = _mahalanobis(post.pop("_ucov3", np.zeros((K, 0, 0))), eb["eb_level3"])
    residual_columns = {
        "mdist_level2": mdist2, "chipct_level2": chi_square_order_quantiles(mdist2, df2),
        "mdist_level3": mdist3, "chipct_level3": chi_square_order_quantiles(mdist3, df3),
        "ols_level2": chi2.pop("ols_level2"), "ols_level3": chi2.pop("ols_level3"),
        **_unit_variances(est, eb["level1_fitted"]),
        "data_frames": (design.mdm.level1, design.mdm.level2, design.mdm.level3)}
    weighting = getattr(design, "weighting", None)
    notes: tuple[str, ...] = ()
    if weighting is not None and (weighting.level1 or weighting.level2 or weighting.level3):
        notes = ((f"Design weights were used (pseudo-maximum likelihood, normalisation: "
                  f"{weighting.normalization}): read the robust standard errors; the "
                  "model-based ones treat the weights as frequencies of identical units/rows."),)
    one_gamma_reml = est.method == "reml" and len(rows) == 1
    return HLM3Results(
        **eb,
        **ses,
        **post,
        **residual_columns,
        deviance_hlm=float(est.deviance if one_gamma_reml else est.deviance - _LOG_2PI),
        weighting=weighting, notes=notes,
        spec=spec, method=est.method, mode=mode, n_level1=N, n_level2=J, n_level3=K,
        deleted_rows=design.deleted_rows, sources=tuple(design.mdm.sources), fixed=tuple(rows),
        covariance=est.cov_gamma, robust_covariance=est.cov_gamma_robust, sigma2=est.sigma2,
        tau_pi=est.tau_pi, tau_pi_labels=tuple(p.short_label for p in random_pis),
        tau_beta=est.tau_beta, tau_beta_labels=tuple(beta_labels),
        variance_components=tuple(components), reliability_level2=rel2,
        reliability_level3=rel3, deviance=est.deviance, n_parameters=est.n_parameters,
        converged=est.converged, iterations=est.iterations,
        id_names=tuple(design.mdm.ids))  # type: ignore[arg-type]


def _constraints(design: Any) -> np.ndarray:
    """gamma = K theta (identity without constraints)."""
    K = getattr(design, "constraint_matrix", None)
    return np.eye(design.n_fixed) if K is None else K


def _variance_ses(est: Estimates3) -> dict:
    """SEs of sigma^2, tau(pi) and tau(beta) from their asymptotic covariance."""
    stats = est.extras["stats"]
    cov = variance_covariance(stats, est.theta, est.sigma2, est.method == "reml")
    se = np.sqrt(np.clip(np.diag(cov), 0, None)) if np.all(np.isfinite(cov)) else \
        np.full(len(cov), np.nan)
    out: dict = {"sigma2_se": float(se[0])}
    start = 1
    for key, r in (("tau_pi_se", stats.n_r2), ("tau_beta_se", stats.n_r3)):
        m = np.zeros((r, r))
        low = np.tril_indices(r)
        m[low] = se[start:start + len(low[0])]
        out[key] = m + np.tril(m, -1).T
        start += len(low[0])
    return out


def _posterior(est: Estimates3) -> dict:
    """Posterior (co)variances of the EB estimates, batched over units (as the two-level
    residual file's PV and PVC; ``docs/three-level.md``).

    With ``T2 = T_pi / sigma^2``, ``T3 = T_beta / sigma^2``, ``V`` relative to sigma^2, ``Vb``
    its level-2 part (without ``Z3 T3 Z3'``) and ``P_k = (I + Z3k'Vb^-1 Z3k T3)^-1``:

    * given gamma: ``Var(u_k - u*_k) = T_beta P_k`` and ``Var(r_j - r*_j) = T_pi - T_pi
      (Z2j'Vj^-1 Z2j - Q23 T3 P_k Q23') T_pi / sigma^2``, ``Q23 = Z2j'Vj^-1 Z3j``;
    * with gamma's uncertainty (REML, and the EB coefficients under both methods), plus
      ``B Cov(gamma) B'`` with ``B_k = T3 Z3k'V_k^-1 A_k`` and ``B_j = T2 Z2j'(V^-1 A)_j``
      (``- G_k`` for the coefficients ``G_k gamma + u_k``).
    """
    stats = est.extras["stats"]
    design = est.design
    F, r3, r2, g = stats.n_fixed, stats.n_r3, stats.n_r2, stats.g
    s2 = est.sigma2
    J, K = design.n2, design.n3
    reml = est.method == "reml"
    # centred columns: A = A_c T^-1 (Stats3.to_original), so B_orig = B_c T^-1
    Tinv: np.ndarray = np.eye(F)
    if stats.intercept is not None:
        Tm = np.eye(F)
        Tm[stats.intercept] -= stats.shift
        Tinv = np.linalg.inv(Tm)
    cov = est.cov_gamma
    out = {"posterior_level2": np.zeros((J, r2, r2)),
           "posterior_level3": np.zeros((K, r3, r3)),
           "posterior_coef_level3": np.zeros((K, r3, r3))}
    T3 = est.tau_beta / s2
    if r3:
        Wk = level3_blocks(stats, est.theta)
        z = list(range(F, F + r3))
        Wzz = Wk[:, z][:, :, z]
        Wza = Wk[:, z, :F]
        P = np.linalg.inv(np.eye(r3) + Wzz @ T3)                           # (K, r3, r3)
        cond = est.tau_beta @ P
        cond = 0.5 * (cond + np.swapaxes(cond, 1, 2))
        B = np.einsum("ab,kbc->kac", T3, P @ Wza) @ Tinv                   # (K, r3, F)
        extra = B @ cov @ np.swapaxes(B, 1, 2)
        out["posterior_level3"] = cond + extra if reml else cond
        ucov = est.tau_beta - cond - extra          # Var(u*_k): T Z'PZ T (MDIST)
        out["_ucov3"] = 0.5 * (ucov + np.swapaxes(ucov, 1, 2))
        G = np.zeros((K, r3, _constraints(design).shape[0]))
        f = col = 0
        for beta in design.spec.betas:
            eq = beta.equation
            preds = ([None] if eq.intercept else []) + list(eq.predictors)
            if eq.random:
                for i, pred in enumerate(preds):
                    G[:, col, f + i] = level3_values(design.mdm, pred)
                col += 1
            f += len(preds)
        G = G @ _constraints(design)
        D = G - B
        out["posterior_coef_level3"] = cond + D @ cov @ np.swapaxes(D, 1, 2)
    if r2:
        S = stats.S
        T2 = est.tau_pi / s2
        S22 = S[:, g:, g:]
        # per-unit products of tiny matrices by broadcasting (small.bmm; numpy's stacked
        # matmul calls a routine per unit)
        M2 = left(T2, inverse(np.eye(r2) + bmm(S22, np.broadcast_to(T2, S22.shape))))
        SM = bmm(S22, M2)
        Q22 = S22 - bmm(SM, S22)
        Q2A = S[:, g:, :F] - bmm(SM, S[:, g:, :F])
        inner = Q22
        if r3:
            S23 = S[:, g:, F:F + r3]
            Q23 = S23 - bmm(SM, S23)
            TP = (T3 @ P)[stats.level3_of]                                 # (J, r3, r3)
            Q23TP = bmm(Q23, TP)
            inner = Q22 - bmm(Q23TP, np.swapaxes(Q23, 1, 2))
            Q2A = Q2A - bmm(Q23TP, Wza[stats.level3_of])
        cond = s2 * (T2 - np.swapaxes(left(T2, np.swapaxes(left(T2, inner), 1, 2)), 1, 2))
        cond = 0.5 * (cond + np.swapaxes(cond, 1, 2))
        B2 = np.tensordot(left(T2, Q2A), Tinv, axes=([2], [0]))
        extra2 = bmm(np.tensordot(B2, cov, axes=([2], [0])), np.swapaxes(B2, 1, 2))
        ucov = est.tau_pi - cond - extra2           # Var(r*_j): T Z'PZ T (MDIST)
        out["_ucov2"] = 0.5 * (ucov + np.swapaxes(ucov, 1, 2))
        if reml:
            cond = cond + extra2
        out["posterior_level2"] = cond
    return out


def _eb(est: Estimates3) -> dict:
    """The empirical Bayes block of the results (residual files)."""
    stats = est.extras["stats"]
    design = est.design
    mdm = design.mdm
    gamma_c = est.gamma.copy()
    if stats.intercept is not None:
        gamma_c[stats.intercept] += float(stats.shift @ est.gamma) - stats.y_mean
    r_hat, u_hat = random_effects(stats, est.theta, gamma_c)
    fixed = np.zeros((design.n3, len(design.spec.random_betas)))
    gamma_all = _constraints(design) @ est.gamma
    f = 0
    col = 0
    for beta in design.spec.betas:
        eq = beta.equation
        preds = ([None] if eq.intercept else []) + list(eq.predictors)
        if eq.random:
            for k, pred in enumerate(preds):
                fixed[:, col] += gamma_all[f + k] * level3_values(mdm, pred)
            col += 1
        f += len(preds)
    ids3 = np.asarray(mdm.level3_ids)
    unit = np.asarray(design.unit_index)
    fitted = design.A @ est.gamma
    if r_hat.shape[1]:
        fitted = fitted + np.einsum("na,na->n", design.Z2, r_hat[unit])
    if u_hat.shape[1]:
        fitted = fitted + np.einsum("na,na->n", design.Z3, u_hat[design.row_level3_index])
    spec = design.spec
    names = list(dict.fromkeys([spec.outcome, *spec.level1_variables()]))
    level1 = pd.DataFrame({name: mdm.level1[name].to_numpy() for name in names})
    return {
        **_graph_data(design),
        "level1_unit": unit, "level1_fitted": fitted, "level1_data": level1,
        # the MDM holds the IDs as str already (MDM and MDM3 validate them)
        "level2_ids": tuple(np.asarray(mdm.unit_ids, dtype=object).tolist()),
        "level2_level3": tuple(ids3.astype(object)[np.asarray(design.level3_index)].tolist()),
        "level2_n": np.bincount(design.unit_index, minlength=design.n2),
        "eb_level2": r_hat,
        "level3_ids": tuple(ids3.astype(object).tolist()),
        "level3_n": np.bincount(design.level3_index, minlength=design.n3),
        "eb_level3": u_hat,
        "fixed_level3": fixed,
    }


def _graph_data(design: Any) -> dict:
    """The predictors as they enter the model (``name|centring`` columns) and the raw level-2
    and level-3 predictors, for the model graph."""
    spec, mdm = design.spec, design.mdm
    unit = np.asarray(design.unit_index)
    l1, l2, l3 = {}, {}, {}
    for pi in spec.pis:
        if pi.predictor is not None:
            l1[f"{pi.predictor.name}|{pi.predictor.centering.value}"] = level1_values(
                mdm, pi.predictor, unit, design.n2)
        for beta in pi.betas:
            if beta.predictor is not None:
                l2[f"{beta.predictor.name}|{beta.predictor.centering.value}"] = level2_values(
                    mdm, beta.predictor)
            for pred in beta.equation.predictors:
                l3[f"{pred.name}|{pred.centering.value}"] = level3_values(mdm, pred)
    return {
        "level1_design": pd.DataFrame(l1, index=pd.RangeIndex(design.n1)),
        "level2_design": pd.DataFrame(l2, index=pd.RangeIndex(design.n2)),
        "level3_design": pd.DataFrame(l3, index=pd.RangeIndex(design.n3)),
        "level2_data": pd.DataFrame({n: mdm.level2[n].to_numpy(dtype=float)
                                     for n in spec.level2_variables()},
                                    index=pd.RangeIndex(design.n2)),
        "level3_data": pd.DataFrame({n: mdm.level3[n].to_numpy(dtype=float)
                                     for n in spec.level3_variables()},
                                    index=pd.RangeIndex(design.n3)),
    }


def _reliability_and_chi2(est: Estimates3) -> tuple[tuple[float, ...], tuple[float, ...],
                                                    dict[str, list]]:
    stats = est.extras["stats"]
    design = est.design
    F, r3, r2, g = stats.n_fixed, stats.n_r3, stats.n_r2, stats.g
    sigma2 = est.sigma2
    # centred gamma (the statistics are of the centred columns)
    gamma_c = est.gamma.copy()
    if stats.intercept is not None:
        gamma_c[stats.intercept] += float(stats.shift @ est.gamma) - stats.y_mean
    spec = design.spec
    out: dict[str, list] = {"level2": [], "level3": []}
    # ---- level 3
    rel3: list[float] = []
    u_hat = np.zeros((design.n3, r3))
    ols3 = np.full((design.n3, r3), np.nan)
    ols2 = np.full((design.n2, r2), np.nan)
    if r3:
        Wk = level3_blocks(stats, est.theta)
        z = list(range(F, F + r3))
        Wzz = Wk[:, z][:, :, z]
        s = Wk[:, z, F + r3] - Wk[:, z][:, :, :F] @ gamma_c      # Z3'V_b^-1 r
        T3 = est.tau_beta / sigma2
        # EB: T3 Z3'V_k^-1 r = T3 (I + Wzz T3)^-1 s
        u_hat = np.einsum("ab,kb->ka", T3, np.linalg.solve(
            np.eye(r3) + Wzz @ T3, s[:, :, None])[:, :, 0])
        cond3, inv3 = equilibrated_condition_and_inverse(Wzz)     # scale-free, batched
        good = cond3 < 1e12
        Vk = sigma2 * inv3[good]
        d = np.linalg.solve(Wzz[good], s[good][:, :, None])[:, :, 0]
        ols3[good] = d
        for i, beta in enumerate(spec.random_betas):
            tau = est.tau_beta[i, i]
            rel3.append(float(np.mean(tau / (tau + Vk[:, i, i]))))
            c = float(np.sum(d[:, i] ** 2 / Vk[:, i, i]))
            df = int(good.sum()) - beta.equation.n_gammas
            out["level3"].append((df, c, float(sps.chi2.sf(c, df)) if df > 0 else None))
    # ---- level 2
    rel2: list[float] = []
    if r2:
        S = stats.S
        Szz = S[:, g:, g:]
        n_j = np.bincount(design.unit_index, minlength=design.n2)
        cond, inv_all = equilibrated_condition_and_inverse(Szz)   # closed form for 2 x 2
        good = (cond < 1e12) & (n_j > r2)
        ok = cond < 1e12
        inv = inv_all[ok]
        for i in range(r2):
            tau = est.tau_pi[i, i]
            rel2.append(float(np.mean(tau / (tau + sigma2 * inv[:, i, i]))))
        rhs = S[:, g:, F + r3] - S[:, g:, :F] @ gamma_c
        if r3:
            rhs = rhs - np.einsum("jab,jb->ja", S[:, g:, F:F + r3],
                                  u_hat[design.level3_index])
        inv_good = inv_all[good]
        d = bmm(inv_good, rhs[good][:, :, None])[:, :, 0]
        ols2[good] = d
        for i, pi in enumerate(spec.random_pis):
            c = float(np.sum(d[:, i] ** 2 / (sigma2 * inv_good[:, i, i])))
            df = int(good.sum()) - len(pi.betas)
            out["level2"].append((df, c, float(sps.chi2.sf(c, df)) if df > 0 else None))
    out["ols_level2"], out["ols_level3"] = ols2, ols3   # type: ignore[assignment]
    return tuple(rel2), tuple(rel3), out


def _mahalanobis(cov: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, int]:
    """``u' cov^+ u`` per unit (a stack of symmetric PSD matrices) and the number of random
    effects (the chi-square d.f. of CHIPCT, as for the two-level file)."""
    if not u.shape[1]:
        return np.full(len(u), np.nan), 0
    vals, vecs = np.linalg.eigh(cov)
    top = np.max(np.abs(vals), axis=1, keepdims=True)
    keep = vals > 1e-10 * np.maximum(top, 1e-300)
    proj = np.einsum("jrk,jr->jk", vecs, u)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(keep, proj**2 / np.where(keep, vals, 1.0), 0.0)
    return terms.sum(axis=1), u.shape[1]


def _full_rank(M: np.ndarray) -> np.ndarray:
    """``np.linalg.matrix_rank(M) == q`` for finite (J, q, q) M; for q = 1 the singular value
    is |m| and matrix_rank's rule (``s > s.max() * max(M, N) * eps``) reads ``|m| > |m| eps``,
    so it is evaluated directly (a batched SVD of 1 x 1 blocks costs more than the fit)."""
    q = M.shape[-1]
    if q == 1 and np.all(np.isfinite(M)):
        s = np.abs(M[:, 0, 0])
        return s > s * np.finfo(M.dtype).eps
    return np.linalg.matrix_rank(M) == q


def _unit_variances(est: Estimates3, fitted: np.ndarray) -> dict:
    """Per level-2 unit, as the two-level file: ``LNTOTVAR`` ln SD of the outcome, ``OLSRSVAR``
    ln residual SD of the unit's OLS fit on the level-1 model's predictors (NaN without
    enough rows), ``MDRSVAR`` ln residual SD with the EB coefficients (FITVAL)."""
    design = est.design
    unit, J = np.asarray(design.unit_index), design.n2
    y = design.y
    n = np.bincount(unit, minlength=J).astype(float)
    cols = [level1_values(design.mdm, pi.predictor, unit, J) for pi in design.spec.pis]
    X = np.column_stack(cols) if cols else np.zeros((len(y), 0))
    starts = np.searchsorted(unit, np.arange(J))

    def unit_mean(v: np.ndarray) -> np.ndarray:
        return (np.bincount(unit, weights=v, minlength=J) / n)[unit]

    yc = y - unit_mean(y)
    intercept = any(pi.predictor is None for pi in design.spec.pis)
    if intercept:    # unit-centred columns: the intercept is absorbed, no cancellation
        Xs = np.column_stack([X[:, i] - unit_mean(X[:, i]) for i in range(X.shape[1])
                              if design.spec.pis[i].predictor is not None]) \
            if X.shape[1] > 1 else np.zeros((len(y), 0))
        target = yc
    else:
        Xs, target = X, y
    P = X.shape[1]
    D = np.column_stack([Xs, target])
    S = np.add.reduceat(D[:, :, None] * D[:, None, :], starts, axis=0)
    q = Xs.shape[1]
    XX, Xy, yy = S[:, :q, :q], S[:, :q, q], S[:, q, q]
    ok = (n > P) & (_full_rank(XX)) if q else n > P
    sse = np.full(J, np.nan)
    if q:
        sol = np.zeros((J, q))
        sol[ok] = np.linalg.solve(XX[ok], Xy[ok][:, :, None])[:, :, 0]
        sse[ok] = yy[ok] - np.einsum("ja,ja->j", sol[ok], Xy[ok])
    else:
        sse[ok] = yy[ok]

    def log_sd(ss: np.ndarray, dof: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            out = 0.5 * np.log(ss / dof)
        out[~np.isfinite(out) | (dof <= 0)] = np.nan
        return out

    ss_tot = np.bincount(unit, weights=yc**2, minlength=J)
    resid = y - fitted
    return {"lntotvar_level2": log_sd(ss_tot, n - 1),
            "olsrsvar_level2": log_sd(np.clip(sse, 0.0, None), n - P),
            "mdrsvar_level2": log_sd(np.bincount(unit, weights=resid**2, minlength=J), n)}


def glh3(results: HLM3Results, hypotheses: Any, *, robust: bool | None = None) -> GLHResult:
    """General linear hypotheses ``C gamma = d`` on a three-level model's gammas (HLM's
    "Hypothesis Testing"): Wald chi-squares with the robust (primary, as HLM prints) and the
    model-based covariance.

    ``hypotheses``: one hypothesis as text rows (``"G001 = 0; G101 = 0"``, ``"G010 = G020"``)
    or a list of row strings inside a list (``[["G001 = 0", "G101 = 0"]]``); a list of
    strings is a list of hypotheses.
    """
    if isinstance(hypotheses, str):
        items: list[Any] = [hypotheses]
    elif isinstance(hypotheses, (list, tuple)):
        items = list(hypotheses)
    else:
        raise HypothesisError("three-level hypotheses are text rows such as 'G001 = 0; "
                              "G101 = 0' (or a list of them)")
    labels = tuple(r.gamma for r in results.fixed)
    g = np.array([r.estimate for r in results.fixed])
    V, Vr = results.covariance, results.robust_covariance
    primary: Literal["robust", "model"] = "model" if robust is False else "robust"
    out = []
    for h in items:
        C, d, names = parse_hypothesis_rows(h, labels)
        if np.linalg.matrix_rank(C) < C.shape[0]:
            raise HypothesisError(f"the rows of the hypothesis '{'; '.join(names)}' are "
                                  "linearly dependent: remove the redundant rows")
        out.append(LinearHypothesis(
            label="; ".join(names), rows=names, contrast=C, rhs=d, estimate=C @ g - d,
            se=np.sqrt(np.diag(C @ V @ C.T)), robust_se=np.sqrt(np.diag(C @ Vr @ C.T)),
            model=wald_test(g, V, C, d), robust=wald_test(g, Vr, C, d), primary=primary))
    return GLHResult(gammas=labels, coefficients=tuple(r.pi for r in results.fixed),
                     coefficient_codes=tuple(r.gamma[:3].replace("G", "B") for r in
                                             results.fixed),
                     predictors=tuple(r.predictor for r in results.fixed), estimates=g,
                     hypotheses=tuple(out))


def deviance_test3(results: HLM3Results, *, deviance: float, n_parameters: int,
                   other: str = "prior model", convention: str = "standard") -> DevianceTest:
    """Deviance (likelihood-ratio) test of a three-level model against a prior model given by
    its deviance and number of estimated parameters.  ``convention``: of the typed-in
    deviance, ``"standard"`` (-2 log-likelihood, as ``results.deviance`` and lme4) or ``"hlm"``
    (the value HLM prints: the standard one minus log(2 pi), except for a REML model with one
    fixed effect; the current model's deviance is then taken in the same convention,
    ``results.deviance_hlm``), as the two-level
    :func:`openhlm.inference.deviance.deviance_test`.  Under REML only models with the same
    fixed effects are comparable (the caller's responsibility, as in HLM)."""
    if convention not in ("standard", "hlm"):
        raise HypothesisError(f"convention must be 'standard' or 'hlm', not {convention!r}")
    if "multiple_imputation" in results.extras:
        raise HypothesisError(
            "the deviance of results pooled over imputed data sets is an average over the "
            "fits, not a likelihood: a deviance test on it is not valid")
    try:
        prior = float(deviance)
        count = int(n_parameters)
    except (TypeError, ValueError):
        raise HypothesisError("the prior model's deviance and number of parameters must be "
                              "numbers") from None
    if not np.isfinite(prior) or count < 1 or count != n_parameters:
        raise HypothesisError("the prior model's deviance must be finite and its number of "
                              "parameters a whole number of at least 1")
    if count == results.n_parameters:
        raise HypothesisError(f"the prior model has as many parameters as this one ({count}): "
                              "a deviance test compares nested models with different numbers "
                              "of parameters")
    current = results.deviance_hlm if convention == "hlm" else results.deviance
    chi2 = abs(prior - current)
    df = abs(count - results.n_parameters)
    title = ("Statistics for current covariance components model" if results.method == "reml"
             else "Statistics for the current model")
    return DevianceTest(chi2=chi2, df=df, p=float(sps.chi2.sf(chi2, df)),
                        deviance=current, n_parameters=results.n_parameters,
                        other_deviance=prior, other_n_parameters=count, method=results.method,
                        convention=convention,  # type: ignore[arg-type]
                        title=title, labels=("current model", other))


def compare3(a: HLM3Results, b: HLM3Results) -> DevianceTest:
    """Deviance test of two fitted three-level models (nested, same data, same method)."""
    if a.method != b.method:
        raise HypothesisError("compare models fitted with the same method (both REML or both ML)")
    if a.n_level1 != b.n_level1:
        raise HypothesisError("the models were fitted to different numbers of level-1 records")
    if a.method == "reml" and [r.gamma for r in a.fixed] != [r.gamma for r in b.fixed]:
        raise HypothesisError("REML deviances are comparable only for models with the same "
                              "fixed effects; refit both with method='ml'")
    return deviance_test3(a, deviance=b.deviance, n_parameters=b.n_parameters, other="model b")
