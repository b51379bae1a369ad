"""``openhlm.build_mdm``: a two-level MDM, or a three-level one when ``level3=`` or a two-name
``id=`` is given (:func:`openhlm.data.mdm3.build_mdm3`)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Literal

from openhlm.data.mdm import MDM
from openhlm.data.mdm import build_mdm as build_mdm2
from openhlm.data.mdm3 import FORMAT3, MDM3, build_mdm3

__all__ = ["build_mdm", "load_any_mdm"]


def build_mdm(
    level1: Any,
    level2: Any = None,
    level3: Any = None,
    *,
    id: str | Sequence[str],
    level1_variables: Sequence[str] | None = None,
    level2_variables: Sequence[str] | None = None,
    level3_variables: Sequence[str] | None = None,
    missing: Literal["listwise", "analysis"] = "analysis",
    drop_incomplete_units: bool = False,
) -> MDM | MDM3:
    """Build the MDM of a two-level model (``id="ID"``) or of a three-level model
    (``id=("CHILDID", "SCHOOLID")``, the IDs from level 2 upward; with ``level2=`` and
    ``level3=`` files, or one file holding all three levels).

    Rules: :mod:`openhlm.data.mdm_build` (two levels), :mod:`openhlm.data.mdm3` (three).
    """
    if level3 is not None or not isinstance(id, str):
        return build_mdm3(level1, level2, level3, id=id, level1_variables=level1_variables,
                          level2_variables=level2_variables, level3_variables=level3_variables,
                          missing=missing, drop_incomplete_units=drop_incomplete_units)
    if level3_variables is not None:
        raise ValueError("level3_variables needs a three-level MDM: id=(level-2 ID, level-3 ID)")
    return build_mdm2(level1, level2, id=id, level1_variables=level1_variables,
                      level2_variables=level2_variables, missing=missing,
                      drop_incomplete_units=drop_incomplete_units)


def load_any_mdm(path: str | os.PathLike[str]) -> MDM | MDM3:
    """Read a saved two- or three-level MDM (the manifest's ``format`` says which)."""
    import json
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            manifest = json.loads(archive.read("manifest.json").decode("utf-8"))
        three = isinstance(manifest, dict) and manifest.get("format") == FORMAT3
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        three = False  # MDM.load gives the error
    return MDM3.load(path) if three else MDM.load(path)
