"""Descriptive statistics of an MDM, as HLM prints them after making an MDM file.

HLM shows, for each level, a table with the columns ``VARIABLE NAME  N  MEAN  SD  MINIMUM
MAXIMUM`` under the headings ``LEVEL-1 DESCRIPTIVE STATISTICS`` and ``LEVEL-2 DESCRIPTIVE
STATISTICS``.  N counts the non-missing values; SD uses the n - 1 divisor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from openhlm.data.mdm import MDM

__all__ = ["COLUMNS", "describe", "describe_text"]

COLUMNS = ("level", "variable", "label", "N", "mean", "SD", "minimum", "maximum")


def _level_rows(level: int, frame: pd.DataFrame, labels: dict[str, str]) -> list[dict]:
    values = frame.to_numpy(dtype=np.float64)
    rows = []
    for k, name in enumerate(frame.columns):
        column = values[:, k]
        column = column[~np.isnan(column)]
        n = int(column.size)
        rows.append(
            {
                "level": level,
                "variable": name,
                "label": labels.get(name, ""),
                "N": n,
                "mean": float(column.mean()) if n else np.nan,
                "SD": float(column.std(ddof=1)) if n > 1 else np.nan,
                "minimum": float(column.min()) if n else np.nan,
                "maximum": float(column.max()) if n else np.nan,
            }
        )
    return rows


def describe(mdm: MDM) -> pd.DataFrame:
    """Level-1 and level-2 descriptive statistics.

    Returns
    -------
    DataFrame
        One row per variable with columns ``level, variable, label, N, mean, SD, minimum,
        maximum`` (level-1 variables first).
    """
    rows = _level_rows(1, mdm.level1, mdm.variable_labels)
    rows += _level_rows(2, mdm.level2, mdm.variable_labels)
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    return frame.astype({"level": np.int64, "N": np.int64})


def _number(value: float, width: int) -> str:
    return f"{'':>{width}}" if np.isnan(value) else f"{value:{width}.2f}"


def _table(title: str, stats: pd.DataFrame) -> list[str]:
    # HLM's 13 characters, widened for names longer than HLM allows so the columns stay aligned
    width = max([13, *(len(str(name)) + 1 for name in stats["variable"])])
    lines = [f"{title:^{width + 54}}".rstrip(), ""]
    lines.append(
        f"{'VARIABLE NAME':>{width}}{'N':>8}{'MEAN':>11}{'SD':>11}{'MINIMUM':>12}{'MAXIMUM':>12}"
    )
    for row in stats.itertuples(index=False):
        lines.append(
            f"{row.variable.upper():>{width}}{row.N:>8d}{_number(row.mean, 11)}"
            f"{_number(row.SD, 11)}"
            f"{_number(row.minimum, 12)}{_number(row.maximum, 12)}"
        )
    return lines


def describe_text(mdm: MDM) -> str:
    """HLM-style text of the MDM statistics: counts, deletions, then one table per level."""
    from pathlib import Path

    stats = describe(mdm)
    lines = []
    if mdm.sources:
        lines.append("data files: " + ", ".join(Path(s).name for s in mdm.sources))
    lines.append(f"ID variable: {mdm.id_name}")
    lines.append(f"level-1 records: {mdm.n_level1}")
    lines.append(f"level-2 units: {mdm.n_level2}")
    if mdm.missing == "listwise":
        lines.append(
            f"missing data: {mdm.deleted_level1_rows} level-1 records deleted (listwise) "
            "when the MDM was made"
        )
    elif mdm.missing == "analysis":
        lines.append(
            "missing data: level-1 records with missing values are deleted at analysis time"
        )
    else:
        lines.append("missing data: none")
    if mdm.dropped_units:
        shown = ", ".join(mdm.dropped_units[:10]) + (", ..." if len(mdm.dropped_units) > 10 else "")
        lines.append(f"level-2 units dropped: {len(mdm.dropped_units)} ({shown})")
    if mdm.constant_level2:
        lines.append(
            "level-2 variables (constant within every unit): " + ", ".join(mdm.constant_level2)
        )
    for name, (why, detail) in mdm.left_out.items():
        lines.append(f"left out ({why}): {name}" + (f" ({detail})" if detail else ""))
    if any(why == "not numeric" for why, _ in mdm.left_out.values()):
        lines.append(
            "  (to use a variable left out as not numeric, recode its values as numbers and "
            "build the MDM again)"
        )
    lines.append("")
    lines += _table("LEVEL-1 DESCRIPTIVE STATISTICS", stats[stats["level"] == 1])
    lines.append("")
    lines += _table("LEVEL-2 DESCRIPTIVE STATISTICS", stats[stats["level"] == 2])
    return "\n".join(lines) + "\n"
