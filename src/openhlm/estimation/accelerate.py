"""HLM's EM accelerator: an Aitken extrapolation every ``accel`` iterations (HLM's ``ACCEL:5``).

HLM 6 command files carry ``ACCEL:5`` ("accelerator frequency"); HLM's documentation does not
give the formula (hlm-statistics.md 19.11).  What is pinned down on the seminar's HLM 6.08 output
(``docs/hlm-iterations.md`` records every hypothesis tried and its distance to the printout):

* HLM's printed iteration counts are too small for plain EM (Model 2: 6 printed, plain EM 9),
  and the first iterations of the null model are plain EM, so the accelerator acts from
  iteration 5 on.
* An Aitken (Delta^2) extrapolation of theta = (sigma^2, vech T) after every 5th EM step
  reproduces the printed stop at iteration 6 for both one-random-coefficient models of the seed
  (Model 2 and Model 4 with a non-random SES slope) and their printed sigma^2 and gammas; the
  printed tau differ by 1 in the 5th decimal.

The rate is estimated from the log-likelihood: for a linearly convergent EM with rate lambda,
l* - l_k ~ c lambda^(2k), so successive increments have ratio lambda^2 and

    lambda = sqrt( (l_k - l_{k-1}) / (l_{k-1} - l_{k-2}) ),
    theta_acc = theta_k + lambda / (1 - lambda) (theta_k - theta_{k-1}).

Of the rules tried this one lands closest to HLM's printout (``"componentwise"``, the classic
per-parameter Delta^2 rule, and ``"norm"``, the rate ||Delta_k|| / ||Delta_{k-1}||, are kept for
comparison).  The extrapolated point is used only if T stays positive definite, sigma^2 > 0 and
the likelihood does not fall; otherwise the plain EM iterate is kept.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["RATE_RULES", "admissible", "aitken_extrapolate", "pack", "unpack"]

RATE_RULES = ("loglik", "componentwise", "norm")

_MAX_RATE = 0.99   # a rate this close to 1 means no geometric regime: do not extrapolate


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


def aitken_extrapolate(thetas: np.ndarray, logliks: Sequence[float], rule: str = "loglik"
                       ) -> np.ndarray | None:
    """Aitken extrapolation from the last three iterates.

    Parameters
    ----------
    thetas : (3, p) array
        theta_{k-2}, theta_{k-1}, theta_k (packed with :func:`pack`).
    logliks : three floats
        The log-likelihoods at those iterates.
    rule : {"loglik", "componentwise", "norm"}
        How the rate lambda is estimated (module docstring).

    Returns
    -------
    numpy.ndarray or None
        The extrapolated theta, or None when the iterates show no geometric convergence
        (rate outside (0, 0.99)).
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
        lam_c = np.where((lam_c > 0) & (lam_c < _MAX_RATE), lam_c, 0.0)
        return thetas[-1] + d_last * lam_c / (1.0 - lam_c)
    if not 0.0 < lam < _MAX_RATE:
        return None
    return thetas[-1] + d_last * lam / (1.0 - lam)


def admissible(theta: np.ndarray, n_random: int) -> bool:
    """sigma^2 > 0 and T positive definite."""
    sigma2, T = unpack(theta, n_random)
    if not np.all(np.isfinite(theta)) or sigma2 <= 0:
        return False
    return bool(np.linalg.eigvalsh(T).min() > 0) if T.size else True
