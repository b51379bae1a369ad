"""Delimited text files: ``.csv``, ``.tsv``, ``.txt``, ``.dat``.

``.csv`` defaults to a comma (a semicolon when the first line holds semicolons but no comma: the
"CSV" that spreadsheets write in locales with a decimal comma) and ``.tsv`` to a tab.  For ``.txt``
and ``.dat`` the delimiter is sniffed from the first lines unless given: a tab if any line holds
one, else a comma if every non-empty line holds one, else a semicolon if every non-empty line
holds one, else runs of white space (HLM's free-format ASCII input).  In semicolon-delimited files
a text column whose every value is a number written with a decimal comma (``3,25``) is read as
numbers.
The first line holds the variable names unless ``header=False`` (then ``names=`` may give them;
the default names are ``V1``, ``V2``, ...).  Empty fields, ``NA`` and a lone ``.`` are missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from openhlm.data.readers._common import (
    MISSING_TEXT,
    describe_exception,
    fail,
    finish,
    reject_options,
    warn_duplicate_names,
)
from openhlm.data.table import Table

__all__ = ["read_delimited", "sniff_delimiter"]

OPTIONS = ("delimiter", "header", "names", "encoding")
_DEFAULT = {".csv": ",", ".tsv": "\t"}
_WHITESPACE = r"\s+"


def sniff_delimiter(sample: str) -> str:
    """Guess the delimiter of a text sample: tab, comma or white space (``r"\\s+"``)."""
    lines = [line for line in sample.splitlines()[:20] if line.strip()]
    if any("\t" in line for line in lines):
        return "\t"
    if lines and all("," in line for line in lines):
        return ","
    if lines and all(";" in line for line in lines):
        return ";"
    return _WHITESPACE


def _first_line(sample: str) -> str:
    return next((line for line in sample.splitlines() if line.strip()), "")


_DECIMAL_COMMA = r"^[+-]?(?:\d+,\d*|,\d+|\d+)(?:[eE][+-]?\d+)?$"


def _decimal_commas(data: pd.DataFrame) -> pd.DataFrame:
    """Text columns of numbers written with a decimal comma (``-0,25``) as float columns."""
    for name in data.columns:
        column = data[name]
        if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            continue
        text = column.astype("string").str.strip()
        text = text.mask(text.isin(MISSING_TEXT))
        present = text.notna()
        if not present.any() or not text[present].str.contains(",", regex=False).any():
            continue
        if not text[present].str.fullmatch(_DECIMAL_COMMA).all():
            continue
        data[name] = pd.to_numeric(text.where(present).str.replace(",", ".", regex=False))
    return data


def _header_names(sample: str, delimiter: str) -> list[str] | None:
    """The names on the first line of ``sample`` (None when they cannot be split simply)."""
    import csv
    import io

    line = _first_line(sample.lstrip("\ufeff").lstrip("\xef\xbb\xbf"))
    if delimiter == _WHITESPACE:
        return line.split()
    try:
        return next(csv.reader(io.StringIO(line), delimiter=delimiter))
    except (csv.Error, StopIteration, TypeError):
        return None


def _read_text_sample(path: Path, size: int = 65536) -> bytes:
    with path.open("rb") as handle:
        return handle.read(size)


def read_delimited(path: Path, **options: Any) -> Table:
    """Read a delimited text file into a :class:`~openhlm.data.table.Table`.

    Parameters
    ----------
    path : Path
        The file.
    delimiter : str, optional
        Field separator (``","``, ``"\\t"``, ``";"``, ``" "`` for white space, ...).
    header : bool, default True
        Whether the first line holds the variable names.
    names : sequence of str, optional
        Variable names when ``header=False``.
    encoding : str, optional
        Text encoding; default UTF-8 with a Latin-1 fallback.

    Raises
    ------
    DataError
        The file is binary, cannot be parsed, or holds no rows.
    """
    reject_options(path, options, OPTIONS)
    raw = _read_text_sample(path)
    if b"\x00" in raw:
        raise fail(path, "the file is not a text file (it contains binary data)")
    encoding = options.get("encoding")
    delimiter = options.get("delimiter")
    sample = raw.decode(encoding or "latin-1", errors="replace")
    if delimiter is None:
        delimiter = _DEFAULT.get(path.suffix.lower())
        header_line = _first_line(sample)
        if delimiter == "," and ";" in header_line and "," not in header_line:
            delimiter = ";"
    if delimiter is None:
        delimiter = sniff_delimiter(sample)
    elif delimiter in (" ", "whitespace"):
        delimiter = _WHITESPACE
    header = bool(options.get("header", True))
    names: Sequence[str] | None = options.get("names")
    kwargs: dict[str, Any] = {
        "sep": delimiter,
        "header": 0 if header else None,
        "na_values": ["."],
        "skipinitialspace": delimiter != _WHITESPACE,
    }
    if names is not None:
        kwargs["names"] = list(names)
        if header:
            kwargs["header"] = 0
    encodings = [encoding] if encoding else ["utf-8-sig", "latin-1"]
    data: pd.DataFrame | None = None
    for enc in encodings:
        try:
            data = pd.read_csv(path, encoding=enc, **kwargs)
            break
        except UnicodeDecodeError:
            continue
        except pd.errors.EmptyDataError:
            raise fail(path, "the file holds no data") from None
        except (pd.errors.ParserError, ValueError, OSError) as exc:
            raise fail(path, describe_exception(exc)) from None
    if data is None:
        raise fail(path, f"the text is not in encoding {encodings[0]}") from None
    if not header and names is None:
        data.columns = [f"V{i + 1}" for i in range(data.shape[1])]
    data.columns = [str(c).strip() for c in data.columns]
    if header and names is None:
        warn_duplicate_names(path, data.columns, _header_names(sample, delimiter))
    if delimiter == ";":
        data = _decimal_commas(data)
    return Table(data=finish(path, data), source=str(path))
