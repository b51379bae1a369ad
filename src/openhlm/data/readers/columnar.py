"""Parquet (pyarrow) and Excel ``.xlsx`` (openpyxl) files.

Both engines are optional dependencies (``pip install openhlm[formats]``); a missing engine is
reported as a :class:`~openhlm.errors.DataError` saying what to install.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pandas as pd

from openhlm.data.readers._common import (
    describe_exception,
    fail,
    finish,
    reject_options,
    warn_duplicate_names,
)
from openhlm.data.table import Table

__all__ = ["read_excel", "read_parquet"]


def _require(path: Path, module: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise fail(
            path, f"reading {path.suffix} files needs {module}: pip install openhlm[formats]"
        )


def read_parquet(path: Path, **options: Any) -> Table:
    """Read a Parquet file with pyarrow.

    Raises
    ------
    DataError
        pyarrow is missing or the file is not a valid Parquet file.
    """
    reject_options(path, options, ())
    _require(path, "pyarrow")
    import pyarrow  # present: checked by _require above

    try:
        data = pd.read_parquet(path, engine="pyarrow")
    except (pyarrow.ArrowException, OSError, ValueError) as exc:
        raise fail(path, f"not a valid Parquet file ({describe_exception(exc)})") from None
    return Table(data=finish(path, data), source=str(path))


def read_excel(path: Path, **options: Any) -> Table:
    """Read one sheet of an ``.xlsx`` workbook (``sheet=`` name or 0-based index; default first).

    Raises
    ------
    DataError
        openpyxl is missing, the sheet does not exist, or the file is not a valid workbook.
    """
    reject_options(path, options, ("sheet",))
    _require(path, "openpyxl")
    sheet = options.get("sheet", 0)
    try:
        data = pd.read_excel(path, sheet_name=sheet, engine="openpyxl")
    except ValueError as exc:
        if "not found" in str(exc).lower():
            raise fail(path, f"the workbook has no sheet {sheet!r}") from None
        raise fail(path, f"not a valid .xlsx file ({describe_exception(exc)})") from None
    # openpyxl reports a damaged workbook through many unrelated types (zipfile.BadZipFile,
    # KeyError for a missing part, xml ParseError, TypeError, OSError ...): each one means the
    # file is not a valid .xlsx, and the user must get a one-line DataError, not a traceback
    except Exception as exc:  # noqa: BLE001 - any openpyxl failure means "not a valid .xlsx"
        raise fail(path, f"not a valid .xlsx file ({describe_exception(exc)})") from None
    data = data.dropna(how="all")
    if data.shape[1]:
        data.columns = [str(c).strip() for c in data.columns]
        warn_duplicate_names(path, data.columns)
    return Table(data=finish(path, data), source=str(path))
