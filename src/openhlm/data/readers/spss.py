"""SPSS files: ``.sav``, ``.zsav`` (compressed) and ``.por`` (portable), read with pyreadstat.

User-missing codes (discrete values and ranges) are set to NaN: the file is read with
``user_missing=True`` so that the codes are visible in ``meta.missing_ranges`` and applied here
explicitly, for numeric and string variables alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyreadstat

from openhlm.data.readers._common import (
    READSTAT_ERRORS,
    apply_missing_ranges,
    labelled_table,
    library_failure,
    reject_options,
)
from openhlm.data.table import Table

__all__ = ["read_spss"]

OPTIONS = ("encoding",)


def read_spss(path: Path, **options: Any) -> Table:
    """Read an SPSS ``.sav``/``.zsav``/``.por`` file; user-missing codes become NaN.

    Raises
    ------
    DataError
        The file is not a readable SPSS file of that kind.
    """
    reject_options(path, options, OPTIONS)
    kind = path.suffix.lower()
    try:
        if kind == ".por":
            data, meta = pyreadstat.read_por(str(path))
        else:
            data, meta = pyreadstat.read_sav(
                str(path), user_missing=True, encoding=options.get("encoding")
            )
    except READSTAT_ERRORS as exc:
        raise library_failure(path, f"SPSS {kind}", exc) from None
    data = apply_missing_ranges(data, getattr(meta, "missing_ranges", None))
    return labelled_table(path, data, meta)
