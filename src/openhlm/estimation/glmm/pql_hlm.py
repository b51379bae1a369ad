"""PQL as HLM runs it (``mode="hlm"``): macro iterations around HLM's EM micro iterations.

HLM estimates an HGLM by penalised quasi-likelihood in two nested loops (RB02 ch. 10; the
HLM 6/7 manuals call them *macro* and *micro* iterations):

* **Macro iteration** m linearises the model at the current linear predictor
  eta = A gamma + Z u + offset: working variable z = eta - offset + (y - E y) / w and
  precisions w = Var(y | eta) (n mu (1 - mu) for logit, mu for log).
* **Micro iterations** fit the linear two-level model z_j = A_j gamma + Z_j u_j + e_j,
  Var(e_ij) = sigma^2 / w_ij, u_j ~ N(0, T), by HLM's own EM for linear models
  (:func:`openhlm.estimation.em.run_em`: E-step, M-step for T, Aitken jump every 5th iteration,
  stop when the likelihood changes by less than ``stop_micro`` percent or after ``max_micro``
  iterations), with sigma^2 held at 1 (no over-dispersion, HLM's default) or estimated.  The
  first macro iteration starts EM from HLM's moment starting values of the linearised model
  (:func:`openhlm.estimation.em.starting_values`, with V_bar at sigma^2 = 1); later ones
  continue from the previous T (and sigma^2).
* The new eta uses the GLS gamma and the EB (BLUP) u at the micro iterations' last T.  The
  macro iterations stop when the largest absolute change in the estimates (the free gammas
  and the elements of T) between two macro iterations is below ``stop_macro`` (HLM's default
  1e-4), or after ``max_macro`` iterations.

The macro iterations start at the GLM fit without random effects (eta = A gamma_GLM + offset,
u = 0): HLM's own first linearisation point is not documented (docs/hglm.md).  Everything
is vectorised over units: each macro iteration forms the per-unit weighted cross-products of
[X, z] once (:func:`openhlm.estimation.sufficient.stats_from_raw`) and the EM works on them.
The fixed point of the macro iterations with micro iterations run to convergence is the PQL
estimate of :func:`openhlm.estimation.glmm.pql.fit_pql`; HLM's stopping rules end it within
their tolerances of that point.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from openhlm.errors import EstimationError
from openhlm.estimation.em import StartingValues, run_em, starting_values
from openhlm.estimation.glmm.data import GLMMData, unit_outer, unit_sum
from openhlm.estimation.glmm.estimates import GLMMEstimates
from openhlm.estimation.glmm.ml import glm_start
from openhlm.estimation.glmm.pql import lower_factor, pql_estimates
from openhlm.estimation.likelihood import evaluate
from openhlm.estimation.sufficient import UnitStats, stats_from_raw
from openhlm.spec.defaults import HLM_PQL_LIMITS, STOP_PQL_MAX_MACRO, STOP_PQL_SMALL_CHANGE

__all__ = ["HLM_PQL_DEFAULTS", "fit_pql_hlm", "linearised_unit_stats"]

#: HLM's PQL iteration settings (command-file keys MACROIT, MICROIT, STOPMACRO, STOPMICRO;
#: :data:`openhlm.spec.defaults.HLM_PQL_LIMITS`) as keywords of :func:`fit_pql_hlm`.
HLM_PQL_DEFAULTS = dataclasses.asdict(HLM_PQL_LIMITS)


def linearised_unit_stats(data: GLMMData, z: np.ndarray, w: np.ndarray) -> UnitStats:
    """The linear engine's per-unit statistics of the linearised model: the cross-products
    of the level-1 design X and the working variable z with the precisions w as level-1
    weights (Omega_j = diag(w)), sum log w per unit (enters log|V_j|)."""
    design = data.design
    J = data.J
    Xz = np.column_stack([design.X, z])
    raw = unit_outer(data.unit, w, Xz, Xz, J)
    raw = 0.5 * (raw + np.swapaxes(raw, 1, 2))
    n = design.n_per_unit.astype(float)
    sum_log_w = unit_sum(data.unit, np.log(w), J)
    return stats_from_raw(raw, design.G(), design.random_columns, n, sum_log_w, np.ones(J))


def fit_pql_hlm(data: GLMMData, *, overdispersion: bool = False, reml: bool = True,
                max_macro: int = HLM_PQL_DEFAULTS["max_macro"],
                max_micro: int = HLM_PQL_DEFAULTS["max_micro"],
                stop_macro: float = HLM_PQL_DEFAULTS["stop_macro"],
                stop_micro: float = HLM_PQL_DEFAULTS["stop_micro"],
                accelerator_frequency: int | None = 5) -> GLMMEstimates:
    """PQL estimates by HLM's macro / micro iterations (module docstring).

    ``reml``: the linearised model's likelihood (restricted PQL, HLM2's default; False: full
    PQL).  ``accelerator_frequency``: the EM accelerator of the micro iterations (HLM's
    ``ACCEL``; None for plain EM).
    """
    if data.R == 0:
        raise EstimationError("the model has no random effect: fit it as a GLM (add a U term)")
    for name, limit in (("max_macro", max_macro), ("max_micro", max_micro)):
        if int(limit) < 1:
            raise EstimationError(f"{name} must be at least 1, not {limit}")
    for name, crit in (("stop_macro", stop_macro), ("stop_micro", stop_micro)):
        if not (np.isfinite(crit) and crit > 0):
            raise EstimationError(f"{name} must be a positive number, not {crit}")
    fam = data.family
    design = data.design
    R, J = data.R, data.J
    beta = glm_start(data)
    u = np.zeros((J, R))
    eta = data.A @ beta + data.offset
    sigma2 = 1.0
    tau: np.ndarray | None = None
    history: list[int] = []
    notes: list[str] = []
    converged = False
    previous: np.ndarray | None = None
    iu = np.triu_indices(R)
    for _macro in range(1, int(max_macro) + 1):
        s, w = fam.score_weight(eta, data.y, data.n)
        w = np.maximum(w, 1e-12)
        z = eta - data.offset + s / w
        stats = linearised_unit_stats(data, z, w)
        if tau is None:
            start = starting_values(stats, stats.XX, stats.Xy, stats.yy, design.G(),
                                    design.random_columns,
                                    sigma2=None if overdispersion else 1.0)
            if not np.all(np.isfinite(start.tau)):
                # no unit has a full-rank level-1 OLS fit: no moment start exists
                start = StartingValues(gamma_ols=start.gamma_ols,
                                       sigma2=1.0 if not overdispersion else float(
                                           np.nan_to_num(start.sigma2, nan=1.0)),
                                       tau=np.eye(R), tau_unrepaired=start.tau_unrepaired,
                                       units_used=0)
                notes.append("No unit has enough rows for its own level-1 OLS fit, so HLM's "
                             "moment starting values do not exist; the micro iterations "
                             "started from T = I.")
        else:
            start = StartingValues(gamma_ols=beta, sigma2=sigma2, tau=tau, tau_unrepaired=tau,
                                   units_used=J)
        em = run_em(stats, start, reml, max_iterations=int(max_micro), tolerance=stop_micro,
                    accelerator_frequency=accelerator_frequency,
                    estimate_sigma2=overdispersion)
        history.append(em.iterations)
        sigma2, tau = em.sigma2, em.tau
        ev = evaluate(stats, sigma2, tau)
        beta = ev.beta
        u = ev.ZVe @ tau                             # EB: u_j = T Z_j'V_j^-1 (z_j - A_j gamma)
        eta = data.A @ beta + np.einsum("nr,nr->n", data.Z, u[data.unit]) + data.offset
        current = np.r_[beta, tau[iu]]
        if previous is not None and float(np.max(np.abs(current - previous))) < stop_macro:
            converged = True
            break
        previous = current
    assert tau is not None
    macro = len(history)
    message = (STOP_PQL_SMALL_CHANGE if converged else
               f"{STOP_PQL_MAX_MACRO} ({max_macro}): PQL (HLM mode) did not meet its stopping "
               "rule; raise the macro iteration limit (MACROIT) or use mode='exact'")
    Lam = lower_factor(tau / sigma2)
    est = pql_estimates(data, eta, u, Lam, sigma2, overdispersion=overdispersion, reml=reml,
                        converged=converged, iterations=macro,
                        micro_iterations=int(sum(history)), message=message, mode="hlm",
                        micro_history=tuple(history))
    return dataclasses.replace(est, notes=tuple(notes)) if notes else est
