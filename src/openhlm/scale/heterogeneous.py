"""Heterogeneous sigma^2 out of core: ln sigma^2_ij = alpha_0 + sum_k alpha_k C_kij.

The in-memory exact ML fit (:mod:`openhlm.estimation.heterogeneous`) minimises the deviance
over x = (theta, alpha_1..K) by a bounded Newton method whose Hessian is a central difference
of the analytic gradient; every value of alpha needs the per-unit statistics weighted by
p_ij = exp(-sum_k alpha_k C_kij) = sigma^2 / sigma^2_ij, and the gradient in alpha a sum over
the rows.  Out of core the same objective is evaluated from passes over the rows
(:mod:`openhlm.scale.passes`):

1. one pass summarises the variance predictors over the analysis rows (missing values,
   range, means and centred cross-products, the values of categorical ones): the checks of
   ``variance_design`` and the working predictors Cw = [1, (C_k - c_k) / s_k];
2. one pass per trial value of alpha (the starting value, each Newton step and line-search
   point, and the +-h steps of alpha in the difference Hessian; steps in theta alone reuse the
   statistics of their alpha) gives, per unit, with u_ij = v_ij - vbar_j (the raw level-1
   variables centred at the unit's unweighted mean from the first pass)

       sum_i p_ij, sum_i p_ij u_ij, sum_i p_ij u_ij u_ij'     (the weighted moments of [X, y]),
       sum_i Cw_kij p_ij (1, u_ij, u_ij u_ij'), sum_i Cw_kij  (the gradient in alpha),

   and the gradient d(-2 l)/d alpha_k = sum_j w_j [sum_i Cw_kij - tr(K_j Q_kj)
   - (1/sigma^2) sum_i Cw_kij p_ij r_ij^2] follows per unit, r_ij being linear in the design
   row (Q_kj = sum_i Cw_kij p_ij z_ij z_ij');
3. one pass at the estimates gives the final statistics and the row sums of the information
   matrix of the variance parameters (:class:`~openhlm.estimation.variance_model.VarianceRowSums`).

The same optimiser on the same objective: the estimates equal the in-memory fit's to its
convergence tolerance.  ML only (as in memory and in HLM).
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from openhlm.errors import EstimationError, SpecError
from openhlm.estimation.basis import working_basis
from openhlm.estimation.design import Design
from openhlm.estimation.estimates import Estimates, WorkingFit
from openhlm.estimation.exact import start_theta
from openhlm.estimation.heterogeneous import refuse_reml, warn_not_converged
from openhlm.estimation.likelihood import evaluate, lower_order, profiled_deviance, theta_to_lower
from openhlm.estimation.objective import Objective, Point
from openhlm.estimation.optimise import minimise
from openhlm.estimation.statistics import UnitMoments
from openhlm.estimation.sufficient import UnitStats, stats_from_raw
from openhlm.estimation.variance_model import HeterogeneousFit, VarianceDesign, VarianceRowSums
from openhlm.inference.heterogeneous import MAX_CATEGORIES
from openhlm.scale.design import estimate_from_moments
from openhlm.scale.passes import RowSums, row_pass, row_sums
from openhlm.scale.residuals import RowSource
from openhlm.scale.sources import Progress
from openhlm.spec.defaults import STOP_EXACT, iteration_limits

__all__ = ["heterogeneous_estimates"]

#: statistics kept for recent values of alpha (the difference Hessian's steps in theta)
CACHE = 3


# -- pass 1: the variance predictors -------------------------------------------------------------
@dataclass(frozen=True)
class PredictorSummary:
    """The variance predictors over the analysis rows (addable over chunks)."""

    n: float
    nonfinite: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    moments: UnitMoments
    values: tuple[dict[float, int] | None, ...]

    def __add__(self, other: PredictorSummary) -> PredictorSummary:
        values = []
        for a, b in zip(self.values, other.values):
            if a is None or b is None:
                values.append(None)
                continue
            merged = dict(a)
            for v, c in b.items():
                merged[v] = merged.get(v, 0) + c
            values.append(merged if len(merged) <= MAX_CATEGORIES else None)
        return PredictorSummary(
            self.n + other.n, self.nonfinite + other.nonfinite, np.fmin(self.lo, other.lo),
            np.fmax(self.hi, other.hi), self.moments.merge(other.moments), tuple(values))


def _summarise(pos: np.ndarray, V: np.ndarray, C: np.ndarray) -> PredictorSummary:
    from openhlm.estimation.statistics import moments_from_rows

    K = C.shape[1]
    finite = np.isfinite(C)
    good = finite.all(axis=1)
    Cg = C[good]
    mom = moments_from_rows(Cg, np.zeros(Cg.shape[0], dtype=np.int64), 1)
    values: list[dict[float, int] | None] = []
    for k in range(K):
        v, c = np.unique(Cg[:, k], return_counts=True)
        values.append(dict(zip(v.tolist(), c.tolist())) if v.size <= MAX_CATEGORIES else None)
    if C.shape[0]:
        Cf = np.where(finite, C, np.nan)
        lo = np.fmin.reduce(Cf, axis=0)
        hi = np.fmax.reduce(Cf, axis=0)
        lo, hi = np.where(np.isnan(lo), np.inf, lo), np.where(np.isnan(hi), -np.inf, hi)
    else:
        lo, hi = np.full(K, np.inf), np.full(K, -np.inf)
    return PredictorSummary(float(C.shape[0]), (~finite).sum(axis=0).astype(np.int64),
                            np.asarray(lo, dtype=float), np.asarray(hi, dtype=float), mom,
                            tuple(values))


def _check(summary: PredictorSummary, names: tuple[str, ...], n_level1: int
           ) -> tuple[np.ndarray, np.ndarray]:
    """The refusals of ``variance_design`` and the working predictors' (centre, scale)."""
    for k, name in enumerate(names):
        if summary.nonfinite[k]:
            raise EstimationError(f"heterogeneous sigma^2: variance predictor '{name}' has "
                                  "missing or infinite values in the rows of the analysis")
        if summary.hi[k] - summary.lo[k] <= 1e-12 * max(1.0, abs(summary.lo[k]),
                                                        abs(summary.hi[k])):
            raise EstimationError(
                f"heterogeneous sigma^2: variance predictor '{name}' is constant "
                f"({summary.lo[k]:g}) in the {n_level1} level-1 rows of the analysis; it cannot "
                "explain differences in sigma^2 - remove it from the variance model")
    C = summary.moments.centred[0]
    if len(names) > 1:
        d = np.sqrt(np.diag(C))
        w, v = np.linalg.eigh(C / np.outer(d, d))
        if w[0] <= 1e-10 * w[-1]:
            involved = [n for n, x in zip(names, v[:, 0]) if abs(x) > 1e-3]
            raise EstimationError(
                "heterogeneous sigma^2: the variance predictors "
                f"{', '.join(involved)} are collinear (one is a linear combination of the "
                "others and the intercept); remove one of them from the variance model")
    centre = summary.moments.mean[0].copy()
    ms = np.sqrt(np.diag(C) / summary.n)
    return centre, np.where(np.isfinite(ms) & (ms > 0), ms, 1.0)


# -- the weighted sums of a pass -----------------------------------------------------------------
def _working_sums(pos: np.ndarray, V: np.ndarray, C: np.ndarray, *, mbar: np.ndarray,
                  centre: np.ndarray, scale: np.ndarray, a: np.ndarray, J: int) -> RowSums:
    """Weights [p, Cw_1 p, ..., Cw_K p], plain [log p, Cw_1, ..., Cw_K] at working alpha a."""
    Cw = (C - centre) / scale
    p = np.exp(-np.clip(Cw @ a, -700.0, 700.0))
    u = V - mbar[pos]
    weights = np.vstack([p[None, :], Cw.T * p])
    plain = np.vstack([np.log(np.where(p > 0, p, 1.0))[None, :], Cw.T])
    return row_sums(pos, u, weights, plain, J)


def _pairs(Ka: int) -> list[tuple[int, int]]:
    return [(a, b) for a in range(Ka) for b in range(a + 1)]


def _final_sums(pos: np.ndarray, V: np.ndarray, C: np.ndarray, *, mbar: np.ndarray,
                centre: np.ndarray, scale: np.ndarray, alpha: np.ndarray, J: int) -> RowSums:
    """Weights [p, p Cw_a Cw_b (a >= b)], plain [log p, Cw_a Cw_b] at the original alpha."""
    p = np.exp(-np.clip(C @ alpha, -700.0, 700.0))
    Cw = np.column_stack([np.ones(C.shape[0]), (C - centre) / scale])
    pairs = _pairs(Cw.shape[1])
    cc = np.vstack([Cw[:, a] * Cw[:, b] for a, b in pairs])
    u = V - mbar[pos]
    weights = np.vstack([p[None, :], cc * p])
    plain = np.vstack([np.log(np.where(p > 0, p, 1.0))[None, :], cc])
    return row_sums(pos, u, weights, plain, J)


class OutOfCoreDeviance(Objective):
    """The ML deviance over x = (theta, alpha_w,1..K) of
    :class:`openhlm.estimation.heterogeneous.HeterogeneousDeviance`, from passes over the rows
    (module docstring)."""

    def __init__(self, design: Design, moments: UnitMoments, source: RowSource,
                 names: tuple[str, ...], centre: np.ndarray, scale: np.ndarray, *,
                 sigma2_0: float, tau0: np.ndarray, progress: Progress) -> None:
        self.design, self.source, self.names = design, source, names
        self.centre, self.scale_c = centre, scale
        self.progress = progress
        self.keys = pd.Index(np.asarray(design.unit_keys))   # type: ignore[attr-defined]
        self.J = design.n_level2
        self.R = design.n_random
        self.basis = working_basis(design, moments)
        self.uw = (np.ones(self.J) if design.unit_weights is None
                   else np.asarray(design.unit_weights, dtype=float))
        self.vbar = moments.mean              # unweighted design means (J, P+1)
        self.n = moments.n
        P = len(design.spec.coefficients)
        index = {v: k for k, v in enumerate(source.analysis)}
        pick = np.full(P + 1, -1)
        for p, coef in enumerate(design.spec.coefficients):
            if coef.predictor is not None:
                pick[p] = index[coef.predictor.name]
        pick[P] = index[design.spec.outcome]
        self.pick, self.on = pick, np.flatnonzero(pick >= 0)
        theta0 = start_theta(self.basis.tau_to_working(tau0), sigma2_0, self.R)
        self.n_theta = theta0.size
        rows, cols = lower_order(self.R)
        diag = rows == cols
        K = len(names)
        self.lower = np.concatenate([np.where(diag, 0.0, -np.inf), np.full(K, -np.inf)])
        self.upper = np.full(self.lower.size, np.inf)
        self.boundary_candidates = np.flatnonzero(diag)
        self.start = np.maximum(np.concatenate([theta0, np.zeros(K)]), self.lower)
        self.evaluations = 0
        self.passes = 0
        self._cache: OrderedDict[bytes, tuple[RowSums, UnitStats]] = OrderedDict()

    # -- passes ----------------------------------------------------------------------------
    def run_pass(self, fn: Any) -> RowSums:
        self.passes += 1
        sums: RowSums = row_pass(self.source, self.keys, self.names, fn, progress=self.progress)
        return sums

    def design_sums(self, sums: RowSums, q: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Weight q's sums over the design's columns [X, y] (centring shifts cancel in u)."""
        J, P1 = self.J, self.pick.size
        on, src = self.on, self.pick[self.on]
        S1 = np.zeros((J, P1))
        S1[:, on] = sums.s1[q][:, src]
        S2 = np.zeros((J, P1, P1))
        S2[:, on[:, None], on[None, :]] = sums.s2[q][:, src[:, None], src[None, :]]
        return sums.s0[q], S1, S2

    def moments_at(self, sums: RowSums) -> UnitMoments:
        """The moments of [X, y] weighted by p (weight 0 of the sums)."""
        W, S1, S2 = self.design_sums(sums, 0)
        safe = np.where(W > 0, W, 1.0)
        mean = self.vbar + S1 / safe[:, None]
        centred = S2 - S1[:, :, None] * S1[:, None, :] / safe[:, None, None]
        return UnitMoments(weight=W, mean=mean, centred=centred, n=self.n.copy(),
                           sum_log_w=sums.plain[0].copy())

    def statistics(self, a: np.ndarray) -> tuple[RowSums, UnitStats]:
        key = np.asarray(a, dtype=float).tobytes()
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        fn = functools.partial(_working_sums, mbar=self.source.raw_means, centre=self.centre,
                               scale=self.scale_c, a=np.asarray(a, dtype=float), J=self.J)
        sums = self.run_pass(fn)
        stats = self.basis.stats(self.moments_at(sums), self.design.random_columns, self.uw)
        self._cache[key] = (sums, stats)
        while len(self._cache) > CACHE:
            self._cache.popitem(last=False)
        return sums, stats

    # -- the objective ---------------------------------------------------------------------
    def _score(self, sums: RowSums, stats: UnitStats, ev: Any, sigma2: float) -> np.ndarray:
        bs, r = self.basis, self.design.random_columns
        P = self.pick.size - 1
        shift, scale = bs.shift, bs.scale
        ZOe = stats.Zy - np.einsum("jrf,f->jr", stats.ZA, ev.beta)
        h = np.einsum("jpf,f->jp", bs.G, ev.beta)
        h[:, r] += np.einsum("jrs,js->jr", ev.K, ZOe)
        h = h / scale[:P]
        a = np.concatenate([-h, np.ones((self.J, 1))], axis=1)
        vbar = self.vbar
        c = (vbar[:, P] - shift[P]) - np.einsum("jp,jp->j", vbar[:, :P] - shift[:P], h)
        zb = (vbar[:, r] - shift[r]) / scale[r]
        out = np.empty(len(self.names))
        for k in range(len(self.names)):
            T0, T1, T2 = self.design_sums(sums, k + 1)
            rr = (c**2 * T0 + 2.0 * c * np.einsum("ja,ja->j", a, T1)
                  + np.einsum("ja,jab,jb->j", a, T2, a))
            Tz1 = T1[:, r] / scale[r]
            Tz2 = T2[:, r][:, :, r] / np.outer(scale[r], scale[r])
            Qk = (Tz2 + zb[:, :, None] * Tz1[:, None, :] + Tz1[:, :, None] * zb[:, None, :]
                  + T0[:, None, None] * zb[:, :, None] * zb[:, None, :])
            per_unit = sums.plain[k + 1] - np.einsum("jrs,jsr->j", ev.K, Qk) - rr / sigma2
            out[k] = float(self.uw @ per_unit)
        return out

    def evaluate(self, x: np.ndarray, order: int = 0) -> Point:
        self.evaluations += 1
        theta, a = x[:self.n_theta], x[self.n_theta:]
        sums, stats = self.statistics(a)
        dev, sigma2, g_theta = profiled_deviance(theta, stats, False, gradient=order > 0)
        if not np.isfinite(dev) or (order > 0 and g_theta is None):
            return Point(x=x, value=np.inf)
        if order == 0:
            return Point(x=x, value=float(dev))
        assert g_theta is not None
        L = theta_to_lower(theta, self.R)
        ev = evaluate(stats, sigma2, sigma2 * (L @ L.T))
        grad = np.concatenate([g_theta, self._score(sums, stats, ev, sigma2)])
        hess = self.finite_difference_hessian(x, grad) if order > 1 else None
        return Point(x=x, value=float(dev), gradient=grad, hessian=hess)


def _eta_bound(summary: PredictorSummary, a: np.ndarray) -> float:
    return float(np.sum(np.maximum(np.abs(a * summary.lo), np.abs(a * summary.hi))))


def heterogeneous_estimates(design: Design, moments: UnitMoments, source: RowSource,
                            names: tuple[str, ...], *, method: str,
                            max_iterations: int | None, tolerance: float | None,
                            progress: Progress) -> tuple[Estimates, int]:
    """Exact ML with ln sigma^2_ij = alpha_0 + sum alpha_k C_kij (``names``) from passes over
    the rows (module docstring); returns the estimates and the passes made."""
    refuse_reml(design, method)
    if design.row_weights is not None or design.precision_weights is not None:
        raise SpecError("heterogeneous sigma^2 with level-1 or precision weights is not "
                        "available out of core; fit with engine='memory'")
    for name in names:
        try:
            source.column(name)
        except SpecError:
            raise SpecError(f"heterogeneous sigma^2 out of core: variance predictor '{name}' "
                            "must be a column of the level-1 files (it is read on each row)"
                            ) from None
    keys = pd.Index(np.asarray(design.unit_keys))   # type: ignore[attr-defined]
    summary: PredictorSummary = row_pass(source, keys, names, _summarise, progress=progress)
    passes = 1
    centre, scale = _check(summary, names, design.n_level1)
    hom_design = dataclasses.replace(
        design, spec=dataclasses.replace(design.spec, variance_predictors=()))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hom = estimate_from_moments(hom_design, moments, method="ml",
                                    max_iterations=max_iterations, tolerance=tolerance)
    for w in caught:
        warnings.warn(f"homogeneous-sigma^2 fit (model 1 of the 'Summary of Model Fit'): "
                      f"{w.message}", w.category, stacklevel=3)
    limits = iteration_limits("exact", max_iterations, tolerance)
    obj = OutOfCoreDeviance(design, moments, source, names, centre, scale,
                            sigma2_0=hom.sigma2, tau0=hom.tau, progress=progress)
    res = minimise(obj, tolerance=limits.tolerance, max_iterations=limits.max_iterations)
    progress.note(f"heterogeneous sigma^2: {obj.passes} passes for {obj.evaluations} "
                  "evaluations of the deviance")

    # the estimates, in the original basis and the original alpha
    x = res.x
    theta, a_w = x[:obj.n_theta], x[obj.n_theta:]
    _, stats_w = obj.statistics(a_w)
    dev, sigma2_w, _ = profiled_deviance(theta, stats_w, False)
    L = theta_to_lower(theta, obj.R)
    T_w = sigma2_w * (L @ L.T)
    a = a_w / scale
    alpha0 = float(np.log(sigma2_w) - a @ centre)
    alpha = np.concatenate([[alpha0], a])
    if abs(alpha0) > 700.0 or _eta_bound(summary, a) > 700.0:
        raise EstimationError(
            "heterogeneous sigma^2: the level-1 variance at variance predictors "
            f"{', '.join(names)} = 0, exp(alpha_0) = exp({alpha0:.6g}), is not representable "
            "in floating point; centre the variance predictors (their values are far from 0)")
    fn = functools.partial(_final_sums, mbar=source.raw_means, centre=centre, scale=scale,
                           alpha=a, J=obj.J)
    final = obj.run_pass(fn)
    mom = obj.moments_at(final)
    r = design.random_columns
    stats = obj.basis.stats(mom, r, obj.uw)
    ev_w = evaluate(stats, float(np.exp(alpha0)), T_w)
    ev = obj.basis.evaluation_to_original(ev_w)
    original = stats_from_raw(mom.raw(), design.G(), r, mom.n, mom.sum_log_w, obj.uw)
    converged = bool(res.converged and np.isfinite(dev))
    if not converged:
        warn_not_converged(res.message)
    row_sums_ = _information_sums(obj, final, summary, centre, scale, len(names) + 1)
    het = HeterogeneousFit(
        variance=VarianceDesign(C=np.zeros((0, len(names) + 1)),
                                labels=("INTRCPT1",) + tuple(n.upper() for n in names),
                                names=names),
        alpha=alpha, level1_variance=np.zeros(0), homogeneous_deviance=hom.deviance,
        homogeneous_deviance_hlm=hom.deviance_hlm, homogeneous_parameters=hom.n_parameters,
        macro_iterations=0, micro_iterations=0, converged=converged, message=res.message,
        row_sums=row_sums_)
    boundary = tuple(int(i) for i in np.flatnonzero(np.diag(ev.tau) <= 1e-10))
    est = Estimates(design=design, stats=original, method="ml", mode="exact", evaluation=ev,
                    fixed_evaluation=ev, iterations=int(res.iterations), converged=converged,
                    stop_reason=STOP_EXACT, tolerance=limits.tolerance,
                    max_iterations=limits.max_iterations, loglik_history=(ev.loglik_ml,),
                    boundary=boundary, start=hom.start, row_precision=None, heterogeneous=het,
                    working=WorkingFit(basis=obj.basis, stats=stats, evaluation=ev_w,
                                       moments=mom))
    return est, passes + obj.passes


def _information_sums(obj: OutOfCoreDeviance, final: RowSums, summary: PredictorSummary,
                      centre: np.ndarray, scale: np.ndarray, Ka: int) -> VarianceRowSums:
    """The row sums of the information of (alpha, T) in the working basis (z = the working
    random columns (x_r - shift_r) / scale_r)."""
    bs, r = obj.basis, obj.design.random_columns
    zb = (obj.vbar[:, r] - bs.shift[r]) / bs.scale[r]
    weighted = {}
    cross = np.zeros((Ka, Ka))
    for q, (a, b) in enumerate(_pairs(Ka), start=1):
        T0, T1, T2 = obj.design_sums(final, q)
        Tz1 = T1[:, r] / bs.scale[r]
        Tz2 = T2[:, r][:, :, r] / np.outer(bs.scale[r], bs.scale[r])
        weighted[(a, b)] = (Tz2 + zb[:, :, None] * Tz1[:, None, :]
                            + Tz1[:, :, None] * zb[:, None, :]
                            + T0[:, None, None] * zb[:, :, None] * zb[:, None, :])
        cross[a, b] = cross[b, a] = float(obj.uw @ final.plain[q])
    categories = tuple((k + 1, np.array(sorted(v)), np.array([v[x] for x in sorted(v)]))
                       for k, v in enumerate(summary.values) if v is not None)
    return VarianceRowSums(centre=centre, scale=scale, weighted=weighted, cross=cross,
                           categories=categories)

