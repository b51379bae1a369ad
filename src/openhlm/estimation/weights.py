"""Design (sampling) weights at both levels and level-1 precision weights: what they mean.

What the weights mean (docs/statistics.md section 13; ``docs/weights-and-imputation.md``)
----------------------------------------------------------------------------------------
* **Level-2 design weights** w_j multiply unit j's contribution to the log-likelihood, the GLS
  sums, the EM sums and the robust "meat" (which gets w_j^2): the pseudo-likelihood
  l_w = sum_j w_j l_j (Pfeffermann et al. 1998).  With integer raw weights this is exactly the
  likelihood of the data in which unit j appears w_j times (as w_j distinct units).
* **Level-1 design weights** d_ij are the power of row i's conditional density inside unit j's
  integral over u_j (Rabe-Hesketh & Skrondal 2006).  For the linear model the integrand is then
  the one of the data in which row i appears d_ij times *in the same unit*, so the weighted
  pseudo-likelihood equals the likelihood of those repeated rows: V_j = Z T Z' + sigma^2
  Omega_j^-1 in the Omega-weighted cross-products, n_j replaced by sum_i d_ij in the sigma^2 and
  log 2 pi terms, and no log-weight term.  (Reading the weights as known precisions instead,
  r_ij ~ N(0, sigma^2 / d_ij), gives the same estimates when the weights sum to n_j in every
  unit; its deviance is lower by sum log d_ij.)
* **Precision weights** p_ij (HLM's ``varianceknown``) are known relative level-1 precisions,
  Var(r_ij) = sigma^2 / p_ij; they are never normalised and enter log|V_j| as -sum log p_ij.

Normalisation (HLM's "Normalized?" column), over the rows and units in the analysis, with
weights of zero excluded from the counts:

* ``"within"`` (the default, ``normalize_weights=True``): level-1 weights rescaled to sum to
  n_j, the number of positive-weight rows, within every unit (Pfeffermann's "method A", the
  most defensible reading of HLM 7); level-2 weights rescaled to sum to J, the number of units
  with positive weight.
* ``"overall"``: level-1 weights rescaled to sum to N, the number of positive-weight rows, over
  the whole sample (possibly HLM 6's rule, open question 9); level-2 weights to sum to J.
* ``"none"`` (``normalize_weights=False``): raw weights (unscaled pseudo-ML, as Stata ``mixed``,
  GLLAMM and Mplus use them).

The checks and normalisation are pure functions in :mod:`openhlm.estimation.weighting`
(re-exported here); the design builder applies them, once, to the rows and units of the
analysis: ``build_design(spec, mdm, weights=Weights(level1="w1", ...))``.  The weighting summary
(:class:`WeightingSpec`) travels on the design (``Design.weighting``).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np

from openhlm.estimation.design import Design, build_design
from openhlm.estimation.weighting import (
    DEFAULT_NORMALIZATION,
    NORMALIZATIONS,
    DesignWeights,
    WeightingSpec,
    check_weight_values,
    design_weights,
    normalization_mode,
    normalize_level1,
    normalize_level2,
    resolve_weight_variable,
    weight_values,
    weighting_notes,
)
from openhlm.spec.model import ModelSpec
from openhlm.spec.options import Weights

if TYPE_CHECKING:
    from openhlm.data import MDM

__all__ = [
    "DEFAULT_NORMALIZATION",
    "NORMALIZATIONS",
    "DesignWeights",
    "WeightingSpec",
    "check_weight_values",
    "design_weights",
    "normalise_level1",
    "normalise_level2",
    "normalization_mode",
    "normalize_level1",
    "normalize_level2",
    "resolve_weight_variable",
    "weight_values",
    "weighted_design",
    "weighting_notes",
]


def _deprecated(old: str, new: str) -> None:
    warnings.warn(f"{old} is deprecated; use {new}", DeprecationWarning, stacklevel=3)


def normalise_level1(weights: np.ndarray, unit: np.ndarray, n_units: int, mode: str
                     ) -> np.ndarray:
    """Deprecated spelling of :func:`normalize_level1`."""
    _deprecated("normalise_level1", "normalize_level1")
    return normalize_level1(weights, unit, n_units, mode)


def normalise_level2(weights: np.ndarray, mode: str) -> np.ndarray:
    """Deprecated spelling of :func:`normalize_level2`."""
    _deprecated("normalise_level2", "normalize_level2")
    return normalize_level2(weights, mode)


def weighted_design(spec: ModelSpec, mdm: MDM, *, level1_weight: str | None = None,
                    level2_weight: str | None = None, precision_weight: str | None = None,
                    normalize: bool | str = True) -> tuple[Design, WeightingSpec | None]:
    """Deprecated: ``build_design(spec, mdm, weights=Weights(...))`` and ``design.weighting``.

    Returns ``(design, design.weighting)``; the weighting is ``None`` when no weight is used.
    """
    _deprecated("weighted_design(spec, mdm, level1_weight=...)",
                "build_design(spec, mdm, weights=openhlm.spec.options.Weights(...))")
    design = build_design(spec, mdm, weights=Weights(level1_weight, level2_weight,
                                                     precision_weight, normalize))
    return design, design.weighting
