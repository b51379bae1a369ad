"""Empirical Bayes estimates and HLM's residual-file quantities of a fitted model.

Computed once by :func:`openhlm.inference.residuals.eb_estimates` (the formulas are in that
module) and stored in ``HLMResults.eb``; the residual files (:mod:`openhlm.report.residual_files`),
the plots and the exploratory analysis read them from there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

__all__ = ["NO_RANDOM_COEFFICIENTS", "EBEstimates", "LazyEBEstimates"]

#: Why a model has no EB estimates (``HLMResults.eb is None``) when it has no random coefficient.
NO_RANDOM_COEFFICIENTS = "residual files need at least one random coefficient (Uq)"


@dataclass(frozen=True)
class EBEstimates:
    """Per-unit and per-row residual quantities of a fitted model.

    Per-unit arrays have a leading J axis (units in ``unit_ids`` order); ``R`` indexes the
    random coefficients (``random_positions`` into the P level-1 coefficients); per-row arrays
    are in the order of the design's level-1 rows.
    """

    unit_ids: np.ndarray                 # (J,)
    n: np.ndarray                        # (J,) level-1 rows used per unit
    coefficient_labels: tuple[str, ...]  # (P,) "INTRCPT1", "SES", ...
    coefficient_indices: tuple[int, ...]  # (P,) q of Bq
    random_positions: np.ndarray         # (R,) positions of the random coefficients in P
    fitted: np.ndarray                   # (J, P) W_j gamma_hat (FV)
    eb_coefficients: np.ndarray          # (J, P) beta*_j (EC)
    eb_residuals: np.ndarray             # (J, R) u*_j (EB)
    ols_residuals: np.ndarray            # (J, R) beta_hat_j - W_j gamma_hat (OL), NaN if insufficient
    ols_sufficient: np.ndarray           # (J,) bool
    conditional_cov: np.ndarray          # (J, R, R) C_j given gamma_hat (lme4 condVar)
    posterior_cov: np.ndarray            # (J, R, R) PV: REML C_j under REML, C_j under ML
    coefficient_cov: np.ndarray          # (J, R, R) PVC: posterior covariance of beta_j (random)
    eb_residual_cov: np.ndarray          # (J, R, R) sampling covariance of u*_j
    mdist: np.ndarray                    # (J,)
    mdist_df: np.ndarray                 # (J,) rank of Var(u*_j)
    chipct: np.ndarray                   # (J,)
    lntotvar: np.ndarray                 # (J,)
    olsrsvar: np.ndarray                 # (J,)
    mdrsvar: np.ndarray                  # (J,)
    level1_fitted: np.ndarray            # (N,)
    level1_residuals: np.ndarray         # (N,)
    level1_sigma: np.ndarray             # (N,) sqrt(sigma^2_ij)
    method: str

    @property
    def random_labels(self) -> tuple[str, ...]:
        return tuple(self.coefficient_labels[p] for p in self.random_positions)

    @property
    def random_indices(self) -> tuple[int, ...]:
        return tuple(self.coefficient_indices[p] for p in self.random_positions)


_EB_FIELDS = tuple(f.name for f in fields(EBEstimates))


class LazyEBEstimates(EBEstimates):
    """:class:`EBEstimates` computed on first use, once, by ``compute()`` (a pure function of
    the fitted model, e.g. ``functools.partial(eb_estimates, est)``).

    The EB estimates are read by the residual files, the plots and the exploratory analysis
    only; a fit that prints its report never pays for them.  Every field reads as the
    computed value; pickling and copying give a plain :class:`EBEstimates`.
    """

    def __init__(self, compute: Callable[[], EBEstimates] | None = None, **values: Any) -> None:
        if compute is None:     # dataclasses.replace(...) passes every field
            for name in _EB_FIELDS:
                object.__setattr__(self, name, values[name])
        else:
            object.__setattr__(self, "_compute", compute)

    def _force(self) -> None:
        compute = self.__dict__.get("_compute")
        if compute is None:
            return
        value = compute()
        for name in _EB_FIELDS:
            object.__setattr__(self, name, getattr(value, name))
        del self.__dict__["_compute"]

    def __getattr__(self, name: str) -> Any:
        # only reached for attributes not set yet: the fields before the first use
        if name in _EB_FIELDS and "_compute" in self.__dict__:
            self._force()
            return self.__dict__[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def computed(self) -> EBEstimates:
        """The plain :class:`EBEstimates` (computing it if not done yet)."""
        self._force()
        return EBEstimates(**{name: self.__dict__[name] for name in _EB_FIELDS})

    def __reduce__(self) -> tuple[Any, ...]:
        plain = self.computed()
        return (EBEstimates, tuple(getattr(plain, name) for name in _EB_FIELDS))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LazyEBEstimates):
            other = other.computed()
        return self.computed() == other

    __hash__ = EBEstimates.__hash__

    def __repr__(self) -> str:
        return repr(self.computed())
