"""Per-unit statistics on Dask: one task per partition, a tree of exact merges, no shuffle.

Each partition (a pandas DataFrame on a worker) is reduced to its per-unit statistics by the
in-memory two-pass algorithm (:func:`openhlm.scale.partial.partial_from_frame`); the partial
statistics, a few numbers per unit, are merged in a tree of tasks
(:func:`~openhlm.scale.partial.merge_many`, exact for any split of a unit's rows), so a unit
may span partitions and no row ever moves between workers.  One pass over the data.
"""

from __future__ import annotations

import time
from typing import Any

from openhlm.errors import MDMError, SpecError
from openhlm.scale.partial import PartialStats, merge_many, partial_from_frame
from openhlm.scale.sources import Files, Progress, require
from openhlm.scale.weights import LevelOneWeights

__all__ = ["dask_frame", "dask_statistics"]

#: partial statistics merged per task (each is a few numbers per unit)
FAN_IN = 8
#: rows of a partition reduced at a time (bounds a worker's temporaries)
CHUNK = 2_000_000


def _merge(*parts: PartialStats) -> PartialStats:
    return merge_many(list(parts))


def _checked(frame: Any, id_name: str, variables: tuple[str, ...],
             level2_variables: tuple[str, ...], weights: LevelOneWeights | None = None,
             single_precision: bool = False) -> PartialStats:
    missing = int(frame[id_name].isna().sum())
    if missing:
        raise MDMError(f"{missing} level-1 row(s) have a missing ID")
    # a large partition (a whole Parquet file) in slices of CHUNK rows, merged exactly: the
    # two-pass algorithm's temporaries are a few copies of the rows it works on
    out = None
    for i in range(0, max(len(frame), 1), CHUNK):   # merged as they come: two at a time
        part = partial_from_frame(frame.iloc[i:i + CHUNK], id_name, variables,
                                  level2_variables, weights=weights,
                                  single_precision=single_precision)
        out = part if out is None else merge_many([out, part])
    assert out is not None
    return out


def _compute(dask: Any, task: Any, client: Any, progress: Progress, n_parts: int,
             every: float = 5.0) -> PartialStats:
    """Compute ``task``, with progress lines every ``every`` seconds: partitions done and rows
    read (local schedulers), or the elapsed time (a distributed cluster)."""
    if client is None:
        try:
            from distributed import default_client

            client = default_client()
        except (ImportError, ValueError):   # no distributed, or no client running
            client = None
    if client is not None:
        future = client.compute(task)
        while True:
            try:
                return future.result(timeout=every)  # type: ignore[no-any-return]
            except TimeoutError:
                progress.note(f"computing on the cluster, {progress.elapsed():.1f} s")
    from dask.callbacks import Callback
    from dask.utils import key_split

    state = {"parts": 0, "rows": 0, "last": time.perf_counter()}

    class _Count(Callback):  # type: ignore[misc]
        def _posttask(self, key: Any, result: Any, dsk: Any, st: Any, worker: Any) -> None:
            if key_split(key).lstrip("_") != "checked" or not isinstance(result, PartialStats):
                return
            state["parts"] += 1
            state["rows"] += int(result.rows.sum())
            now = time.perf_counter()
            if now - state["last"] >= every and not progress.quiet:
                state["last"] = now
                progress.note(f"{state['rows']:,} rows read ({state['parts']} of {n_parts} "
                              f"partitions), {progress.elapsed():.1f} s")

    with _Count():
        (result,) = dask.compute(task)
    return result  # type: ignore[no-any-return]


def dask_frame(files: Files) -> Any:
    """The files as a Dask DataFrame (one partition per Parquet row group set / CSV block)."""
    dd = require("dask.dataframe")
    if files.format == "parquet":
        return dd.read_parquet(list(files.paths))
    return dd.read_csv(list(files.paths), na_values=["", "NA", "."], assume_missing=True)


def dask_statistics(frame: Any, id_name: str, variables: tuple[str, ...],
                    level2_variables: tuple[str, ...] = (), *, progress: Progress,
                    client: Any = None, weights: LevelOneWeights | None = None,
                    single_precision: bool = False) -> PartialStats:
    """Per-unit statistics of a Dask DataFrame (module docstring).

    ``client``: a ``distributed.Client`` to compute on (default: the current client if one is
    running, else Dask's default scheduler).  ``weights``: level-1 design / precision weights
    (each partition's weighted moments by the two-pass algorithm, merged exactly: still one
    pass; :mod:`openhlm.scale.weights`); ``single_precision``: values rounded to float32 first
    (``mode="hlm"``).
    """
    dask = require("dask")
    columns = [str(c) for c in frame.columns]
    lower = {c.lower(): c for c in columns}

    def col(name: str) -> str:
        if name in columns:
            return name
        if name.lower() in lower:
            return lower[name.lower()]
        raise SpecError(f"the Dask DataFrame has no column '{name}' (columns: "
                        f"{', '.join(columns)})")

    idc = col(id_name)
    v = tuple(col(n) for n in variables)
    l2 = tuple(col(n) for n in level2_variables)
    lw = None
    if weights is not None and weights.used:
        lw = LevelOneWeights(level1=col(weights.level1) if weights.level1 else None,
                             precision=col(weights.precision) if weights.precision else None,
                             normalize=weights.normalize)
    extra = lw.columns if lw is not None else ()
    parts = frame[list(dict.fromkeys([idc, *v, *l2, *extra]))].to_delayed()
    progress.note(f"{len(parts)} partition(s)")
    delayed = dask.delayed
    tasks = [delayed(_checked)(p, idc, v, l2, lw, single_precision) for p in parts]
    while len(tasks) > 1:   # a tree of exact k-way merges, FAN_IN partial statistics each
        tasks = [delayed(_merge)(*tasks[i:i + FAN_IN]) if len(tasks[i:i + FAN_IN]) > 1
                 else tasks[i] for i in range(0, len(tasks), FAN_IN)]
    result = _compute(dask, tasks[0], client, progress, len(parts))
    # names as the model spells them
    out = PartialStats(ids=result.ids, variables=tuple(variables), moments=result.moments,
                       rows=result.rows, infinite=result.infinite,
                       level2_variables=tuple(level2_variables), level2_min=result.level2_min,
                       level2_max=result.level2_max, weighted=result.weighted)
    progress.update(int(out.rows.sum()))
    return out
