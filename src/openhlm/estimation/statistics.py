"""Mergeable per-unit moments: counts, means and centred cross-products (docs/engine.md, 1).

Raw sums sum_i x_ia x_ib lose every significant digit of the within-unit variation when the
columns carry a large constant (an outcome stored as 1e7 + points, an uncentred calendar year):
the sum is ~n c^2 while the information is ~n s^2, and a double keeps 16 digits of the former.
We therefore keep, for every unit j and the columns V = [X, y] of the level-1 design,

    W_j = sum_i w_i,   m_j = sum_i w_i v_i / W_j,   C_j = sum_i w_i (v_i - m_j)(v_i - m_j)'

(w_i = d_i p_i, the level-1 design weight times the level-1 precision), plus the multiplicity
n_j = sum_i d_i and sum_i d_i log p_i, all computed by the two-pass algorithm (means first,
then cross-products of the deviations; no cancellation).  Two partial statistics of the same
units, a over some rows and b over the others, combine exactly by the pairwise update of
Chan, Golub & LeVeque (1983):

    W = W_a + W_b,   delta = m_b - m_a,   m = m_a + delta W_b / W,
    C = C_a + C_b + (W_a W_b / W) delta delta'.

(:meth:`UnitMoments.merge`; the out-of-core and distributed fits build on it).  The raw
cross-products in any *shifted* basis v - c follow without cancellation,

    sum_i w_i (v_i - c)(v_i - c)' = C_j + W_j (m_j - c)(m_j - c)',

which is how :mod:`openhlm.estimation.basis` forms the well-conditioned working statistics and
:mod:`openhlm.estimation.sufficient` the original-basis ones that inference reads.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["UnitMoments", "moments_from_rows"]


@dataclass(frozen=True)
class UnitMoments:
    """Per-unit moments of the columns V (N x K) of one model's level-1 rows.

    ``weight`` W_j (sum of w_i = d_i p_i), ``mean`` (J, K), ``centred`` (J, K, K) C_j,
    ``n`` the multiplicity sum_i d_i (the rows' count in the (pseudo-)likelihood) and
    ``sum_log_w`` sum_i d_i log p_i (the precision term of log|V_j|).
    """

    weight: np.ndarray
    mean: np.ndarray
    centred: np.ndarray
    n: np.ndarray
    sum_log_w: np.ndarray

    @property
    def n_units(self) -> int:
        return int(self.weight.shape[0])

    def merge(self, other: UnitMoments) -> UnitMoments:
        """Moments of the union of the rows of ``self`` and ``other`` (same units, same columns).

        The Chan-Golub-LeVeque pairwise update; a unit empty in one part takes the other's.
        """
        if other.mean.shape != self.mean.shape:
            raise ValueError("merge: the two statistics describe different units or columns")
        wa, wb = self.weight, other.weight
        w = wa + wb
        safe = np.where(w > 0, w, 1.0)
        delta = other.mean - self.mean
        mean = self.mean + delta * (wb / safe)[:, None]
        mean = np.where((w > 0)[:, None], mean, 0.0)
        f = np.where(w > 0, wa * wb / safe, 0.0)
        centred = self.centred + other.centred + f[:, None, None] * (
            delta[:, :, None] * delta[:, None, :])
        return UnitMoments(weight=w, mean=mean, centred=centred, n=self.n + other.n,
                           sum_log_w=self.sum_log_w + other.sum_log_w)

    def raw(self, shift: np.ndarray | None = None) -> np.ndarray:
        """sum_i w_i (v_i - c)(v_i - c)' per unit, (J, K, K); c = ``shift`` (zeros if None)."""
        m = self.mean if shift is None else self.mean - shift
        return self.centred + self.weight[:, None, None] * (m[:, :, None] * m[:, None, :])


def _segment_sums(values: np.ndarray, unit: np.ndarray, J: int, starts: np.ndarray | None
                  ) -> np.ndarray:
    """Per-unit column sums of ``values`` (N, k) -> (J, k)."""
    if values.shape[0] == 0:
        return np.zeros((J, values.shape[1]))
    if starts is not None:
        # rows grouped by unit and every unit present: one reduceat over the rows
        return np.add.reduceat(values, starts, axis=0)
    out = np.empty((J, values.shape[1]))
    for k in range(values.shape[1]):
        out[:, k] = np.bincount(unit, weights=values[:, k], minlength=J)
    return out


def _starts(unit: np.ndarray, J: int) -> np.ndarray | None:
    """Start row of each unit when the rows are grouped 0, 1, ..., J-1 (else None)."""
    if unit.size == 0 or unit[0] != 0 or unit[-1] != J - 1:
        return None
    steps = np.diff(unit)
    if np.any((steps != 0) & (steps != 1)):
        return None
    return np.concatenate([[0], np.flatnonzero(steps) + 1])


def moments_from_rows(V: np.ndarray, unit: np.ndarray, J: int, *,
                      design_weights: np.ndarray | None = None,
                      precision: np.ndarray | None = None) -> UnitMoments:
    """Two-pass per-unit moments of the columns of ``V`` (N x K).

    ``design_weights`` d_i (multiplicity) and ``precision`` p_i (relative level-1 precision)
    default to ones; the moments are weighted by w_i = d_i p_i.
    """
    V = np.asarray(V, dtype=float)
    N, K = V.shape
    d, p = design_weights, precision
    w = d if p is None else (p if d is None else d * p)
    starts = _starts(unit, J)
    if starts is not None and starts.size != J:
        starts = None
    if w is None:
        W = np.bincount(unit, minlength=J).astype(float)
        sums = _segment_sums(V, unit, J, starts)
    else:
        W = np.bincount(unit, weights=w, minlength=J)
        sums = _segment_sums(V * w[:, None], unit, J, starts)
    mean = sums / np.where(W > 0, W, 1.0)[:, None]
    dev = V - mean[unit]
    a, b = np.triu_indices(K)
    prods = dev[:, a] * dev[:, b]
    if w is not None:
        prods *= w[:, None]
    tri = _segment_sums(prods, unit, J, starts)
    C = np.empty((J, K, K))
    C[:, a, b] = tri
    C[:, b, a] = tri
    n: np.ndarray   # numpy's stubs type bincount as integer even with float weights
    slw: np.ndarray
    if d is None and p is None:
        n = W
    elif d is None:
        n = np.bincount(unit, minlength=J).astype(float)
    else:
        n = np.bincount(unit, weights=d, minlength=J)
    if p is None:
        slw = np.zeros(J)
    else:
        logp = np.log(np.where(p > 0, p, 1.0))
        slw = np.bincount(unit, weights=logp if d is None else d * logp, minlength=J)
    return UnitMoments(weight=W, mean=mean, centred=C, n=n, sum_log_w=slw)
