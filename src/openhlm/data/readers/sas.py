"""SAS files: ``.sas7bdat`` (optionally with a ``catalog=`` ``.sas7bcat`` for value labels) and
SAS transport ``.xpt`` (XPORT v5/v8), read with pyreadstat.  SAS special missing values become NaN.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyreadstat

from openhlm.data.readers._common import (
    READSTAT_ERRORS,
    fail,
    labelled_table,
    library_failure,
    reject_options,
)
from openhlm.data.table import Table

__all__ = ["read_sas"]

OPTIONS = ("catalog", "encoding")


def _check_xport(path: Path) -> None:
    with path.open("rb") as handle:
        head = handle.read(80)
    if not head.startswith(b"HEADER RECORD*******LIB"):
        raise fail(path, "not a valid SAS .xpt file (no SAS transport library header)")
    # XPORT files consist of 80-byte records and carry no row count: a size that is not a
    # multiple of 80 is the only sign of truncation.
    if path.stat().st_size % 80:
        raise fail(path, "the SAS .xpt file is truncated (size is not a multiple of 80 bytes)")


def read_sas(path: Path, **options: Any) -> Table:
    """Read a SAS ``.sas7bdat`` or ``.xpt`` file.

    Raises
    ------
    DataError
        The file is not a readable SAS file of that kind.
    """
    kind = path.suffix.lower()
    reject_options(path, options, OPTIONS if kind == ".sas7bdat" else ("encoding",))
    if kind == ".xpt":
        _check_xport(path)
    try:
        if kind == ".xpt":
            data, meta = pyreadstat.read_xport(str(path), encoding=options.get("encoding"))
        else:
            catalog = options.get("catalog")
            data, meta = pyreadstat.read_sas7bdat(
                str(path),
                catalog_file=str(catalog) if catalog else None,
                encoding=options.get("encoding"),
            )
    except READSTAT_ERRORS as exc:
        raise library_failure(path, f"SAS {kind}", exc) from None
    return labelled_table(path, data, meta)
