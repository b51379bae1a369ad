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
* Default variables: every numeric variable of each file except the ID.

**One file** (``level2=None``).  Units are ordered by first appearance.  A level-2 variable must
be constant within each unit (missing values are ignored; a unit whose values are all missing has
a missing level-2 value); otherwise the error names the variable and the first units where it
varies.  Default variables: when ``level2_variables`` is not given, the level-2 variables are the
numeric variables (other than the ID and any listed ``level1_variables``) that are constant within
*every* unit; when ``level1_variables`` is not given, the level-1 variables are the remaining
numeric variables.  Pass both lists when a level-1 variable happens to be constant within every
unit (for example with one record per unit).

**Both cases.**
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
from openhlm.data.readers import read_table
from openhlm.data.table import Table
from openhlm.errors import DataWarning, MDMError

__all__ = ["as_table", "mdm_fields"]

_SHOW = 10  # how many IDs an error or warning message lists


def _show(ids: Sequence[str], limit: int = _SHOW) -> str:
    ids = list(ids)
    text = ", ".join(str(i) for i in ids[:limit])
    return text + (", ..." if len(ids) > limit else "")


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


def _where(table: Table, level: str) -> str:
    return (
        f"{level} file {Path(table.source).name}"
        if not table.source.startswith("<")
        else ("data" if level == "data" else f"{level} data")
    )


def _resolve(table: Table, name: str, where: str, what: str = "variable") -> str:
    """The column of ``table`` called ``name`` (exact, else unique case-insensitive match)."""
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
    raise MDMError(f"the {where} has no {what} {name!r}; {hint}")


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
    text = series.astype("string").str.strip().replace("", pd.NA)
    numbers = pd.to_numeric(text, errors="coerce")
    bad = text.notna() & numbers.isna()
    if bad.any():
        examples = _show(pd.unique(text[bad]).tolist()[:3], 3)
        raise MDMError(
            f"variable {name!r} in the {where} is not numeric (values such as {examples}); "
            "recode it as numbers or leave it out"
        )
    return numbers.to_numpy(dtype=np.float64, na_value=np.nan)


def _choose(
    table: Table, names: Sequence[str] | None, id_col: str, where: str, exclude: set[str]
) -> list[str]:
    if names is None:
        return [
            str(c)
            for c in table.data.columns
            if c != id_col and c not in exclude and _is_numeric(table.data[c])
        ]
    chosen = []
    for name in names:
        column = _resolve(table, name, where)
        if column == id_col:
            raise MDMError(f"the ID variable {id_col!r} cannot also be a model variable ({where})")
        if column not in chosen:
            chosen.append(column)
    return chosen


def _ids(table: Table, id_col: str, where: str) -> tuple[np.ndarray, np.ndarray]:
    codes, uniques = canonical_ids(table.data[id_col])
    n_missing = int((codes < 0).sum())
    if n_missing:
        rows = np.flatnonzero(codes < 0)[:5] + 1
        raise MDMError(
            f"{n_missing} rows of the {where} have a missing ID {id_col!r} (rows "
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
    _require_rows(t1, _where(t1, "level-1" if level2 is not None else "data"))
    if level2 is None:
        return _build_one_file(
            t1, id, level1_variables, level2_variables, missing, drop_incomplete_units
        )
    t2 = as_table(level2, "level-2")
    _require_rows(t2, _where(t2, "level-2"))
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
    where1, where2 = _where(t1, "level-1"), _where(t2, "level-2")
    id1 = _resolve(t1, id_name, where1, "ID variable")
    id2 = _resolve(t2, id_name, where2, "ID variable")
    names1 = _choose(t1, level1_variables, id1, where1, set())
    names2 = _choose(t2, level2_variables, id2, where2, set())
    if level1_variables is None and level2_variables is None:
        # default choice: a name present in both files belongs to the level-2 file
        names1 = [n for n in names1 if n.casefold() not in {m.casefold() for m in names2}]
    _check_levels_disjoint(names1, names2)
    if not names1:
        raise MDMError(f"no numeric level-1 variables in the {where1}; choose level-1 variables")
    values1 = {n: _numeric(t1, n, where1) for n in names1}
    values2 = pd.DataFrame({n: _numeric(t2, n, where2) for n in names2}, index=range(len(t2)))

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
        raise MDMError(
            f"{len(unmatched)} level-1 ID values of the {where1} have no record in the {where2}: "
            f"{_show(unmatched.tolist())}; check the ID variable {id_name!r} in both files"
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
    )


def _build_one_file(
    t1: Table,
    id_name: str,
    level1_variables: Sequence[str] | None,
    level2_variables: Sequence[str] | None,
    missing: str,
    drop_incomplete_units: bool,
) -> dict[str, Any]:
    where = _where(t1, "data")
    id1 = _resolve(t1, id_name, where, "ID variable")
    codes, uniques = _ids(t1, id1, where)
    names1 = None if level1_variables is None else _choose(t1, level1_variables, id1, where, set())
    if level2_variables is None:
        candidates = _choose(t1, None, id1, where, set(names1 or ()))
        names2 = _infer_constant(t1, codes, candidates, where)
    else:
        names2 = _choose(t1, level2_variables, id1, where, set())
    if names1 is None:
        names1 = _choose(t1, None, id1, where, set(names2))
    _check_levels_disjoint(names1, names2)
    if not names1:
        raise MDMError(
            f"no level-1 variables left in the {where} (every numeric variable is constant within "
            "units); give level1_variables and level2_variables explicitly"
        )
    values1 = {n: _numeric(t1, n, where) for n in names1}
    values2 = _one_file_level2(t1, codes, uniques, names2, where)
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
            f"{len(ids)} level-2 units of the {where2} have no level-1 records and were dropped: "
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
                f"{len(ids)} level-2 units of the {where2} have missing level-2 values: {detail}"
                f"{', ...' if len(ids) > _SHOW else ''}; fix the data or drop them with "
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
    return dict(
        id_name=id_name,
        unit_ids=unit_ids[keep_unit],
        level1=frame1.iloc[rows].reset_index(drop=True),
        unit_index=unit_index,
        level2=level2.loc[keep_unit].reset_index(drop=True),
        variable_labels=variable_labels,
        value_labels=value_labels,
        missing=mode,
        deleted_level1_rows=deleted,
        dropped_units=tuple(dropped),
        sources=tuple(dict.fromkeys(t.source for t in reversed(tables))),
    )
