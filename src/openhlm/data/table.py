"""The :class:`Table`: one rectangular data file with its labels.

A ``Table`` is what every reader in :mod:`openhlm.data.readers` returns and what
:func:`openhlm.data.build_mdm` consumes.  It keeps the column names exactly as spelled in the
file, the variable labels and the value labels (SPSS/Stata/SAS), and the file it came from.
Missing values of every kind (SPSS user-missing codes, Stata ``.a``-``.z``, SAS special missing)
are already ``NaN`` in :attr:`Table.data`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

__all__ = ["Table"]


@dataclass(frozen=True, eq=False)
class Table:
    """A data file read into memory.

    Parameters
    ----------
    data : pandas.DataFrame
        The values, one column per variable, column names as in the file.
    variable_labels : dict of str to str
        Variable label per column (only columns that have a label).
    value_labels : dict of str to dict
        Value label sets per column: ``{column: {code: label}}``.
    source : str
        Path of the file the table was read from (``"<DataFrame>"`` for in-memory data).
    """

    data: pd.DataFrame
    variable_labels: dict[str, str] = field(default_factory=dict)
    value_labels: dict[str, dict[float | str, str]] = field(default_factory=dict)
    source: str = "<DataFrame>"

    @property
    def columns(self) -> tuple[str, ...]:
        """Column names as spelled in the file."""
        return tuple(str(c) for c in self.data.columns)

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        n_rows, n_cols = self.data.shape
        return f"Table(source={self.source!r}, rows={n_rows}, columns={n_cols})"
