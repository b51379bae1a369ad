"""Load the R-generated cross-check reference values (stdlib + pandas only).

The files under ``tests/reference/crosscheck/<case>/`` are produced by the committed
``make_reference.R`` scripts; R is never needed to run the tests.  See ``README.md`` for the
schema of every case.

Examples
--------
>>> from tests.reference.crosscheck._load import load_case, load_csv
>>> ref = load_case("hsb")
>>> m4 = ref["models"]["model4_reml"]
>>> ranef = load_csv("hsb", m4["ranef_csv"])
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

CROSSCHECK_DIR = Path(__file__).resolve().parent
DATA_DIR = CROSSCHECK_DIR.parent / "data"


def available_cases() -> list[str]:
    """Names of the cases that have a ``reference.json``.

    Returns
    -------
    list of str
        Sorted case names (folder names).
    """
    return sorted(p.parent.name for p in CROSSCHECK_DIR.glob("*/reference.json"))


def load_case(name: str) -> dict[str, Any]:
    """Read ``<name>/reference.json``.

    Parameters
    ----------
    name : str
        Case folder name, e.g. ``"hsb"``, ``"hsb_hetero"``, ``"sleepstudy"``, ``"exam"``,
        ``"mitml"``.

    Returns
    -------
    dict
        The parsed JSON (``case``, ``software``, ``models`` / case-specific blocks).  JSON
        ``null`` becomes ``None``; numbers are Python floats/ints at full double precision.

    Raises
    ------
    FileNotFoundError
        If the case does not exist (the message lists the available cases).
    """
    path = CROSSCHECK_DIR / name / "reference.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"no cross-check case {name!r} ({path}); available: {', '.join(available_cases())}"
        )
    with path.open(encoding="utf-8") as fh:
        return json.load(fh)


def load_csv(case: str, filename: str) -> pd.DataFrame:
    """Read a CSV that belongs to a case (e.g. a ``ranef_csv`` or ``fitted_csv`` entry).

    Parameters
    ----------
    case : str
        Case folder name.
    filename : str
        File name relative to the case folder, as stored in ``reference.json``.

    Returns
    -------
    pandas.DataFrame
    """
    return pd.read_csv(CROSSCHECK_DIR / case / filename)


def load_data(name: str) -> pd.DataFrame:
    """Read a data set exported by the scripts to ``tests/reference/data/<name>.csv``.

    Parameters
    ----------
    name : str
        ``"sleepstudy"``, ``"exam"``, ``"hsb_mi"`` (file stem).

    Returns
    -------
    pandas.DataFrame
    """
    return pd.read_csv(DATA_DIR / f"{name}.csv")
