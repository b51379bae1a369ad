"""Out-of-core and distributed fits: data -> per-unit statistics -> design -> estimates.

:func:`scaled_estimates` is what :func:`openhlm.runner.run` calls for ``engine="duckdb"`` and
``engine="dask"``; the runner then computes the inference exactly as for an in-memory fit.
What needs the level-1 rows after the fit, or a pass per iteration, is refused with a one-line
:class:`~openhlm.errors.SpecError` (``docs/scale.md``).
"""

from __future__ import annotations

import ctypes
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
from openhlm.scale.schema import check_files
from openhlm.scale.sources import Progress, read_level2, require, resolve_files
from openhlm.scale.weights import LevelOneWeights, check_weights, files_with_bad_weights
from openhlm.spec.equations import validate_spec
from openhlm.spec.model import ModelSpec
from openhlm.spec.options import FitOptions
from openhlm.spec.settings import ENGINES

__all__ = ["ENGINES", "ScaledInput", "is_dask_frame", "refuse_unsupported", "scaled_estimates",
           "unit_statistics"]


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
    if options.heterogeneous_sigma2:
        why = "heterogeneous sigma^2 needs a pass over the rows per iteration; not available"
    elif options.imputation.requested:
        why = "multiply imputed data are not pooled out of core"
    elif options.residuals.requested:
        why = "residual files need a second pass over the rows; not available out of core yet"
    elif options.exploratory is not None:
        why = "the exploratory analysis needs the EB residuals; not available out of core yet"
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
    design, moments = unit_statistics(model, data, options, id=id, level2=level2)
    release_heap()       # the engine's result frames, freed but kept by malloc
    progress = Progress(options.engine, quiet=options.quiet)
    if options.mode == "hlm":    # HLM's EM on the statistics (scale.hlm)
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
    variables = tuple(dict.fromkeys([*spec.level1_variables(), spec.outcome]))
    l2_rows: tuple[str, ...] = ()
    if l2_table is None:
        l2_rows = tuple(dict.fromkeys([*spec.level2_variables(), *(
            [options.weights.level2] if options.weights.level2 else [])]))
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
                                             *(lw.columns if lw else ())])
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
    return summary_design(spec, stats, id_name=id, level2=l2_table, weights=options.weights,
                          engine=engine, passes=passes, sources=sources,
                          seconds=time.perf_counter() - t0)


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
