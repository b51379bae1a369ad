"""Readers for the data files HLM users bring: one function per format, dispatched by suffix.

=====================================  =========================================================
suffix                                 reader
=====================================  =========================================================
``.csv`` ``.tsv`` ``.txt`` ``.dat``    :func:`~openhlm.data.readers.delimited.read_delimited`
``.sav`` ``.zsav`` ``.por``            :func:`~openhlm.data.readers.spss.read_spss` (pyreadstat)
``.dta``                               :func:`~openhlm.data.readers.stata.read_stata`
``.sas7bdat`` ``.xpt``                 :func:`~openhlm.data.readers.sas.read_sas` (pyreadstat)
``.parquet``                           :func:`~openhlm.data.readers.columnar.read_parquet`
``.xlsx``                              :func:`~openhlm.data.readers.columnar.read_excel`
=====================================  =========================================================
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from openhlm.data.readers._common import MISSING_TEXT, check_file, fail
from openhlm.data.readers.columnar import read_excel, read_parquet
from openhlm.data.readers.delimited import read_delimited
from openhlm.data.readers.sas import read_sas
from openhlm.data.readers.spss import read_spss
from openhlm.data.readers.stata import read_stata
from openhlm.data.table import Table

__all__ = ["MISSING_TEXT", "READERS", "read_table", "supported_suffixes"]

READERS: dict[str, Callable[..., Table]] = {
    ".csv": read_delimited,
    ".tsv": read_delimited,
    ".txt": read_delimited,
    ".dat": read_delimited,
    ".sav": read_spss,
    ".zsav": read_spss,
    ".por": read_spss,
    ".dta": read_stata,
    ".sas7bdat": read_sas,
    ".xpt": read_sas,
    ".parquet": read_parquet,
    ".xlsx": read_excel,
}


def supported_suffixes() -> tuple[str, ...]:
    """The file suffixes :func:`read_table` understands."""
    return tuple(READERS)


def read_table(path: str | os.PathLike[str], **options: Any) -> Table:
    """Read a data file into a :class:`Table`, choosing the reader by the file's suffix.

    Parameters
    ----------
    path : str or path-like
        The data file.  Suffixes: ``.csv .tsv .txt .dat .sav .zsav .por .dta .sas7bdat .xpt
        .parquet .xlsx`` (case-insensitive).
    **options
        Reader options: ``delimiter``, ``header``, ``names``, ``encoding`` (text files);
        ``encoding`` (SPSS, Stata, SAS); ``catalog`` (``.sas7bdat``); ``sheet`` (``.xlsx``).

    Returns
    -------
    Table
        Values (missing codes as NaN), variable labels, value labels and the source path.

    Raises
    ------
    DataError
        Unknown suffix, missing/empty/corrupt file, or a file that is not what its suffix says.
        The message names the file.
    """
    p = Path(path)
    reader = READERS.get(p.suffix.lower())
    if reader is None:
        known = " ".join(READERS)
        shown = p.suffix or "(none)"
        raise fail(p, f"unknown file type {shown!r}; use one of: {known}")
    p = check_file(p)
    return reader(p, **options)
