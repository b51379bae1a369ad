"""Distributions and canonical links of two-level GLMMs (HLM's HGLM level-1 models).

Rows carry the outcome ``y`` (0/1, a count of successes, or a count), the number of trials
``n`` (ones for Bernoulli and Poisson) and an offset (log exposure for Poisson, else 0).  With
the canonical link the log-density of a row given the linear predictor eta is

* binomial (logit):  y*eta - n*log(1 + e^eta) + log C(n, y)
* Poisson (log):     y*eta - e^eta + log(exposure-free constant) - log(y!)

(eta includes the offset).  Its derivative in eta is the *score* s = y - E(y|eta) and minus its
second derivative the *weight* w = Var(y|eta) (n mu (1-mu), mu), which are also PQL's working
weights.  The constants make -2 log L the deviance R's ``-2*logLik(glmer(...))`` reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from scipy.special import expit, gammaln

__all__ = ["DISTRIBUTIONS", "Family", "family"]

#: distribution -> (link, label of the link in HLM's printout)
DISTRIBUTIONS = {"bernoulli": "logit", "binomial": "logit", "poisson": "log"}


@dataclass(frozen=True)
class Family:
    """A distribution with its canonical link.

    ``row_weight``: level-1 design weights d_i (``None``: all 1).  The row log-density is then
    d_i log p(y_i | eta_i) (the pseudo-likelihood: an integer d_i is row i repeated d_i times
    in its unit), so the kernel, the constant, the score, the weight and its derivative are
    all multiplied by d_i; :meth:`mean` is not.
    """

    distribution: str       # "bernoulli" | "binomial" | "poisson"
    row_weight: np.ndarray | None = field(default=None, compare=False, repr=False)

    def weighted(self, row_weight: np.ndarray | None) -> Family:
        """This family with level-1 design weights (one per row)."""
        return replace(self, row_weight=None if row_weight is None
                       else np.asarray(row_weight, dtype=float))

    def _w(self, *values: np.ndarray) -> tuple[np.ndarray, ...]:
        d = self.row_weight
        return values if d is None else tuple(v * d for v in values)

    @property
    def link(self) -> str:
        return DISTRIBUTIONS[self.distribution]

    @property
    def is_binomial(self) -> bool:
        return self.distribution in ("bernoulli", "binomial")

    def constant(self, y: np.ndarray, n: np.ndarray) -> np.ndarray:
        """The part of each row's log-density that does not depend on eta."""
        if self.is_binomial:
            return self._w(gammaln(n + 1.0) - gammaln(y + 1.0) - gammaln(n - y + 1.0))[0]
        return self._w(-gammaln(y + 1.0))[0]

    def kernel(self, eta: np.ndarray, y: np.ndarray, n: np.ndarray) -> np.ndarray:
        """Row log-densities without :meth:`constant`."""
        if self.is_binomial:
            return self._w(y * eta - n * np.logaddexp(0.0, eta))[0]
        return self._w(y * eta - np.exp(eta))[0]

    def score_weight(self, eta: np.ndarray, y: np.ndarray,
                     n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """d/d eta of the row log-density, and minus its second derivative."""
        if self.is_binomial:
            mu = expit(eta)
            return self._w(y - n * mu, n * mu * (1.0 - mu))  # type: ignore[return-value]
        mu = np.exp(eta)
        return self._w(y - mu, mu)  # type: ignore[return-value]

    def weight_derivative(self, eta: np.ndarray, n: np.ndarray) -> np.ndarray:
        """d w / d eta (minus the third derivative of the row log-density)."""
        if self.is_binomial:
            mu = expit(eta)
            return self._w(n * mu * (1.0 - mu) * (1.0 - 2.0 * mu))[0]
        return self._w(np.exp(eta))[0]

    def evaluate(self, eta: np.ndarray, y: np.ndarray, n: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`kernel`, and the score and weight of :meth:`score_weight`, with one exp."""
        if self.is_binomial:
            e = np.exp(-np.abs(eta))
            inv = 1.0 / (1.0 + e)
            mu = np.where(eta >= 0, inv, e * inv)
            kernel = y * eta - n * (np.maximum(eta, 0.0) + np.log1p(e))
            return self._w(kernel, y - n * mu, n * mu * (1.0 - mu))  # type: ignore[return-value]
        mu = np.exp(eta)
        return self._w(y * eta - mu, y - mu, mu)  # type: ignore[return-value]

    def mean(self, eta: np.ndarray) -> np.ndarray:
        """mu: the probability (binomial) or the rate per unit of exposure (Poisson, eta
        without the offset)."""
        return expit(eta) if self.is_binomial else np.exp(eta)


def family(distribution: str) -> Family:
    if distribution not in DISTRIBUTIONS:
        raise ValueError(f"unknown distribution {distribution!r}")
    return Family(distribution)
