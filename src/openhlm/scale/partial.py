"""Per-unit statistics of a part of the level-1 rows, and their exact merge.

Every engine (DuckDB, Dask, in-memory numpy) produces, for the rows it read, a
:class:`PartialStats`: for each unit ID seen, the per-unit moments of the model's *raw* level-1
variables (the level-1 predictors as stored, then the outcome) over the rows complete on all of
them (:class:`openhlm.estimation.statistics.UnitMoments`: counts, means, centred
cross-products), the count of all rows (complete or not), and the minimum and maximum of any
level-2 variable that is read from the level-1 files.  Two partial statistics for any split of
the rows merge exactly (:meth:`PartialStats.merge`, the Chan-Golub-LeVeque pairwise update of
:meth:`UnitMoments.merge`), so files, row groups and Dask partitions may split a unit anywhere.

Centring is not applied here: grand- and group-mean centring shift a column by a constant per
unit, which changes the means and leaves the centred cross-products unchanged
(:func:`openhlm.scale.design.design_moments`), so one pass serves every centring.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from openhlm.estimation.statistics import UnitMoments, moments_from_rows
from openhlm.scale.weights import (
    CHECKS,
    LevelOneWeights,
    WeightedStats,
    empty_weighted,
    frame_weights,
    weighted_from_rows,
)

__all__ = ["PartialStats", "empty_partial", "merge_all", "merge_many", "partial_from_frame"]


@dataclass(frozen=True)
class PartialStats:
    """Statistics of some level-1 rows, per unit ID (``ids`` sorted, unique).

    ``moments``: moments of ``variables`` (raw level-1 predictors, then the outcome) over the
    complete rows; ``rows``: all rows per unit; ``infinite``: infinite values per variable;
    ``level2_min``/``level2_max``: (J, len(level2_variables)) over non-missing values (NaN when
    a unit has none); ``weighted``: with level-1 design or precision weights, the moments
    weighted by the raw weights and the weight checks (:mod:`openhlm.scale.weights`).
    """

    ids: np.ndarray
    variables: tuple[str, ...]
    moments: UnitMoments
    rows: np.ndarray
    infinite: np.ndarray
    level2_variables: tuple[str, ...] = ()
    level2_min: np.ndarray | None = None
    level2_max: np.ndarray | None = None
    weighted: WeightedStats | None = None

    @property
    def n_units(self) -> int:
        return int(self.ids.shape[0])

    def _expand(self, ids: np.ndarray) -> PartialStats:
        """The same statistics on a superset ``ids`` of this one's (zeros / NaN elsewhere)."""
        if self.ids.shape == ids.shape and np.array_equal(self.ids, ids):
            return self
        pos = np.searchsorted(ids, self.ids)
        J, K = ids.shape[0], len(self.variables)
        m = self.moments

        def put(a: np.ndarray, shape: tuple[int, ...], fill: float = 0.0) -> np.ndarray:
            out = np.full(shape, fill, dtype=a.dtype if a.dtype.kind != "i" else np.int64)
            out[pos] = a
            return out

        def moments(m: UnitMoments) -> UnitMoments:
            return UnitMoments(weight=put(m.weight, (J,)), mean=put(m.mean, (J, K)),
                               centred=put(m.centred, (J, K, K)), n=put(m.n, (J,)),
                               sum_log_w=put(m.sum_log_w, (J,)))

        mom = moments(m)
        wt = self.weighted
        if wt is not None:
            wt = WeightedStats(moments(wt.moments), put(wt.positive, (J,)),
                               None if wt.checks is None
                               else put(wt.checks, (J, len(CHECKS))))
        q = len(self.level2_variables)
        lo = None if self.level2_min is None else put(self.level2_min, (J, q), np.nan)
        hi = None if self.level2_max is None else put(self.level2_max, (J, q), np.nan)
        return PartialStats(ids=ids, variables=self.variables, moments=mom,
                            rows=put(self.rows, (J,)), infinite=self.infinite,
                            level2_variables=self.level2_variables, level2_min=lo, level2_max=hi,
                            weighted=wt)

    def merge(self, other: PartialStats) -> PartialStats:
        """Statistics of the union of the rows of ``self`` and ``other`` (exact)."""
        if other.variables != self.variables or other.level2_variables != self.level2_variables:
            raise ValueError("merge: the two statistics describe different variables")
        if self.weighted is not None or other.weighted is not None:
            return merge_many([self, other])
        ids = np.union1d(self.ids, other.ids)
        a, b = self._expand(ids), other._expand(ids)
        lo = hi = None
        if a.level2_min is not None and b.level2_min is not None:
            lo = np.fmin(a.level2_min, b.level2_min)
            hi = np.fmax(a.level2_max, b.level2_max)  # type: ignore[arg-type]
        return PartialStats(ids=ids, variables=self.variables,
                            moments=a.moments.merge(b.moments), rows=a.rows + b.rows,
                            infinite=a.infinite + b.infinite,
                            level2_variables=self.level2_variables, level2_min=lo, level2_max=hi)


def empty_partial(variables: tuple[str, ...], level2_variables: tuple[str, ...] = (),
                  id_dtype: type = object, weighted: bool = False) -> PartialStats:
    K, q = len(variables), len(level2_variables)
    mom = UnitMoments(weight=np.zeros(0), mean=np.zeros((0, K)), centred=np.zeros((0, K, K)),
                      n=np.zeros(0), sum_log_w=np.zeros(0))
    return PartialStats(ids=np.zeros(0, dtype=id_dtype), variables=variables, moments=mom,
                        rows=np.zeros(0, dtype=np.int64), infinite=np.zeros(K, dtype=np.int64),
                        level2_variables=level2_variables, level2_min=np.zeros((0, q)),
                        level2_max=np.zeros((0, q)),
                        weighted=empty_weighted(K) if weighted else None)


def partial_from_frame(frame: pd.DataFrame, id_name: str, variables: tuple[str, ...],
                       level2_variables: tuple[str, ...] = (), *,
                       weights: LevelOneWeights | None = None,
                       single_precision: bool = False) -> PartialStats:
    """In-memory (numpy) statistics of the rows of ``frame`` (a file chunk, a Dask partition).

    Two-pass per-unit moments (:func:`openhlm.estimation.statistics.moments_from_rows`) of the
    rows complete on ``variables``; rows with a missing ID are not counted (the caller refuses
    them).  ``weights``: also the moments weighted by the level-1 design and precision weights
    (columns of ``frame``; :mod:`openhlm.scale.weights`).  ``single_precision``: every value
    rounded to float32 first, as ``mode="hlm"`` reads data (HLM stores them so).
    """
    ids_all = frame[id_name].to_numpy()
    codes, uniques = pd.factorize(ids_all, sort=True)
    keep_id = codes >= 0
    uniques = np.asarray(uniques)
    J = int(uniques.shape[0])
    values = np.column_stack([pd.to_numeric(frame[v], errors="coerce").to_numpy(dtype=float)
                              for v in variables]) if variables else np.zeros((len(frame), 0))
    values = values[keep_id]
    if single_precision:
        values = values.astype(np.float32).astype(np.float64)
    codes = codes[keep_id]
    infinite = np.isinf(values).sum(axis=0).astype(np.int64)
    ok = np.isfinite(values).all(axis=1)   # infinite values are counted, then refused
    rows = np.bincount(codes, minlength=J).astype(np.int64)
    mom = moments_from_rows(values[ok], codes[ok], J)
    weighted = None
    if weights is not None and weights.used:
        keep_ok = np.flatnonzero(keep_id)[ok]
        d, p = frame_weights(frame, weights, keep_ok, single_precision)
        weighted = weighted_from_rows(values[ok], codes[ok], J, d, p)
    lo = hi = None
    if level2_variables:
        l2 = pd.DataFrame({v: pd.to_numeric(frame[v], errors="coerce").to_numpy(dtype=float)[
            keep_id] for v in level2_variables})
        if single_precision:
            l2 = l2.astype(np.float32).astype(np.float64)
        g = l2.groupby(codes)
        lo = g.min().reindex(range(J)).to_numpy(dtype=float)
        hi = g.max().reindex(range(J)).to_numpy(dtype=float)
    else:
        lo = np.zeros((J, 0))
        hi = np.zeros((J, 0))
    return PartialStats(ids=uniques, variables=tuple(variables), moments=mom, rows=rows,
                        infinite=infinite, level2_variables=tuple(level2_variables),
                        level2_min=lo, level2_max=hi, weighted=weighted)


def _merge_moments(codes: np.ndarray, J: int, parts: list[UnitMoments]) -> UnitMoments:
    """The k-way exact merge of :func:`merge_many` (rows of ``parts`` stacked, unit ``codes``)."""
    K = parts[0].mean.shape[1]
    cat = lambda name: np.concatenate([getattr(m, name) for m in parts])
    w_i, m_i, c_i = cat("weight"), cat("mean"), cat("centred")
    W = np.bincount(codes, weights=w_i, minlength=J)
    safe = np.where(W > 0, W, 1.0)
    mean = np.empty((J, K))
    for k in range(K):
        mean[:, k] = np.bincount(codes, weights=w_i * m_i[:, k], minlength=J) / safe
    d = np.where((w_i > 0)[:, None], m_i - mean[codes], 0.0)
    C = np.empty((J, K, K))
    for a in range(K):
        for b in range(a, K):
            C[:, a, b] = C[:, b, a] = np.bincount(
                codes, weights=c_i[:, a, b] + w_i * d[:, a] * d[:, b], minlength=J)
    return UnitMoments(weight=W, mean=mean, centred=C,
                       n=np.bincount(codes, weights=cat("n"), minlength=J),
                       sum_log_w=np.bincount(codes, weights=cat("sum_log_w"), minlength=J))


def merge_many(parts: list[PartialStats]) -> PartialStats:
    """Merge any number of partial statistics at once (exact; the k-way form of the pairwise
    update).

    For the parts i of a unit with counts W_i, means m_i and centred cross-products C_i:

        W = sum_i W_i,   m = sum_i W_i m_i / W,   C = sum_i [C_i + W_i (m_i - m)(m_i - m)'],

    the identity the pairwise update of :meth:`UnitMoments.merge` applies two at a time (the
    cross-products are centred at the unit's mean, so no offset of the data enters).  The IDs
    are matched by one hash factorisation of all parts' IDs, so merging k parts of J units costs
    O(k J), not O(k J log J).
    """
    if not parts:
        raise ValueError("merge_many: no statistics")
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    for p in parts[1:]:
        if p.variables != first.variables or p.level2_variables != first.level2_variables:
            raise ValueError("merge: the statistics describe different variables")
    ids = np.concatenate([p.ids for p in parts])
    codes, uniques = pd.factorize(ids, sort=True)
    uniques = np.asarray(uniques)
    J = uniques.shape[0]
    mom = _merge_moments(codes, J, [p.moments for p in parts])
    weighted = None
    if any(p.weighted is not None for p in parts):
        if not all(p.weighted is not None for p in parts):
            raise ValueError("merge: weighted and unweighted statistics")
        ws = [p.weighted for p in parts]
        checks = None
        if any(w.checks is not None for w in ws):  # type: ignore[union-attr]
            stacked = np.concatenate([w.problem_counts() for w in ws])  # type: ignore
            checks = np.column_stack([np.bincount(codes, weights=stacked[:, k], minlength=J)
                                      for k in range(len(CHECKS))]).reshape(J, len(CHECKS))
        weighted = WeightedStats(
            _merge_moments(codes, J, [w.moments for w in ws]),  # type: ignore[union-attr]
            np.bincount(codes, weights=np.concatenate([w.positive for w in ws]),  # type: ignore
                        minlength=J),
            checks)
    rows = np.bincount(codes, weights=np.concatenate([p.rows for p in parts]),
                       minlength=J).astype(np.int64)
    lo = hi = None
    q = len(first.level2_variables)
    if all(p.level2_min is not None for p in parts):
        lo_i = np.concatenate([p.level2_min for p in parts])  # type: ignore[misc]
        hi_i = np.concatenate([p.level2_max for p in parts])  # type: ignore[misc]
        lo, hi = np.full((J, q), np.nan), np.full((J, q), np.nan)
        for k in range(q):
            lo[:, k] = pd.Series(lo_i[:, k]).groupby(codes).min().to_numpy()
            hi[:, k] = pd.Series(hi_i[:, k]).groupby(codes).max().to_numpy()
    return PartialStats(ids=uniques, variables=first.variables, moments=mom, rows=rows,
                        infinite=np.sum([p.infinite for p in parts], axis=0),
                        level2_variables=first.level2_variables, level2_min=lo, level2_max=hi,
                        weighted=weighted)


def merge_all(parts: list[PartialStats], fan_in: int = 16) -> PartialStats:
    """Merge a list of partial statistics (:func:`merge_many`, ``fan_in`` at a time)."""
    if not parts:
        raise ValueError("merge_all: no statistics")
    while len(parts) > 1:
        parts = [merge_many(parts[i:i + fan_in]) for i in range(0, len(parts), fan_in)]
    return parts[0]
