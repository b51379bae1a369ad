"""Variance-component chi-square tests, reliabilities and the level-1 OLS table.

All three use unit-by-unit OLS (RB02 ch. 3; docs/statistics.md 4, 5, 7), computed here from the
per-unit cross-products, vectorised over units.

* "Sufficient data": the unit's OLS design has full column rank and more rows than columns.
* Chi-square for tau_qq (q random): beta_hat_j = OLS of (y_j - fixed part_j) on the random
  columns X_Rj, the fixed part being the contribution of the fixed / non-randomly varying
  coefficients at gamma_hat; V_qqj = sigma^2 [(X_Rj'X_Rj)^-1]_qq;
  chi2_q = sum_j (beta_hat_qj - W_qj gamma_q)^2 / V_qqj on J' - F_q d.f.  (verified: 1660.23 for
  the HS&B null model).
* Reliability_q = mean_j tau_qq / (tau_qq + V_qqj) over the same J' units (mean of ratios,
  verified: 0.901 for the null model).
* Level-1 OLS table: OLS on the full level-1 design for the first units with sufficient data,
  and the plain average of those coefficients over all such units.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from openhlm.estimation.estimates import Estimates
from openhlm.estimation.sufficient import unit_ols, unit_ols_many
from openhlm.inference.unit_fit import level1_fit, random_coefficient_fit
from openhlm.results import OLSTable, VarianceComponent, VarianceComponentsTable

__all__ = [
    "level1_ols_table",
    "random_coefficient_ols",
    "reliabilities",
    "unit_ols",
    "variance_components_table",
]


def random_coefficient_ols(est: Estimates) -> dict[str, np.ndarray]:
    """OLS of the random coefficients with the fixed part removed, and their fitted values."""
    design = est.design
    XX, Xy = est.stats.XX, est.stats.Xy
    r = design.random_columns
    fixed_cols = np.setdiff1d(np.arange(design.X.shape[1]), r)
    beta_j = np.einsum("jpf,f->jp", design.G(), est.fixed_evaluation.beta)  # W_j gamma per coef
    rhs = Xy[:, r] - np.einsum("jrf,jf->jr", XX[:, r][:, :, fixed_cols], beta_j[:, fixed_cols])
    if est.working is None and np.array_equal(r, np.arange(XX.shape[1])):
        # every coefficient random (HLM mode, fixed parameters): the level-1 OLS table's regressions have the same X'X,
        # solved with it (level1_ols_table reads "level1_beta")
        ok, (b, b1), XXi = unit_ols_many(XX, [rhs, Xy], design.n_per_unit)
        return {"sufficient": ok, "beta_hat": b, "XXinv": XXi, "fitted": beta_j[:, r],
                "level1_beta": b1}
    if est.working is not None:   # exact fits: from centred moments (offset-free; unit_fit.py)
        ok = unit_ols(XX[:, r][:, :, r], rhs, design.n_per_unit)[0]   # (J, ., .) freed at once
        b, XXi = random_coefficient_fit(est, beta_j, ok)
    else:
        ok, b, XXi = unit_ols(XX[:, r][:, :, r], rhs, design.n_per_unit)
    return {"sufficient": ok, "beta_hat": b, "XXinv": XXi, "fitted": beta_j[:, r]}


def variance_components_table(est: Estimates, ols: dict[str, np.ndarray] | None = None
                              ) -> VarianceComponentsTable:
    design = est.design
    spec = design.spec
    ols = random_coefficient_ols(est) if ols is None else ols
    ok = ols["sufficient"]
    Jp = int(ok.sum())
    sigma2, tau = est.sigma2, est.tau
    rows = []
    for k, coef in enumerate(spec.random_coefficients):
        v = sigma2 * ols["XXinv"][ok, k, k]
        resid = ols["beta_hat"][ok, k] - ols["fitted"][ok, k]
        df = Jp - coef.equation.n_gammas
        # no test without units to compute it from (never a d.f. of 0 or -1): the report
        # says why in a note (openhlm.report.tables.variance_components_table)
        testable = df > 0
        chi2 = float(np.sum(resid**2 / v)) if testable else np.nan
        p = float(special.chdtrc(df, chi2)) if testable else np.nan
        var = float(tau[k, k])
        rows.append(VarianceComponent(effect=f"U{coef.index}", coefficient=coef.label,
                                      sd=float(np.sqrt(max(var, 0.0))), variance=var,
                                      df=int(df) if testable else None, chi2=chi2, p=p))
    rows.append(VarianceComponent(effect="R", coefficient="level-1", sd=float(np.sqrt(sigma2)),
                                  variance=float(sigma2)))
    return VarianceComponentsTable(rows=tuple(rows), units_used=Jp, n_units=design.n_level2)


def reliabilities(est: Estimates, ols: dict[str, np.ndarray] | None = None
                  ) -> tuple[dict[str, float], int]:
    spec = est.design.spec
    ols = random_coefficient_ols(est) if ols is None else ols
    ok = ols["sufficient"]
    out = {}
    for k, coef in enumerate(spec.random_coefficients):
        t = float(est.tau[k, k])
        v = est.sigma2 * ols["XXinv"][ok, k, k]
        out[coef.short_label] = float(np.mean(t / (t + v))) if ok.any() else float("nan")
    return out, int(ok.sum())


def level1_ols_table(est: Estimates, n_units: int = 10,
                     ols: dict[str, np.ndarray] | None = None) -> OLSTable:
    """The table; ``ols``: :func:`random_coefficient_ols` of ``est``, whose regressions it
    reuses when every coefficient is random."""
    design = est.design
    XX, Xy = est.stats.XX, est.stats.Xy
    if est.working is not None:   # exact fits: from centred moments (offset-free; unit_fit.py)
        ok = unit_ols(XX, Xy, design.n_per_unit)[0]   # its (J, P, P) inverses freed at once
        b = level1_fit(est, ok)
    elif ols is not None and "level1_beta" in ols:
        ok, b = ols["sufficient"], ols["level1_beta"]
    else:
        ok, b, _ = unit_ols(XX, Xy, design.n_per_unit)
    shown = np.flatnonzero(ok)[:n_units]
    avg = b[ok].mean(axis=0) if ok.any() else np.full(XX.shape[1], np.nan)
    return OLSTable(labels=design.coefficient_labels,
                    unit_ids=tuple(str(u) for u in design.unit_ids[shown]),
                    coefficients=b[shown], average=avg, units_used=int(ok.sum()))
