"""Canonical text for unit identifiers.

The same school may be ``1224`` in a Stata file, ``"1224"`` in an SPSS string variable and
``1224.0`` after a spreadsheet round trip.  Every ID is therefore turned into canonical text
once, when the MDM is built:

* numbers: integral values print without a decimal part (``1224.0`` -> ``"1224"``), others in the
  shortest round-tripping form (``12.5`` -> ``"12.5"``);
* strings: surrounding white space removed (``" 1224 "`` -> ``"1224"``); case and leading zeros
  are kept;
* NaN, None and empty strings are missing (``None``).

Two files are linked on the canonical text.  If some level-1 IDs find no level-2 record that
way, the files are linked on *match keys* instead, in which any text that reads as a number is
replaced by that number's canonical text (``"0012"`` and ``12`` both become ``"12"``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["canonical_id", "canonical_ids", "match_key"]


def _number_text(value: float) -> str | None:
    if not math.isfinite(value):
        return None
    if value == math.floor(value) and abs(value) < 2**63:
        return str(int(value))
    return repr(float(value))


def canonical_id(value: Any) -> str | None:
    """Canonical text of one ID value (``None`` when missing)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_)):
        return str(int(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return _number_text(float(value))
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    text = str(value).strip()
    return text or None


def match_key(text: str) -> str:
    """Key used to link IDs across files whose types differ: numeric text in canonical form."""
    try:
        number = float(text)
    except ValueError:
        return text
    key = _number_text(number)
    return text if key is None else key


def _integral_texts(uniques: Any) -> np.ndarray | None:
    """Canonical texts of distinct integer (or integral float) IDs, vectorised; None for any
    other kind of ID (those go through :func:`canonical_id` one distinct value at a time)."""
    arr = np.asarray(uniques)
    if arr.dtype.kind in "iu":     # Python's decimal text of each integer (as astype(str))
        return np.array(list(map(str, arr.tolist())), dtype=object)
    if arr.dtype.kind == "f" and arr.size and np.all(np.isfinite(arr)) \
            and np.all(np.abs(arr) < 2**53) and np.all(arr == np.floor(arr)):
        texts = arr.astype(np.int64).astype(str)
        if len(set(texts)) == len(texts):       # 0.0 and -0.0 are one ID
            return texts.astype(object)
    return None


def canonical_ids(values: pd.Series | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Factorize ID values into canonical text.

    Parameters
    ----------
    values : Series or array
        The ID column, any dtype.

    Returns
    -------
    codes : ndarray of int64
        Index into ``uniques`` per value, ``-1`` for missing IDs.
    uniques : ndarray of object (str)
        Distinct canonical IDs in order of first appearance.
    """
    raw_codes, raw_uniques = pd.factorize(pd.Series(values), use_na_sentinel=True)
    fast = _integral_texts(raw_uniques)
    if fast is not None:       # distinct integral numbers have distinct canonical texts
        return np.asarray(raw_codes, dtype=np.int64), fast
    texts = [canonical_id(u) for u in np.asarray(raw_uniques, dtype=object)]
    # Distinct raw values may share canonical text (" 12" and "12"); re-factorize the texts.
    text_codes, text_uniques = pd.factorize(pd.Series(texts, dtype=object), use_na_sentinel=True)
    lookup = np.append(text_codes, -1).astype(np.int64)  # raw code -1 -> -1
    codes = lookup[np.where(raw_codes < 0, len(text_codes), raw_codes)]
    uniques = np.asarray([str(t) for t in text_uniques], dtype=object)
    return codes.astype(np.int64), uniques
