"""HLM's EM accelerator: an Aitken extrapolation every ``accel`` iterations (HLM's ``ACCEL:5``).

HLM 6 command files carry ``ACCEL:5`` ("accelerator frequency"); HLM's documentation does not
give the formula (docs/statistics.md 19.11).  What is pinned down on the seminar's HLM 6.08 output
(``docs/hlm-iterations.md`` records every hypothesis tried and its distance to the printout):

* HLM's printed iteration counts are too small for plain EM (Model 2: 6 printed, plain EM 9),
  and the first iterations of the null model are plain EM, so the accelerator acts from
  iteration 5 on.
* At the start of iterations 5, 10, 15, ... the current iterate theta_{k-1} = (sigma^2, vech T)
  is replaced by theta_{k-1} + c (theta_{k-1} - theta_{k-2}) before the E-step (section G of
  the log).  With c the Aitken factor lambda / (1 - lambda), capped at 6.5, this reproduces the
  printed stop iterations and iterates of the one-random-coefficient models (Model 2, Model 4
  with a non-random SES slope) and of Model 4 (iteration 61, every printed digit to a few
  units); Model 3 is reached within 1.5e-4 but one iteration early.  The EM rate of Models 3
  and 4 is 0.9-0.99 (factors 10-150), so their jumps are all capped; a cap of 6.3 would fit
  Model 3 and 6.5 fits Model 4, so the cap is a fitted constant, not HLM's documented rule.

The rate is estimated from the log-likelihood: for a linearly convergent EM with rate lambda,
l* - l_k ~ c lambda^(2k), so successive increments have ratio lambda^2 and

    lambda = sqrt( (l_k - l_{k-1}) / (l_{k-1} - l_{k-2}) ),
    theta_acc = theta_k + min(lambda / (1 - lambda), max_factor) (theta_k - theta_{k-1}).

(``"componentwise"``, the classic per-parameter Delta^2 rule, and ``"norm"``, the rate
||Delta_k|| / ||Delta_{k-1}||, are kept for comparison.)  A rate >= 1 (increments not shrinking)
takes the capped factor; no rate (likelihood not rising) means no extrapolation.  The extrapolated
point is used only if T stays positive definite, sigma^2 > 0 and the likelihood does not fall;
otherwise the plain EM iterate is kept.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["RATE_RULES", "admissible", "aitken_extrapolate", "pack", "unpack"]

RATE_RULES = ("loglik", "componentwise", "norm")

MAX_FACTOR = 6.5   # cap on lambda / (1 - lambda), fitted on Model 4 (docs/hlm-iterations.md, G)


def pack(sigma2: float, tau: np.ndarray) -> np.ndarray:
    """theta = (sigma^2, upper triangle of T row by row)."""
    tau = np.asarray(tau, dtype=float)
    return np.r_[float(sigma2), tau[np.triu_indices(tau.shape[0])]]


def unpack(theta: np.ndarray, n_random: int) -> tuple[float, np.ndarray]:
    """Inverse of :func:`pack`."""
    T = np.zeros((n_random, n_random))
    T[np.triu_indices(n_random)] = theta[1:]
    T = T + T.T - np.diag(np.diag(T))
    return float(theta[0]), T


def aitken_extrapolate(thetas: np.ndarray, logliks: Sequence[float], rule: str = "loglik",
                       max_factor: float | None = MAX_FACTOR) -> np.ndarray | None:
    """Aitken extrapolation from the last three iterates.

    Parameters
    ----------
    thetas : (3, p) array
        theta_{k-2}, theta_{k-1}, theta_k (packed with :func:`pack`).
    logliks : three floats
        The log-likelihoods at those iterates.
    rule : {"loglik", "componentwise", "norm"}
        How the rate lambda is estimated (module docstring).
    max_factor : float or None
        Cap on the extrapolation factor lambda / (1 - lambda); a rate >= 1 takes the cap.
        None: no cap, and a rate >= 1 means no extrapolation.

    Returns
    -------
    numpy.ndarray or None
        The extrapolated theta, or None when there is no positive rate (or, uncapped, the
        rate is >= 1).
    """
    if rule not in RATE_RULES:
        raise ValueError(f"rule must be one of {RATE_RULES}, not {rule!r}")
    thetas = np.asarray(thetas, dtype=float)
    d_prev, d_last = np.diff(thetas[-3:], axis=0)
    if rule == "loglik":
        dl_prev, dl_last = np.diff(np.asarray(logliks[-3:], dtype=float))
        if not (dl_prev > 0 and dl_last > 0):
            return None
        lam = float(np.sqrt(dl_last / dl_prev))
    elif rule == "norm":
        den = float(np.linalg.norm(d_prev))
        if den == 0:
            return None
        lam = float(np.linalg.norm(d_last)) / den
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            lam_c = np.where(d_prev != 0, d_last / np.where(d_prev != 0, d_prev, 1.0), 0.0)
        factors = np.array([_factor(float(x), max_factor) or 0.0 for x in lam_c])
        return thetas[-1] + d_last * factors
    factor = _factor(lam, max_factor)
    if factor is None:
        return None
    return thetas[-1] + d_last * factor


def _factor(lam: float, max_factor: float | None) -> float | None:
    """lambda / (1 - lambda), capped; None when there is nothing to extrapolate."""
    if not np.isfinite(lam) or lam <= 0.0:
        return None
    if lam >= 1.0:
        return None if max_factor is None else float(max_factor)
    factor = lam / (1.0 - lam)
    return factor if max_factor is None else min(factor, float(max_factor))


def admissible(theta: np.ndarray, n_random: int) -> bool:
    """sigma^2 > 0 and T positive definite."""
    sigma2, T = unpack(theta, n_random)
    if not np.all(np.isfinite(theta)) or sigma2 <= 0:
        return False
    return bool(np.linalg.eigvalsh(T).min() > 0) if T.size else True
