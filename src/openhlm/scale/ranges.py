"""Each unit's range of its level-1 columns: what the graphs of the level-1 rows need.

HLM's model graph (:func:`openhlm.plots.model_graph`) draws the fixed part of the model over
the range of a level-1 predictor, and the level-1 equations graph
(:func:`openhlm.plots.level1_equations`) each unit's EB line over the unit's own range.  The
rest of what they draw (fixed effects, EB coefficients, level-2 values, each unit's mean of
every level-1 column) is in the fit's per-unit statistics; the per-unit minimum and maximum of
the raw level-1 variables are not, so they come from one cheap pass over the analysis rows
(:func:`openhlm.scale.passes.row_pass`: DuckDB record batches or Dask partitions, partial
ranges combined by ``min``/``max``), made the first time a graph asks and kept with the fit's
design.  A design column x - c_jp (c_jp the unit's centring constant) has the range
[min_j x - c_jp, max_j x - c_jp]: subtracting one constant keeps the order of the rows' values,
so the range is that of the in-memory design's column.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from openhlm.scale.passes import row_pass
from openhlm.scale.residuals import RowSource
from openhlm.scale.sources import Progress

__all__ = ["UnitRanges", "unit_column_ranges", "unit_ranges"]


@dataclass(frozen=True)
class UnitRanges:
    """Per-unit minimum and maximum (J, m) of the raw level-1 variables; ``+`` combines the
    ranges of two parts of the rows (so a pass can add them as it adds sums)."""

    low: np.ndarray
    high: np.ndarray

    def __add__(self, other: UnitRanges) -> UnitRanges:
        return UnitRanges(np.fmin(self.low, other.low), np.fmax(self.high, other.high))


def _chunk_ranges(pos: np.ndarray, V: np.ndarray, X: np.ndarray, *, J: int,
                  single: bool) -> UnitRanges:
    if single:   # mode="hlm": the values as the fit read them (float32)
        V = V.astype(np.float32).astype(np.float64)
    m = V.shape[1]
    low = np.full((J, m), np.nan)
    high = np.full((J, m), np.nan)
    if pos.size:
        order = np.argsort(pos, kind="stable")
        p, v = pos[order], V[order]
        starts = np.flatnonzero(np.r_[True, p[1:] != p[:-1]])
        low[p[starts]] = np.minimum.reduceat(v, starts, axis=0)
        high[p[starts]] = np.maximum.reduceat(v, starts, axis=0)
    return UnitRanges(low, high)


def unit_ranges(source: RowSource, keys: np.ndarray) -> UnitRanges:
    """The per-unit ranges of ``source.analysis`` over the analysis rows of the units ``keys``
    (the design's unit keys, in the design's order): one pass."""
    progress = Progress(source.engine, quiet=source.quiet)
    progress.note("a pass over the rows for each unit's range of its level-1 variables "
                  "(graphs)")
    index = pd.Index(keys)
    fn = partial(_chunk_ranges, J=len(index), single=source.single_precision)
    out: UnitRanges = row_pass(source, index, (), fn, progress=progress)
    return out


def unit_column_ranges(design: Any) -> tuple[np.ndarray, np.ndarray]:
    """(low, high), each (J, P): every unit's range of each column of the design's X (the
    intercept's is 1) for a design without rows (:class:`openhlm.scale.design.SummaryDesign`);
    the pass is made once per fit (kept in ``design.derived``)."""
    source: RowSource = design.level1_rows
    ranges = design.derived.get("ranges")
    if ranges is None:
        ranges = design.derived["ranges"] = unit_ranges(source, design.unit_keys)
    index = {v: k for k, v in enumerate(source.analysis)}
    J, P = design.n_level2, len(source.variables)
    low = np.ones((J, P))
    high = np.ones((J, P))
    for p, v in enumerate(source.variables):
        if v is not None:
            low[:, p] = ranges.low[:, index[v]] - source.offsets[:, p]
            high[:, p] = ranges.high[:, index[v]] - source.offsets[:, p]
    return low, high
