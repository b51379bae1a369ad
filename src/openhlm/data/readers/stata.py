"""Stata ``.dta`` files of every version (pyreadstat, with pandas as a fallback for old formats).

Stata missing values (``.`` and ``.a`` to ``.z``) become NaN.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pyreadstat

from openhlm.data.readers._common import (
    clean_value_labels,
    clean_variable_labels,
    finish,
    labelled_table,
    library_failure,
    reject_options,
)
from openhlm.data.table import Table

__all__ = ["read_stata"]

OPTIONS = ("encoding",)


def _read_with_pandas(path: Path) -> Table:
    with (
        warnings.catch_warnings(),
        pd.io.stata.StataReader(path, convert_categoricals=False) as reader,
    ):
        warnings.simplefilter("ignore")
        data = reader.read()
        variable_labels = reader.variable_labels()
        value_label_sets = reader.value_labels()
        # map variable -> label set name through the file's lbllist
        lbllist = getattr(reader, "_lbllist", [])
        varlist = getattr(reader, "_varlist", list(data.columns))
    value_labels = {
        var: value_label_sets[name]
        for var, name in zip(varlist, lbllist, strict=False)
        if name and name in value_label_sets
    }
    data = finish(path, data)
    columns = list(data.columns)
    return Table(
        data=data,
        variable_labels=clean_variable_labels(variable_labels, columns),
        value_labels=clean_value_labels(value_labels, columns),
        source=str(path),
    )


def read_stata(path: Path, **options: Any) -> Table:
    """Read a Stata ``.dta`` file (versions 104 to 119).

    Raises
    ------
    DataError
        The file is not a readable Stata file.
    """
    reject_options(path, options, OPTIONS)
    try:
        data, meta = pyreadstat.read_dta(str(path), encoding=options.get("encoding"))
    except Exception as first:  # noqa: BLE001 - retried with pandas, then reported
        try:
            return _read_with_pandas(path)
        except Exception:  # noqa: BLE001
            raise library_failure(path, "Stata .dta", first) from None
    return labelled_table(path, data, meta)
