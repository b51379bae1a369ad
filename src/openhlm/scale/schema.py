"""Check the level-1 files before the pass: every file readable, the ID and the model's
variables present in each, of the same kind (number or text) in all of them.

Parquet schemas are read from the files' footers (pyarrow, no data read); CSV headers and types
from the first rows (pandas).  Errors name the file and the column.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from openhlm.errors import DataError, MDMError
from openhlm.scale.sources import Files, require

__all__ = ["Schema", "check_files", "file_schema"]


@dataclass(frozen=True)
class Schema:
    """Column names (file spelling) -> kind ("number" or "text") of one file."""

    path: str
    kinds: dict[str, str]

    def resolve(self, name: str) -> str | None:
        if name in self.kinds:
            return name
        lower = {c.lower(): c for c in self.kinds}
        return lower.get(name.lower())


def _parquet_schema(path: str) -> Schema:
    pa = require("pyarrow")
    pq = require("pyarrow.parquet")
    try:
        schema = pq.read_schema(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises ArrowInvalid, OSError, ...
        raise DataError(f"cannot read {path!r} as Parquet: {exc}") from None
    kinds = {}
    for f in schema:
        t = f.type
        number = (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)
                  or pa.types.is_decimal(t))
        if pa.types.is_dictionary(t):
            number = False
        kinds[str(f.name)] = "number" if number else "text"
    return Schema(path, kinds)


def _csv_schema(path: str) -> Schema:
    try:
        head = pd.read_csv(path, nrows=2000)
    except Exception as exc:  # noqa: BLE001 - pandas: ParserError, UnicodeDecodeError, ...
        raise DataError(f"cannot read {path!r} as CSV: {exc}") from None
    kinds = {str(c): ("number" if pd.api.types.is_numeric_dtype(head[c])
                      or pd.api.types.is_bool_dtype(head[c]) else "text") for c in head.columns}
    return Schema(path, kinds)


def file_schema(path: str, fmt: str) -> Schema:
    return _parquet_schema(path) if fmt == "parquet" else _csv_schema(path)


def check_files(files: Files, id_name: str, numeric: list[str]) -> tuple[list[Schema], str]:
    """Schemas of every file, checked; returns them and the ID column's kind.

    ``numeric``: the variables the model reads from the level-1 files (must be numbers).
    """
    schemas = [file_schema(p, files.format) for p in files.paths]
    first: dict[str, tuple[str, str]] = {}
    for s in schemas:
        for name, what in [(id_name, "ID variable"), *((n, "variable") for n in numeric)]:
            col = s.resolve(name)
            if col is None:
                raise MDMError(f"{s.path!r} has no {what} '{name}' (its columns: "
                               f"{', '.join(s.kinds)}); every level-1 file needs the same "
                               "columns")
            kind = s.kinds[col]
            if what == "variable" and kind != "number":
                raise MDMError(f"variable '{col}' in {s.path!r} is not numeric; recode it")
            if name in first and first[name][1] != kind:
                raise MDMError(f"the schema differs between files: '{col}' is {kind} in "
                               f"{s.path!r} but {first[name][1]} in {first[name][0]!r}")
            first.setdefault(name, (s.path, kind))
    return schemas, first[id_name][1]
