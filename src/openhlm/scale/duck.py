"""Per-unit statistics by DuckDB SQL aggregation over Parquet or CSV files (out of core).

One ``GROUP BY`` unit over all the files (DuckDB reads them in parallel, holds one aggregate
state per unit, never the rows, and merges its threads' states by the pairwise update below);
files whose columns are spelled differently go into separate queries whose statistics are
merged exactly (:func:`openhlm.scale.partial.merge_all`).  Per unit and per pair of the model's raw
level-1 variables a, b, over the rows complete on all of them:

* the count n_j and the mean m_ja = fsum(a) / n_j (``fsum``: compensated Kahan-Babuska
  summation, so the mean is correct to about one rounding of its own size even for an outcome
  stored as 1e8 + points);
* the centred cross-product C_jab = n_j covar_pop(a, b): DuckDB's ``covar_pop`` keeps a
  running mean and co-moment (Welford's update) and combines its parallel partial states by the
  pairwise formula of Chan, Golub & LeVeque, so it never forms a raw sum of squares and is
  unaffected by a constant added to a or b.

Plus all rows per unit (for the deletion count), infinite values per variable, and for level-2
variables read from the level-1 files their per-unit minimum and maximum (to refuse one that
varies within a unit).  One pass over the data.

With level-1 design or precision weights, two (:mod:`openhlm.scale.weights`): the first pass
also gives the weighted means fsum(w v) / fsum(w), the weight sums and the weight checks; the
second (:mod:`openhlm.scale.duck_weights`) joins the rows with those means and sums the
weighted products of the deviations.  ``single_precision`` (``mode="hlm"``) rounds every value
read to float32 first, as HLM stores its data.
"""

from __future__ import annotations

import functools
import threading

import numpy as np

from openhlm.errors import DataError, MDMError
from openhlm.estimation.statistics import UnitMoments
from openhlm.scale.duck_weights import pass1_aggregates, two_passes, weighted_from_frame
from openhlm.scale.partial import PartialStats, empty_partial, merge_all
from openhlm.scale.schema import Schema
from openhlm.scale.sources import Files, Progress, require
from openhlm.scale.weights import LevelOneWeights

__all__ = ["duckdb_statistics", "rows_sql", "statistics_sql"]


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _source(paths: list[str], fmt: str) -> str:
    files = "[" + ", ".join(_lit(p) for p in paths) + "]"
    if fmt == "parquet":
        return f"read_parquet({files}, union_by_name=true)"
    return (f"read_csv({files}, header=true, union_by_name=true, "
            "nullstr=['', 'NA', '.'])")


def rows_sql(paths: list[str], fmt: str, schema: Schema, id_name: str,
             variables: tuple[str, ...], level2_variables: tuple[str, ...] = (),
             weights: LevelOneWeights | None = None, single_precision: bool = False) -> str:
    """The rows of ``paths`` as the aggregations read them: ``__id``, the variables ``u0``,
    ``u1``, ... and level-2 variables ``l0``, ... as doubles (float32-rounded with
    ``single_precision``), ``__ok`` (complete on the variables); with ``weights`` also the raw
    weights ``__d``, ``__p``, their product ``__w`` and ``__okw`` (complete, weights valid)."""
    names = (id_name, *variables, *level2_variables, *(weights.columns if weights else ()))
    col = {n: schema.resolve(n) or n for n in names}

    def value(name: str) -> str:
        if single_precision:
            return f"CAST(CAST({_q(col[name])} AS FLOAT) AS DOUBLE)"
        return f"CAST({_q(col[name])} AS DOUBLE)"

    u = [f"{value(v)} AS u{k}" for k, v in enumerate(variables)]
    l2 = [f"CASE WHEN isnan({value(v)}) THEN NULL ELSE {value(v)} END AS l{k}"
          for k, v in enumerate(level2_variables)]
    w = []
    if weights is not None:
        w = [f"{value(weights.level1) if weights.level1 else '1.0::DOUBLE'} AS __d",
             f"{value(weights.precision) if weights.precision else '1.0::DOUBLE'} AS __p"]
    ok = " AND ".join(f"coalesce(NOT isnan(u{k}), false)" for k in range(len(variables))) \
        or "true"
    inner = (f"SELECT {_q(col[id_name])} AS __id, {', '.join(u + l2 + w)} "
             f"FROM {_source(paths, fmt)}")
    extra = ""
    if weights is not None:
        valid = ("coalesce(NOT isnan(__d) AND NOT isinf(__d) AND __d >= 0 AND NOT isnan(__p) "
                 "AND NOT isinf(__p) AND __p > 0, false)")
        extra = f", ({ok}) AND {valid} AS __okw, __d * __p AS __w"
    return f"SELECT *, {ok} AS __ok{extra} FROM ({inner})"


def statistics_sql(paths: list[str], fmt: str, schema: Schema, id_name: str,
                   variables: tuple[str, ...], level2_variables: tuple[str, ...],
                   weights: LevelOneWeights | None = None,
                   single_precision: bool = False) -> str:
    """The aggregation query over ``paths`` (files whose columns are spelled as in
    ``schema``; module docstring); with ``weights`` the first of the two passes."""
    rows = rows_sql(paths, fmt, schema, id_name, variables, level2_variables, weights,
                    single_precision)
    K = len(variables)
    aggs = ["count(*) AS __rows", "count(*) FILTER (WHERE __ok) AS __n"]
    aggs += [f"fsum(u{k}) FILTER (WHERE __ok) AS s{k}" for k in range(K)]
    aggs += [f"covar_pop(u{a}, u{b}) FILTER (WHERE __ok) AS c{a}_{b}"
             for a in range(K) for b in range(a, K)]
    aggs += [f"count(*) FILTER (WHERE isinf(u{k})) AS inf{k}" for k in range(K)]
    aggs += [f"min(l{k}) AS lo{k}, max(l{k}) AS hi{k}" for k in range(len(level2_variables))]
    if weights is not None:
        aggs += pass1_aggregates(K)
    return f"SELECT __id, {', '.join(aggs)} FROM ({rows}) GROUP BY __id"


def _partial(frame: object, variables: tuple[str, ...],
             level2_variables: tuple[str, ...], weighted: bool = False) -> PartialStats:
    import pandas as pd

    assert isinstance(frame, pd.DataFrame)
    if frame["__id"].isna().any():
        raise DataError("missing ID")   # re-raised with the file name by the caller
    K, J = len(variables), len(frame)
    n = frame["__n"].to_numpy(dtype=float)
    safe = np.where(n > 0, n, 1.0)
    mean = np.column_stack([frame[f"s{k}"].fillna(0.0).to_numpy(dtype=float) / safe
                            for k in range(K)]) if K else np.zeros((J, 0))
    C = np.zeros((J, K, K))
    for a in range(K):
        for b in range(a, K):
            C[:, a, b] = C[:, b, a] = n * frame[f"c{a}_{b}"].fillna(0.0).to_numpy(dtype=float)
    mom = UnitMoments(weight=n, mean=mean, centred=C, n=n.copy(), sum_log_w=np.zeros(J))
    q = len(level2_variables)
    lo = np.column_stack([frame[f"lo{k}"].to_numpy(dtype=float) for k in range(q)]) if q \
        else np.zeros((J, 0))
    hi = np.column_stack([frame[f"hi{k}"].to_numpy(dtype=float) for k in range(q)]) if q \
        else np.zeros((J, 0))
    infinite = np.array([int(frame[f"inf{k}"].sum()) for k in range(K)], dtype=np.int64)
    ids = frame["__id"].to_numpy()
    if ids.dtype.kind == "O":
        ids = ids.astype(str).astype(object)
    wt = None
    if weighted:
        wt = weighted_from_frame(frame, K)
    return PartialStats(ids=ids, variables=variables, moments=mom,
                        rows=frame["__rows"].to_numpy(dtype=np.int64), infinite=infinite,
                        level2_variables=level2_variables, level2_min=lo, level2_max=hi,
                        weighted=wt)


def _groups(files: Files, schemas: list[Schema], names: tuple[str, ...]
            ) -> list[tuple[list[str], Schema]]:
    """Files whose columns are spelled alike go into one query (usually all of them)."""
    groups: dict[tuple[str | None, ...], tuple[list[str], Schema]] = {}
    for path, schema in zip(files.paths, schemas):
        key = tuple(schema.resolve(n) for n in names)
        groups.setdefault(key, ([], schema))[0].append(path)
    return list(groups.values())


def _total_rows(paths: list[str], fmt: str) -> int | None:
    """Rows in the files from the Parquet footers (None for CSV: unknown before reading)."""
    if fmt != "parquet":
        return None
    pq = require("pyarrow.parquet")
    try:
        return int(sum(pq.ParquetFile(p).metadata.num_rows for p in paths))
    except Exception:  # noqa: BLE001 - the query will name the unreadable file
        return None


def _run(con: object, sql: str, paths: list[str], fmt: str, progress: Progress,
         every: float) -> object:
    """Run the query in a thread and report its progress every ``every`` seconds."""
    duckdb = require("duckdb")
    total = _total_rows(paths, fmt)
    box: dict[str, object] = {}

    def work() -> None:
        try:
            box["frame"] = con.execute(sql).df()  # type: ignore[attr-defined]
        except Exception as exc:  # noqa: BLE001 - re-raised in the calling thread
            box["error"] = exc

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(every)
        if thread.is_alive() and not progress.quiet:
            try:
                pct = float(con.query_progress())  # type: ignore[attr-defined]
            except Exception:  # noqa: BLE001 - progress is best effort
                pct = -1.0
            if pct >= 0 and total:
                progress.note(f"~{int(total * pct / 100):,} of {total:,} rows read, "
                              f"{progress.elapsed():.1f} s")
            elif pct >= 0:
                progress.note(f"{pct:.0f}% read, {progress.elapsed():.1f} s")
    if "error" in box:
        exc = box["error"]
        if isinstance(exc, duckdb.Error):
            first = str(exc).splitlines()[0]
            where = next((p for p in paths if p in str(exc)), None)
            raise DataError(f"cannot read {where or ', '.join(paths[:3])!r}: {first}") from None
        raise exc  # type: ignore[misc]
    return box["frame"]


def duckdb_statistics(files: Files, schemas: list[Schema], id_name: str,
                      variables: tuple[str, ...], level2_variables: tuple[str, ...] = (), *,
                      progress: Progress, threads: int | None = None,
                      memory_limit: str | None = None, every: float = 5.0,
                      weights: LevelOneWeights | None = None,
                      single_precision: bool = False) -> PartialStats:
    """Per-unit statistics of the rows of ``files`` (module docstring); one pass (two with
    level-1 ``weights``).

    One query over all the files (DuckDB reads them in parallel and merges its aggregate
    states); progress (rows read, elapsed) every ``every`` seconds on standard error.
    """
    if weights is not None and not weights.used:
        weights = None
    duckdb = require("duckdb")
    con = duckdb.connect()
    try:
        if threads:
            con.execute(f"SET threads = {int(threads)}")
        if memory_limit:
            con.execute(f"SET memory_limit = {_lit(memory_limit)}")
        con.execute("SET enable_progress_bar = false")
        parts = []
        for paths, schema in _groups(files, schemas,
                                     (id_name, *variables, *level2_variables)):
            sql = statistics_sql(paths, files.format, schema, id_name, variables,
                                 level2_variables, weights, single_precision)
            if weights is None:
                frame = _run(con, sql, paths, files.format, progress, every)
            else:
                rows = rows_sql(paths, files.format, schema, id_name, variables, (), weights,
                                single_precision)
                frame = two_passes(con, sql, rows, len(variables), progress,
                                   functools.partial(_run, con, paths=paths, fmt=files.format,
                                                     progress=progress, every=every))
            try:
                part = _partial(frame, variables, level2_variables, weights is not None)
            except DataError:
                bad = int(frame.loc[frame["__id"].isna(), "__rows"].sum())  # type: ignore
                raise MDMError(f"{bad} level-1 row(s) of {', '.join(paths[:3])}"
                               f"{' ...' if len(paths) > 3 else ''} have a missing ID") from None
            parts.append(part)
            progress.update(int(part.rows.sum()), f"{len(paths)} file(s)"
                            f"{', pass 2 of 2' if weights is not None else ''}")
    finally:
        con.close()
    if not parts:
        return empty_partial(variables, level2_variables, weighted=weights is not None)
    return merge_all(parts)
