"""Everything the HGLM report prints, from :class:`GLMMEstimates`: :func:`infer_glmm`.

* Fixed effects: t = gamma / se with HLM's approximate d.f. (J - F_q for a random
  coefficient's gammas, N - F' otherwise; docs/statistics.md 3), model-based and robust (CR0)
  standard errors, exp(gamma) (odds ratio / event-rate ratio) and its 95% interval
  exp(gamma -/+ t(.975, d.f.) se).
* Variance components: T; the chi-square test of tau_qq = 0 and the reliabilities as for
  linear models (docs/statistics.md 4-5) on the model linearised at the final estimates
  (working variable z = eta - offset + (y - E y) / w with precisions w = Var(y | eta), and
  sigma^2 = 1 or the over-dispersion estimate): HLM computes them from PQL's linearised model.
* MDIST / CHIPCT of the level-2 residual file: the linear model's definition
  (docs/statistics.md 12.1) on the model linearised at the EB modes:
  MDIST_j = u*_j' Var(u*_j)^+ u*_j with Var(u*_j) = T - C_j - B_j M^-1 B_j', C_j the posterior
  covariance of the random effects (PV: the inverse curvature at the mode, Laplace / AGQ; the
  linearised model's for PQL), B_j = C_j Z_j'W_j A_j / sigma^2 (d u*_j / d gamma) and
  M = sum_j A_j'V_j^-1 A_j with V_j = Z_j T Z_j' + sigma^2 W_j^-1, W_j the weights Var(y | eta)
  at the modes; CHIPCT_j the chi-square(R) quantile at (rank_j - 0.5) / J.
* Pooling over multiply imputed data sets (:func:`pooled_fixed_effects`): the fixed-effect rows
  from Rubin's-rules combinations (:func:`openhlm.inference.pooling.rubin_pool`), the ratio and
  its interval from the pooled gamma, SE and Barnard-Rubin d.f.
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from openhlm.errors import HypothesisError
from openhlm.estimation.glmm.data import unit_outer, unit_sum
from openhlm.estimation.glmm.estimates import GLMMEstimates
from openhlm.estimation.weighting import weighting_notes
from openhlm.inference.glh import glh as _linear_glh
from openhlm.inference.residuals import chi_square_order_quantiles, sym_pinv_quadratic
from openhlm.results.glmm import GLMMFixedEffect, GLMMResults, GLMMVarianceComponent
from openhlm.results.hypotheses import DevianceTest, GLHResult
from openhlm.results.imputation import RubinPooled

__all__ = ["glmm_compare", "glmm_glh", "infer_glmm", "linearised", "mahalanobis_distances",
           "pooled_fixed_effects"]


def _p(t: float, df: float) -> float:
    return float(2.0 * special.stdtr(df, -abs(t))) if np.isfinite(t) else float("nan")


def _etas(est: GLMMEstimates) -> tuple[np.ndarray, np.ndarray]:
    """a'beta + o and a'beta + z'u + o per row (the engine's row kernel: no (N, R) gathers,
    no threaded BLAS on N rows)."""
    from openhlm.estimation.glmm.quadrature import kernel
    K = kernel(est.data)
    fixed = K.base(np.asarray(est.beta, dtype=float)).copy()
    return fixed, K.eta(fixed, np.asarray(est.u, dtype=float))


def linearised(est: GLMMEstimates, eta: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
    """The working variable z and precisions w at the final estimates (with the EB u)."""
    d = est.data
    if eta is None:
        eta = _etas(est)[1]
    s, w = d.family.score_weight(eta, d.y, d.n)
    w = np.maximum(w, 1e-12)
    return eta - d.offset + s / w, w


def _exp(x: float) -> float:
    """exp(x), inf beyond the float range (separated outcomes), without a warning."""
    with np.errstate(over="ignore"):
        return float(np.exp(x))


def _standard_error(variance: float) -> float:
    """sqrt of a variance; NaN (reported in the notes, never a numpy warning) when the
    covariance matrix is not positive definite there."""
    v = float(variance)
    return float(np.sqrt(v)) if np.isfinite(v) and v >= 0.0 else float("nan")


def _fixed_effects(est: GLMMEstimates, beta: np.ndarray | None = None,
                   cov: np.ndarray | None = None, cov_robust: np.ndarray | None = None
                   ) -> tuple[list[GLMMFixedEffect], np.ndarray]:
    beta = est.beta if beta is None else beta
    cov = est.cov_beta if cov is None else cov
    cov_robust = est.cov_beta_robust if cov_robust is None else cov_robust
    design = est.data.design
    spec = design.spec
    K = design.constraint_matrix
    first = [int(np.flatnonzero(K[:, k])[0]) for k in range(K.shape[1])]
    info = []
    for p, coef in enumerate(spec.coefficients):
        if coef.equation.intercept:
            info.append((p, "INTRCPT2", "none"))
        for pred in coef.equation.predictors:
            info.append((p, pred.name, pred.centering.value))
    owner = np.array([info[f][0] for f in first], dtype=int)
    F_q = np.bincount(owner, minlength=len(spec.coefficients))
    J, N, Fp = design.n_level2, design.n_level1, design.n_free_gammas
    rows = []
    exp = _exp
    for k, f in enumerate(first):
        p, predictor, centering = info[f]
        coef = spec.coefficients[p]
        df = J - int(F_q[p]) if coef.equation.random else N - Fp
        b = float(beta[k])
        se, rse = _standard_error(cov[k, k]), _standard_error(cov_robust[k, k])
        crit = float(stats.t.ppf(0.975, df)) if df > 0 else float("nan")
        t = b / se if se > 0 else float("nan")
        rt = b / rse if rse > 0 else float("nan")
        rows.append(GLMMFixedEffect(
            coefficient=coef.label, coefficient_index=coef.index, predictor=predictor,
            gamma=design.gamma_labels[f], estimate=b, se=se, t=t, df=int(df), p=_p(t, df),
            ratio=exp(b), ci_low=exp(b - crit * se),
            ci_high=exp(b + crit * se), robust_se=rse, robust_t=rt,
            robust_p=_p(rt, df), robust_ci_low=exp(b - crit * rse),
            robust_ci_high=exp(b + crit * rse),
            constrained=bool(K[:, k].sum() > 1), centering=centering))
    return rows, F_q


def _chi_square(est: GLMMEstimates, eta: np.ndarray | None = None
                ) -> tuple[list[float | None], list[int | None], list[float], int]:
    """Chi-square of tau_qq = 0 and reliabilities on the linearised model (statistics.md 4-5)."""
    d = est.data
    design = d.design
    spec = design.spec
    z, w = linearised(est, eta)
    sigma2 = est.sigma2 if est.sigma2 is not None else 1.0
    gamma = est.gamma
    rc = design.random_columns
    A_full = design.X[:, design.gamma_column] * design.W[d.unit]
    nonrandom = ~np.isin(design.gamma_column, rc)
    fixed_part = A_full[:, nonrandom] @ gamma[nonrandom]
    XR = design.X[:, rc]
    J, R = d.J, rc.size
    XtX = unit_outer(d.unit, w, XR, XR, J)
    Xty = unit_sum(d.unit, XR * (w * (z - fixed_part))[:, None], J)
    eig = np.linalg.eigvalsh(XtX)
    ok = (design.n_per_unit > R) & (eig[:, 0] > 1e-10 * np.maximum(eig[:, -1], 1e-300))
    Jp = int(ok.sum())
    chis: list[float | None] = []
    dfs: list[int | None] = []
    rel: list[float] = []
    if Jp == 0:
        return [None] * R, [None] * R, [float("nan")] * R, 0
    inv = np.linalg.inv(XtX[ok])
    bhat = np.einsum("jab,jb->ja", inv, Xty[ok])
    for r, p in enumerate(rc):
        cols = np.flatnonzero(design.gamma_column == p)
        fitted = design.W[ok][:, cols] @ gamma[cols]
        V = sigma2 * inv[:, r, r]
        chi = float(np.sum((bhat[:, r] - fitted) ** 2 / V))
        F_q = spec.coefficients[p].equation.n_gammas
        df = Jp - F_q
        chis.append(chi)
        dfs.append(df)
        tau = est.tau[r, r]
        rel.append(float(np.mean(tau / (tau + V))))
    return chis, dfs, rel, Jp


def mahalanobis_distances(est: GLMMEstimates, eta: np.ndarray | None = None
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MDIST_j, CHIPCT_j and the sampling covariances Var(u*_j) (J, R, R) of the EB
    estimates (module docstring), vectorised over units."""
    d = est.data
    if eta is None:
        eta = _etas(est)[1]
    w = np.maximum(d.family.score_weight(eta, d.y, d.n)[1], 1e-12)
    s2 = est.sigma2 if est.sigma2 is not None else 1.0
    J = d.J
    ZWA = unit_outer(d.unit, w, d.Z, d.A, J) / s2                  # (J, R, p)
    C = 0.5 * (est.u_cov + np.swapaxes(est.u_cov, 1, 2))
    B = C @ ZWA                                                    # d u*_j / d beta
    per_unit = np.einsum("jra,jrb->jab", ZWA, B)                   # A'WZ C Z'WA / sigma^4
    uw = d.unit_weight
    wr = w if uw is None else w * uw[d.unit]
    AWA = (d.A * (wr / s2)[:, None]).T @ d.A
    M = AWA - (per_unit.sum(axis=0) if uw is None else np.tensordot(uw, per_unit, axes=1))
    gamma_part = np.einsum("jra,ab,jsb->jrs", B, np.linalg.inv(M), B)
    var = est.tau[None, :, :] - C - gamma_part
    var = 0.5 * (var + np.swapaxes(var, 1, 2))
    mdist, _ = sym_pinv_quadratic(var, np.asarray(est.u, dtype=float))
    chipct = chi_square_order_quantiles(mdist, est.tau.shape[0])
    return mdist, chipct, var


def pooled_fixed_effects(rows: tuple[GLMMFixedEffect, ...], model: RubinPooled,
                         robust: RubinPooled) -> tuple[GLMMFixedEffect, ...]:
    """The fixed-effect rows of a pooled HGLM: the pooled gamma with its model-based and
    robust SEs, t-ratios and p-values (Barnard-Rubin d.f.: ``df`` is the model-based one), and
    exp(gamma) with the 95% intervals exp(gamma -/+ t(.975, nu) SE), nu the Barnard-Rubin d.f.
    of that SE."""
    out = []
    for k, row in enumerate(rows):
        b = float(model.estimate[k])
        ends = []
        for pool in (model, robust):
            df, se = float(pool.df[k]), float(pool.se[k])
            crit = float(stats.t.ppf(0.975, df)) if df > 0 else float("nan")
            ends.append((_exp(b - crit * se), _exp(b + crit * se)))
        out.append(dataclasses.replace(
            row, estimate=b, se=float(model.se[k]), t=float(model.t[k]),
            df=float(model.df[k]), p=float(model.p[k]), ratio=_exp(b),
            ci_low=ends[0][0], ci_high=ends[0][1], robust_se=float(robust.se[k]),
            robust_t=float(robust.t[k]), robust_p=float(robust.p[k]),
            robust_ci_low=ends[1][0], robust_ci_high=ends[1][1]))
    return tuple(out)


def _unit_tables(est: GLMMEstimates, eta: np.ndarray, eta_fixed: np.ndarray
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``results.eb`` (one row per unit) and ``results.level1`` (one row per record)."""
    d = est.data
    design = d.design
    spec = design.spec
    rc = design.random_columns
    kind = "probability" if d.family.is_binomial else "rate"
    level1_cols = {
        "unit": design.unit_ids[d.unit], "outcome": d.y, "eta": eta - d.offset,
        "fitted": d.family.mean(eta) * (d.n if d.family.is_binomial else 1.0),
        kind: d.family.mean(eta - d.offset),
        "eta_fixed": eta_fixed - d.offset}
    level1 = pd.DataFrame(level1_cols)
    eb: dict[str, Any] = {"unit": design.unit_ids, "n": design.n_per_unit}   # one frame at the end
    gamma = est.gamma
    coefs = np.empty((d.J, len(spec.coefficients)))
    fvs = {}
    for p, coef in enumerate(spec.coefficients):
        name = coef.short_label.lower()
        cols = np.flatnonzero(design.gamma_column == p)
        fitted = design.W[:, cols] @ gamma[cols]
        fvs[f"fv_{name}"] = fitted.copy()
        if coef.equation.random:
            r = int(np.flatnonzero(rc == p)[0])
            eb[f"eb_{name}"] = est.u[:, r]
            eb[f"eb_{name}_sd"] = np.sqrt(np.maximum(est.u_cov[:, r, r], 0.0))
            fitted = fitted + est.u[:, r]
        eb[f"b_{name}"] = fitted          # unit-specific coefficient (linear-predictor scale)
        coefs[:, p] = fitted
    for key, values in fvs.items():      # fitted from the level-2 model (random effects 0)
        eb[key] = values
    idx = [spec.coefficients[p].index for p in rc]
    for a in range(rc.size):             # posterior (co)variances of the random effects
        for b in range(a + 1):
            eb[f"pv_{idx[b]}_{idx[a]}"] = est.u_cov[:, b, a]
    eb["mdist"], eb["chipct"], _ = mahalanobis_distances(est, eta)
    n_rows = np.maximum(design.n_per_unit, 1)
    xbar = unit_sum(d.unit, design.X, d.J) / n_rows[:, None]
    eb[f"{kind}_at_means"] = d.family.mean(np.einsum("jp,jp->j", xbar, coefs))
    eb[f"mean_{kind}"] = unit_sum(d.unit, level1_cols[kind], d.J) / n_rows
    base = d.n if d.family.is_binomial else np.exp(d.offset)
    eb[f"observed_{kind}"] = unit_sum(d.unit, d.y, d.J) / unit_sum(d.unit, base, d.J)
    return pd.DataFrame(eb), level1


def infer_glmm(est: GLMMEstimates, *, trials: str | None = None, exposure: str | None = None,
               options: dict | None = None, notes: tuple[str, ...] = ()) -> GLMMResults:
    d = est.data
    design = d.design
    spec = design.spec
    rows, _ = _fixed_effects(est)
    pa_rows = None
    if est.population_average is not None:
        pa_rows = tuple(_fixed_effects(est, *est.population_average)[0])
    eta_fixed, eta = _etas(est)
    chis, dfs, rel, Jp = _chi_square(est, eta)
    rc = design.random_columns
    comps = []
    for r, p in enumerate(rc):
        coef = spec.coefficients[p]
        var = float(est.tau[r, r])
        chi, df = chis[r], dfs[r]
        pv = float(stats.chi2.sf(chi, df)) if chi is not None and df and df > 0 else None
        comps.append(GLMMVarianceComponent(
            effect=f"U{coef.index}", coefficient=coef.label, sd=float(np.sqrt(max(var, 0.0))),
            variance=var, df=df, chi2=chi, p=pv))
    labels = tuple(spec.coefficients[p].short_label for p in rc)
    eb, level1 = _unit_tables(est, eta, eta_fixed)
    all_notes = list(notes) + list(est.notes)
    if design.weighting is not None:
        all_notes += list(weighting_notes(design.weighting))
    if Jp < design.n_level2:
        all_notes.append(f"The chi-square statistics reported above are based on only {Jp} of "
                         f"{design.n_level2} units that had sufficient data for computation. "
                         "Fixed effects and variance components are based on all the data.")
    if est.method == "pql":
        all_notes.append("PQL maximises a quasi-likelihood: no deviance is printed, and "
                         "deviance tests are not available (use method='laplace' or 'agq').")
    if not est.converged:
        all_notes.append(est.message)
    missing_se = [r.gamma for r in rows if not (np.isfinite(r.se) and np.isfinite(r.robust_se))]
    if missing_se:
        all_notes.append(
            f"No standard error for {', '.join(missing_se)}: the covariance matrix of the "
            "fixed effects is not positive definite at these estimates (often a predictor far "
            "from zero, e.g. a calendar year: centre it, grand(x), and fit again).")
    return GLMMResults(
        spec=spec, distribution=d.family.distribution, link=d.family.link, method=est.method,
        quadrature_points=est.nodes if est.method == "agq" else None,
        pql_likelihood=est.linearised_likelihood, fixed_effects=tuple(rows),
        fixed_effects_population_average=pa_rows,
        covariance=est.cov_beta, robust_covariance=est.cov_beta_robust, tau=est.tau,
        tau_labels=labels, variance_components=tuple(comps), reliability=tuple(rel),
        chi2_units=Jp, deviance=est.deviance, n_parameters=est.n_parameters,
        overdispersion=est.sigma2, n_level1=d.N, n_level2=d.J,
        deleted_rows=design.deleted_rows, outcome=spec.outcome, trials=trials,
        exposure=exposure, converged=est.converged, iterations=est.iterations,
        micro_iterations=est.micro_iterations, message=est.message, eb=eb, level1=level1,
        notes=tuple(all_notes), options=dict(options or {}), mode=est.mode,
        micro_history=est.micro_history, weighting=design.weighting, estimates=est)


def glmm_glh(results: GLMMResults, hypotheses: Any, *, robust: bool | None = None
             ) -> GLHResult:
    """General linear hypotheses C gamma = d on an HGLM's (unit-specific) fixed effects:
    Wald chi-squares with the model-based and the robust covariance, as
    :func:`openhlm.glh` for linear models (same hypothesis syntax)."""
    fixed = SimpleNamespace(rows=results.fixed_effects, covariance=results.covariance,
                            robust_covariance=results.robust_covariance)
    view = SimpleNamespace(fixed=fixed, spec=results.spec, estimates=None)
    return _linear_glh(view, hypotheses, robust=robust)  # type: ignore[arg-type]


def _key(r: GLMMResults) -> tuple:
    return (r.outcome.lower(), (r.trials or "").lower(), (r.exposure or "").lower(), r.n_level1,
            r.n_level2)


def _same_data(a: GLMMResults, b: GLMMResults) -> bool:
    """The same records (outcome, trials, exposure, units) and the same design weights."""
    if _key(a) != _key(b):
        return False
    if a.estimates is None or b.estimates is None:
        return True
    da, db = a.estimates.data, b.estimates.data
    same = all(np.array_equal(x, y) for x, y in ((da.y, db.y), (da.n, db.n),
                                                  (da.offset, db.offset), (da.unit, db.unit)))
    for wa, wb in ((da.unit_weight, db.unit_weight),
                   (da.family.row_weight, db.family.row_weight)):
        same = same and ((wa is None and wb is None) or (
            wa is not None and wb is not None and np.allclose(wa, wb, rtol=1e-12, atol=0)))
    return same


def glmm_compare(a: GLMMResults, b: GLMMResults, *,
                 labels: tuple[str, str] = ("model a", "model b")) -> DevianceTest:
    """Deviance (likelihood-ratio) test between two Laplace / AGQ fits of the same data."""
    for r in (a, b):
        if not isinstance(r, GLMMResults):
            raise HypothesisError("glmm_compare() needs two HGLM fits")
        if r.deviance is None:
            raise HypothesisError("PQL has no deviance: refit both models with "
                                  "method='laplace' or method='agq' to compare them")
    if a.distribution != b.distribution:
        raise HypothesisError(f"cannot compare a {a.distribution} model with a "
                              f"{b.distribution} one: their deviances are of different "
                              "likelihoods; fit both with the same distribution")
    if not _same_data(a, b):
        raise HypothesisError("the two models were fitted to different data (outcome, trials, "
                              "exposure, records, units or design weights): a deviance test "
                              "needs both fitted to the same records")
    if (a.method, a.quadrature_points) != (b.method, b.quadrature_points):
        raise HypothesisError(f"cannot compare a {a.method} deviance with a {b.method} one "
                              "(or different numbers of quadrature points): refit both the "
                              "same way")
    if a.n_parameters == b.n_parameters:
        raise HypothesisError(f"both models have {a.n_parameters} estimated parameters: a "
                              "deviance test compares nested models")
    dev_a, dev_b = float(a.deviance), float(b.deviance)   # type: ignore[arg-type]
    chi2 = abs(dev_a - dev_b)
    df = abs(a.n_parameters - b.n_parameters)
    notes = []
    small, large = (dev_a, dev_b) if a.n_parameters < b.n_parameters else (dev_b, dev_a)
    if large > small + 1e-6:
        notes.append("The model with more parameters has the larger deviance: the models are "
                     "not nested, or one fit did not converge.")
    if a.tau.shape != b.tau.shape:
        notes.append("The models differ in their random effects: the chi-square reference "
                     "distribution is conservative for a variance on the boundary (0).")
    return DevianceTest(chi2=chi2, df=df, p=float(stats.chi2.sf(chi2, df)),
                        deviance=dev_a, n_parameters=a.n_parameters,
                        other_deviance=dev_b, other_n_parameters=b.n_parameters,
                        method=a.method, convention="standard",
                        title="Statistics for the model comparison test", labels=labels,
                        notes=tuple(notes))
