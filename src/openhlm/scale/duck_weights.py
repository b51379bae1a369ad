"""Weighted per-unit statistics in DuckDB SQL: two passes (:mod:`openhlm.scale.weights`).

Pass 1 (the ordinary aggregation query of :mod:`openhlm.scale.duck` plus
:func:`pass1_aggregates`), per unit over the complete rows with valid weights w = d p:

    W_j = fsum(w),  first-pass means mu_j = fsum(w v) / W_j,  n_j = fsum(d),
    S_j = fsum(d log p),  n+_j = count(d > 0),  and the counts of bad weights.

It is kept in a temporary table (one row per unit).  Pass 2 joins the rows with mu_j and sums,
with compensated summation, e_j = fsum(w (v - mu_j)) and Q_j = fsum(w (v - mu_j)(v - mu_j)');
then (the corrected two-pass algorithm, Chan, Golub & LeVeque 1983)

    m_j = mu_j + e_j / W_j,   C_j = Q_j - e_j e_j' / W_j,

which removes the error of the first-pass mean to first order.  No raw sum of squares of the
values is formed, so a constant added to a variable does not cost digits.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from openhlm.estimation.statistics import UnitMoments
from openhlm.scale.sources import Progress
from openhlm.scale.weights import CHECKS, WeightedStats

__all__ = ["pass1_aggregates", "two_passes", "weighted_from_frame"]

_TABLE = "__openhlm_pass1"

_CONDITION = {"missing values": "({v} IS NULL OR isnan({v}))", "infinite values": "isinf({v})",
              "negative values": "{v} < 0", "zero values": "{v} = 0"}


def pass1_aggregates(K: int) -> list[str]:
    """The weighted aggregates added to the first pass (rows as :func:`rows_sql` gives them)."""
    aggs = ["fsum(__w) FILTER (WHERE __okw) AS __W",
            "fsum(__d) FILTER (WHERE __okw) AS __dsum",
            "count(*) FILTER (WHERE __okw AND __d > 0) AS __pos",
            ("fsum(__d * ln(CASE WHEN __p > 0 AND NOT isinf(__p) THEN __p ELSE 1.0 END)) "
             "FILTER (WHERE __okw) AS __slw")]
    aggs += [f"fsum(__w * u{k}) FILTER (WHERE __okw) AS ws{k}" for k in range(K)]
    for k, (which, problem, _) in enumerate(CHECKS):
        cond = _CONDITION[problem].format(v="__d" if which == "level1" else "__p")
        aggs.append(f"count(*) FILTER (WHERE __ok AND {cond}) AS chk{k}")
    return aggs


def two_passes(con: object, pass1: str, rows: str, K: int, progress: Progress,
               run: Callable[[str], object]) -> object:
    """Run pass 1 (``pass1``, the aggregation query) and pass 2 over ``rows`` (the rows query
    of the same files) on the connection ``con``, each by ``run`` (a query with progress
    lines); returns one frame: pass 1's columns and pass 2's ``we*``, ``wc*``."""
    progress.note("pass 1 of 2 (counts, weighted means, weight sums)")
    run(f"CREATE OR REPLACE TEMP TABLE {_TABLE} AS {pass1}")
    read = con.execute(f"SELECT coalesce(sum(__rows), 0) FROM {_TABLE}").fetchone()  # type: ignore
    progress.update(int(read[0]), "pass 1 of 2")
    progress.note("pass 2 of 2 (weighted centred cross-products)")
    means = ", ".join(f"CASE WHEN __W > 0 THEN ws{k} / __W END AS m{k}" for k in range(K))
    dev = [f"(r.u{k} - m.m{k})" for k in range(K)]
    aggs = [f"fsum(r.__w * {dev[a]}) AS we{a}" for a in range(K)]
    aggs += [f"fsum(r.__w * {dev[a]} * {dev[b]}) AS wc{a}_{b}"
             for a in range(K) for b in range(a, K)]
    second = (f"SELECT r.__id, {', '.join(aggs)} FROM ({rows}) r JOIN (SELECT __id, {means} "
              f"FROM {_TABLE}) m ON r.__id = m.__id WHERE r.__okw GROUP BY r.__id")
    sql = (f"WITH q AS ({second}) SELECT p.*, q.* EXCLUDE (__id) FROM {_TABLE} p "
           "LEFT JOIN q ON p.__id = q.__id")
    try:
        return run(sql)
    finally:
        con.execute(f"DROP TABLE IF EXISTS {_TABLE}")  # type: ignore[attr-defined]


def weighted_from_frame(frame: object, K: int) -> WeightedStats:
    """:class:`WeightedStats` from the two passes' columns (module docstring)."""
    import pandas as pd

    assert isinstance(frame, pd.DataFrame)
    J = len(frame)

    def col(name: str) -> np.ndarray:
        return frame[name].fillna(0.0).to_numpy(dtype=float)

    W = col("__W")
    has = W > 0
    safe = np.where(has, W, 1.0)
    mu = np.column_stack([col(f"ws{k}") / safe for k in range(K)]) if K else np.zeros((J, 0))
    e = np.column_stack([col(f"we{k}") for k in range(K)]) if K else np.zeros((J, 0))
    mean = np.where(has[:, None], mu + e / safe[:, None], 0.0)
    C = np.zeros((J, K, K))
    for a in range(K):
        for b in range(a, K):
            c = col(f"wc{a}_{b}") - e[:, a] * e[:, b] / safe
            C[:, a, b] = C[:, b, a] = np.where(has, c, 0.0)
    mom = UnitMoments(weight=W, mean=mean, centred=C, n=col("__dsum"), sum_log_w=col("__slw"))
    checks = np.column_stack([col(f"chk{k}") for k in range(len(CHECKS))]).reshape(
        J, len(CHECKS))
    return WeightedStats(mom, col("__pos"), checks if checks.any() else None)
