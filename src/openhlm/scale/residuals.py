"""The level-1 residual file of an out-of-core fit: a second pass over the rows, streamed.

The level-2 residual file and the exploratory analysis need only per-unit quantities, which
:func:`openhlm.inference.residuals.eb_estimates` computes from the per-unit statistics (no pass).
The level-1 file has a row per level-1 record, so it is written by a second pass that never
holds the rows: each row is joined with its unit's EB coefficients and

    L1RESID_ij = (y_ij - s_y) - k_j - sum_v (x_ijv - o_jv) b_jv,    FITVAL_ij = y_ij - L1RESID_ij,

with b_jv and k_j (the intercept's term) the unit's EB coefficients in the working basis of the
fit divided by the column scales, o_jv = c_jv + s_v the centring offset (grand or group mean)
plus the working basis shift (:func:`openhlm.inference.residuals.level1_linear_form`: the
arithmetic of the in-memory file, so the two agree to rounding).

* **DuckDB**: one SQL query joining ``read_parquet``/``read_csv`` of the files with the per-unit
  table (J rows, registered from memory), written by ``COPY ... TO`` Parquet or CSV.  The
  Parquet file's labels are in its key-value metadata ``openhlm.labels`` (JSON), as the
  in-memory writer's schema metadata (DuckDB writes no per-field metadata).
* **Dask**: ``map_partitions`` computes the columns of each partition on the workers.  When
  the workers share this machine's files (Dask's local schedulers, a ``LocalCluster``, a
  cluster whose workers all run on this host: :func:`workers_share_files`) each worker writes
  its partitions to part files in a temporary folder beside the output, in parallel, and the
  parts are stitched into the one file (CSV bytes appended; Parquet row group by row group,
  with the in-memory writer's field labels).  Otherwise (workers on other machines) the
  partitions are sent to this process and appended one at a time.

Only the analysis rows are written (complete on the model's variables, of units in the
analysis).  Row order: DuckDB keeps the files' order within each file as far as its join
does (not guaranteed); Dask keeps the partitions' order.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from openhlm.errors import DataError, SpecError
from openhlm.inference.residuals import level1_linear_form
from openhlm.scale.schema import Schema
from openhlm.scale.sources import Files, Progress, require

if TYPE_CHECKING:
    from openhlm.report.residual_files import Level1Column
    from openhlm.results import HLMResults

__all__ = ["RowSource", "unit_table", "workers_share_files", "write_part"]


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class RowSource:
    """Where the level-1 rows of an out-of-core fit are, for passes after the fit.

    ``offsets`` (J, P): the centring constant c_jp of each level-1 coefficient's column per
    unit (0, the grand mean, or the unit's mean); ``variables`` (P,): the raw variable of each
    coefficient (None for the intercept); ``analysis``: the raw variables a row must have
    (outcome and level-1 predictors).
    """

    engine: str
    id_name: str
    columns: tuple[str, ...]
    offsets: np.ndarray
    #: (J, m) each unit's unweighted mean of the ``analysis`` variables (the centre of the
    #: sums of later passes)
    raw_means: np.ndarray
    variables: tuple[str | None, ...]
    outcome: str
    analysis: tuple[str, ...]
    files: Files | None = None
    schemas: tuple[Schema, ...] = ()
    frame: Any = None
    scheduler: str | None = None
    quiet: bool = False
    #: values rounded to float32 as they are read (``mode="hlm"``, as the fit read them)
    single_precision: bool = False
    #: the precision-weight column (SIGMA_ij = sigma / sqrt(p_ij), as in memory), or None
    precision: str | None = None

    def column(self, name: str) -> str:
        """``name`` as the level-1 data spell it."""
        if name in self.columns:
            return name
        lower = {c.lower(): c for c in self.columns}
        if name.lower() in lower:
            return lower[name.lower()]
        raise SpecError(f"the level-1 data have no column '{name}'")

    def write_level1_residuals(self, results: HLMResults, plan: Sequence[Level1Column],
                               names: Sequence[str], path: Path, fmt: str, *,
                               file_label: str) -> int:
        """Write the level-1 residual file (module docstring); returns the rows written."""
        progress = Progress(self.engine, quiet=self.quiet)
        units = unit_table(results, self, plan)
        progress.note(f"level-1 residual file: a pass over the rows to {path}")
        if self.engine == "duckdb":
            rows = _duckdb_write(results, self, units, plan, names, path, fmt, file_label)
        else:
            rows = _dask_write(self, units, plan, names, path, fmt, file_label, progress,
                               variance_model(results))
        progress.note(f"{rows:,} level-1 residual rows written to {path} "
                      f"({progress.elapsed():.1f} s)")
        return rows


def unit_table(results: HLMResults, source: RowSource, plan: Sequence[Level1Column]
               ) -> pd.DataFrame:
    """One row per unit: the join key, L2ID, the residual's linear form (module docstring),
    SIGMA and the unit's level-2 columns of the file."""
    from openhlm.report.residual_files import id_column

    est = results.estimates
    assert est is not None
    d = est.design
    eb = results.eb
    assert eb is not None
    coef, shift, shift_y = level1_linear_form(est)
    J = coef.shape[0]
    keys = getattr(d, "unit_keys", None)
    if keys is None:
        raise SpecError("these results do not carry the unit IDs of their level-1 files: refit "
                        "the model to write the level-1 residual file")
    table: dict[str, Any] = {"__key": np.asarray(keys),
                             "__l2id": id_column(eb.unit_ids).to_numpy()}
    k = np.zeros(J)
    slopes = 0
    for p, v in enumerate(source.variables):
        if v is None:
            k += (1.0 - shift[p]) * coef[:, p]
        else:
            table[f"__o{slopes}"] = source.offsets[:, p] + shift[p]
            table[f"__b{slopes}"] = coef[:, p]
            slopes += 1
    table["__k"] = k
    table["__sy"] = np.full(J, shift_y)
    table["__sigma"] = np.full(J, float(np.sqrt(est.evaluation.sigma2)))
    table["__s2"] = np.full(J, float(est.evaluation.sigma2))
    level2 = d.level2_data
    for n, c in enumerate(plan):
        if c.source in ("level2", "extra2"):
            table[f"__l2_{n}"] = level2[c.variable].to_numpy(
                dtype=float if c.source == "level2" else None)
    return pd.DataFrame(table)


def _slope_variables(source: RowSource) -> list[str]:
    return [v for v in source.variables if v is not None]


def variance_model(results: HLMResults) -> tuple[tuple[str, ...], np.ndarray]:
    """(variance predictors, alpha_1..K) of a heterogeneous-sigma^2 fit; ((), []) otherwise:
    SIGMA_ij = sqrt(sigma^2 / exp(-clip(sum_k alpha_k C_kij))), as in memory."""
    het = getattr(results.estimates, "heterogeneous", None)
    if het is None:
        return (), np.zeros(0)
    return tuple(het.variance.names), np.asarray(het.alpha[1:], dtype=float)


# -- DuckDB ------------------------------------------------------------------------------------
def _duckdb_select(source: RowSource, schema: Schema, paths: Sequence[str], fmt: str,
                   plan: Sequence[Level1Column], names: Sequence[str],
                   variance: tuple[tuple[str, ...], np.ndarray]) -> str:
    def col(name: str) -> str:
        return _q(schema.resolve(name) or name)

    files = "[" + ", ".join(_lit(p) for p in paths) + "]"
    read = (f"read_parquet({files}, union_by_name=true)" if fmt == "parquet" else
            f"read_csv({files}, header=true, union_by_name=true, nullstr=['', 'NA', '.'])")
    def num(name: str) -> str:
        if source.single_precision:
            return f"CAST(CAST(r.{col(name)} AS FLOAT) AS DOUBLE)"
        return f"CAST(r.{col(name)} AS DOUBLE)"

    y = num(source.outcome)
    terms = " + ".join([f"({num(v)} - u.__o{i}) * u.__b{i}"
                        for i, v in enumerate(_slope_variables(source))] + ["u.__k"])
    resid = f"(({y} - u.__sy) - ({terms}))"
    sigma = "u.__sigma"
    if source.precision is not None:
        sigma = f"(u.__sigma / sqrt({num(source.precision)}))"
    if variance[0]:
        eta = " + ".join(f"{float(a)!r} * CAST(r.{col(v)} AS DOUBLE)"
                         for v, a in zip(*variance))
        sigma = f"sqrt(u.__s2 / exp(-greatest(least({eta}, 700.0), -700.0)))"
    out = []
    for n, (c, name) in enumerate(zip(plan, names)):
        expr = {"L2ID": "u.__l2id", "FITVAL": f"({y} - {resid})", "L1RESID": resid,
                "SIGMA": sigma, "outcome": y}.get(c.source)
        if expr is None and c.source in ("level1", "extra1"):
            cast = c.source == "level1"
            expr = (num(str(c.variable)) if cast
                    else f"r.{col(str(c.variable))}")
        if expr is None:
            expr = f"u.__l2_{n}"
        out.append(f"{expr} AS {_q(name)}")
    complete = " AND ".join(f"coalesce(NOT isnan(CAST(r.{col(v)} AS DOUBLE)), false)"
                            for v in source.analysis)
    return (f"SELECT {', '.join(out)} FROM {read} AS r JOIN __units AS u "
            f"ON r.{col(source.id_name)} = u.__key WHERE {complete}")


def _groups(source: RowSource, names: Sequence[str]) -> list[tuple[list[str], Schema]]:
    assert source.files is not None
    groups: dict[tuple[str | None, ...], tuple[list[str], Schema]] = {}
    for path, schema in zip(source.files.paths, source.schemas):
        key = tuple(schema.resolve(n) for n in names)
        groups.setdefault(key, ([], schema))[0].append(path)
    return list(groups.values())


def _duckdb_write(results: HLMResults, source: RowSource, units: pd.DataFrame,
                  plan: Sequence[Level1Column], names: Sequence[str], path: Path, fmt: str,
                  file_label: str) -> int:
    duckdb = require("duckdb")
    assert source.files is not None
    variance = variance_model(results)
    wanted = [source.id_name, *source.analysis, *variance[0],
              *([source.precision] if source.precision else []),
              *(str(c.variable) for c in plan if c.source in ("level1", "extra1"))]
    selects = [_duckdb_select(source, schema, paths, source.files.format, plan, names,
                              variance) for paths, schema in _groups(source, wanted)]
    labels = {name: c.label for c, name in zip(plan, names)}
    if fmt == "parquet":
        meta = {"openhlm.labels": json.dumps(labels), "openhlm.file_label": file_label}
        kv = "{" + ", ".join(f"{_lit(k)}: {_lit(v)}" for k, v in meta.items()) + "}"
        options = f"FORMAT parquet, KV_METADATA {kv}"
    else:
        options = "FORMAT csv, HEADER true"
    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")
        con.register("__units", units)
        result = con.execute(f"COPY ({' UNION ALL '.join(selects)}) TO {_lit(str(path))} "
                             f"({options})").fetchone()
    except duckdb.Error as exc:
        first = str(exc).splitlines()[0]
        raise DataError(f"cannot write the level-1 residual file '{path}': {first}") from None
    finally:
        con.close()
    return int(result[0]) if result else 0


# -- Dask --------------------------------------------------------------------------------------
def partition_residuals(part: pd.DataFrame, units: pd.DataFrame, source: RowSource,
                        plan: Sequence[Level1Column], names: Sequence[str],
                        variance: tuple[tuple[str, ...], np.ndarray] = ((), np.zeros(0))
                        ) -> pd.DataFrame:
    """The level-1 residual rows of one partition (the analysis rows of its units)."""
    col = source.column
    def num(name: str) -> np.ndarray:
        v = pd.to_numeric(part[col(name)], errors="coerce").to_numpy(dtype=float)
        return v.astype(np.float32).astype(np.float64) if source.single_precision else v

    values = {v: num(v) for v in source.analysis}
    ok = np.ones(len(part), dtype=bool)
    for v in source.analysis:
        ok &= ~np.isnan(values[v])
    pos = pd.Index(units["__key"]).get_indexer(part[col(source.id_name)])
    ok &= pos >= 0
    pos = pos[ok]
    u = {c: units[c].to_numpy()[pos] for c in units.columns}
    y = values[source.outcome][ok]
    fit = u["__k"].astype(float, copy=True)
    for i, v in enumerate(_slope_variables(source)):
        fit = fit + (values[v][ok] - u[f"__o{i}"]) * u[f"__b{i}"]
    resid = (y - u["__sy"]) - fit
    out: dict[str, Any] = {}
    for n, (c, name) in enumerate(zip(plan, names)):
        if c.source == "L2ID":
            out[name] = u["__l2id"]
        elif c.source == "FITVAL":
            out[name] = y - resid
        elif c.source == "L1RESID":
            out[name] = resid
        elif c.source == "SIGMA" and variance[0]:
            eta = sum(a * pd.to_numeric(part[col(v)], errors="coerce").to_numpy(dtype=float)[ok]
                      for v, a in zip(*variance))
            out[name] = np.sqrt(u["__s2"] / np.exp(-np.clip(eta, -700.0, 700.0)))
        elif c.source == "SIGMA" and source.precision is not None:
            out[name] = u["__sigma"] / np.sqrt(num(source.precision)[ok])
        elif c.source == "SIGMA":
            out[name] = u["__sigma"]
        elif c.source == "outcome":
            out[name] = y
        elif c.source == "level1":
            out[name] = values[c.variable][ok] if c.variable in values else num(
                str(c.variable))[ok]
        elif c.source == "extra1":
            out[name] = part[col(str(c.variable))].to_numpy()[ok]
        else:
            out[name] = u[f"__l2_{n}"]
    return pd.DataFrame(out)


def _dask_write(source: RowSource, units: pd.DataFrame, plan: Sequence[Level1Column],
                names: Sequence[str], path: Path, fmt: str, file_label: str,
                progress: Progress, variance: tuple[tuple[str, ...], np.ndarray]) -> int:
    require("dask")
    frame = source.frame
    if frame is None:
        assert source.files is not None
        from openhlm.scale.dask_engine import dask_frame

        frame = dask_frame(source.files)
    meta = partition_residuals(frame._meta, units.iloc[:0], source, plan, names, variance)
    light = dataclasses.replace(source, frame=None)   # no Dask collection inside a task
    mapped = frame.map_partitions(partition_residuals, units, light, tuple(plan), tuple(names),
                                  variance, meta=meta)
    labels = {name: c.label for c, name in zip(plan, names)}
    client = None
    if source.scheduler:
        distributed = require("distributed")
        client = distributed.Client(source.scheduler, timeout="10s")
    if workers_share_files(client):
        return _dask_write_parts(mapped, meta, labels, path, fmt, file_label, client,
                                 progress)
    rows = 0
    writer = None
    last = time.perf_counter()
    try:
        for i in range(mapped.npartitions):
            part = mapped.partitions[i]
            chunk = client.compute(part).result() if client is not None else part.compute()
            if fmt == "csv":
                chunk.to_csv(path, mode="w" if i == 0 else "a", header=i == 0, index=False,
                             na_rep="")
            else:
                writer = _parquet_append(writer, chunk, labels, path, file_label)
            rows += len(chunk)
            if time.perf_counter() - last >= 5.0:
                last = time.perf_counter()
                progress.note(f"{rows:,} residual rows written ({i + 1} of "
                              f"{mapped.npartitions} partitions), {progress.elapsed():.1f} s")
        if fmt == "parquet" and writer is None:   # no partition: an empty file with the columns
            writer = _parquet_append(None, meta, labels, path, file_label)
    except OSError as exc:
        raise DataError(f"cannot write residual file '{path}': {exc.strerror or exc}") from exc
    finally:
        if writer is not None:
            writer.close()
    return rows


def workers_share_files(client: Any) -> bool:
    """Do the Dask workers write files this process can read (one machine)?  True for
    Dask's local schedulers and for a cluster whose workers all run on this host; False for
    workers on other machines (or none), whose part files the client could not stitch."""
    if client is None:
        try:
            from distributed import default_client

            client = default_client()
        except (ImportError, ValueError):   # no distributed, or no client: a local scheduler
            return True
    import socket
    from urllib.parse import urlparse

    local = {"127.0.0.1", "localhost", "::1", socket.gethostname(), socket.getfqdn()}
    try:
        from distributed.utils import get_ip

        local.add(get_ip())
        local.update(socket.gethostbyname_ex(socket.gethostname())[2])
    except (ImportError, OSError):
        pass
    try:
        info = client.scheduler_info(n_workers=-1)
    except TypeError:   # older distributed: every worker is listed
        info = client.scheduler_info()
    workers = info.get("workers", {})
    return bool(workers) and all(
        urlparse(a).scheme == "inproc" or urlparse(a).hostname in local for a in workers)


def write_part(chunk: pd.DataFrame, target: str, fmt: str) -> int:
    """A worker's task: its partition's residual rows to one part file; the row count."""
    if fmt == "csv":
        chunk.to_csv(target, header=False, index=False, na_rep="")
    else:
        chunk.to_parquet(target, index=False)
    return len(chunk)


def _dask_write_parts(mapped: Any, meta: pd.DataFrame, labels: dict[str, str], path: Path,
                      fmt: str, file_label: str, client: Any, progress: Progress) -> int:
    """The workers write their partitions' rows to part files in a temporary folder beside
    ``path`` (in parallel, no rows sent to this process); the parts are then stitched into
    the one file, in partition order: CSV bytes appended after the header, Parquet row group
    by row group (pyarrow; memory of one row group).  The folder is removed."""
    import shutil
    import tempfile

    dask = require("dask")
    try:
        folder = Path(tempfile.mkdtemp(prefix=".openhlm-parts-", dir=path.parent or "."))
    except OSError as exc:
        raise DataError(f"cannot write residual file '{path}': {exc.strerror or exc}") from exc
    writer = None
    try:
        parts = [str(folder / f"part-{i:06d}.{fmt}") for i in range(mapped.npartitions)]
        tasks = [dask.delayed(write_part)(p, target, fmt)
                 for p, target in zip(mapped.to_delayed(), parts)]
        counts = (client.gather(client.compute(tasks)) if client is not None
                  else dask.compute(*tasks))
        progress.note(f"{sum(counts):,} residual rows written by the workers to "
                      f"{len(parts)} part file(s), {progress.elapsed():.1f} s; joining them")
        if fmt == "csv":
            meta.iloc[:0].to_csv(path, index=False)    # the header
            with open(path, "ab") as out:
                for target in parts:
                    with open(target, "rb") as part:
                        shutil.copyfileobj(part, out, 1 << 24)
        else:
            pq = require("pyarrow.parquet")
            for target, count in zip(parts, counts):
                if not count:
                    continue
                pf = pq.ParquetFile(target)
                for g in range(pf.num_row_groups):
                    writer = _parquet_append(writer, pf.read_row_group(g), labels, path,
                                             file_label)
            if writer is None:   # no rows: an empty file with the columns
                writer = _parquet_append(None, meta, labels, path, file_label)
    except OSError as exc:
        raise DataError(f"cannot write residual file '{path}': {exc.strerror or exc}") from exc
    finally:
        if writer is not None:
            writer.close()
        shutil.rmtree(folder, ignore_errors=True)
    return int(sum(counts))


def _parquet_append(writer: Any, chunk: Any, labels: dict[str, str], path: Path,
                    file_label: str) -> Any:
    """Append ``chunk`` (a DataFrame or an Arrow table) to the Parquet file of ``writer``
    (opened on the first chunk, with the labels; later chunks cast to its schema)."""
    pa = require("pyarrow")
    pq = require("pyarrow.parquet")
    table = (pa.Table.from_pandas(chunk, preserve_index=False)
             if isinstance(chunk, pd.DataFrame) else chunk)
    if writer is None:
        fields = [f.with_metadata({"label": labels.get(f.name, "")}) for f in table.schema]
        meta = {b"openhlm.labels": json.dumps(labels).encode(),
                b"openhlm.file_label": file_label.encode()}
        writer = pq.ParquetWriter(str(path), pa.schema(fields, metadata=meta))
    writer.write_table(table.cast(writer.schema))
    return writer
