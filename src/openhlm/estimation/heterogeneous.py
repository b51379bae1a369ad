"""Heterogeneous level-1 variance: a log-linear model for sigma^2 (docs/statistics.md 10).

Model::

    ln sigma^2_ij = alpha_0 + sum_k alpha_k C_kij,     V_j = Z_j T Z_j' + diag(sigma^2_ij),

with C the user's variance predictors (HS&B: FEMALE).  In the engine this is a level-1 row
precision: with sigma^2 = exp(alpha_0) and the relative precision

    p_ij = exp(-sum_{k>=1} alpha_k C_kij)          (sigma^2_ij = sigma^2 / p_ij),

``unit_stats(design, precision=p)`` gives the cross-products X'Omega X and every likelihood
quantity of :mod:`openhlm.estimation.likelihood` follows unchanged.  Estimation is full ML (as
in HLM; REML is refused by :func:`estimate_heterogeneous`).

Exact mode
    Minimise the ML deviance over x = (theta, alpha_1..K) with sigma^2 (= exp(alpha_0)) and the
    fixed effects profiled out, T = sigma^2 L(theta) L(theta)'.  The gradient in theta is that
    of :func:`~openhlm.estimation.likelihood.profiled_deviance`; in alpha_k it is (envelope
    theorem, dV_j/dalpha_k = diag(C_kij sigma^2_ij))

        d(-2 l)/d alpha_k = sum_ij C_kij sigma^2_ij [ (V_j^-1)_ii - (V_j^-1 e_j)_i^2 ],

    computed row-wise from the Woodbury form V_j^-1 = (Omega - Omega Z K_j Z' Omega)/sigma^2
    (one gather of K_j per row; no loop over units).  The same bounded Newton method as the
    homogeneous model (:mod:`openhlm.estimation.optimise`), with a central-difference Hessian of
    that gradient (:class:`HeterogeneousDeviance`).

HLM mode ("macro iterations", docs/statistics.md 10; the seed prints "macro iteration 4")
    1. Homogeneous fit by HLM's EM (its deviance is HLM's "Homogeneous sigma_squared" row);
       alpha = (ln sigma^2, 0, ..., 0).
    2. Given alpha: EM micro-iterations for (gamma, T) with sigma^2_ij fixed (the T M-step of
       :func:`openhlm.estimation.em.em_step`), until the log-likelihood changes by less than
       the tolerance.
    3. Given (gamma, T): one Fisher-scoring step for alpha with the expected squared residuals
       E_ij = r*_ij^2 + Var(r_ij | Y)_ii:
       alpha += (sum C C')^-1 sum C (E_ij / sigma^2_ij - 1).
    4. Repeat 2-3 until the log-likelihood changes by less than the tolerance between macro
       iterations.
    HLM's exact micro/macro stopping rules are not documented (open question 7); the gap to the
    printed values is recorded in the tests.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from openhlm.errors import ConvergenceWarning, EstimationError
from openhlm.estimation.basis import working_basis
from openhlm.estimation.design import Design
from openhlm.estimation.em import em_step
from openhlm.estimation.estimates import Estimates, WorkingFit
from openhlm.estimation.exact import start_theta
from openhlm.estimation.likelihood import (
    Evaluation,
    evaluate,
    lower_order,
    profiled_deviance,
    theta_to_lower,
)
from openhlm.estimation.objective import Objective, Point
from openhlm.estimation.optimise import minimise
from openhlm.estimation.statistics import UnitMoments
from openhlm.estimation.sufficient import UnitStats, design_moments, stats_from_raw, unit_stats
from openhlm.estimation.variance_model import (
    HeterogeneousFit,
    VarianceDesign,
    checked_variance_design,
)
from openhlm.spec.defaults import (
    EXACT_LIMITS,
    HLM_LIMITS,
    STOP_EXACT,
    STOP_MAX_ITERATIONS,
    STOP_SMALL_CHANGE,
    iteration_limits,
)

__all__ = [
    "HeterogeneousDeviance",
    "HeterogeneousFit",
    "VarianceDesign",
    "alpha_score",
    "estimate_heterogeneous",
    "fisher_scoring_alpha",
    "fit_exact",
    "fit_hlm",
    "refuse_reml",
    "relative_precision",
    "row_terms",
    "variance_design",
]


# -- the variance design -----------------------------------------------------------------------

def _variance_column(design: Design, name: str) -> np.ndarray:
    for frame, per_unit in ((design.level1_data, False), (design.level2_data, True)):
        cols = {str(c).lower(): c for c in frame.columns}
        if name.lower() in cols:
            values = frame[cols[name.lower()]].to_numpy(dtype=float)
            return values[design.unit] if per_unit else values
    raise EstimationError(f"heterogeneous sigma^2: variable '{name}' is not in the data of the "
                          "analysis; name a level-1 variable of the MDM")


def variance_design(design: Design, names: tuple[str, ...] | None = None) -> VarianceDesign:
    """C = [1, C_1, ..., C_K] for the variance predictors, refusing unusable ones.

    Raises
    ------
    EstimationError
        When a variance predictor is missing, constant in the rows of the analysis, or a linear
        combination of the others (with the intercept).
    """
    names = tuple(design.spec.variance_predictors if names is None else names)
    return checked_variance_design(names, lambda name: _variance_column(design, name),
                                   design.n_level1)


def working_variance_predictors(C: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(c, s, C_w): the variance predictors centred and scaled, C_w = [1, (C_k - c_k) / s_k].

    An exact reparameterisation: alpha_w,0 = alpha_0 + sum_k alpha_k c_k and
    alpha_w,k = alpha_k s_k give the same sigma^2_ij (docs/engine.md section 7).
    """
    Ck = C[:, 1:]
    c = Ck.mean(axis=0) if Ck.shape[0] else np.zeros(Ck.shape[1])
    ms = np.sqrt(np.mean((Ck - c) ** 2, axis=0)) if Ck.shape[0] else np.ones(Ck.shape[1])
    s = np.where(np.isfinite(ms) & (ms > 0), ms, 1.0)
    return c, s, np.column_stack([C[:, :1], (Ck - c) / s])


def relative_precision(vd: VarianceDesign, alpha_rest: np.ndarray) -> np.ndarray:
    """p_ij = exp(-sum_{k>=1} alpha_k C_kij)  (sigma^2_ij = exp(alpha_0) / p_ij)."""
    eta = vd.C[:, 1:] @ np.asarray(alpha_rest, dtype=float)
    return np.exp(-np.clip(eta, -700.0, 700.0))


def _total_precision(design: Design, p: np.ndarray) -> np.ndarray:
    return p if design.precision_weights is None else p * design.precision_weights


# -- row-level quantities -------------------------------------------------------------------------

@dataclass(frozen=True)
class RowTerms:
    """Per-row pieces of V_j^-1 at one evaluation (one copy of the row under design weights).

    ``Vinv_diag`` (V_j^-1)_ii, ``Vinv_e`` (V_j^-1 e_j)_i, ``sigma2_i`` sigma^2_ij and
    ``multiplicity`` d_ij * w_j (level-1 design weight times level-2 weight; ones unweighted).
    """

    Vinv_diag: np.ndarray
    Vinv_e: np.ndarray
    sigma2_i: np.ndarray
    multiplicity: np.ndarray


def row_terms(design: Design, stats: UnitStats, ev: Evaluation, p_total: np.ndarray,
              A: np.ndarray | None = None) -> RowTerms:
    """(V^-1)_ii and (V^-1 e)_i for every row, with V^-1 = (Omega - Omega Z K Z' Omega)/sigma^2.

    ``p_total`` is the level-1 precision of each row (relative to sigma^2).
    """
    if A is None:
        A = design.A()
    e = design.y - A @ ev.beta
    ZOe = stats.Zy - stats.ZA @ ev.beta          # (J, R): Z'Omega e per unit
    return _row_terms(design.X[:, design.random_columns], e, design.unit, ZOe, ev.K,
                      ev.sigma2, p_total, _multiplicity(design, stats.unit_weights))


def _multiplicity(design: Design, unit_weights: np.ndarray) -> np.ndarray:
    mult = unit_weights[design.unit]
    return mult if design.row_weights is None else mult * design.row_weights


def _row_terms(Z: np.ndarray, e: np.ndarray, unit: np.ndarray, ZOe: np.ndarray, K: np.ndarray,
               sigma2: float, p_total: np.ndarray, mult: np.ndarray) -> RowTerms:
    """:func:`row_terms` from Z, e = y - A beta, Z'Omega e per unit and K in any one basis
    (V_j, and so every returned quantity, is the same in all of them)."""
    Kz = np.einsum("nrs,ns->nr", K[unit], Z)
    zKz = np.einsum("nr,nr->n", Z, Kz)
    Vinv_diag = (p_total - p_total**2 * zKz) / sigma2
    Vinv_e = p_total * (e - np.einsum("nr,nr->n", Kz, ZOe[unit])) / sigma2
    return RowTerms(Vinv_diag=Vinv_diag, Vinv_e=Vinv_e, sigma2_i=sigma2 / p_total,
                    multiplicity=mult)


def alpha_score(vd: VarianceDesign, rt: RowTerms) -> np.ndarray:
    """Gradient of the ML deviance -2 l with respect to alpha (all K+1 components)."""
    g = rt.multiplicity * rt.sigma2_i * (rt.Vinv_diag - rt.Vinv_e**2)
    return vd.C.T @ g


# -- exact ML ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Point:
    alpha: np.ndarray
    stats: UnitStats
    evaluation: Evaluation
    p_total: np.ndarray
    deviance: float
    working: WorkingFit | None = None   # exact mode: the point in the working basis


class HeterogeneousDeviance(Objective):
    """The ML deviance over x = (theta, alpha_1..K), sigma^2 and the fixed effects profiled.

    Evaluated in the working basis of the homogeneous model (docs/engine.md, section 2; the
    basis does not depend on alpha, and V_j is the same in every basis), so theta is the
    working-basis factor.  Value and gradient analytic (module docstring); the Hessian a
    central difference of the gradient (:meth:`Objective.finite_difference_hessian`), so the
    same bounded Newton method (:mod:`openhlm.estimation.optimise`) minimises it.  Bounds:
    L's diagonal >= 0.
    """

    def __init__(self, design: Design, vd: VarianceDesign, *, sigma2_0: float,
                 tau0: np.ndarray) -> None:
        self.design, self.vd_original = design, vd
        # working variance predictors (C_k - c_k) / s_k: alpha_w,0 = alpha_0 + sum alpha_k c_k,
        # alpha_w,k = alpha_k s_k (exact; a predictor stored as 1e4 + value otherwise makes
        # alpha_0 and alpha_k nearly collinear)
        self.c_alpha, self.s_alpha, Cw = working_variance_predictors(vd.C)
        self.vd = VarianceDesign(C=Cw, labels=vd.labels, names=vd.names)
        self.R = design.n_random
        self.basis = working_basis(design, design_moments(design))
        self.unit_weights = (np.ones(design.n_level2) if design.unit_weights is None
                             else np.asarray(design.unit_weights, dtype=float))
        Xw = design.X @ self.basis.E
        self.Zw = np.ascontiguousarray(Xw[:, design.random_columns])
        self.Aw = np.einsum("np,npf->nf", Xw, self.basis.G[design.unit])
        self.yw = design.y - self.basis.shift[-1]
        self.mult = _multiplicity(design, self.unit_weights)
        theta0 = start_theta(self.basis.tau_to_working(tau0), sigma2_0, self.R)
        self.n_theta = theta0.size
        rows, cols = lower_order(self.R)
        diag = rows == cols
        n_alpha = vd.n_alpha - 1
        self.lower = np.concatenate([np.where(diag, 0.0, -np.inf), np.full(n_alpha, -np.inf)])
        self.upper = np.full(self.lower.size, np.inf)
        self.boundary_candidates = np.flatnonzero(diag)
        self.start = np.maximum(np.concatenate([theta0, np.zeros(n_alpha)]), self.lower)
        self.evaluations = 0

    def statistics(self, a: np.ndarray) -> tuple[np.ndarray, UnitMoments, UnitStats]:
        """(relative precision, moments, working statistics) at alpha_1..K = ``a``."""
        prec = relative_precision(self.vd, a)
        mom = design_moments(self.design, prec)
        return prec, mom, self.basis.stats(mom, self.design.random_columns, self.unit_weights)

    def evaluate(self, x: np.ndarray, order: int = 0) -> Point:
        self.evaluations += 1
        theta, a = x[:self.n_theta], x[self.n_theta:]
        prec, _, stats = self.statistics(a)
        dev, sigma2, g_theta = profiled_deviance(theta, stats, False, gradient=order > 0)
        if not np.isfinite(dev) or (order > 0 and g_theta is None):
            return Point(x=x, value=np.inf)
        if order == 0:
            return Point(x=x, value=float(dev))
        assert g_theta is not None
        L = theta_to_lower(theta, self.R)
        ev = evaluate(stats, sigma2, sigma2 * (L @ L.T))
        p_total = _total_precision(self.design, prec)
        e = self.yw - self.Aw @ ev.beta
        ZOe = stats.Zy - stats.ZA @ ev.beta
        rt = _row_terms(self.Zw, e, self.design.unit, ZOe, ev.K, sigma2, p_total, self.mult)
        grad = np.concatenate([g_theta, alpha_score(self.vd, rt)[1:]])
        hess = self.finite_difference_hessian(x, grad) if order > 1 else None
        return Point(x=x, value=float(dev), gradient=grad, hessian=hess)

    def point(self, x: np.ndarray) -> _Point:
        """The fit at x, in the original basis and the original alpha (sigma^2 = exp(alpha_0),
        p_ij = exp(-sum alpha_k C_kij) with the user's C)."""
        theta, a_w = x[:self.n_theta], x[self.n_theta:]
        _, _, stats_w = self.statistics(a_w)
        dev, sigma2_w, _ = profiled_deviance(theta, stats_w, False)
        L = theta_to_lower(theta, self.R)
        T_w = sigma2_w * (L @ L.T)
        a = a_w / self.s_alpha
        alpha0 = float(np.log(sigma2_w) - a @ self.c_alpha)
        alpha = np.concatenate([[alpha0], a])
        # the same V_j in the original alpha: sigma^2 and p_ij both scaled by exp(-a'c)
        eta = self.vd_original.C[:, 1:] @ a
        if abs(alpha0) > 700.0 or np.any(np.abs(eta) > 700.0):
            raise EstimationError(
                "heterogeneous sigma^2: the level-1 variance at variance predictors "
                f"{', '.join(self.vd_original.names)} = 0, exp(alpha_0) = exp({alpha0:.6g}), "
                "is not representable in floating point; centre the variance predictors "
                "(their values are far from 0)")
        prec = relative_precision(self.vd_original, a)
        mom = design_moments(self.design, prec)
        stats = self.basis.stats(mom, self.design.random_columns, self.unit_weights)
        sigma2 = float(np.exp(alpha0))
        ev_w = evaluate(stats, sigma2, T_w)
        ev = self.basis.evaluation_to_original(ev_w)
        design = self.design
        original = stats_from_raw(mom.raw(), design.G(), design.random_columns, mom.n,
                                  mom.sum_log_w, self.unit_weights)
        return _Point(alpha=alpha, stats=original, evaluation=ev,
                      p_total=_total_precision(design, prec), deviance=float(dev),
                      working=WorkingFit(basis=self.basis, stats=stats, evaluation=ev_w,
                                         moments=mom))


def fit_exact(design: Design, vd: VarianceDesign, *, sigma2_0: float, tau0: np.ndarray,
              tolerance: float = EXACT_LIMITS.tolerance,
              max_iterations: int = EXACT_LIMITS.max_iterations
              ) -> tuple[_Point, int, bool, str]:
    """Exact ML over (theta, alpha_1..K) from the homogeneous estimates (sigma2_0, tau0).

    Returns the final point, the number of Newton iterations, whether the optimum was reached
    (the Newton decrement below ``tolerance``) and the optimiser's message.
    """
    obj = HeterogeneousDeviance(design, vd, sigma2_0=sigma2_0, tau0=tau0)
    res = minimise(obj, tolerance=tolerance, max_iterations=max_iterations)
    point = obj.point(res.x)
    ok = bool(res.converged and np.isfinite(point.deviance))
    return point, int(res.iterations), ok, res.message


# -- HLM mode: macro iterations ----------------------------------------------------------------------

def relative_tolerance(tolerance: float, loglik: float) -> float:
    """HLM's stopping threshold: ``stopval`` read as a percentage of |log-likelihood|.

    The rule found for HLM 6's EM (docs/hlm-iterations.md, section G): stop when the
    log-likelihood changes by less than tolerance/100 * |l| (1e-8 |l| for the default 1e-6).
    """
    return tolerance / 100.0 * abs(loglik)


def _micro_em(stats: UnitStats, sigma2: float, tau: np.ndarray, *, max_iterations: int,
              tolerance: float) -> tuple[np.ndarray, Evaluation, int, float]:
    """EM for T only (sigma^2_ij fixed): T_new = mean_j (u*_j u*_j' + C_j), ML."""
    ev = evaluate(stats, sigma2, tau)
    ll = ev.loglik_ml
    k = 0
    while k < max_iterations:
        _, tau = em_step(stats, ev, False)
        k += 1
        ev = evaluate(stats, sigma2, tau)
        change = abs(ev.loglik_ml - ll)
        ll = ev.loglik_ml
        if change < relative_tolerance(tolerance, ll):
            break
    return tau, ev, k, ll


def fisher_scoring_alpha(design: Design, vd: VarianceDesign, stats: UnitStats, ev: Evaluation,
                         alpha: np.ndarray, p_total: np.ndarray,
                         A: np.ndarray | None = None) -> np.ndarray:
    """One scoring step: alpha + (sum C C')^-1 sum C (E_ij / sigma^2_ij - 1).

    E_ij = r*_ij^2 + Var(r_ij | Y)_ii with r* = S V^-1 e and Var = S - S V^-1 S (S = diag
    sigma^2_ij), so E_ij / sigma^2_ij - 1 = sigma^2_ij [ (V^-1 e)_i^2 - (V^-1)_ii ].
    """
    rt = row_terms(design, stats, ev, p_total, A)
    m = rt.multiplicity
    resid = rt.sigma2_i * (rt.Vinv_e**2 - rt.Vinv_diag)
    CC = vd.C.T @ (vd.C * m[:, None])
    return alpha + np.linalg.solve(CC, vd.C.T @ (m * resid))


def fit_hlm(design: Design, vd: VarianceDesign, *, sigma2_0: float, tau0: np.ndarray,
            max_macro: int = HLM_LIMITS.max_iterations,
            max_micro: int = HLM_LIMITS.max_iterations, tolerance: float = HLM_LIMITS.tolerance
            ) -> tuple[_Point, int, int, bool, tuple[float, ...]]:
    """HLM's macro iterations from the homogeneous HLM-mode fit (sigma2_0, tau0).

    Returns (final point, macro iterations, micro iterations of the last macro iteration,
    converged, log-likelihood after each macro iteration).
    """
    if max_macro < 1:
        raise EstimationError(f"heterogeneous sigma^2: max_iterations must be at least 1, not "
                              f"{max_macro}")
    A = design.A()
    alpha = np.concatenate([[np.log(sigma2_0)], np.zeros(vd.n_alpha - 1)])
    tau = np.asarray(tau0, dtype=float)
    history: list[float] = []
    converged = False
    micro = 0
    macro = 0
    point: _Point | None = None
    while macro < max_macro:
        macro += 1
        prec = relative_precision(vd, alpha[1:])
        p_total = _total_precision(design, prec)
        stats = unit_stats(design, precision=prec)
        sigma2 = float(np.exp(alpha[0]))
        tau, ev, micro, _ = _micro_em(stats, sigma2, tau, max_iterations=max_micro,
                                      tolerance=tolerance)
        alpha_new = fisher_scoring_alpha(design, vd, stats, ev, alpha, p_total, A)
        # tau keeps its scale: only sigma^2_ij moves in the scoring step
        alpha = alpha_new
        prec = relative_precision(vd, alpha[1:])
        stats = unit_stats(design, precision=prec)
        ev = evaluate(stats, float(np.exp(alpha[0])), tau)
        history.append(ev.loglik_ml)
        point = _Point(alpha=alpha.copy(), stats=stats, evaluation=ev,
                       p_total=_total_precision(design, prec), deviance=-2.0 * ev.loglik_ml)
        if len(history) > 1 and abs(history[-1] - history[-2]) < relative_tolerance(
                tolerance, history[-1]):
            converged = True
            break
    assert point is not None
    return point, macro, micro, converged, tuple(history)


def warn_not_converged(message: str) -> None:
    warnings.warn(f"the heterogeneous level-1 variance model did not converge ({message}); "
                  "check the variance predictors (a category with very few rows, or a "
                  "predictor that separates rows with zero residual) or raise max_iterations",
                  ConvergenceWarning, stacklevel=4)


# -- entry point -----------------------------------------------------------------------------------

def refuse_reml(design: Design, method: str) -> None:
    """Heterogeneous sigma^2 is estimated by full ML only (as in HLM)."""
    if method.lower() != "ml":
        raise EstimationError(
            "heterogeneous sigma^2 (variance predictors "
            f"{', '.join(design.spec.variance_predictors)}) is estimated by full maximum "
            "likelihood only, as in HLM: use method='ml' (TOML: method = \"ml\"; command file: "
            "mlf:y)")


def estimate_heterogeneous(design: Design, homogeneous: Estimates, *, method: str = "ml",
                           mode: str = "exact", max_iterations: int | None = None,
                           tolerance: float | None = None) -> Estimates:
    """Estimate a model with heterogeneous level-1 variance (``design.spec.variance_predictors``).

    From the homogeneous fit of the same rows (HLM's "Homogeneous sigma_squared" row and the
    starting values; :func:`openhlm.estimation.fit.estimate` makes it, exact ML in both modes),
    estimates (gamma, T, alpha) jointly by full ML.

    Parameters
    ----------
    design : Design
        With ``design.spec.variance_predictors`` naming the variance predictors.
    homogeneous : Estimates
        The exact ML fit of the model with homogeneous sigma^2 on the same rows.
    method : {"ml"}
        Only full ML: HLM estimates heterogeneous sigma^2 models by full ML (the seminar's runs),
        and REML is refused with an :class:`~openhlm.errors.EstimationError`.
    mode : {"exact", "hlm"}
        ``"exact"`` converges to the ML optimum; ``"hlm"`` runs HLM's macro iterations from
        HLM's homogeneous EM fit.
    max_iterations, tolerance :
        Exact mode: Newton iterations (1000) and the Newton decrement that stops them (1e-10).  HLM mode: macro (and micro) iterations (100) and the change in
        log-likelihood that stops them (1e-6).

    Returns
    -------
    Estimates
        With ``row_precision`` and ``heterogeneous`` (a :class:`HeterogeneousFit`) set.
    """
    method, mode = method.lower(), mode.lower()
    refuse_reml(design, method)
    vd = variance_design(design)
    hom = homogeneous
    if mode == "hlm":
        limits = iteration_limits("hlm", max_iterations, tolerance)
        max_it, tol = limits.max_iterations, limits.tolerance
        point, macro, micro, converged, history = fit_hlm(
            design, vd, sigma2_0=hom.sigma2, tau0=hom.tau, max_macro=max_it, max_micro=max_it,
            tolerance=tol)
        iterations = macro
        message = (f"macro iteration {macro}, {micro} EM iteration(s) in the last" if converged
                   else f"{max_it} macro iterations without meeting the stopping rule")
        reason = STOP_SMALL_CHANGE if converged else STOP_MAX_ITERATIONS
    else:
        limits = iteration_limits("exact", max_iterations, tolerance)
        max_it, tol = limits.max_iterations, limits.tolerance
        point, iterations, converged, message = fit_exact(
            design, vd, sigma2_0=hom.sigma2, tau0=hom.tau, tolerance=tol, max_iterations=max_it)
        macro = micro = 0
        history = (point.evaluation.loglik_ml,)
        reason = STOP_EXACT
    if not converged:
        warn_not_converged(message)
    ev = point.evaluation
    het = HeterogeneousFit(
        variance=vd, alpha=point.alpha, level1_variance=ev.sigma2 / point.p_total,
        homogeneous_deviance=hom.deviance, homogeneous_deviance_hlm=hom.deviance_hlm,
        homogeneous_parameters=hom.n_parameters, macro_iterations=macro,
        micro_iterations=micro, converged=converged, message=message)
    boundary = tuple(int(i) for i in np.flatnonzero(np.diag(ev.tau) <= 1e-10))
    return Estimates(design=design, stats=point.stats, method="ml", mode=mode, evaluation=ev,
                     fixed_evaluation=ev, iterations=int(iterations), converged=converged,
                     stop_reason=reason, tolerance=tol, max_iterations=max_it,
                     loglik_history=tuple(history), boundary=boundary, start=hom.start,
                     row_precision=relative_precision(vd, point.alpha[1:]), heterogeneous=het,
                     working=point.working)
