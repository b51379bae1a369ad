"""Out-of-core and distributed fits: data -> per-unit statistics -> design -> estimates.

:func:`scaled_estimates` is what :func:`openhlm.runner.run` calls for ``engine="duckdb"`` and
``engine="dask"``; the runner then computes the inference exactly as for an in-memory fit.
What needs the level-1 rows after the fit, or a pass per iteration, is refused with a one-line
:class:`~openhlm.errors.SpecError` (``docs/scale.md``).
"""

from __future__ import annotations

import ctypes
import dataclasses
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from openhlm.data.ids import canonical_ids
from openhlm.errors import MDMError, SpecError
from openhlm.estimation.estimates import Estimates
from openhlm.estimation.statistics import UnitMoments
from openhlm.scale.design import SummaryDesign, estimate_from_moments, summary_design
from openhlm.scale.partial import PartialStats, partial_from_frame
from openhlm.scale.residuals import RowSource
from openhlm.scale.schema import check_files
from openhlm.scale.sources import Progress, read_level2, require, resolve_files
from openhlm.scale.weights import LevelOneWeights, check_weights, files_with_bad_weights
from openhlm.spec.equations import validate_spec
from openhlm.spec.model import Centering, ModelSpec
from openhlm.spec.options import FitOptions
from openhlm.spec.settings import ENGINES

__all__ = ["ENGINES", "ScaledInput", "is_dask_frame", "refuse_unsupported", "scaled_estimates",
           "scaled_spec", "unit_statistics", "variable_names"]


@dataclass(frozen=True)
class ScaledInput:
    """What the runner needs besides the estimates (the report's data sources)."""

    sources: tuple[str, ...] = ()
    variable_labels: dict[str, str] = field(default_factory=dict)


def is_dask_frame(data: Any) -> bool:
    return type(data).__module__.startswith("dask") and hasattr(data, "to_delayed")


def refuse_unsupported(options: FitOptions) -> None:
    """One-line refusals of what an out-of-core fit cannot do (yet)."""
    engine = options.engine
    why = None
    lw_used = options.weights.level1 is not None or options.weights.precision is not None
    if options.heterogeneous_sigma2 and lw_used:
        why = ("heterogeneous sigma^2 with level-1 or precision weights is not available out of "
               "core")
    elif options.heterogeneous_sigma2 and options.mode == "hlm":
        why = ("heterogeneous sigma^2 in mode='hlm' is not available out of core (exact mode "
               "is)")
    elif options.imputation.requested:
        why = ("multiply imputed data are pooled by openhlm.fit_imputed (a list of data sets, "
               "or plausible_values=), not by one statistics pass")
    if why:
        raise SpecError(f"engine={engine!r}: {why}; fit with engine='memory'")


class _Names:
    """The variable lists :func:`openhlm.runner.inputs.as_spec` reads from an MDM."""

    def __init__(self, level1: list[str], level2: list[str]) -> None:
        self.level1_variables = tuple(level1)
        self.level2_variables = tuple(level2)


def _spec(model: str | ModelSpec, level1: list[str], level2: list[str],
          options: FitOptions) -> ModelSpec:
    from openhlm.runner.inputs import as_spec

    spec = as_spec(model, _Names(level1, level2), options.constraints)  # type: ignore[arg-type]
    return validate_spec(spec, level1_variables=level1, level2_variables=level2)


def _client(scheduler: str | None) -> Any:
    if not scheduler:
        return None
    distributed = require("distributed")
    try:
        return distributed.Client(scheduler, timeout="10s")
    except OSError as exc:
        raise SpecError(f"cannot connect to the Dask scheduler {scheduler!r}: {exc}") from None


def scaled_estimates(model: str | ModelSpec, data: Any, options: FitOptions, *,
                     id: str | None, level2: Any = None) -> tuple[Estimates, ScaledInput]:
    """Estimates of ``model`` on ``data`` by the engine ``options.engine`` (module docstring).

    ``data``: Parquet/CSV file(s), a glob or a folder (both engines), or a Dask DataFrame
    (``engine="dask"``).  ``id`` names the unit ID; ``level2`` is an optional level-2 table
    (DataFrame or file, read into memory: one row per unit).
    """
    if options.engine not in ("duckdb", "dask"):
        raise SpecError(f"scaled_estimates: engine must be 'duckdb' or 'dask', not "
                        f"{options.engine!r}")
    refuse_unsupported(options)
    refuse_streamed_formats(options)
    design, moments = unit_statistics(model, data, options, id=id, level2=level2)
    if options.residuals.level1 is not None:
        design = dataclasses.replace(
            design, later_passes=(*design.later_passes,
                                  "1 more pass for the level-1 residual file"))
    release_heap()       # the engine's result frames, freed but kept by malloc
    progress = Progress(options.engine, quiet=options.quiet)
    if options.heterogeneous_sigma2:   # passes over the rows (openhlm.scale.heterogeneous)
        from openhlm.scale.heterogeneous import heterogeneous_estimates

        names = tuple(options.heterogeneous_sigma2)
        design = dataclasses.replace(design, spec=dataclasses.replace(
            design.spec, variance_predictors=names))
        est, passes = heterogeneous_estimates(
            design, moments, design.level1_rows, names, method=options.method,
            max_iterations=options.max_iterations, tolerance=options.tolerance,
            progress=progress)
        what = (f"{passes} more passes for heterogeneous sigma^2 (1 summarising the variance "
                f"predictors, {passes - 2} for the trial values of alpha, 1 at the estimates)")
        est = dataclasses.replace(est, design=dataclasses.replace(
            est.design, later_passes=(what, *design.later_passes)))
    elif options.mode == "hlm":    # HLM's EM on the statistics (scale.hlm)
        from openhlm.scale.hlm import hlm_from_moments

        est = hlm_from_moments(design, moments, method=options.method,
                               max_iterations=options.max_iterations,
                               tolerance=options.tolerance)
        progress.note(f"HLM-mode EM: {est.iterations} iteration(s)")
    else:
        est = estimate_from_moments(design, moments, method=options.method,
                                    max_iterations=options.max_iterations,
                                    tolerance=options.tolerance)
    release_heap()       # the estimation's per-unit temporaries, before the inference's
    progress.note(f"fitted in {design.seconds + progress.elapsed():.1f} s")
    return est, ScaledInput(sources=design.sources)


def refuse_streamed_formats(options: FitOptions) -> None:
    """The level-1 residual file of an out-of-core fit is streamed: Parquet or CSV only."""
    from openhlm.report.residual_files import STREAMED_FORMATS, residual_format

    path = options.residuals.level1
    if path is None:
        return
    fmt = residual_format(path, options.residuals.format)
    if fmt not in STREAMED_FORMATS:
        raise SpecError(f"engine={options.engine!r}: the level-1 residual file '{path}' is "
                        f"streamed to Parquet or CSV; {fmt} needs the whole table in memory: "
                        "name it .parquet or .csv, or fit with engine='memory'")


def _wanted_level2(options: FitOptions, spec: ModelSpec, available: list[str], *,
                   table: bool) -> tuple[str, ...]:
    """Level-2 variables besides the model's that the fit's outputs read per unit: the
    exploratory candidates and the residual files' extra variables found in ``available``
    (with a level-2 ``table``, also the level-1 file's extras found only there)."""
    taken = {v.lower() for v in spec.level2_variables()}
    lower = {c.lower(): c for c in available}
    names = [*(options.exploratory or ()), *options.residuals.extra_level2,
             *(options.residuals.extra_level1 if table else ())]
    out = []
    for name in names:
        col = lower.get(str(name).lower())
        if col is not None and col.lower() not in taken:
            taken.add(col.lower())
            out.append(col)
    return tuple(out)


def _table_columns(table: pd.DataFrame, id_name: str, spec: ModelSpec,
                   wanted: tuple[str, ...], weight: str | None) -> tuple[str, ...]:
    """The level-2 table's variables kept per unit besides the model's, as an MDM keeps them:
    ``wanted`` (checked: no missing values) and every other numeric column without missing
    values (so extra variables of the residual files can be asked for after the fit)."""
    taken = {v.lower() for v in (*spec.level2_variables(), *wanted, id_name, weight or "")}
    others = [str(c) for c in table.columns if str(c).lower() not in taken
              and pd.api.types.is_numeric_dtype(table[c]) and not table[c].isna().any()]
    return (*wanted, *others)


def _offsets(design: SummaryDesign, stats: PartialStats, spec: ModelSpec) -> np.ndarray:
    """(J, P) centring constant of each level-1 coefficient's column per unit (0, the grand
    mean, or the unit's mean of the raw variable)."""
    pos = pd.Index(stats.ids).get_indexer(design.unit_keys)
    raw_mean = stats.moments.mean[pos]
    index = {v: k for k, v in enumerate(stats.variables)}
    out = np.zeros((design.n_level2, len(spec.coefficients)))
    for p, coef in enumerate(spec.coefficients):
        if coef.predictor is None:
            continue
        if coef.predictor.centering is Centering.GRAND:
            out[:, p] = design.centering_means[f"level1:{coef.predictor.name}"]
        elif coef.predictor.centering is Centering.GROUP:
            out[:, p] = raw_mean[:, index[coef.predictor.name]]
    return out


def release_heap() -> None:
    """Give the freed small blocks of the C heap back to the system (glibc ``malloc_trim``).

    With a million units, the per-unit arrays below glibc's mmap threshold stay in the heap
    after they are freed, and a process's peak memory grows by a few hundred MB between the
    pass, the estimation and the inference (measured: 170 MB after the DuckDB pass at 100M
    rows).  Changes no number; does nothing where there is no glibc.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def variable_names(data: Any, id: str, level2: Any = None) -> tuple[list[str], list[str]]:
    """The level-1 and level-2 variable names of an out-of-core fit's data, as an MDM lists
    them (what an HLM 6 command file's names are matched against): the columns of the first
    level-1 file (or of the Dask DataFrame) but the ID, and the level-2 table's (without one,
    the level-1 columns, read per unit).  Reads only the schema and the level-2 table."""
    if is_dask_frame(data):
        columns = [str(c) for c in data.columns]
    else:
        from openhlm.scale.schema import file_schema

        files = resolve_files(data)
        columns = list(file_schema(files.paths[0], files.format).kinds)
    idl = id.lower()
    level1 = [c for c in columns if c.lower() != idl]
    table = read_level2(level2)
    level2_names = level1 if table is None else [str(c) for c in table.columns
                                                  if str(c).lower() != idl]
    return level1, level2_names


def scaled_spec(model: str | ModelSpec, data: Any, options: FitOptions, *, id: str,
                level2: Any = None) -> ModelSpec:
    """The model's :class:`ModelSpec`, checked against the data's variables (reads only the
    schema and the level-2 table)."""
    level1, level2_names = variable_names(data, id, level2)
    return _spec(model, level1, level2_names, options)


def unit_statistics(model: str | ModelSpec, data: Any, options: FitOptions | None = None, *,
                    id: str | None, level2: Any = None) -> tuple[SummaryDesign, UnitMoments]:
    """The one statistics interface: the design of ``model`` without rows and the per-unit
    moments of its columns [X, y], made by ``options.engine``.

    ``"duckdb"``: files (one, a glob, a folder); ``"dask"``: files or a Dask DataFrame;
    ``"memory"``: a pandas DataFrame, in memory (numpy, :func:`partial_from_frame`).  The
    moments are the same :class:`~openhlm.estimation.statistics.UnitMoments` the in-memory
    estimator forms from a design's rows (``estimation.sufficient.design_moments``), and
    :func:`openhlm.scale.design.estimate_from_moments` fits from them.
    """
    options = FitOptions(engine="duckdb") if options is None else options
    engine = options.engine
    if id is None:
        raise SpecError(f"engine={engine!r} needs the level-2 ID variable: id=...")
    progress = Progress(engine, quiet=options.quiet)
    t0 = time.perf_counter()
    l2_table = read_level2(level2)
    single = options.mode == "hlm"   # HLM stores its data in single precision (runner.inputs)
    if single and l2_table is not None:
        l2_table = single_precision_table(l2_table, id)
    wts = options.weights
    lw = LevelOneWeights(wts.level1, wts.precision, str(wts.normalize)) if (
        wts.level1 is not None or wts.precision is not None) else None
    frame = None
    files = None
    if isinstance(data, pd.DataFrame):
        if engine != "memory":
            raise SpecError(f"engine={engine!r} reads files (or a Dask DataFrame), not a pandas "
                            "DataFrame; use engine='memory'")
        columns = [str(c) for c in data.columns]
        sources: tuple[str, ...] = ("<DataFrame>",)
    elif is_dask_frame(data):
        if engine != "dask":
            raise SpecError("a Dask DataFrame needs engine='dask'")
        frame = data
        columns = [str(c) for c in frame.columns]
        sources = ("<dask DataFrame>",)
    else:
        if engine == "memory":
            raise SpecError("engine='memory' statistics need a pandas DataFrame")
        files = resolve_files(data)
        from openhlm.scale.schema import file_schema

        columns = list(file_schema(files.paths[0], files.format).kinds)
        sources = files.paths
    idl = id.lower()
    level1_names = [c for c in columns if c.lower() != idl]
    if l2_table is not None:
        level2_names = [str(c) for c in l2_table.columns if str(c).lower() != idl]
    else:
        level2_names = level1_names
    spec = _spec(model, level1_names, level2_names, options)
    lower1 = {c.lower() for c in level1_names}
    for name in options.heterogeneous_sigma2:
        if name.lower() not in lower1:
            raise SpecError(f"heterogeneous sigma^2 out of core: variance predictor '{name}' "
                            "must be a column of the level-1 data (it is read on each row; "
                            f"columns: {', '.join(level1_names)})")
    variables = tuple(dict.fromkeys([*spec.level1_variables(), spec.outcome]))
    l2_rows: tuple[str, ...] = ()
    extra_l2 = _wanted_level2(options, spec, level2_names, table=l2_table is not None)
    if l2_table is None:
        l2_rows = tuple(dict.fromkeys([*spec.level2_variables(), *(
            [options.weights.level2] if options.weights.level2 else []), *extra_l2]))
    stats: PartialStats
    if isinstance(data, pd.DataFrame):
        idc = next(c for c in data.columns if str(c).lower() == idl) if idl in {
            str(c).lower() for c in data.columns} else id
        if data[idc].isna().any():
            raise MDMError(f"{int(data[idc].isna().sum())} level-1 row(s) have a missing ID")
        stats = partial_from_frame(data, idc, variables, l2_rows, weights=_named(lw, data),
                                   single_precision=single)
        progress.update(len(data))
    elif files is not None:
        schemas, _ = check_files(files, id, [*variables, *l2_rows,
                                             *(lw.columns if lw else ()),
                                             *options.heterogeneous_sigma2])
        progress.note(f"{len(files.paths)} {files.format} file(s)")
        if engine == "duckdb":
            from openhlm.scale.duck import duckdb_statistics

            stats = duckdb_statistics(files, schemas, id, variables, l2_rows, progress=progress,
                                      weights=lw, single_precision=single)
        else:
            from openhlm.scale.dask_engine import dask_frame

            frame = dask_frame(files)
    if frame is not None:
        from openhlm.scale.dask_engine import dask_statistics

        stats = dask_statistics(frame, id, variables, l2_rows, progress=progress,
                                client=_client(options.scheduler), weights=lw,
                                single_precision=single)
    weighted = stats.weighted
    checks = None if weighted is None else weighted.checks
    if lw is not None and weighted is not None and checks is not None and checks.any():
        k = int(np.flatnonzero(checks.sum(axis=0))[0])
        where = "the Dask DataFrame" if files is None else "the level-1 data"
        if files is not None:
            bad = files_with_bad_weights(files, schemas, variables, lw, k)
            where = ", ".join(repr(b) for b in bad) if bad else where
        ids = stats.ids.astype(str) if stats.ids.dtype.kind in "iu" else canonical_ids(
            stats.ids)[1]
        check_weights(weighted, np.asarray(ids), lw, where)
    passes = 2 if lw is not None and engine == "duckdb" else 1
    kept = () if l2_table is None else _table_columns(l2_table, id, spec, extra_l2,
                                                        options.weights.level2)
    design, moments = summary_design(
        spec, stats, id_name=id, level2=l2_table, weights=options.weights, engine=engine,
        passes=passes, sources=sources, seconds=time.perf_counter() - t0, extra_level2=kept)
    if engine == "memory":
        return design, moments
    rows = RowSource(
        engine=engine, id_name=id, columns=tuple(columns), offsets=_offsets(design, stats, spec),
        raw_means=stats.moments.mean[pd.Index(stats.ids).get_indexer(design.unit_keys)],
        variables=tuple(c.predictor.name if c.predictor is not None else None
                        for c in spec.coefficients),
        outcome=spec.outcome, analysis=variables, files=files,
        schemas=tuple(schemas) if files is not None else (), frame=frame,
        scheduler=options.scheduler, quiet=options.quiet, single_precision=single,
        precision=lw.precision if lw is not None else None)
    level1 = pd.DataFrame(columns=list(level1_names))
    return dataclasses.replace(design, level1_rows=rows, level1_data=level1), moments


def _named(lw: LevelOneWeights | None, frame: pd.DataFrame) -> LevelOneWeights | None:
    """``lw`` with the names spelled as the frame's columns (case-insensitive, as files)."""
    if lw is None:
        return None
    lower = {str(c).lower(): c for c in frame.columns}

    def col(name: str | None) -> str | None:
        if name is None or name in frame.columns:
            return name
        if name.lower() in lower:
            return str(lower[name.lower()])
        raise SpecError(f"the data have no weight variable '{name}'")

    return LevelOneWeights(col(lw.level1), col(lw.precision), lw.normalize)


def single_precision_table(table: pd.DataFrame, id_name: str) -> pd.DataFrame:
    """The level-2 table with its numeric values (not the ID) rounded to float32, as
    :func:`openhlm.runner.inputs.hlm_single_precision` rounds an MDM for ``mode="hlm"``."""
    out = table.copy()
    for c in out.columns:
        if str(c).lower() != id_name.lower() and pd.api.types.is_numeric_dtype(out[c]) \
                and not pd.api.types.is_bool_dtype(out[c]):
            out[c] = out[c].to_numpy(dtype=float).astype(np.float32).astype(np.float64)
    return out
