"""Level-1 design weights and precision weights out of core (``docs/scale.md``, "Weights").

An in-memory fit (:func:`openhlm.estimation.weighting.design_weights`) checks the weights of
the analysis rows, normalises the level-1 design weights d_i and forms the per-unit moments
weighted by w_i = d_i p_i (p_i the precision weights).  Out of core the engines form, per unit
and over the rows complete on the model's variables, with the *raw* weights:

    W_j = sum_i d_i p_i,   m_j = sum_i d_i p_i v_i / W_j,   C_j = sum_i d_i p_i (v_i - m_j)(v_i - m_j)',
    n_j = sum_i d_i,       S_j = sum_i d_i log p_i,         n+_j = #{i: d_i > 0},

plus, per unit, the number of those rows whose weights are missing, infinite, negative (or a
zero precision): :class:`WeightedStats`.  Two of them merge exactly like unweighted moments
(the Chan-Golub-LeVeque update in W, :func:`openhlm.scale.partial.merge_many`).

**Normalisation needs no extra pass.**  Every normalisation rescales the design weights by a
factor per unit, d'_i = c_j d_i: c_j = n+_j / n_j (``"within"``), c = sum_j n+_j / sum_j n_j
(``"overall"``) or 1 (``"none"``).  Then W_j, C_j, n_j and S_j scale by c_j and the mean m_j
does not change, so the normalised moments follow from the raw ones
(:func:`normalised_moments`).  The per-unit weight sums the rule needs are part of the same
statistics.

**Passes.**  Dask and the in-memory engine compute the weighted moments of each partition by
the two-pass algorithm on the rows they hold (means first, then weighted products of the
deviations), one pass over the data.  SQL has no weighted co-moment aggregate, and a weighted
sum of squares of raw values loses the within-unit variation of offset data, so DuckDB makes
two: the weighted means m_j first (``fsum``, compensated), then the weighted products of the
deviations from them, corrected for the error of the first-pass mean (the corrected two-pass
algorithm: C = sum w d d' - (sum w d)(sum w d)'/W with d = v - m_j) (:mod:`openhlm.scale.duck`).

Centring (grand and group means) uses the *unweighted* means over the analysis rows, as in
memory; those are the unweighted moments every engine keeps beside the weighted ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from openhlm.errors import DataError
from openhlm.estimation.statistics import UnitMoments, moments_from_rows
from openhlm.estimation.weighting import WeightingSpec

if TYPE_CHECKING:
    import pandas as pd

    from openhlm.scale.schema import Schema
    from openhlm.scale.sources import Files

__all__ = ["CHECKS", "LevelOneWeights", "WeightedStats", "bad_weight_mask", "check_positive",
           "check_weights", "empty_weighted", "files_with_bad_weights", "frame_weights",
           "normalised_moments", "weighted_from_rows", "weighting_spec"]

_LISTED = 5

#: the weight problems counted per unit: (which weight, problem, advice)
CHECKS: tuple[tuple[str, str, str], ...] = (
    ("level1", "missing values", "give every row in the analysis a weight (or delete those rows)"),
    ("level1", "infinite values", "correct the weights"),
    ("level1", "negative values", "weights must be >= 0"),
    ("precision", "missing values",
     "give every row in the analysis a weight (or delete those rows)"),
    ("precision", "infinite values", "correct the weights"),
    ("precision", "negative values", "weights must be >= 0"),
    ("precision", "zero values", ("precision weights must be > 0 (a zero precision means an "
                                  "infinite variance: delete those rows instead)")),
)
_WHAT = {"level1": "level-1 weight", "precision": "precision weight"}


@dataclass(frozen=True)
class LevelOneWeights:
    """The level-1 weight variables of an out-of-core fit (names as the model gives them)."""

    level1: str | None = None
    precision: str | None = None
    normalize: str = "within"

    @property
    def used(self) -> bool:
        return self.level1 is not None or self.precision is not None

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(n for n in (self.level1, self.precision) if n is not None)


@dataclass(frozen=True)
class WeightedStats:
    """Per-unit weighted moments with the raw weights, and weight checks (module docstring).

    ``moments``: over the complete rows with valid weights, weighted by d_i p_i (``n`` = sum
    d_i, ``sum_log_w`` = sum d_i log p_i); ``positive``: complete rows with d_i > 0;
    ``checks``: (J, len(CHECKS)) complete rows with each weight problem, or None when there is
    none (the usual case: no (J, 7) array per partial statistics).
    """

    moments: UnitMoments
    positive: np.ndarray
    checks: np.ndarray | None = None

    def problem_counts(self) -> np.ndarray:
        """``checks``, zeros when None."""
        J = self.positive.shape[0]
        return np.zeros((J, len(CHECKS))) if self.checks is None else self.checks


def empty_weighted(K: int) -> WeightedStats:
    mom = UnitMoments(weight=np.zeros(0), mean=np.zeros((0, K)), centred=np.zeros((0, K, K)),
                      n=np.zeros(0), sum_log_w=np.zeros(0))
    return WeightedStats(mom, np.zeros(0))


def bad_weight_mask(d: np.ndarray | None, p: np.ndarray | None) -> np.ndarray:
    """(N, len(CHECKS)) booleans: which problem each row's weights have."""
    n = (d if d is not None else p if p is not None else np.zeros(0)).shape[0]
    out = np.zeros((n, len(CHECKS)), dtype=bool)
    for k, (which, problem, _) in enumerate(CHECKS):
        v = d if which == "level1" else p
        if v is None:
            continue
        with np.errstate(invalid="ignore"):
            out[:, k] = {"missing values": np.isnan(v), "infinite values": np.isinf(v),
                         "negative values": v < 0, "zero values": v == 0}[problem]
    return out


def weighted_from_rows(values: np.ndarray, codes: np.ndarray, J: int, d: np.ndarray | None,
                       p: np.ndarray | None) -> WeightedStats:
    """Weighted statistics of the complete rows ``values`` (N, K) of units ``codes`` (numpy;
    the two-pass algorithm of :func:`openhlm.estimation.statistics.moments_from_rows`).
    Rows with a bad weight are counted in ``checks`` and left out of the moments."""
    bad = bad_weight_mask(d, p)
    valid = ~bad.any(axis=1)
    dv = None if d is None else d[valid]
    pv = None if p is None else p[valid]
    mom = moments_from_rows(values[valid], codes[valid], J, design_weights=dv, precision=pv)
    if d is None:
        positive = np.bincount(codes, minlength=J).astype(float)
    else:
        positive = np.bincount(codes[valid], weights=(dv > 0).astype(float),  # type: ignore
                               minlength=J)
    checks = None
    if bad.any():
        checks = np.zeros((J, len(CHECKS)))
        for k in range(len(CHECKS)):
            checks[:, k] = np.bincount(codes, weights=bad[:, k].astype(float), minlength=J)
    return WeightedStats(mom, positive, checks)


def _listed(items: np.ndarray | list[str]) -> str:
    names = [str(u) for u in items]
    shown = ", ".join(names[:_LISTED])
    return shown + (f" and {len(names) - _LISTED} more" if len(names) > _LISTED else "")


def check_weights(weighted: WeightedStats, ids: np.ndarray, weights: LevelOneWeights,
                  where: str) -> None:
    """Refuse missing, infinite, negative (precision: zero) weights among the analysis rows,
    naming the variable, ``where`` they are (the files, or the Dask DataFrame) and the units."""
    if weighted.checks is None:
        return
    for k, (which, problem, advice) in enumerate(CHECKS):
        counts = weighted.checks[:, k]
        if counts.any():
            name = getattr(weights, which)
            raise DataError(f"{_WHAT[which]} '{name}' has {problem} ({int(counts.sum())} "
                            f"value(s), in {where}; unit(s) {_listed(ids[counts > 0])}); "
                            f"{advice}")


def check_positive(weighted: WeightedStats, keys: np.ndarray, weights: LevelOneWeights) -> None:
    """Refuse analysis units whose level-1 weights are all zero (``weighted``: those units)."""
    if weights.level1 is None:
        return
    empty = weighted.moments.n <= 0
    if empty.any():
        raise DataError(f"level-1 weight '{weights.level1}' is zero for every row of "
                        f"{int(empty.sum())} unit(s) ({_listed(keys[empty])}); such units "
                        "contribute nothing: give them positive weights or remove them")


def normalised_moments(weighted: WeightedStats, weights: LevelOneWeights) -> UnitMoments:
    """The moments with the design weights normalised (a factor c_j per unit; docstring)."""
    mom = weighted.moments
    J = mom.n.shape[0]
    if weights.level1 is None or weights.normalize == "none":
        c = np.ones(J)
    elif weights.normalize == "overall":
        c = np.full(J, float(weighted.positive.sum()) / float(mom.n.sum()))
    else:
        c = weighted.positive / mom.n
    return UnitMoments(weight=mom.weight * c, mean=mom.mean.copy(),
                       centred=mom.centred * c[:, None, None], n=mom.n * c,
                       sum_log_w=mom.sum_log_w * c)


def weighting_spec(weighted: WeightedStats, weights: LevelOneWeights, count: np.ndarray,
                   level2: WeightingSpec | None) -> WeightingSpec:
    """HLM's weighting summary: the level-1 part from the statistics (``count``: complete
    rows per unit), the level-2 part from the design builder's ``level2`` summary."""
    zero_rows = raw1 = None
    if weights.level1 is not None:
        zero_rows = round(float(count.sum() - weighted.positive.sum()))
        raw1 = float(weighted.moments.n.sum())
    return WeightingSpec(level1=weights.level1, precision=weights.precision,
                         level2=level2.level2 if level2 else None,
                         normalization=weights.normalize,
                         level1_zero_rows=zero_rows or 0,
                         level2_zero_units=level2.level2_zero_units if level2 else 0,
                         level1_raw_sum=raw1,
                         level2_raw_sum=level2.level2_raw_sum if level2 else None)


def frame_weights(frame: pd.DataFrame, weights: LevelOneWeights, keep: np.ndarray,
                  single_precision: bool = False
                  ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The raw weights (d, p) of the rows ``keep`` of ``frame`` as doubles (NaN if missing)."""
    import pandas as pd

    out: list[np.ndarray | None] = []
    for name in (weights.level1, weights.precision):
        if name is None:
            out.append(None)
            continue
        v = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)[keep]
        if single_precision:
            v = v.astype(np.float32).astype(np.float64)
        out.append(v)
    return out[0], out[1]


#: rows read at a time when looking for the files that hold bad weights (an error path)
_CHUNK = 1 << 20


def files_with_bad_weights(files: Files, schemas: list[Schema], variables: tuple[str, ...],
                           weights: LevelOneWeights, check: int, *, limit: int = 3
                           ) -> list[str]:
    """The files (at most ``limit``) whose complete rows have weight problem ``check``
    (an index into :data:`CHECKS`): read again in chunks, only after the pass found one."""
    import pandas as pd

    from openhlm.scale.sources import require

    found: list[str] = []
    for path, schema in zip(files.paths, schemas):
        names = list(dict.fromkeys([*variables, *weights.columns]))
        cols = [schema.resolve(n) or n for n in names]
        chunks: Iterable[pd.DataFrame]
        if files.format == "parquet":
            pq = require("pyarrow.parquet")
            chunks = (b.to_pandas() for b in pq.ParquetFile(path).iter_batches(
                batch_size=_CHUNK, columns=list(dict.fromkeys(cols))))
        else:
            chunks = pd.read_csv(path, usecols=list(dict.fromkeys(cols)), chunksize=_CHUNK,
                                 na_values=["", "NA", "."])
        for chunk in chunks:
            values = chunk[[schema.resolve(n) or n for n in variables]].apply(
                pd.to_numeric, errors="coerce").to_numpy(dtype=float)
            keep = ~np.isnan(values).any(axis=1)
            d, p = frame_weights(chunk.rename(columns={schema.resolve(n) or n: n
                                                       for n in weights.columns}),
                                 weights, keep)
            if bad_weight_mask(d, p)[:, check].any():
                found.append(path)
                break
        if len(found) >= limit:
            break
    return found
