"""Where the level-1 rows are: one file, a glob, a folder or a list of files; the level-2 table.

Also the optional dependencies of the ``scale`` extra (imported lazily, with a clear error),
and progress lines on standard error.
"""

from __future__ import annotations

import glob
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from openhlm.errors import DataError, SpecError

__all__ = ["Files", "Progress", "read_level2", "require", "resolve_files"]

_PARQUET = (".parquet", ".pq", ".parq")
_CSV = (".csv", ".tsv", ".txt")


def _missing(package: str) -> SpecError:
    return SpecError(f"this engine needs the optional package '{package}': "
                     'pip install "openhlm[scale]"')


def require(module: str) -> Any:
    """Import an optional dependency of ``openhlm[scale]`` or say how to install it."""
    try:
        if module == "duckdb":
            import duckdb

            return duckdb
        if module == "dask":
            import dask

            return dask
        if module == "dask.dataframe":
            import dask.dataframe

            return dask.dataframe
        if module == "distributed":
            import distributed

            return distributed
        if module == "pyarrow":
            import pyarrow

            return pyarrow
        if module == "pyarrow.parquet":
            import pyarrow.parquet

            return pyarrow.parquet
    except ImportError:
        raise _missing(module.split(".")[0]) from None
    raise ValueError(f"require: {module!r} is not a dependency of openhlm[scale]")


@dataclass(frozen=True)
class Files:
    """The level-1 files of an out-of-core fit and their format (``"parquet"`` or ``"csv"``)."""

    paths: tuple[str, ...]
    format: str


def _format(path: str) -> str | None:
    low = path.lower()
    if low.endswith(_PARQUET):
        return "parquet"
    if low.endswith(_CSV):
        return "csv"
    return None


def resolve_files(data: Any) -> Files:
    """One file, a glob (``"scores/*.parquet"``), a folder, or a list of them -> :class:`Files`.

    Raises
    ------
    SpecError
        Nothing matches, a format other than Parquet/CSV, or Parquet mixed with CSV.
    DataError
        A named file does not exist.
    """
    items = list(data) if isinstance(data, (list, tuple)) else [data]
    paths: list[str] = []
    for item in items:
        if not isinstance(item, (str, os.PathLike)):
            raise SpecError(f"out-of-core data must be file paths, a glob or a folder, not "
                            f"{type(item).__name__}")
        text = os.fspath(item)
        if any(c in text for c in "*?["):
            found = sorted(glob.glob(text, recursive=True))
            if not found:
                raise SpecError(f"no file matches {text!r}")
            paths.extend(found)
        elif os.path.isdir(text):
            found = sorted(str(p) for p in Path(text).rglob("*")
                           if p.is_file() and _format(str(p)) is not None)
            if not found:
                raise SpecError(f"folder {text!r} holds no Parquet or CSV file")
            paths.extend(found)
        elif not os.path.exists(text):
            raise DataError(f"cannot read {text!r}: no such file")
        else:
            paths.append(text)
    formats = {_format(p) for p in paths}
    if None in formats:
        bad = next(p for p in paths if _format(p) is None)
        raise SpecError(f"out-of-core fits read Parquet (.parquet) or CSV (.csv) files, not "
                        f"{bad!r}; convert it or fit in memory (engine='memory')")
    if len(formats) > 1:
        raise SpecError("the level-1 files mix Parquet and CSV; use one format")
    return Files(paths=tuple(paths), format=formats.pop())  # type: ignore[arg-type]


def read_level2(level2: Any) -> pd.DataFrame | None:
    """The level-2 table in memory (one row per unit): a DataFrame or a file."""
    if level2 is None or isinstance(level2, pd.DataFrame):
        return level2
    if isinstance(level2, (str, os.PathLike)):
        text = os.fspath(level2)
        if not os.path.exists(text):
            raise DataError(f"cannot read the level-2 file {text!r}: no such file")
        try:
            if _format(text) == "parquet":
                return pd.read_parquet(text)
            from openhlm.data.readers import read_table

            return read_table(text).data
        except (OSError, ValueError) as exc:
            raise DataError(f"cannot read the level-2 file {text!r}: {exc}") from None
    raise SpecError(f"level2 must be a DataFrame or a file path, not {type(level2).__name__}")


@dataclass
class Progress:
    """Progress lines ("rows read, elapsed") on standard error; silent when ``quiet``."""

    engine: str
    quiet: bool = False
    start: float = field(default_factory=time.perf_counter)
    rows: int = 0

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def update(self, rows: int, what: str = "") -> None:
        self.rows += int(rows)
        if not self.quiet:
            extra = f" ({what})" if what else ""
            print(f"openhlm [{self.engine}]: {self.rows:,} rows read, {self.elapsed():.1f} s"
                  f"{extra}", file=sys.stderr, flush=True)

    def note(self, text: str) -> None:
        if not self.quiet:
            print(f"openhlm [{self.engine}]: {text}", file=sys.stderr, flush=True)
