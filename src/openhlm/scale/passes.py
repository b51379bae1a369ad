"""Passes over the level-1 rows after the per-unit statistics: a chunk function, summed.

What needs the rows more than once (heterogeneous sigma^2: per-unit statistics weighted by
1/sigma^2_ij at each trial value of the variance model) is a *row pass*: a function of a chunk
of analysis rows (the rows complete on the model's level-1 variables, of units in the
analysis) that returns per-unit sums, added over the chunks.  Sums of any split of the rows add
up exactly, so

* **DuckDB** streams the analysis rows of the files as Arrow record batches (a ``SELECT ...
  WHERE`` complete, never a table in memory) and adds the chunk sums as they come;
* **Dask** maps the function over the partitions on the workers and adds the partial sums in a
  tree of tasks (no shuffle; a unit may span partitions).

:class:`RowSums` are the sums the heterogeneous fit needs: for row weights w_q (q = 1..Q),
per unit, sum_i w_qi, sum_i w_qi u_i and sum_i w_qi u_i u_i' with u_i = v_ij - vbar_j the raw
level-1 variables centred at the unit's unweighted mean (from the first pass, so no offset of
the data enters), plus plain per-unit sums of row scalars.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from openhlm.errors import DataError
from openhlm.scale.residuals import RowSource
from openhlm.scale.sources import Progress, require

__all__ = ["RowSums", "analysis_rows", "row_pass", "row_sums"]

#: rows per record batch of a DuckDB pass
BATCH_ROWS = 1 << 20
#: partial results added per task of a Dask pass
FAN_IN = 8


@dataclass(frozen=True)
class RowSums:
    """Per-unit sums of a pass (module docstring): ``s0`` (Q, J), ``s1`` (Q, J, m),
    ``s2`` (Q, J, m, m), ``plain`` (S, J)."""

    s0: np.ndarray
    s1: np.ndarray
    s2: np.ndarray
    plain: np.ndarray

    def __add__(self, other: RowSums) -> RowSums:
        return RowSums(self.s0 + other.s0, self.s1 + other.s1, self.s2 + other.s2,
                       self.plain + other.plain)


def analysis_rows(part: pd.DataFrame, source: RowSource, keys: pd.Index,
                  extra: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(unit position, raw level-1 variables (n, m), ``extra`` columns (n, k)) of the analysis
    rows of a chunk: complete on the model's level-1 variables, of units in the analysis."""
    col = source.column
    V = np.column_stack([pd.to_numeric(part[col(v)], errors="coerce").to_numpy(dtype=float)
                         for v in source.analysis])
    X = (np.column_stack([pd.to_numeric(part[col(v)], errors="coerce").to_numpy(dtype=float)
                          for v in extra]) if extra else np.zeros((len(part), 0)))
    pos = keys.get_indexer(part[col(source.id_name)])
    ok = np.isfinite(V).all(axis=1) & (pos >= 0)
    return pos[ok], V[ok], X[ok]


def row_sums(pos: np.ndarray, u: np.ndarray, weights: np.ndarray, plain: np.ndarray,
             J: int) -> RowSums:
    """:class:`RowSums` of rows at unit positions ``pos`` with centred values ``u`` (n, m),
    row weights (Q, n) and plain row scalars (S, n)."""
    Q, m = weights.shape[0], u.shape[1]
    s0 = np.empty((Q, J))
    s1 = np.empty((Q, J, m))
    s2 = np.empty((Q, J, m, m))
    for q in range(Q):
        w = weights[q]
        s0[q] = np.bincount(pos, weights=w, minlength=J)
        wu = u * w[:, None]
        for a in range(m):
            s1[q, :, a] = np.bincount(pos, weights=wu[:, a], minlength=J)
            for b in range(a, m):
                s2[q, :, a, b] = s2[q, :, b, a] = np.bincount(pos, weights=wu[:, a] * u[:, b],
                                                              minlength=J)
    out = np.empty((plain.shape[0], J))
    for s in range(plain.shape[0]):
        out[s] = np.bincount(pos, weights=plain[s], minlength=J)
    return RowSums(s0, s1, s2, out)


def _chunk(part: pd.DataFrame, source: RowSource, keys: pd.Index, extra: Sequence[str],
           fn: Callable[..., Any]) -> Any:
    pos, V, X = analysis_rows(part, source, keys, extra)
    return fn(pos, V, X)


def _add(*parts: Any) -> Any:
    out = parts[0]
    for p in parts[1:]:
        out = out + p
    return out


def row_pass(source: RowSource, keys: pd.Index, extra: Sequence[str],
             fn: Callable[[np.ndarray, np.ndarray, np.ndarray], Any], *,
             progress: Progress) -> Any:
    """``fn(pos, V, X)`` over every chunk of analysis rows, added (``+``) over the chunks.

    ``pos``: the rows' unit positions in ``keys`` (the design's units); ``V``: the model's raw
    level-1 variables (``source.analysis``); ``X``: the ``extra`` columns.
    """
    if source.engine == "duckdb":
        return _duckdb_pass(source, keys, extra, fn, progress)
    return _dask_pass(source, keys, extra, fn, progress)


def _duckdb_pass(source: RowSource, keys: pd.Index, extra: Sequence[str],
                 fn: Callable[..., Any], progress: Progress) -> Any:
    duckdb = require("duckdb")
    assert source.files is not None
    names = [source.id_name, *source.analysis, *extra]
    selects = []
    groups: dict[tuple[str | None, ...], tuple[list[str], Any]] = {}
    for path, schema in zip(source.files.paths, source.schemas):
        groups.setdefault(tuple(schema.resolve(n) for n in names), ([], schema))[0].append(path)
    for paths, schema in groups.values():
        def q(name: str, schema: Any = schema) -> str:
            return '"' + (schema.resolve(name) or name).replace('"', '""') + '"'

        files = "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"
        read = (f"read_parquet({files}, union_by_name=true)" if source.files.format == "parquet"
                else f"read_csv({files}, header=true, union_by_name=true, "
                     "nullstr=['', 'NA', '.'])")
        def alias(name: str) -> str:   # the spelling of source.columns, whatever the file's
            return '"' + source.column(name).replace('"', '""') + '"'

        cols = [f"{q(source.id_name)} AS {alias(source.id_name)}"]
        cols += [f"CAST({q(v)} AS DOUBLE) AS {alias(v)}" for v in (*source.analysis, *extra)]
        complete = " AND ".join(f"coalesce(NOT isnan(CAST({q(v)} AS DOUBLE)), false)"
                                for v in source.analysis)
        selects.append(f"SELECT {', '.join(cols)} FROM {read} WHERE {complete}")
    con = duckdb.connect()
    total: Any = None
    rows = 0
    last = time.perf_counter()
    try:
        con.execute("SET enable_progress_bar = false")
        reader = con.sql(" UNION ALL ".join(selects)).to_arrow_reader(BATCH_ROWS)
        for batch in reader:
            part = batch.to_pandas()
            value = _chunk(part, source, keys, extra, fn)
            total = value if total is None else total + value
            rows += len(part)
            if time.perf_counter() - last >= 5.0:
                last = time.perf_counter()
                progress.note(f"{rows:,} rows read, {progress.elapsed():.1f} s")
    except duckdb.Error as exc:
        first = str(exc).splitlines()[0]
        raise DataError(f"cannot read {', '.join(source.files.paths[:3])!r}: {first}") from None
    finally:
        con.close()
    if total is None:
        total = fn(np.zeros(0, dtype=np.int64), np.zeros((0, len(source.analysis))),
                   np.zeros((0, len(extra))))
    return total


def _dask_pass(source: RowSource, keys: pd.Index, extra: Sequence[str],
               fn: Callable[..., Any], progress: Progress) -> Any:
    dask = require("dask")
    frame = source.frame
    if frame is None:
        assert source.files is not None
        from openhlm.scale.dask_engine import dask_frame

        frame = dask_frame(source.files)
    col = source.column
    frame = frame[list(dict.fromkeys([col(source.id_name),
                                      *(col(v) for v in (*source.analysis, *extra))]))]
    delayed = dask.delayed
    keys_d = delayed(keys, pure=True)
    light = dataclasses.replace(source, frame=None)   # no Dask collection inside a task
    tasks = [delayed(_chunk)(p, light, keys_d, tuple(extra), fn) for p in frame.to_delayed()]
    while len(tasks) > 1:
        tasks = [delayed(_add)(*tasks[i:i + FAN_IN]) if len(tasks[i:i + FAN_IN]) > 1
                 else tasks[i] for i in range(0, len(tasks), FAN_IN)]
    if source.scheduler:
        distributed = require("distributed")
        client = distributed.Client(source.scheduler, timeout="10s")
        return client.compute(tasks[0]).result()
    (result,) = dask.compute(tasks[0])
    return result
