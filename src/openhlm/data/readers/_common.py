"""Helpers shared by the readers: file checks, error wrapping, label and missing-code handling."""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyreadstat

from openhlm.data.table import Table
from openhlm.errors import DataError, DataWarning

__all__ = [
    "MISSING_TEXT",
    "READSTAT_ERRORS",
    "apply_missing_ranges",
    "check_file",
    "clean_value_labels",
    "clean_variable_labels",
    "fail",
    "finish",
    "labelled_table",
    "library_failure",
    "reject_options",
    "warn_duplicate_names",
]


#: text a numeric column may hold for a missing value (pandas' read_csv list, SAS/Stata's ".",
#: SPSS's "#NULL!"), compared after stripping white space
MISSING_TEXT = frozenset({
    "", ".", "#NULL!", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan",
    "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
})

#: what pyreadstat raises for a file it cannot read: its own two errors, OSError for I/O, and
#: ValueError / LookupError for a bad or unknown ``encoding=``
READSTAT_ERRORS: tuple[type[Exception], ...] = (
    pyreadstat.ReadstatError, pyreadstat.PyreadstatError, OSError, ValueError, LookupError,
)


def fail(path: str | os.PathLike[str], problem: str) -> DataError:
    """Return a :class:`DataError` whose one-line message names the file and the problem."""
    text = " ".join(str(problem).split())
    return DataError(f"cannot read {os.fspath(path)!s}: {text}")


def describe_exception(exc: BaseException) -> str:
    """One-line text of a library exception (without its traceback)."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def library_failure(path: str | os.PathLike[str], kind: str, exc: BaseException) -> DataError:
    """DataError for a reader library's exception, saying whether the file looks truncated."""
    reason = describe_exception(exc)
    lowered = reason.lower()
    if "expected number of rows" in lowered or "unable to read" in lowered or "eof" in lowered:
        problem = f"the {kind} file is truncated or damaged"
    else:
        problem = f"not a valid {kind} file"
    return fail(path, f"{problem} ({reason})")


def check_file(path: str | os.PathLike[str]) -> Path:
    """Check that ``path`` names an existing, non-empty regular file."""
    p = Path(path)
    if not p.exists():
        raise fail(p, "no such file (check the path and the current directory)")
    if p.is_dir():
        raise fail(p, "it is a directory, not a data file")
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise fail(p, describe_exception(exc)) from None
    if size == 0:
        raise fail(p, "the file is empty (0 bytes)")
    return p


def reject_options(path: Path, options: Mapping[str, Any], accepted: tuple[str, ...]) -> None:
    """Raise :class:`DataError` for reader options the format does not accept."""
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        allowed = ", ".join(accepted) if accepted else "none"
        raise fail(
            path,
            f"option(s) {', '.join(unknown)} not accepted for {path.suffix} files "
            f"(accepted: {allowed})",
        )


def finish(path: Path, data: pd.DataFrame) -> pd.DataFrame:
    """Normalise a freshly read frame: string column names, RangeIndex, at least one row/column."""
    if data.shape[1] == 0:
        raise fail(path, "the file contains no variables")
    if data.shape[0] == 0:
        raise fail(path, "the file contains variable names but no data rows")
    data = data.reset_index(drop=True)
    data.columns = [str(c) for c in data.columns]
    return data


def clean_variable_labels(labels: Mapping[str, Any] | None, columns: list[str]) -> dict[str, str]:
    """Keep non-empty variable labels for the given columns, as ``str``."""
    out: dict[str, str] = {}
    if not labels:
        return out
    for name in columns:
        label = labels.get(name)
        if label is not None and str(label).strip():
            out[name] = str(label).strip()
    return out


def _label_key(key: Any) -> float | str:
    if isinstance(key, (bool, np.bool_)):
        return float(key)
    if isinstance(key, (int, float, np.integer, np.floating)):
        return float(key)
    return str(key)


def clean_value_labels(
    labels: Mapping[str, Mapping[Any, Any]] | None, columns: list[str]
) -> dict[str, dict[float | str, str]]:
    """Value labels per column with numeric codes as ``float`` and string codes as ``str``."""
    out: dict[str, dict[float | str, str]] = {}
    if not labels:
        return out
    for name in columns:
        sets = labels.get(name)
        if sets:
            out[name] = {_label_key(k): str(v) for k, v in sets.items()}
    return out


def apply_missing_ranges(
    data: pd.DataFrame, ranges: Mapping[str, list[Mapping[str, Any]]] | None
) -> pd.DataFrame:
    """Set SPSS user-missing codes to NaN.

    ``ranges`` is pyreadstat's ``meta.missing_ranges``: ``{column: [{"lo": a, "hi": b}, ...]}``;
    discrete missing values appear as ranges with ``lo == hi``.
    """
    if not ranges:
        return data
    data = data.copy()
    for name, spans in ranges.items():
        if name not in data.columns or not spans:
            continue
        column = data[name]
        if pd.api.types.is_numeric_dtype(column):
            values = column.to_numpy(dtype=float, na_value=np.nan)
            mask = np.zeros(len(values), dtype=bool)
            for span in spans:
                lo, hi = float(span["lo"]), float(span["hi"])
                mask |= (values >= lo) & (values <= hi)
            if mask.any():
                values = values.copy()
                values[mask] = np.nan
                data[name] = values
        else:
            codes = {str(span["lo"]) for span in spans} | {str(span["hi"]) for span in spans}
            mask = column.astype("string").str.strip().isin({c.strip() for c in codes})
            mask = mask.fillna(False).to_numpy(dtype=bool)
            if mask.any():
                data[name] = column.mask(mask)
    return data


def warn_duplicate_names(
    path: Path, columns: Sequence[str], header: Sequence[str] | None = None
) -> None:
    """Warn (:class:`~openhlm.errors.DataWarning`) about variable names the file repeats.

    pandas reads a repeated name ``x`` as ``x``, ``x.1``, ...; ``header`` is the file's own
    first line split into names when known, else the ``.1`` suffixes are taken as the sign.
    """
    columns = [str(c) for c in columns]
    if header is not None and len(header) == len(columns):
        raw = [str(h).strip() for h in header]
    else:
        raw = []
        present = set(columns)
        for name in columns:
            m = re.fullmatch(r"(.*)\.(\d+)", name)
            raw.append(m.group(1) if m and m.group(1) in present else name)
    seen: dict[str, list[int]] = {}
    for k, name in enumerate(raw):
        seen.setdefault(name, []).append(k)
    for name, where in seen.items():
        if len(where) < 2 or not name:
            continue
        positions = ", ".join(str(k + 1) for k in where)
        read_as = ", ".join(repr(columns[k]) for k in where)
        warnings.warn(
            f"{path.name} has {len(where)} variables named {name!r} (columns {positions}); "
            f"they are read as {read_as}: rename them in the file",
            DataWarning,
            stacklevel=4,
        )


def labelled_table(path: Path, data: pd.DataFrame, meta: Any) -> Table:
    """The :class:`Table` of a file read by pyreadstat: ``data`` finished (:func:`finish`) with
    the variable and value labels of its metadata ``meta``, cleaned."""
    data = finish(path, data)
    columns = list(data.columns)
    return Table(
        data=data,
        variable_labels=clean_variable_labels(meta.column_names_to_labels, columns),
        value_labels=clean_value_labels(meta.variable_value_labels, columns),
        source=str(path),
    )
