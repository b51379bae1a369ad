"""Fixed-effects tables: model-based and robust standard errors, HLM's approximate d.f.

* Model-based Var(gamma) = (sum_j A_j'V_j^-1 A_j)^-1.
* Robust (HLM's "with robust standard errors", a Huber-White sandwich, CR0):
  M^-1 [sum_j A_j'V_j^-1 e_j e_j'V_j^-1 A_j] M^-1 at the same iterate (docs/statistics.md 3;
  reproduces HLM's 0.243628 for the null model).
* Approximate d.f. (docs/statistics.md 3, verified): J - F_q for the gammas of a random
  coefficient; N - F for those of a fixed or non-randomly varying coefficient.  Under
  equality constraints a shared gamma belongs to the equation of its first gamma and F counts
  free parameters (the seed's constraint example prints 157 and 158).
* p-values: two-sided Student t on those d.f.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from openhlm.estimation.estimates import Estimates
from openhlm.results import FixedEffect, FixedEffectsTable

__all__ = ["fixed_effects_table", "free_parameter_labels", "robust_covariance"]


def two_sided_t(t: float, df: float) -> float:
    """Two-sided p-value of a t statistic (scipy.special.stdtr is the Student t CDF)."""
    return float(2.0 * special.stdtr(df, -abs(t))) if np.isfinite(t) else float("nan")


def robust_covariance(est: Estimates) -> np.ndarray:
    """Sandwich covariance of the free fixed effects (F' x F')."""
    ev = est.fixed_evaluation
    w2 = est.stats.unit_weights
    work = est.working
    if work is not None and ev is est.evaluation:
        # exact fits: the sandwich in the working basis, mapped by Q (docs/engine.md 7)
        evw = work.evaluation
        meat = np.einsum("j,jf,jg->fg", w2**2, evw.AVe, evw.AVe)
        Q = work.basis.Q
        return Q @ (evw.beta_cov @ meat @ evw.beta_cov) @ Q.T
    meat = np.einsum("j,jf,jg->fg", w2**2, ev.AVe, ev.AVe)
    return ev.beta_cov @ meat @ ev.beta_cov


def free_parameter_labels(est: Estimates) -> list[int]:
    """For each free fixed effect, the index (into all gammas) of its first gamma."""
    K = est.design.constraint_matrix
    return [int(np.flatnonzero(K[:, k])[0]) for k in range(K.shape[1])]


def fixed_effects_table(est: Estimates) -> FixedEffectsTable:
    design = est.design
    spec = design.spec
    ev = est.fixed_evaluation
    beta, cov = ev.beta, ev.beta_cov
    rcov = robust_covariance(est)
    K = design.constraint_matrix
    first = free_parameter_labels(est)

    # which coefficient (position p) and predictor each gamma belongs to
    gamma_info = []
    for p, coef in enumerate(spec.coefficients):
        eq = coef.equation
        if eq.intercept:
            gamma_info.append((p, "INTRCPT2", "none"))
        for pred in eq.predictors:
            gamma_info.append((p, pred.name, pred.centering.value))
    owner = np.array([gamma_info[f][0] for f in first], dtype=int)
    F_q = np.bincount(owner, minlength=len(spec.coefficients))
    J, N, Fp = design.n_level2, design.n_level1, design.n_free_gammas

    rows = []
    for k, f in enumerate(first):
        p, predictor, centering = gamma_info[f]
        coef = spec.coefficients[p]
        df = J - int(F_q[p]) if coef.equation.random else N - Fp
        se = float(np.sqrt(cov[k, k]))
        rse = float(np.sqrt(rcov[k, k]))
        t = float(beta[k] / se) if se > 0 else np.nan
        rt = float(beta[k] / rse) if rse > 0 else np.nan
        rows.append(FixedEffect(
            coefficient=coef.label, coefficient_index=coef.index, predictor=predictor,
            gamma=design.gamma_labels[f], estimate=float(beta[k]), se=se, t=t, df=int(df),
            p=two_sided_t(t, df), robust_se=rse, robust_t=rt, robust_p=two_sided_t(rt, df),
            constrained=bool(K[:, k].sum() > 1), centering=centering))
    return FixedEffectsTable(rows=tuple(rows), covariance=cov, robust_covariance=rcov)
