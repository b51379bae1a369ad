"""Building an :class:`~openhlm.data.mdm.MDM` from data files (HLM's "Make new MDM file").

:func:`mdm_fields` applies the rules below and returns the MDM's fields;
:func:`openhlm.data.build_mdm` and :meth:`MDM.from_tables <openhlm.data.mdm.MDM.from_tables>`
construct the MDM from them (this module does not import the MDM type, so the MDM module can
import it without an import cycle).

Rules
-----
**Two files** (``level2`` given).  The files are linked by the ID variable, which may be numeric
in one file and text in the other (``1224``, ``"1224"`` and ``1224.0`` are the same unit, see
:mod:`openhlm.data.ids`).  Level-1 rows need not be sorted.  Units are ordered as in the level-2
file; level-1 rows keep their file order within a unit.

* a level-1 ID with no level-2 record is an error (the first 10 such IDs and the count are named);
* a level-2 unit with no level-1 rows is dropped with a :class:`~openhlm.errors.DataWarning`;
* duplicated IDs in the level-2 file are an error.
* Default variables: every numeric variable of each file except the ID (a name in both files
  is kept from the level-2 file).

**One file** (``level2=None``).  Units are ordered by first appearance.  A level-2 variable must
be constant within each unit (missing values are ignored; a unit whose values are all missing has
a missing level-2 value); otherwise the error names the variable and the first units where it
varies.  Default variables: when ``level2_variables`` is not given, the level-2 variables are the
numeric variables (other than the ID and any listed ``level1_variables``) that are constant within
*every* unit; when ``level1_variables`` is not given, the level-1 variables are the remaining
numeric variables.  Pass both lists when a level-1 variable happens to be constant within every
unit (for example with one record per unit).

**Both cases.**
* A default choice takes text variables whose every value is a number, and leaves out variables
  that hold other text, dates or no values at all; :attr:`MDM.left_out
  <openhlm.data.mdm.MDM.left_out>` records each with why and the offending values
  (``passed: not numeric, 'yes' in 1 record of the level-1 file messy.csv``), the MDM's summary
  prints them, and an equation naming one says why it is not in the MDM.
* In text columns, blanks and the usual spellings of missing (``NA``, ``N/A``, ``.``,
  ``#NULL!``, ``NaN``, ``null``, ...) are missing values.
* A chosen variable whose most extreme value looks like a missing-data code (``-99``, ``999``,
  ``-98`` ...) and lies further from the other values than their range is wide gives a
  :class:`~openhlm.errors.DataWarning` (the value is kept: declare it missing in the file).
* Two chosen variables whose names differ only in case are an error naming the file.
* Variable names are matched case-insensitively (the file's spelling is kept); unknown names are
  an error suggesting close matches.  A variable may not be chosen at both levels.
* Chosen variables must be numeric (booleans count as 0/1; text whose every value is a number is
  converted); other text variables are an error asking to recode them.
* Missing level-2 values are an error naming units and variables, unless
  ``drop_incomplete_units=True``: those units (and their level-1 rows) are then dropped with a
  :class:`~openhlm.errors.DataWarning` and listed in ``MDM.dropped_units``.
* A missing ID in the level-1 data is an error giving the number of such rows.
* Missing level-1 values: ``missing="listwise"`` deletes every row with a missing value in a
  chosen level-1 variable (counted in ``deleted_level1_rows``, with a DataWarning; units left
  without rows are dropped); ``missing="analysis"`` keeps them for deletion at analysis time.
  ``MDM.missing`` is ``"none"`` when no missing level-1 value remains or was deleted.
"""

from __future__ import annotations

import difflib
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from openhlm.data.ids import canonical_ids, match_key
from openhlm.data.readers import MISSING_TEXT, read_table
from openhlm.data.table import Table
from openhlm.errors import DataWarning, MDMError

__all__ = [
    "as_table",
    "left_out_columns",
    "mdm_fields",
    "numeric_values",
    "resolve_column",
    "suspected_missing_codes",
    "table_where",
    "warn_missing_codes",
]

_SHOW = 10  # how many IDs an error or warning message lists


def _show(ids: Sequence[str], limit: int = _SHOW) -> str:
    ids = list(ids)
    text = ", ".join(str(i) for i in ids[:limit])
    return text + (", ..." if len(ids) > limit else "")


def _count(n: int, noun: str) -> str:
    """``"1 record"``, ``"2 records"``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def as_table(obj: Table | pd.DataFrame | str | os.PathLike[str], role: str) -> Table:
    """``obj`` as a :class:`Table`: a Table as is, a DataFrame wrapped, a path read."""
    if isinstance(obj, Table):
        return obj
    if isinstance(obj, pd.DataFrame):
        data = obj.reset_index(drop=True)
        data.columns = [str(c) for c in data.columns]
        return Table(data=data, source=f"<{role} DataFrame>")
    if isinstance(obj, (str, os.PathLike)):
        return read_table(obj)
    raise MDMError(f"the {role} data must be a Table, a DataFrame or a file path, not {type(obj)}")


def _require_rows(table: Table, where: str) -> None:
    if len(table.data) == 0:
        raise MDMError(f"the {where} has no records (rows); give data with at least one record")


def table_where(table: Table, level: str) -> str:
    """Where ``table`` came from, for messages: ``"level-2 file l2.csv"``, ``"level-2 data"``
    (a DataFrame), ``"data"`` (``level`` "data": the one table of the data)."""
    return (
        f"{level} file {Path(table.source).name}"
        if not table.source.startswith("<")
        else ("data" if level == "data" else f"{level} data")
    )


def resolve_column(table: Table, name: str, where: str, what: str = "variable") -> str:
    """The column of ``table`` called ``name`` (exact, else unique case-insensitive match);
    MDMError naming ``where`` (:func:`table_where`) for an ambiguous or unknown name, with the
    close spellings or the table's variables."""
    columns = [str(c) for c in table.data.columns]
    if name in columns:
        return name
    matches = [c for c in columns if c.casefold() == str(name).casefold()]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise MDMError(
            f"{what} {name!r} is ambiguous in the {where}: it matches {', '.join(matches)} "
            "(give the exact spelling)"
        )
    close = difflib.get_close_matches(str(name).casefold(), [c.casefold() for c in columns], n=3)
    spelled = [c for k in close for c in columns if c.casefold() == k]
    hint = (
        f"did you mean {', '.join(spelled)}?" if spelled else f"its variables: {', '.join(columns)}"
    )
    unnamed = sum(c.startswith("Unnamed:") for c in columns)
    if not spelled and unnamed * 2 >= len(columns):
        hint += (
            " (most columns have no name: the file's first row should hold the variable names;"
            " remove any title rows above them)"
        )
    raise MDMError(f"the {where} has no {what} {name!r}; {hint}")


def _text(series: pd.Series) -> pd.Series:
    """A text column stripped, with the usual missing-value spellings as <NA>."""
    text = series.astype("string").str.strip()
    return text.mask(text.isin(MISSING_TEXT))


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)


def _numeric(table: Table, name: str, where: str) -> np.ndarray:
    """The column as float64 (NaN = missing), or an MDMError naming the variable."""
    series = table.data[name]
    if isinstance(series.dtype, pd.CategoricalDtype):
        series = series.astype(object)
    if _is_numeric(series):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    if pd.api.types.is_datetime64_any_dtype(series) or pd.api.types.is_timedelta64_dtype(series):
        raise MDMError(f"variable {name!r} in the {where} holds dates/times; convert it to numbers")
    text = _text(series)
    numbers = pd.to_numeric(text, errors="coerce")
    bad = text.notna() & numbers.isna()
    if bad.any():
        raise MDMError(
            f"variable {name!r} in the {where} is not numeric ({_offending(text[bad])}); "
            "recode those values as numbers (blank = missing) or leave the variable out"
        )
    return numbers.to_numpy(dtype=np.float64, na_value=np.nan)


def _looks_like_code(value: float) -> bool:
    """-9, -99, 99, 999, -98, -997 ...: the numbers surveys use for "missing"."""
    if not np.isfinite(value) or value != np.floor(value) or abs(value) < 9:
        return False
    digits = str(int(abs(value)))
    if set(digits) == {"9"}:
        return True
    return value < 0 and set(digits[:-1]) == {"9"} and digits[-1] in "78"


def suspected_missing_codes(values: np.ndarray) -> list[tuple[float, int, float, float]]:
    """Extreme values that look like missing-data codes: ``(code, count, low, high)`` where
    ``low``-``high`` is the range of the other values and the code lies further from it than
    that range is wide (``-99`` among SES values from -3.8 to 2.7)."""
    finite = values[np.isfinite(values)]
    found: list[tuple[float, int, float, float]] = []
    for _ in range(2):  # a low and a high code (-99 and 99)
        if finite.size < 3:
            break
        low, high = float(finite.min()), float(finite.max())
        candidates = [v for v in (low, high) if _looks_like_code(v)]
        if not candidates:
            break
        code = max(candidates, key=abs)
        rest = finite[finite != code]
        if rest.size < 2:
            break
        lo, hi = float(rest.min()), float(rest.max())
        gap = lo - code if code < lo else code - hi
        if gap <= max(hi - lo, 1.0):
            break
        found.append((code, int(finite.size - rest.size), lo, hi))
        finite = rest
    return found


def warn_missing_codes(columns: dict[str, np.ndarray], where: str) -> None:
    """A :class:`~openhlm.errors.DataWarning` per variable holding a suspected missing-data
    code (:func:`suspected_missing_codes`), saying how to declare it missing."""
    for name, values in columns.items():
        for code, count, lo, hi in suspected_missing_codes(np.asarray(values, dtype=float)):
            shown = f"{code:g}"
            warnings.warn(
                f"variable {name!r} in the {where} has {_count(count, 'value')} of {shown}, far "
                f"outside its other values ({lo:g} to {hi:g}); if {shown} means missing, make "
                "those values blank (or declared missing in SPSS/Stata) and build the MDM again",
                DataWarning,
                stacklevel=5,
            )


def numeric_values(table: Table, name: str, where: str) -> np.ndarray:
    """Column ``name`` of ``table`` as float64 (NaN = missing; text that is all numbers is
    converted), or an MDMError naming the variable, the offending values and ``where``."""
    return _numeric(table, name, where)


def _usable(series: pd.Series) -> bool:
    """Whether a column can be a default variable: numbers (or text that is all numbers) with
    at least one value."""
    return _unusable_reason(series, "") is None


def _unusable_reason(series: pd.Series, where: str) -> tuple[str, str] | None:
    """Why a column cannot be a default variable, as ``(why, detail)``; None when it can.

    ``why`` is ``"not numeric"``, ``"dates/times"`` or ``"no values"``; ``detail`` names the
    offending values and how many records hold them (``"'yes' in 1 record of messy.csv"``).
    """
    if isinstance(series.dtype, pd.CategoricalDtype):
        series = series.astype(object)
    if _is_numeric(series):
        if series.notna().any():
            return None
        return ("no values", f"every record of the {where} is blank" if where else "")
    if pd.api.types.is_datetime64_any_dtype(series) or pd.api.types.is_timedelta64_dtype(series):
        return ("dates/times", f"in the {where}" if where else "")
    text = _text(series)
    if text.isna().all():
        return ("no values", f"every record of the {where} is blank" if where else "")
    numbers = pd.to_numeric(text, errors="coerce")
    bad = text.notna() & numbers.isna()
    if not bad.any():
        return None
    if not where:
        return ("not numeric", "")
    return ("not numeric", f"{_offending(text[bad])} of the {where}")


def _offending(texts: pd.Series) -> str:
    """``"'yes' in 3 records, 'no' in 1 record and 2 other texts"`` (most frequent first)."""
    counts = texts.value_counts(sort=True)
    shown = ", ".join(
        f"{value!r} in {count} record{'s' if count != 1 else ''}"
        for value, count in counts.iloc[:3].items()
    )
    more = len(counts) - 3
    if more > 0:
        shown += f" and {more} other text{'s' if more != 1 else ''}"
    return shown


def left_out_columns(
    table: Table, skip: set[str], where: str
) -> dict[str, tuple[str, str]]:
    """The columns of ``table`` (other than ``skip``) a default choice of variables leaves out,
    with ``(why, detail)`` for each."""
    out: dict[str, tuple[str, str]] = {}
    for column in table.data.columns:
        if column in skip:
            continue
        reason = _unusable_reason(table.data[column], where)
        if reason is not None:
            out[str(column)] = reason
    return out


def _choose(
    table: Table, names: Sequence[str] | None, id_col: str, where: str, exclude: set[str]
) -> list[str]:
    if names is None:
        return [
            str(c)
            for c in table.data.columns
            if c != id_col and c not in exclude and _usable(table.data[c])
        ]
    chosen = []
    for name in names:
        column = resolve_column(table, name, where)
        if column == id_col:
            raise MDMError(f"the ID variable {id_col!r} cannot also be a model variable ({where})")
        if column not in chosen:
            chosen.append(column)
    return chosen


def _listed_at_other_level(
    table: Table, names: Sequence[str] | None, where: str, other: Table, other_where: str,
    option: str,
) -> None:
    """MDMError for a listed name that is not in ``table`` but is in the other file."""
    columns = {str(c).casefold() for c in table.data.columns}
    elsewhere = {str(c).casefold(): str(c) for c in other.data.columns}
    for name in names or ():
        key = str(name).casefold()
        if key not in columns and key in elsewhere:
            raise MDMError(
                f"the {where} has no variable {name!r}; it is in the {other_where}: choose it "
                f"with {option}_variables (--{option}-vars)"
            )


def _check_case_clash(names: Sequence[str], where: str, option: str) -> None:
    """MDMError for two chosen variables whose names differ only in case."""
    seen: dict[str, str] = {}
    for name in names:
        key = name.casefold()
        if key in seen:
            raise MDMError(
                f"the {where} has variables {seen[key]!r} and {name!r}, which openhlm cannot "
                "tell apart (variable names are case-insensitive); rename one of them, or "
                f"choose one with {option}"
            )
        seen[key] = name


def _ids(table: Table, id_col: str, where: str) -> tuple[np.ndarray, np.ndarray]:
    codes, uniques = canonical_ids(table.data[id_col])
    n_missing = int((codes < 0).sum())
    if n_missing:
        rows = np.flatnonzero(codes < 0)[:5] + 1
        raise MDMError(
            f"{_count(n_missing, 'row')} of the {where} {'has' if n_missing == 1 else 'have'} "
            f"a missing ID {id_col!r} (rows "
            f"{_show(rows.tolist(), 5)}); fill in or delete them"
        )
    return codes, uniques


def _link(l1_uniques: np.ndarray, l2_ids: np.ndarray) -> np.ndarray:
    """Position in ``l2_ids`` of each level-1 ID (-1 when absent); exact text, then match keys."""
    position = pd.Index(l2_ids).get_indexer(l1_uniques)
    if (position >= 0).all():
        return position
    keys2 = [match_key(t) for t in l2_ids]
    if len(set(keys2)) != len(keys2):
        return position
    return pd.Index(keys2).get_indexer([match_key(t) for t in l1_uniques])


def _labels(tables: Sequence[Table], names: Sequence[str]) -> tuple[dict, dict]:
    variable_labels: dict[str, str] = {}
    value_labels: dict[str, dict[float, str]] = {}
    for name in names:
        for table in tables:
            if name in table.variable_labels and name not in variable_labels:
                variable_labels[name] = table.variable_labels[name]
            if name in table.value_labels and name not in value_labels:
                numeric = {
                    float(k): v for k, v in table.value_labels[name].items() if isinstance(k, float)
                }
                if numeric:
                    value_labels[name] = numeric
    return variable_labels, value_labels


def _check_levels_disjoint(l1_names: Sequence[str], l2_names: Sequence[str]) -> None:
    level2 = {n.casefold(): n for n in l2_names}
    both = [n for n in l1_names if n.casefold() in level2]
    if both:
        raise MDMError(
            f"variable(s) {', '.join(both)} chosen at both levels; choose each variable for one "
            "level only (rename one copy if the files share a name)"
        )


def _one_file_level2(
    table: Table, codes: np.ndarray, uniques: np.ndarray, names: Sequence[str], where: str
) -> pd.DataFrame:
    """Per-unit values of level-2 variables stored on level-1 rows; error if they vary."""
    if not names:
        return pd.DataFrame(index=range(len(uniques)))
    frame = pd.DataFrame({n: _numeric(table, n, where) for n in names})
    grouped = frame.groupby(codes, sort=True)
    low, high = grouped.min(), grouped.max()
    for name in names:
        varies = np.flatnonzero((high[name] > low[name]).to_numpy())
        if len(varies):
            units = uniques[low.index.to_numpy()[varies]]
            raise MDMError(
                f"level-2 variable {name!r} is not constant within units of the {where} "
                f"(it varies in {len(units)} units: {_show(units.tolist(), 5)}); "
                "treat it as a level-1 variable or fix the data"
            )
    return low.reset_index(drop=True)


def _infer_constant(
    table: Table, codes: np.ndarray, candidates: Sequence[str], where: str
) -> list[str]:
    if not candidates:
        return []
    frame = pd.DataFrame({n: _numeric(table, n, where) for n in candidates})
    grouped = frame.groupby(codes, sort=True)
    varies = (grouped.max() > grouped.min()).any(axis=0)
    return [n for n in candidates if not bool(varies[n])]


def mdm_fields(
    level1: Table | pd.DataFrame | str | os.PathLike[str],
    level2: Table | pd.DataFrame | str | os.PathLike[str] | None = None,
    *,
    id: str,
    level1_variables: Sequence[str] | None = None,
    level2_variables: Sequence[str] | None = None,
    missing: str = "analysis",
    drop_incomplete_units: bool = False,
) -> dict[str, Any]:
    """The fields of the multilevel data matrix of a level-1 and a level-2 file, or of one file
    (``MDM(**mdm_fields(...))``; :func:`openhlm.data.build_mdm` does that).

    Parameters
    ----------
    level1 : Table, DataFrame or path
        Level-1 data (or, with ``level2=None``, the one file holding both levels).
    level2 : Table, DataFrame, path or None
        Level-2 data, one record per unit.
    id : str
        The ID variable linking the levels (case-insensitive).
    level1_variables, level2_variables : str or sequence of str, optional
        Variables to keep (a string is one name); defaults are described in the module
        docstring.
    missing : {"analysis", "listwise"}
        What to do with missing level-1 values (see module docstring).
    drop_incomplete_units : bool
        Drop units with missing level-2 values instead of raising.

    Returns
    -------
    dict
        The keyword arguments of :class:`~openhlm.data.mdm.MDM`.

    Raises
    ------
    MDMError
        Unknown or non-numeric variables, unmatched level-1 IDs, missing IDs, duplicated level-2
        IDs, missing level-2 values, level-2 variables varying within a unit (one file).
    DataError
        A file cannot be read.

    Warns
    -----
    DataWarning
        Units dropped (no level-1 rows, or incomplete level-2 data by opt-in); level-1 rows deleted
        by listwise deletion.
    """
    # a single name is one variable, not a sequence of one-letter names
    if isinstance(level1_variables, str):
        level1_variables = [level1_variables]
    if isinstance(level2_variables, str):
        level2_variables = [level2_variables]
    if missing not in ("analysis", "listwise"):
        raise MDMError(f"missing must be 'listwise' or 'analysis', not {missing!r}")
    t1 = as_table(level1, "level-1")
    _require_rows(t1, table_where(t1, "level-1" if level2 is not None else "data"))
    if level2 is None:
        return _build_one_file(
            t1, id, level1_variables, level2_variables, missing, drop_incomplete_units
        )
    t2 = as_table(level2, "level-2")
    _require_rows(t2, table_where(t2, "level-2"))
    return _build_two_files(
        t1, t2, id, level1_variables, level2_variables, missing, drop_incomplete_units
    )


def _build_two_files(
    t1: Table,
    t2: Table,
    id_name: str,
    level1_variables: Sequence[str] | None,
    level2_variables: Sequence[str] | None,
    missing: str,
    drop_incomplete_units: bool,
) -> dict[str, Any]:
    where1, where2 = table_where(t1, "level-1"), table_where(t2, "level-2")
    try:
        id1 = resolve_column(t1, id_name, where1, "ID variable")
        id2 = resolve_column(t2, id_name, where2, "ID variable")
    except MDMError as exc:
        in1 = any(str(c).casefold() == id_name.casefold() for c in t1.data.columns)
        in2 = any(str(c).casefold() == id_name.casefold() for c in t2.data.columns)
        if in1 != in2:  # in one file only: HLM's files share the ID's name
            raise MDMError(
                f"{exc}; the ID variable must have the same name in both files: rename it in "
                "one of them"
            ) from None
        raise
    _listed_at_other_level(t1, level1_variables, where1, t2, where2, "level2")
    _listed_at_other_level(t2, level2_variables, where2, t1, where1, "level1")
    names1 = _choose(t1, level1_variables, id1, where1, set())
    names2 = _choose(t2, level2_variables, id2, where2, set())
    left_out: dict[str, tuple[str, str]] = {}
    if level1_variables is None:
        left_out.update(left_out_columns(t1, {id1}, where1))
    if level2_variables is None:
        left_out.update(left_out_columns(t2, {id2}, where2))
    if level1_variables is None and level2_variables is None:
        # default choice: a name present in both files belongs to the level-2 file
        in_both = {m.casefold() for m in names2}
        for name in names1:
            if name.casefold() in in_both:
                left_out[name] = ("in both files", f"kept from the {where2}")
        names1 = [n for n in names1 if n.casefold() not in in_both]
    _check_case_clash(names1, where1, "level1_variables (--level1-vars)")
    _check_case_clash(names2, where2, "level2_variables (--level2-vars)")
    _check_levels_disjoint(names1, names2)
    if not names1:
        raise MDMError(f"no numeric level-1 variables in the {where1}; choose level-1 variables")
    values1 = {n: _numeric(t1, n, where1) for n in names1}
    values2 = pd.DataFrame({n: _numeric(t2, n, where2) for n in names2}, index=range(len(t2)))
    warn_missing_codes(values1, where1)
    warn_missing_codes({n: values2[n].to_numpy() for n in names2}, where2)

    codes1, uniques1 = _ids(t1, id1, where1)
    codes2, l2_ids = _ids(t2, id2, where2)
    counts = np.bincount(codes2, minlength=len(l2_ids))
    if (counts > 1).any():
        dupes = l2_ids[counts > 1]
        raise MDMError(
            f"the {where2} has {len(dupes)} IDs on more than one record: {_show(dupes.tolist())}; "
            "a level-2 file needs one record per unit"
        )
    # codes2 is the identity here (unique IDs in file order)
    position = _link(uniques1, l2_ids)
    unmatched = uniques1[position < 0]
    if len(unmatched):
        unused = np.setdiff1d(np.arange(len(l2_ids)), position[position >= 0])
        others = (
            f" (the {where2} has {_count(len(unused), 'ID')} with no level-1 records: "
            f"{_show(l2_ids[unused].tolist())})"
            if len(unused)
            else ""
        )
        raise MDMError(
            f"{_count(len(unmatched), 'level-1 ID value')} of the {where1} "
            f"{'has' if len(unmatched) == 1 else 'have'} no record in the {where2}: "
            f"{_show(unmatched.tolist())}{others}; check the ID variable {id_name!r} in both "
            "files, or add the missing units to the level-2 file"
        )
    unit_of_row = position[codes1]
    return _assemble(
        id_name=id2,
        unit_ids=l2_ids,
        unit_of_row=unit_of_row,
        level1=values1,
        level2=values2,
        tables=(t2, t1),
        id_col=id2,
        missing=missing,
        drop_incomplete_units=drop_incomplete_units,
        where2=where2,
        left_out=left_out,
    )


def _build_one_file(
    t1: Table,
    id_name: str,
    level1_variables: Sequence[str] | None,
    level2_variables: Sequence[str] | None,
    missing: str,
    drop_incomplete_units: bool,
) -> dict[str, Any]:
    where = table_where(t1, "data")
    id1 = resolve_column(t1, id_name, where, "ID variable")
    codes, uniques = _ids(t1, id1, where)
    names1 = None if level1_variables is None else _choose(t1, level1_variables, id1, where, set())
    if level2_variables is None:
        candidates = _choose(t1, None, id1, where, set(names1 or ()))
        names2 = _infer_constant(t1, codes, candidates, where)
    else:
        names2 = _choose(t1, level2_variables, id1, where, set())
    if names1 is None:
        names1 = _choose(t1, None, id1, where, set(names2))
    left_out: dict[str, tuple[str, str]] = {}
    if level1_variables is None or level2_variables is None:
        chosen = {id1, *names1, *names2}
        left_out = left_out_columns(t1, chosen, where)
    _check_case_clash([*names1, *names2], where, "level1_variables and level2_variables "
                      "(--level1-vars, --level2-vars)")
    _check_levels_disjoint(names1, names2)
    if not names1:
        raise MDMError(
            f"no level-1 variables left in the {where} (every numeric variable is constant within "
            "units); give level1_variables and level2_variables explicitly"
        )
    values1 = {n: _numeric(t1, n, where) for n in names1}
    values2 = _one_file_level2(t1, codes, uniques, names2, where)
    warn_missing_codes(values1, where)
    warn_missing_codes({n: values2[n].to_numpy() for n in names2}, where)
    return _assemble(
        id_name=id1,
        unit_ids=uniques,
        unit_of_row=codes,
        level1=values1,
        level2=values2,
        tables=(t1,),
        id_col=id1,
        missing=missing,
        drop_incomplete_units=drop_incomplete_units,
        where2=where,
        left_out=left_out,
        constant_level2=tuple(names2) if level2_variables is None else (),
    )


def _assemble(
    *,
    id_name: str,
    unit_ids: np.ndarray,
    unit_of_row: np.ndarray,
    level1: dict[str, np.ndarray],
    level2: pd.DataFrame,
    tables: Sequence[Table],
    id_col: str,
    missing: str,
    drop_incomplete_units: bool,
    where2: str,
    left_out: dict[str, tuple[str, str]] | None = None,
    constant_level2: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Drop empty/incomplete units, apply listwise deletion, group rows by unit."""
    frame1 = pd.DataFrame(level1)
    n_units = len(unit_ids)
    keep_unit = np.ones(n_units, dtype=bool)
    dropped: list[str] = []

    empty = np.bincount(unit_of_row, minlength=n_units) == 0
    if empty.any():
        ids = unit_ids[empty].tolist()
        warnings.warn(
            f"{_count(len(ids), 'level-2 unit')} of the {where2} "
            f"{'has' if len(ids) == 1 else 'have'} no level-1 records and "
            f"{'was' if len(ids) == 1 else 'were'} dropped: "
            f"{_show(ids)}",
            DataWarning,
            stacklevel=4,
        )
        dropped += ids
        keep_unit &= ~empty

    incomplete = level2.isna().to_numpy(dtype=bool) & keep_unit[:, None]
    bad_units = incomplete.any(axis=1)
    if bad_units.any():
        ids = unit_ids[bad_units].tolist()
        detail = "; ".join(
            f"{unit_ids[j]} ({', '.join(level2.columns[incomplete[j]])})"
            for j in np.flatnonzero(bad_units)[:_SHOW]
        )
        if not drop_incomplete_units:
            raise MDMError(
                f"{_count(len(ids), 'level-2 unit')} of the {where2} "
                f"{'has' if len(ids) == 1 else 'have'} missing level-2 values: {detail}"
                f"{', ...' if len(ids) > _SHOW else ''}; fix the data, leave those variables "
                "out (level2_variables, --level2-vars) or drop the units with "
                "drop_incomplete_units=True (--drop-incomplete-units)"
            )
        n_rows = int(np.isin(unit_of_row, np.flatnonzero(bad_units)).sum())
        warnings.warn(
            f"{len(ids)} level-2 units with missing level-2 values were dropped with their "
            f"{n_rows} level-1 records: {_show(ids)}",
            DataWarning,
            stacklevel=4,
        )
        dropped += ids
        keep_unit &= ~bad_units

    keep_row = keep_unit[unit_of_row]
    nan_rows = frame1.isna().to_numpy(dtype=bool) & keep_row[:, None]
    has_nan = nan_rows.any(axis=1)
    deleted = 0
    mode = "analysis" if has_nan.any() else "none"
    if has_nan.any() and missing == "listwise":
        deleted = int(has_nan.sum())
        per_variable = ", ".join(
            f"{name} ({count})"
            for name, count in zip(frame1.columns, nan_rows.sum(axis=0), strict=True)
            if count
        )
        warnings.warn(
            f"listwise deletion removed {deleted} level-1 records with missing values in: "
            f"{per_variable}",
            DataWarning,
            stacklevel=4,
        )
        keep_row &= ~has_nan
        mode = "listwise"
        emptied = keep_unit & (np.bincount(unit_of_row[keep_row], minlength=n_units) == 0)
        if emptied.any():
            ids = unit_ids[emptied].tolist()
            warnings.warn(
                f"{len(ids)} level-2 units lost all level-1 records to listwise deletion and were "
                f"dropped: {_show(ids)}",
                DataWarning,
                stacklevel=4,
            )
            dropped += ids
            keep_unit &= ~emptied

    if not keep_unit.any():
        raise MDMError(
            f"no level-2 units of the {where2} are left ({len(dropped)} dropped: "
            f"{_show(dropped)}); check the ID variable, the missing values and the "
            "missing-data choice"
        )
    # renumber the kept units and group the kept rows by unit (stable: file order within unit)
    new_index = np.cumsum(keep_unit) - 1
    rows = np.flatnonzero(keep_row)
    unit_index = new_index[unit_of_row[rows]]
    order = np.argsort(unit_index, kind="stable")
    rows, unit_index = rows[order], unit_index[order]
    names = [id_col, *frame1.columns, *level2.columns]
    variable_labels, value_labels = _labels(tables, names)
    return {
        "id_name": id_name,
        "unit_ids": unit_ids[keep_unit],
        "level1": frame1.iloc[rows].reset_index(drop=True),
        "unit_index": unit_index,
        "level2": level2.loc[keep_unit].reset_index(drop=True),
        "variable_labels": variable_labels,
        "value_labels": value_labels,
        "missing": mode,
        "deleted_level1_rows": deleted,
        "dropped_units": tuple(dropped),
        "sources": tuple(dict.fromkeys(t.source for t in reversed(tables))),
        "left_out": dict(left_out or {}),
        "constant_level2": constant_level2,
    }
