"""Fits beyond one machine's memory: per-unit statistics from DuckDB (out of core) or Dask
(distributed), the same estimation as an in-memory fit (``docs/scale.md``).

``openhlm.fit(model, "scores/*.parquet", id="school", level2="schools.parquet",
engine="duckdb")`` goes :func:`openhlm.runner.run` -> :func:`openhlm.scale.run.scaled_estimates`:

* :mod:`~openhlm.scale.sources`: the files (one, a glob, a folder), the level-2 table, progress;
* :mod:`~openhlm.scale.schema`: every file readable and with the same columns;
* :mod:`~openhlm.scale.duck` / :mod:`~openhlm.scale.dask_engine`: one pass making the
  mergeable per-unit statistics (:mod:`~openhlm.scale.partial`);
* :mod:`~openhlm.scale.weights` (:mod:`~openhlm.scale.duck_weights` in SQL): level-1 design
  and precision weights (weighted moments, normalisation, checks);
* :mod:`~openhlm.scale.design`: the design without rows and exact estimation from the moments;
  :mod:`~openhlm.scale.hlm`: ``mode="hlm"`` (HLM's EM) from the moments;
* :mod:`~openhlm.scale.passes`: later passes over the rows (chunk sums, added);
  :mod:`~openhlm.scale.heterogeneous`: heterogeneous sigma^2 from them;
  :mod:`~openhlm.scale.residuals`: the level-1 residual file, streamed.

Nothing here is imported by ``import openhlm``; duckdb, dask and pyarrow are imported when an
engine needs them (``pip install "openhlm[scale]"``).
"""

from openhlm.scale.partial import PartialStats, merge_all, partial_from_frame

__all__ = ["PartialStats", "merge_all", "partial_from_frame"]
