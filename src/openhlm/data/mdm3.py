"""The three-level multilevel data matrix (HLM3's MDM): level-1 records in level-2 units in
level-3 units (occasions in children in schools, students in classrooms in schools).

An :class:`MDM3` is a two-level :class:`~openhlm.data.mdm.MDM` (levels 1 and 2, its level-2
units grouped by level-3 unit) plus

* ``level3_ids`` - the K level-3 units (canonical ID text);
* ``level3_index`` - for each level-2 unit, the position of its level-3 unit (non-decreasing);
* ``level3`` - K rows of level-3 variables (float64, never missing).

Building rules (:func:`build_mdm3`)
-----------------------------------
``id=(level2_id, level3_id)`` names the IDs from level 2 upward.

**Three files**: the level-1 file holds the level-2 ID; the level-2 file both IDs (one record per
level-2 unit); the level-3 file the level-3 ID (one record per level-3 unit).  Level-2 units are
linked to level 1 as for a two-level MDM (:mod:`openhlm.data.mdm_build`); level-3 units are
ordered as in the level-3 file and level-2 units within them as in the level-2 file.

**One file**: every row holds both IDs; level-3 variables are constant within level-3 units,
level-2 variables within level-2 units (inferred as for a two-level one-file MDM when not given).

Errors (:class:`~openhlm.errors.MDMError`): a level-2 unit in two level-3 units, a level-3 ID of
the level-2 file with no record in the level-3 file, duplicated level-3 IDs, a level-3 variable
that varies within a level-3 unit, missing level-3 values, variable names clashing across levels.
Level-3 units without level-2 units are dropped with a :class:`~openhlm.errors.DataWarning`.

File format (``.mdmz``, ZIP): ``manifest.json`` (``"format": "openhlm-mdm3"``, version 1, the
level-3 ID name, IDs, variables, labels, dropped units, array checksums), ``levels12.mdmz`` (the
two-level MDM in its own format, :mod:`openhlm.data.mdm_io`), ``level3.npy`` (K, r) and
``level3_index.npy`` (J,).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from openhlm.data.ids import canonical_ids, match_key
from openhlm.data.mdm import MDM
from openhlm.data.mdm_build import (
    as_table,
    left_out_columns,
    mdm_fields,
    numeric_values,
    resolve_column,
    table_where,
    warn_missing_codes,
)
from openhlm.data.mdm_io import check_mdm_path
from openhlm.data.table import Table
from openhlm.errors import DataWarning, MDMError

__all__ = ["FORMAT3", "MDM3", "build_mdm3"]

FORMAT3 = "openhlm-mdm3"
VERSION3 = 1
_SHOW = 10


def _show(ids: Sequence[Any], limit: int = _SHOW) -> str:
    ids = list(ids)
    return ", ".join(str(i) for i in ids[:limit]) + (", ..." if len(ids) > limit else "")


@dataclass(frozen=True, eq=False)
class MDM3:
    """Multilevel data matrix for a three-level model (HLM3's ``.mdm`` file).

    Parameters
    ----------
    levels12 : MDM
        Levels 1 and 2; its level-2 units are grouped by level-3 unit.
    id3_name : str
        Name of the level-3 ID variable.
    level3_ids : ndarray of str, shape (K,)
    level3_index : ndarray of int64, shape (J,)
        Level-3 unit of each level-2 unit; non-decreasing.
    level3 : DataFrame, shape (K, r)
        Level-3 variables (float64, no missing values).
    dropped_level3_units : tuple of str
    """

    levels12: MDM
    id3_name: str
    level3_ids: np.ndarray
    level3_index: np.ndarray
    level3: pd.DataFrame
    dropped_level3_units: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        ids = np.array([str(u) for u in np.asarray(self.level3_ids, dtype=object).ravel()],
                       dtype=object)
        ids.flags.writeable = False
        if len(set(ids.tolist())) != len(ids):
            raise MDMError("MDM level-3 unit IDs are not unique")
        index = np.array(np.asarray(self.level3_index).ravel(), dtype=np.int64)
        if len(index) != self.levels12.n_level2:
            raise MDMError(f"level3_index has {len(index)} entries, expected one per level-2 "
                           f"unit ({self.levels12.n_level2})")
        if len(index) and (index.min() < 0 or index.max() >= len(ids)):
            raise MDMError("MDM level3_index points outside level3_ids")
        if len(index) > 1 and np.any(np.diff(index) < 0):
            raise MDMError("MDM level-2 units are not grouped by level-3 unit")
        if len(ids) and np.bincount(index, minlength=len(ids)).min() == 0:
            raise MDMError("MDM has level-3 units without level-2 units")
        index.flags.writeable = False
        names = [str(c) for c in self.level3.columns]
        values = self.level3.to_numpy(dtype=np.float64, na_value=np.nan).reshape(len(ids),
                                                                                 len(names))
        if len(self.level3) != len(ids):
            raise MDMError(f"level-3 data have {len(self.level3)} rows, expected {len(ids)}")
        if np.isnan(values).any():
            raise MDMError("MDM level-3 data contain missing values")
        values = np.array(values, copy=True)
        values.flags.writeable = False
        level3 = pd.DataFrame(values, columns=names, copy=False)
        seen = {n.casefold(): n for n in (*self.levels12.level1_variables,
                                          *self.levels12.level2_variables)}
        for name in names:
            if name.casefold() in seen:
                raise MDMError(f"variable names {seen[name.casefold()]!r} and {name!r} clash "
                               "(names are case-insensitive and must be unique across the "
                               "three levels); rename one of them")
            seen[name.casefold()] = name
        object.__setattr__(self, "level3_ids", ids)
        object.__setattr__(self, "level3_index", index)
        object.__setattr__(self, "level3", level3)
        object.__setattr__(self, "id3_name", str(self.id3_name))
        object.__setattr__(self, "dropped_level3_units",
                           tuple(str(u) for u in self.dropped_level3_units))

    # ------------------------------------------------------------------ views
    @property
    def id_name(self) -> str:
        return self.levels12.id_name

    @property
    def ids(self) -> tuple[str, str]:
        """``(level-2 ID, level-3 ID)`` names."""
        return (self.levels12.id_name, self.id3_name)

    @property
    def unit_ids(self) -> np.ndarray:
        return self.levels12.unit_ids

    @property
    def unit_index(self) -> np.ndarray:
        return self.levels12.unit_index

    @property
    def level1(self) -> pd.DataFrame:
        return self.levels12.level1

    @property
    def level2(self) -> pd.DataFrame:
        return self.levels12.level2

    @property
    def n_level1(self) -> int:
        return self.levels12.n_level1

    @property
    def n_level2(self) -> int:
        return self.levels12.n_level2

    @property
    def n_level3(self) -> int:
        return len(self.level3_ids)

    @property
    def level1_variables(self) -> tuple[str, ...]:
        return self.levels12.level1_variables

    @property
    def level2_variables(self) -> tuple[str, ...]:
        return self.levels12.level2_variables

    @property
    def level3_variables(self) -> tuple[str, ...]:
        return tuple(str(c) for c in self.level3.columns)

    @property
    def variable_labels(self) -> dict[str, str]:
        return self.levels12.variable_labels

    @property
    def sources(self) -> tuple[str, ...]:
        return self.levels12.sources

    @property
    def left_out(self) -> dict[str, tuple[str, str]]:
        """Variables of the three files the default choice left out (see ``MDM.left_out``)."""
        return self.levels12.left_out

    def left_out_reason(self, name: str) -> tuple[str, str, str] | None:
        """``(stored name, why, detail)`` for a variable the MDM left out, else None."""
        return self.levels12.left_out_reason(name)

    @property
    def missing(self) -> str:
        return self.levels12.missing

    @property
    def row_level3_index(self) -> np.ndarray:
        """Level-3 unit of each level-1 row, shape (N,)."""
        return self.level3_index[self.unit_index]

    def canonical_name(self, name: str) -> str | None:
        stored = self.levels12.canonical_name(name)
        if stored is not None:
            return stored
        key = str(name).casefold()
        for column in self.level3.columns:
            if str(column).casefold() == key:
                return str(column)
        return None

    def level_of(self, name: str) -> Literal[1, 2, 3] | None:
        """1, 2 or 3 for a variable of that level (case-insensitive), None if unknown."""
        level = self.levels12.level_of(name)
        if level is not None:
            return level
        return 3 if self.canonical_name(name) is not None else None

    # ------------------------------------------------------------------ derived
    def subset_complete(self, variables: Sequence[str]) -> tuple[MDM3, int]:
        """Drop level-1 rows with missing values in ``variables`` (level-3 names ignored)."""
        names = [v for v in variables if self.level_of(v) != 3]
        mdm, n_deleted = self.levels12.subset_complete(names)
        if n_deleted == 0:
            return self, 0
        position = pd.Index(self.unit_ids).get_indexer(mdm.unit_ids)
        old = self.level3_index[position]
        alive = np.bincount(old, minlength=self.n_level3) > 0
        remap = np.cumsum(alive) - 1
        return MDM3(levels12=mdm, id3_name=self.id3_name, level3_ids=self.level3_ids[alive],
                    level3_index=remap[old],
                    level3=self.level3.loc[alive].reset_index(drop=True),
                    dropped_level3_units=self.dropped_level3_units
                    + tuple(self.level3_ids[~alive].tolist())), n_deleted

    # ------------------------------------------------------------------ io
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the MDM to one ``.mdmz`` file (format in the module docstring)."""
        check_mdm_path(path)
        with tempfile.TemporaryDirectory() as tmp:
            inner = Path(tmp) / "levels12.mdmz"
            self.levels12.save(inner)
            inner_bytes = inner.read_bytes()
        arrays = {"level3.npy": self.level3.to_numpy(dtype=np.float64),
                  "level3_index.npy": np.asarray(self.level3_index, dtype=np.int64)}
        blobs = {}
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
            blobs[name] = buffer.getvalue()
        blobs["levels12.mdmz"] = inner_bytes
        manifest = {
            "format": FORMAT3, "version": VERSION3, "id3_name": self.id3_name,
            "level3_ids": [str(u) for u in self.level3_ids],
            "level3_variables": list(self.level3_variables),
            "dropped_level3_units": list(self.dropped_level3_units),
            "sha256": {name: hashlib.sha256(blob).hexdigest() for name, blob in blobs.items()},
        }
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                archive.writestr("manifest.json", json.dumps(manifest, indent=1))
                for name, blob in blobs.items():
                    archive.writestr(name, blob)
        except OSError as exc:
            raise MDMError(f"cannot write MDM file {os.fspath(path)}: "
                           f"{exc.strerror or exc}") from None

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> MDM3:
        """Read a three-level MDM written by :meth:`save`."""
        p = Path(path)
        if not p.is_file():
            raise MDMError(f"MDM file {p} does not exist")
        if not zipfile.is_zipfile(p):
            MDM.load(p)   # the two-level reader's message (a data file, not a ZIP archive)
        try:
            with zipfile.ZipFile(p) as archive:
                if "manifest.json" not in archive.namelist():
                    raise MDMError(f"{p} is not an openhlm MDM file (no manifest.json)")
                manifest = json.loads(archive.read("manifest.json").decode("utf-8"))
                if manifest.get("format") != FORMAT3:
                    raise MDMError(f"{p} is not a three-level openhlm MDM file (format is "
                                   f"{manifest.get('format')!r}, not {FORMAT3!r})")
                if manifest.get("version") != VERSION3:
                    raise MDMError(f"three-level MDM file {p} has format version "
                                   f"{manifest.get('version')!r}; this openhlm reads {VERSION3}")
                blobs = {}
                for name, digest in manifest["sha256"].items():
                    blob = archive.read(name)
                    if hashlib.sha256(blob).hexdigest() != digest:
                        raise MDMError(f"MDM file {p} is damaged (checksum of {name})")
                    blobs[name] = blob
            with tempfile.TemporaryDirectory() as tmp:
                inner = Path(tmp) / "levels12.mdmz"
                inner.write_bytes(blobs["levels12.mdmz"])
                levels12 = MDM.load(inner)
            level3 = np.load(io.BytesIO(blobs["level3.npy"]), allow_pickle=False)
            index = np.load(io.BytesIO(blobs["level3_index.npy"]), allow_pickle=False)
            return cls(levels12=levels12, id3_name=manifest["id3_name"],
                       level3_ids=np.array(manifest["level3_ids"], dtype=object),
                       level3_index=index,
                       level3=pd.DataFrame(level3, columns=manifest["level3_variables"]),
                       dropped_level3_units=tuple(manifest["dropped_level3_units"]))
        except MDMError:
            raise
        except (zipfile.BadZipFile, KeyError, ValueError, TypeError, OSError) as exc:
            raise MDMError(f"MDM file {p} is damaged ({type(exc).__name__}: {exc})") from None

    # ------------------------------------------------------------------ comparison, display
    def equals(self, other: object) -> bool:
        return (isinstance(other, MDM3) and self.levels12.equals(other.levels12)
                and self.id3_name == other.id3_name
                and np.array_equal(self.level3_ids, other.level3_ids)
                and np.array_equal(self.level3_index, other.level3_index)
                and self.level3.equals(other.level3)
                and self.dropped_level3_units == other.dropped_level3_units)

    def describe_text(self) -> str:
        """HLM's descriptive statistics of the three levels."""
        text = self.levels12.describe_text()
        marker = f"level-2 units: {self.n_level2}\n"
        text = text.replace(marker, marker + f"level-3 ID variable: {self.id3_name}\n"
                            f"level-3 units: {self.n_level3}\n", 1)
        if not self.level3_variables:
            return text
        rows = ["", "                     LEVEL-3 DESCRIPTIVE STATISTICS", "",
                "VARIABLE NAME         N      MEAN        SD          MINIMUM     MAXIMUM"]
        for name in self.level3_variables:
            x = self.level3[name].to_numpy()
            sd = float(np.std(x, ddof=1)) if len(x) > 1 else float("nan")
            rows.append(f"{name.upper():>13} {len(x):9d} {x.mean():11.2f} {sd:11.2f} "
                        f"{x.min():11.2f} {x.max():11.2f}")
        return text + "\n" + "\n".join(rows)

    def __repr__(self) -> str:
        return (f"MDM3(ids={self.ids!r}, level-1 records={self.n_level1}, level-2 units="
                f"{self.n_level2}, level-3 units={self.n_level3}, "
                f"level1={list(self.level1_variables)}, level2={list(self.level2_variables)}, "
                f"level3={list(self.level3_variables)})")

    def __str__(self) -> str:
        return self.describe_text()


# ---------------------------------------------------------------------------------- building
def _file_where(table: Table, role: str) -> str:
    """``"level-3 file l3.csv"`` / ``"level-3 data"`` (``role`` "" is the one data file)."""
    return table_where(table, role or "data")


def _column(table: Table, name: str, role: str) -> str:
    return resolve_column(table, name, _file_where(table, role), "ID variable")


def _without(table: Table, columns: Sequence[str]) -> Table:
    drop = [c for c in columns if c in table.data.columns]
    return Table(data=table.data.drop(columns=drop), variable_labels=dict(table.variable_labels),
                 value_labels=dict(table.value_labels), source=table.source)


def _ids_of(table: Table, column: str, role: str) -> tuple[np.ndarray, np.ndarray]:
    codes, uniques = canonical_ids(table.data[column])
    if (codes < 0).any():
        rows = np.flatnonzero(codes < 0)[:5] + 1
        raise MDMError(f"{int((codes < 0).sum())} rows of the {_file_where(table, role)} have a "
                       f"missing ID {column!r} (rows {_show(rows.tolist(), 5)}); fill in or delete them")
    return codes, uniques


def _level3_of_level2(codes2: np.ndarray, ids2: np.ndarray, codes3: np.ndarray,
                      ids3: np.ndarray, role: str) -> np.ndarray:
    """Level-3 code of each level-2 code; error when a level-2 unit sits in two level-3 units."""
    out = np.full(len(ids2), -1, dtype=np.int64)
    out[codes2] = codes3
    if np.array_equal(out[codes2], codes3):     # every level-2 unit in one level-3 unit
        return out
    pairs = pd.DataFrame({"u2": codes2, "u3": codes3}).drop_duplicates()
    counts = pairs.groupby("u2").size()
    bad = counts.index[counts.to_numpy() > 1].to_numpy()
    if len(bad):
        detail = "; ".join(
            f"{ids2[u]} in {', '.join(ids3[pairs.u3[pairs.u2 == u]].tolist())}" for u in bad[:5])
        raise MDMError(f"{len(bad)} level-2 units of the {role or 'data'} belong to more than one "
                       f"level-3 unit ({detail}{', ...' if len(bad) > 5 else ''}); a level-2 "
                       "unit must sit in one level-3 unit (give level-2 units IDs that are "
                       "unique across level-3 units)")
    out = np.full(len(ids2), -1, dtype=np.int64)
    out[pairs.u2.to_numpy()] = pairs.u3.to_numpy()
    return out


def _numeric_frame(table: Table, names: Sequence[str], role: str) -> pd.DataFrame:
    where = _file_where(table, role)
    out = {name: numeric_values(table, name, where) for name in names}
    return pd.DataFrame(out, index=range(len(table.data)))


def _choose3(table: Table, names: Sequence[str] | None, exclude: Sequence[str],
             role: str) -> list[str]:
    if names is None:
        unusable = left_out_columns(table, set(exclude), "")
        return [str(c) for c in table.data.columns if c not in exclude and c not in unusable]
    return [_column_any(table, n, role) for n in ([names] if isinstance(names, str) else names)]


def _column_any(table: Table, name: str, role: str) -> str:
    return resolve_column(table, name, _file_where(table, role))


def _no_missing3(frame: pd.DataFrame, ids3: np.ndarray, where: str) -> None:
    """MDMError naming the level-3 units and variables with missing level-3 values."""
    missing = frame.isna().to_numpy(dtype=bool)
    bad = missing.any(axis=1)
    if bad.any():
        detail = "; ".join(f"{ids3[k]} ({', '.join(frame.columns[missing[k]])})"
                           for k in np.flatnonzero(bad)[:_SHOW])
        n = int(bad.sum())
        raise MDMError(f"{n} level-3 unit{'s' if n != 1 else ''} of the {where} "
                       f"{'have' if n != 1 else 'has'} missing level-3 values: {detail}{', ...' if bad.sum() > _SHOW else ''}; fix the data or "
                       "leave those variables out (level3_variables, --level3-vars)")


def _reorder(mdm: MDM, level3_of_unit: np.ndarray, n3: int) -> tuple[MDM, np.ndarray]:
    """The MDM with level-2 units grouped by level-3 unit (stable), and the level3_index."""
    if len(level3_of_unit) < 2 or not np.any(np.diff(level3_of_unit) < 0):
        return mdm, level3_of_unit     # already grouped: the stable order is the identity
    order = np.argsort(level3_of_unit, kind="stable")
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    new_unit = inverse[mdm.unit_index]
    rows = np.argsort(new_unit, kind="stable")
    reordered = MDM(
        id_name=mdm.id_name, unit_ids=mdm.unit_ids[order],
        level1=mdm.level1.iloc[rows].reset_index(drop=True), unit_index=new_unit[rows],
        level2=mdm.level2.iloc[order].reset_index(drop=True),
        variable_labels=dict(mdm.variable_labels),
        value_labels={k: dict(v) for k, v in mdm.value_labels.items()}, missing=mdm.missing,
        deleted_level1_rows=mdm.deleted_level1_rows, dropped_units=mdm.dropped_units,
        sources=mdm.sources, left_out=mdm.left_out, constant_level2=mdm.constant_level2)
    return reordered, level3_of_unit[order]


def _finish(mdm: MDM, unit_level3: np.ndarray, ids3: np.ndarray, level3: pd.DataFrame,
            id3_name: str) -> MDM3:
    n3 = len(ids3)
    mdm, index = _reorder(mdm, unit_level3, n3)
    used = np.bincount(index, minlength=n3) > 0
    dropped = ids3[~used].tolist()
    if dropped:
        warnings.warn(f"{len(dropped)} level-3 units have no level-2 units and were dropped: "
                      f"{_show(dropped)}", DataWarning, stacklevel=3)
    remap = np.cumsum(used) - 1
    return MDM3(levels12=mdm, id3_name=id3_name, level3_ids=ids3[used],
                level3_index=remap[index], level3=level3.loc[used].reset_index(drop=True),
                dropped_level3_units=tuple(dropped))


def build_mdm3(
    level1: Any,
    level2: Any = None,
    level3: Any = None,
    *,
    id: tuple[str, str] | Sequence[str],
    level1_variables: Sequence[str] | None = None,
    level2_variables: Sequence[str] | None = None,
    level3_variables: Sequence[str] | None = None,
    missing: Literal["listwise", "analysis"] = "analysis",
    drop_incomplete_units: bool = False,
) -> MDM3:
    """Build a three-level MDM from three files (level 1, 2, 3) or one file holding all levels.

    ``id=("CHILDID", "SCHOOLID")``: the level-2 ID, then the level-3 ID.  Rules and errors: the
    module docstring.  The other arguments are those of :func:`openhlm.build_mdm`, plus
    ``level3_variables``.
    """
    if isinstance(id, str) or len(tuple(id)) != 2:
        given = id if isinstance(id, str) else ", ".join(str(x) for x in id)
        raise MDMError(f"a three-level MDM needs two IDs, the level-2 then the level-3 ID, not "
                       f"{given!r}: id=('childid', 'schoolid') in Python, [data] id = "
                       "[\"childid\", \"schoolid\"] in a model file, --id childid,schoolid on "
                       "the command line")
    id2, id3 = (str(x) for x in id)
    if (level2 is None) != (level3 is None):
        raise MDMError("give both the level-2 and the level-3 file, or one file holding all "
                       "three levels (level2=None, level3=None)")
    t1 = as_table(level1, "level-1")
    if level2 is None:
        return _one_file(t1, id2, id3, level1_variables, level2_variables, level3_variables,
                         missing, drop_incomplete_units)
    t2, t3 = as_table(level2, "level-2"), as_table(level3, "level-3")
    c2 = _column(t2, id2, "level-2")
    c23 = _column(t2, id3, "level-2")
    c3 = _column(t3, id3, "level-3")
    codes2, ids2 = _ids_of(t2, c2, "level-2")
    codes23, ids23 = _ids_of(t2, c23, "level-2")
    _level3_of_level2(codes2, ids2, codes23, ids23, "level-2")
    codes3, ids3 = _ids_of(t3, c3, "level-3")
    if len(ids3) != len(t3.data):
        counts = np.bincount(codes3, minlength=len(ids3))
        raise MDMError(f"the level-3 data have IDs on more than one record: "
                       f"{_show(ids3[counts > 1].tolist())}; a level-3 file needs one record "
                       "per unit")
    position = pd.Index(ids3).get_indexer(ids23)
    if (position < 0).any():
        keys3 = pd.Index([match_key(t) for t in ids3])
        position = keys3.get_indexer([match_key(t) for t in ids23])
    if (position < 0).any():
        missing_ids = ids23[position < 0].tolist()
        n = len(missing_ids)
        raise MDMError(f"{n} level-3 ID{'s' if n != 1 else ''} of the {_file_where(t2, 'level-2')} "
                       f"{'have' if n != 1 else 'has'} no record in the "
                       f"{_file_where(t3, 'level-3')}: {_show(missing_ids)}; check the ID "
                       f"variable {id3!r} in both files")
    names3 = [n for n in _choose3(t3, level3_variables, [c3], "level-3") if n != c3]
    left_out3 = ({} if level3_variables is not None
                 else left_out_columns(t3, {c3}, _file_where(t3, "level-3")))
    frame3 = _numeric_frame(t3, names3, "level-3")
    warn_missing_codes({n: frame3[n].to_numpy() for n in names3}, _file_where(t3, "level-3"))
    _no_missing3(frame3, ids3, _file_where(t3, "level-3"))
    level2_of_l3 = dict(zip(ids2.tolist(), position[codes23].tolist(), strict=True))
    fields = mdm_fields(
        _without(t1, [] if level1_variables is not None else
                 [c for c in t1.data.columns if str(c).casefold() == id3.casefold()]),
        _without(t2, [c23]), id=id2, level1_variables=level1_variables,
        level2_variables=level2_variables, missing=missing,
        drop_incomplete_units=drop_incomplete_units)
    mdm = MDM(**fields)
    unit_level3 = np.array([level2_of_l3[u] for u in mdm.unit_ids.tolist()], dtype=np.int64)
    labels = {**mdm.variable_labels,
              **{k: v for k, v in t3.variable_labels.items() if k in names3 or k == c3}}
    mdm = MDM(id_name=mdm.id_name, unit_ids=mdm.unit_ids, level1=mdm.level1,
              unit_index=mdm.unit_index, level2=mdm.level2, variable_labels=labels,
              value_labels=mdm.value_labels, missing=mdm.missing,
              deleted_level1_rows=mdm.deleted_level1_rows, dropped_units=mdm.dropped_units,
              sources=tuple(dict.fromkeys((*mdm.sources, t3.source))),
              left_out={**mdm.left_out, **left_out3}, constant_level2=mdm.constant_level2)
    return _finish(mdm, unit_level3, ids3, frame3, c3)


def _one_file(t1: Table, id2: str, id3: str, level1_variables: Sequence[str] | None,
              level2_variables: Sequence[str] | None, level3_variables: Sequence[str] | None,
              missing: str, drop_incomplete_units: bool) -> MDM3:
    c2 = _column(t1, id2, "")
    c3 = _column(t1, id3, "")
    codes2, ids2 = _ids_of(t1, c2, "")
    codes3, ids3 = _ids_of(t1, c3, "")
    level3_of_id2 = _level3_of_level2(codes2, ids2, codes3, ids3, "")
    listed = {*(level1_variables or ()), *(level2_variables or ())}
    listed = {str(n).casefold() for n in listed}
    if level3_variables is None:
        candidates = [n for n in _choose3(t1, None, [c2, c3], "")
                      if n.casefold() not in listed]
        frame = _numeric_frame(t1, candidates, "")
        grouped = frame.groupby(codes3, sort=True)
        varies = (grouped.max() > grouped.min()).any(axis=0)
        names3 = [n for n in candidates if not bool(varies[n])]
    else:
        names3 = _choose3(t1, level3_variables, [c2, c3], "")
    frame3 = _numeric_frame(t1, names3, "")
    grouped = frame3.groupby(codes3, sort=True)
    low, high = grouped.min(), grouped.max()
    for name in names3:
        varying = np.flatnonzero((high[name] > low[name]).to_numpy())
        if len(varying):
            units = ids3[low.index.to_numpy()[varying]]
            raise MDMError(f"level-3 variable {name!r} is not constant within level-3 units (it "
                           f"varies in {len(units)} units: {_show(units.tolist(), 5)}); treat it "
                           "as a level-1 or level-2 variable or fix the data")
    level3 = low.reset_index(drop=True) if names3 else pd.DataFrame(index=range(len(ids3)))
    warn_missing_codes({n: level3[n].to_numpy() for n in names3}, _file_where(t1, ""))
    _no_missing3(level3, ids3, _file_where(t1, ""))
    mdm = MDM(**mdm_fields(_without(t1, [c3, *names3]), None, id=id2,
                           level1_variables=level1_variables, level2_variables=level2_variables,
                           missing=missing, drop_incomplete_units=drop_incomplete_units))
    kept = np.asarray(mdm.unit_ids)
    if len(kept) == len(ids2) and np.array_equal(kept, ids2):
        unit_level3 = level3_of_id2       # no unit dropped: the positions are the identity
    else:
        unit_level3 = level3_of_id2[pd.Index(ids2).get_indexer(kept)]
    return _finish(mdm, unit_level3.astype(np.int64), ids3, level3, c3)
