"""Data layer: read files (:func:`read_table`), build and store the multilevel data matrix (MDM)."""

from __future__ import annotations

from openhlm.data.mdm import MDM, build_mdm
from openhlm.data.readers import read_table
from openhlm.data.table import Table

__all__ = ["MDM", "Table", "build_mdm", "read_table"]
