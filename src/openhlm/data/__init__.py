"""Data layer: read files (:func:`read_table`), build and store the multilevel data matrix (MDM)."""

from __future__ import annotations

from openhlm.data.build import build_mdm
from openhlm.data.mdm import MDM
from openhlm.data.mdm3 import MDM3, build_mdm3
from openhlm.data.readers import read_table
from openhlm.data.table import Table

__all__ = ["MDM", "MDM3", "Table", "build_mdm", "build_mdm3", "read_table"]
