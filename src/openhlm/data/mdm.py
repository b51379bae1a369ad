"""The multilevel data matrix (MDM): level-1 records grouped by level-2 unit.

HLM never fits models to raw files: it first builds an MDM from a level-1 file and a level-2
file linked by a unit ID (or from one file holding both levels), and every model then reads
that MDM.  :class:`MDM` is openhlm's equivalent, an immutable object holding

* ``unit_ids`` - the J level-2 units (canonical ID text, see :mod:`openhlm.data.ids`);
* ``level1``   - the N level-1 records as float64 columns (NaN = missing), grouped by unit in
  the order of ``unit_ids`` and in file order within a unit;
* ``unit_index`` - for each level-1 record, the position of its unit in ``unit_ids``;
* ``level2``   - J rows of level-2 variables (float64, never missing);
* labels, the missing-data mode, and what was deleted or dropped while building it.

Build one with :meth:`MDM.from_tables` / :func:`build_mdm`, store it with :meth:`MDM.save`
(format documented in :mod:`openhlm.data.mdm_io`), and print HLM's descriptive statistics
with :meth:`MDM.describe_text`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from openhlm.data import describe as _describe
from openhlm.data import mdm_build, mdm_io
from openhlm.data.variables import VariableList, left_out_message
from openhlm.errors import MDMError

if TYPE_CHECKING:
    from openhlm.data.table import Table

__all__ = ["MDM", "MISSING_MODES", "build_mdm"]

MISSING_MODES = ("none", "listwise", "analysis")


def _readonly_array(values: np.ndarray, dtype: type | str) -> np.ndarray:
    array = np.array(values, dtype=dtype, copy=True)
    array.flags.writeable = False
    return array


def _readonly_frame(frame: pd.DataFrame, n_rows: int, what: str) -> pd.DataFrame:
    """float64 copy of ``frame`` backed by one read-only block, with a RangeIndex."""
    names = [str(c) for c in frame.columns]
    if len(set(names)) != len(names):
        raise MDMError(f"{what} variable names are not unique: {', '.join(names)}")
    if len(frame) != n_rows:
        raise MDMError(f"{what} data have {len(frame)} rows, expected {n_rows}")
    try:
        values = frame.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise MDMError(f"{what} variables must be numeric ({exc})") from None
    values = np.array(values, dtype=np.float64, copy=True).reshape(n_rows, len(names))
    values.flags.writeable = False
    return pd.DataFrame(values, columns=names, copy=False)


@dataclass(frozen=True, eq=False)
class MDM:
    """Multilevel data matrix for a two-level model (HLM's ``.mdm`` file).

    Parameters
    ----------
    id_name : str
        Name of the ID variable as spelled in the file.
    unit_ids : ndarray of object (str), shape (J,)
        Canonical ID text of the level-2 units (``"1224"``, never ``"1224.0"``).
    level1 : DataFrame, shape (N, p)
        Level-1 variables as float64, NaN = missing, rows grouped by unit in the order of
        ``unit_ids`` (original file order within a unit), RangeIndex.
    unit_index : ndarray of int64, shape (N,)
        Position in ``unit_ids`` of each level-1 row; non-decreasing.
    level2 : DataFrame, shape (J, q)
        Level-2 variables as float64, aligned with ``unit_ids``, no missing values.
    variable_labels : dict of str to str
        Variable labels of both levels (and the ID).
    value_labels : dict of str to dict of float to str
        Value labels of both levels.
    missing : {"none", "listwise", "analysis"}
        ``"none"``: no missing level-1 values; ``"listwise"``: level-1 rows with missing values
        were deleted when the MDM was made; ``"analysis"``: missing values are kept and rows are
        deleted at analysis time for the variables of each model (:meth:`subset_complete`).
    deleted_level1_rows : int
        Level-1 rows deleted for missing values when the MDM was made (listwise deletion).
    dropped_units : tuple of str
        Level-2 units dropped (no level-1 rows, or missing level-2 data when opted in).
    sources : tuple of str
        Files the MDM was built from.
    left_out : dict of str to (str, str)
        Variables of the files that the default choice of variables left out, with why
        (``"not numeric"``, ``"dates/times"``, ``"no values"``, ``"in both files"``) and a
        detail naming the values and the file (``"'yes' in 1 record of the level-1 file
        messy.csv"``).  Printed by :meth:`describe_text`; the equation readers use it to say
        why such a variable is not in the MDM.
    constant_level2 : tuple of str
        One data file, default choice: the level-2 variables taken as level-2 because they are
        constant within every unit (the summary says so; an equation using one at level 1 is
        told to name it in ``level1_variables``).

    Notes
    -----
    The object is immutable: the arrays and the frames' data are read-only.  Variable names keep
    the file's spelling; :meth:`level_of` and :meth:`canonical_name` look them up regardless of
    case.  Two MDMs are compared with :meth:`equals` (``==`` is identity).
    """

    id_name: str
    unit_ids: np.ndarray
    level1: pd.DataFrame
    unit_index: np.ndarray
    level2: pd.DataFrame
    variable_labels: dict[str, str] = field(default_factory=dict)
    value_labels: dict[str, dict[float, str]] = field(default_factory=dict)
    missing: str = "none"
    deleted_level1_rows: int = 0
    dropped_units: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    left_out: dict[str, tuple[str, str]] = field(default_factory=dict)
    constant_level2: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        unit_ids = np.array(
            [str(u) for u in np.asarray(self.unit_ids, dtype=object).ravel()], dtype=object
        )
        unit_ids.flags.writeable = False
        n_units = len(unit_ids)
        if len(set(unit_ids.tolist())) != n_units:
            raise MDMError("MDM unit IDs are not unique")
        unit_index = _readonly_array(np.asarray(self.unit_index).ravel(), np.int64)
        n_rows = len(unit_index)
        if n_rows and (unit_index.min() < 0 or unit_index.max() >= n_units):
            raise MDMError("MDM unit_index points outside unit_ids")
        if n_rows > 1 and np.any(np.diff(unit_index) < 0):
            raise MDMError("MDM level-1 rows are not grouped by unit (unit_index decreases)")
        level1 = _readonly_frame(self.level1, n_rows, "level-1")
        level2 = _readonly_frame(self.level2, n_units, "level-2")
        if np.isnan(level2.to_numpy()).any():
            raise MDMError("MDM level-2 data contain missing values")
        if self.missing not in MISSING_MODES:
            raise MDMError(f"MDM missing mode must be one of {MISSING_MODES}, not {self.missing!r}")
        seen: dict[str, str] = {}
        for name in (*level1.columns, *level2.columns):
            key = name.casefold()
            if key in seen:
                raise MDMError(
                    f"variable names {seen[key]!r} and {name!r} clash (names are case-insensitive"
                    " and must be unique across both levels); rename one of them"
                )
            seen[key] = name
        labels = {str(k): str(v) for k, v in dict(self.variable_labels).items()}
        values = {
            str(k): {float(code): str(text) for code, text in dict(v).items()}
            for k, v in dict(self.value_labels).items()
        }
        for name, value in (
            ("unit_ids", unit_ids),
            ("unit_index", unit_index),
            ("level1", level1),
            ("level2", level2),
            ("variable_labels", labels),
            ("value_labels", values),
            ("id_name", str(self.id_name)),
            ("deleted_level1_rows", int(self.deleted_level1_rows)),
            ("dropped_units", tuple(str(u) for u in self.dropped_units)),
            ("sources", tuple(str(s) for s in self.sources)),
            ("left_out", _left_out(self.left_out)),
            ("constant_level2", tuple(str(n) for n in self.constant_level2)),
        ):
            object.__setattr__(self, name, value)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_tables(
        cls,
        level1: Table | pd.DataFrame | str | os.PathLike[str],
        level2: Table | pd.DataFrame | str | os.PathLike[str] | None = None,
        *,
        id: str,
        level1_variables: Sequence[str] | None = None,
        level2_variables: Sequence[str] | None = None,
        missing: Literal["listwise", "analysis"] = "analysis",
        drop_incomplete_units: bool = False,
    ) -> MDM:
        """Build an MDM from a level-1 and a level-2 file (or one file holding both levels).

        See :func:`openhlm.data.mdm_build.mdm_fields` for the parameters and rules.
        """
        return cls(**mdm_build.mdm_fields(
            level1,
            level2,
            id=id,
            level1_variables=level1_variables,
            level2_variables=level2_variables,
            missing=missing,
            drop_incomplete_units=drop_incomplete_units,
        ))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> MDM:
        """Read an MDM saved with :meth:`save` (format: :mod:`openhlm.data.mdm_io`)."""
        return mdm_io.load_mdm(path, cls)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the MDM to one file (``.mdmz`` suggested; format: :mod:`openhlm.data.mdm_io`)."""
        mdm_io.save_mdm(self, path)

    # ------------------------------------------------------------------ sizes and names
    @property
    def n_level1(self) -> int:
        """Number of level-1 records N."""
        return len(self.unit_index)

    @property
    def n_level2(self) -> int:
        """Number of level-2 units J."""
        return len(self.unit_ids)

    @property
    def n_per_unit(self) -> np.ndarray:
        """Level-1 records per unit, shape (J,), int64."""
        counts = np.bincount(self.unit_index, minlength=self.n_level2).astype(np.int64)
        counts.flags.writeable = False
        return counts

    @property
    def unit_offsets(self) -> np.ndarray:
        """Row offsets, shape (J + 1,): unit j's rows are ``offsets[j]:offsets[j + 1]``."""
        offsets = np.concatenate([[0], np.cumsum(self.n_per_unit)]).astype(np.int64)
        offsets.flags.writeable = False
        return offsets

    @property
    def level1_variables(self) -> tuple[str, ...]:
        """Level-1 variable names (file spelling); a tuple that also carries ``left_out``."""
        return VariableList(self.level1.columns, self.left_out, self.constant_level2)

    @property
    def level2_variables(self) -> tuple[str, ...]:
        """Level-2 variable names (file spelling); a tuple that also carries ``left_out``."""
        return VariableList(self.level2.columns, self.left_out, self.constant_level2)

    def canonical_name(self, name: str) -> str | None:
        """Stored spelling of a variable name looked up case-insensitively (None if unknown)."""
        key = str(name).casefold()
        for stored in (*self.level1.columns, *self.level2.columns):
            if stored.casefold() == key:
                return str(stored)
        return None

    def left_out_reason(self, name: str) -> tuple[str, str, str] | None:
        """``(stored name, why, detail)`` when the MDM left ``name`` (case-insensitive) out of
        the data file's variables (:attr:`left_out`), else None."""
        key = str(name).casefold()
        for stored, (why, detail) in self.left_out.items():
            if stored.casefold() == key:
                return stored, why, detail
        return None

    def level_of(self, name: str) -> Literal[1, 2] | None:
        """1 or 2 for a level-1 or level-2 variable (case-insensitive), None if unknown."""
        stored = self.canonical_name(name)
        if stored is None:
            return None
        return 1 if stored in self.level1.columns else 2

    # ------------------------------------------------------------------ derived MDMs
    def subset_complete(self, variables: Sequence[str]) -> tuple[MDM, int]:
        """Restrict to level-1 rows with no missing value in ``variables`` (run-time deletion).

        Parameters
        ----------
        variables : sequence of str
            Variable names (case-insensitive); level-2 names are accepted and ignored because
            level-2 data are never missing.

        Returns
        -------
        mdm : MDM
            The restricted MDM.  Units left without rows are dropped and appended to
            ``dropped_units``; ``deleted_level1_rows`` adds the rows deleted here.
        n_deleted : int
            Number of level-1 rows deleted.

        Raises
        ------
        MDMError
            A name is not a variable of the MDM.
        """
        columns = []
        for name in variables:
            stored = self.canonical_name(name)
            if stored is None:
                raise MDMError(_unknown_variable_message(self, name))
            if stored in self.level1.columns and stored not in columns:
                columns.append(stored)
        if not columns:
            return self, 0
        keep = ~np.isnan(self.level1[columns].to_numpy()).any(axis=1)
        n_deleted = int((~keep).sum())
        if n_deleted == 0:
            return self, 0
        return self._keep_rows(keep, n_deleted), n_deleted

    def _keep_rows(self, keep: np.ndarray, n_deleted: int) -> MDM:
        unit_index = self.unit_index[keep]
        alive = np.bincount(unit_index, minlength=self.n_level2) > 0
        remap = np.cumsum(alive) - 1
        return MDM(
            id_name=self.id_name,
            unit_ids=self.unit_ids[alive],
            level1=self.level1.loc[keep].reset_index(drop=True),
            unit_index=remap[unit_index],
            level2=self.level2.loc[alive].reset_index(drop=True),
            variable_labels=dict(self.variable_labels),
            value_labels={k: dict(v) for k, v in self.value_labels.items()},
            missing=self.missing,
            deleted_level1_rows=self.deleted_level1_rows + n_deleted,
            dropped_units=self.dropped_units + tuple(self.unit_ids[~alive].tolist()),
            sources=self.sources,
            left_out=self.left_out,
            constant_level2=self.constant_level2,
        )

    # ------------------------------------------------------------------ descriptives
    def describe(self) -> pd.DataFrame:
        """HLM's level-1 and level-2 descriptive statistics as a DataFrame.

        Columns ``level, variable, label, N, mean, SD, minimum, maximum``; SD uses the n - 1
        divisor; N counts non-missing values.
        """
        return _describe.describe(self)

    def describe_text(self) -> str:
        """The descriptive statistics laid out like HLM's MDM statistics output."""
        return _describe.describe_text(self)

    # ------------------------------------------------------------------ comparison, display
    def equals(self, other: object) -> bool:
        """True if ``other`` is an MDM with identical data, IDs, labels and bookkeeping."""
        if not isinstance(other, MDM):
            return False
        return (
            self.id_name == other.id_name
            and np.array_equal(self.unit_ids, other.unit_ids)
            and np.array_equal(self.unit_index, other.unit_index)
            and self.level1.equals(other.level1)
            and self.level2.equals(other.level2)
            and self.variable_labels == other.variable_labels
            and self.value_labels == other.value_labels
            and self.missing == other.missing
            and self.deleted_level1_rows == other.deleted_level1_rows
            and self.dropped_units == other.dropped_units
            and self.sources == other.sources
            and self.left_out == other.left_out
            and self.constant_level2 == other.constant_level2
        )

    def __repr__(self) -> str:
        return (
            f"MDM(id={self.id_name!r}, level-1 records={self.n_level1}, "
            f"level-2 units={self.n_level2}, level1={list(self.level1_variables)}, "
            f"level2={list(self.level2_variables)}, missing={self.missing!r}"
            + (f", left_out={list(self.left_out)}" if self.left_out else "")
            + ")"
        )

    def __str__(self) -> str:
        return self.describe_text()


def _left_out(value: object) -> dict[str, tuple[str, str]]:
    """``left_out`` as ``{name: (why, detail)}`` (a loaded file gives lists, not tuples)."""
    out: dict[str, tuple[str, str]] = {}
    for name, reason in dict(value or {}).items():  # type: ignore[call-overload]
        if isinstance(reason, str):
            why, detail = reason, ""
        else:
            why, detail = (list(reason) + ["", ""])[:2]
        out[str(name)] = (str(why), str(detail))
    return out


def _unknown_variable_message(mdm: MDM, name: str) -> str:
    import difflib

    names = [*mdm.level1_variables, *mdm.level2_variables]
    reason = mdm.left_out_reason(name)
    if reason is not None:
        return left_out_message(*reason)
    close = difflib.get_close_matches(str(name).casefold(), [n.casefold() for n in names], n=3)
    spelled = [n for c in close for n in names if n.casefold() == c]
    hint = f" (did you mean: {', '.join(spelled)}?)" if spelled else ""
    return f"the MDM has no variable {name!r}{hint}; its variables: {', '.join(names)}"


def build_mdm(
    level1: Table | pd.DataFrame | str | os.PathLike[str],
    level2: Table | pd.DataFrame | str | os.PathLike[str] | None = None,
    *,
    id: str,
    level1_variables: Sequence[str] | None = None,
    level2_variables: Sequence[str] | None = None,
    missing: Literal["listwise", "analysis"] = "analysis",
    drop_incomplete_units: bool = False,
) -> MDM:
    """Build an :class:`MDM`; same as :meth:`MDM.from_tables`.

    The rules (linking, default variables, missing data) are in :mod:`openhlm.data.mdm_build`.
    """
    return MDM.from_tables(level1, level2, id=id, level1_variables=level1_variables,
                           level2_variables=level2_variables, missing=missing,
                           drop_incomplete_units=drop_incomplete_units)
