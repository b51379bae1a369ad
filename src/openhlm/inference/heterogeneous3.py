"""The heterogeneous-sigma^2 block of a three-level fit (HLM's "RESULTS FOR HETEROGENEOUS
SIGMA-SQUARED"), in the two-level block's form (:mod:`openhlm.results.heterogeneous`, printed by
:mod:`openhlm.report.heterogeneous_sections`).

* "Model for level-1 variance": alpha_k, its standard error (the observed information, see
  :mod:`openhlm.estimation.three_level.heterogeneous`; the two-level block uses the expected
  information), Z = alpha / SE and the two-sided normal p-value;
* the implied level-1 variance exp(alpha_0 + alpha_k v) for each value v of a categorical
  variance predictor (at most :data:`openhlm.inference.heterogeneous.MAX_CATEGORIES` values),
  the other predictors at 0;
* "Summary of Model Fit": the homogeneous and heterogeneous ML deviances (-2 log L), their
  numbers of parameters, chi-square = D_hom - D_het on K d.f.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from openhlm.estimation.three_level.fit import Estimates3
from openhlm.estimation.three_level.heterogeneous import Heterogeneous3
from openhlm.inference.heterogeneous import MAX_CATEGORIES
from openhlm.results.heterogeneous import (
    AlphaRow,
    HeterogeneityTest,
    HeterogeneousSigma2,
    ImpliedVariance,
)

__all__ = ["heterogeneous_sigma2_3"]


def heterogeneous_sigma2_3(est: Estimates3) -> HeterogeneousSigma2:
    """The block of ``est`` (a fit of :func:`~openhlm.estimation.three_level.heterogeneous.
    estimate3_heterogeneous`)."""
    het: Heterogeneous3 = est.extras["heterogeneous"]
    alpha = np.asarray(het.alpha, dtype=float)
    se = np.sqrt(np.clip(np.diag(het.alpha_covariance), 0.0, None))
    rows = []
    for k, (label, a, s_) in enumerate(zip(het.variance.labels, alpha, se, strict=True)):
        z = float(a / s_) if s_ > 0 else float("nan")
        rows.append(AlphaRow(label=label, parameter=f"alpha{k}", estimate=float(a), se=float(s_),
                             z=z, p=float(2.0 * special.ndtr(-abs(z)))))
    implied = []
    C = het.variance.C
    for k, label in enumerate(het.variance.labels[1:], start=1):
        values, counts = np.unique(C[:, k], return_counts=True)
        if values.size > MAX_CATEGORIES:
            continue
        implied += [ImpliedVariance(predictor=label, value=float(v),
                                    variance=float(np.exp(alpha[0] + alpha[k] * v)),
                                    n_rows=int(n)) for v, n in zip(values, counts, strict=True)]
    chi2 = float(het.homogeneous_deviance - est.deviance)
    df = len(alpha) - 1
    test = HeterogeneityTest(
        homogeneous_parameters=int(het.homogeneous_parameters),
        heterogeneous_parameters=int(est.n_parameters),
        homogeneous_deviance=float(het.homogeneous_deviance),
        heterogeneous_deviance=float(est.deviance), chi2=chi2, df=df,
        p=float(special.chdtrc(df, chi2)) if chi2 >= 0 else 1.0, convention="standard")
    return HeterogeneousSigma2(
        predictors=het.variance.labels[1:], rows=tuple(rows), covariance=het.alpha_covariance,
        implied=tuple(implied), test=test, macro_iterations=0, micro_iterations=0,
        converged=het.converged, mode="exact",
        se_method="observed information of (alpha, theta), alpha block of the inverse")
