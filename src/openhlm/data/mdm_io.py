"""Saving and loading an :class:`~openhlm.data.mdm.MDM` (openhlm's ``.mdmz`` file).

File format, version 1
----------------------
One ZIP archive (suffix ``.mdmz`` suggested) holding:

``manifest.json``
    UTF-8 JSON object::

        {
          "format": "openhlm-mdm",          # identifies the file type
          "version": 1,                     # format version; readers refuse other versions
          "openhlm_version": "0.1.0",       # writer (informational)
          "id_name": "id",
          "unit_ids": ["1224", ...],        # J canonical IDs, level-2 order
          "level1_variables": ["minority", ...],
          "level2_variables": ["size", ...],
          "n_level1": 7185, "n_level2": 160,
          "variable_labels": {"ses": "...", ...},
          "value_labels": {"sector": [[0.0, "public"], [1.0, "catholic"]], ...},
          "missing": "none" | "listwise" | "analysis",
          "deleted_level1_rows": 0,
          "dropped_units": ["..."],
          "sources": ["hsb1.sav", "hsb2.sav"],
          "left_out": {"passed": ["not numeric", "'yes' in 1 record of ..."]},   # optional
          "constant_level2": ["size", ...],                                      # optional
          "arrays": {"level1.npy": {"shape": [N, p], "dtype": "<f8", "sha256": "..."}, ...}
        }

``level1.npy``
    float64 array (N, p), NaN = missing, columns in ``level1_variables`` order.
``unit_index.npy``
    int64 array (N,), unit position of each level-1 row.
``level2.npy``
    float64 array (J, q), columns in ``level2_variables`` order.

``left_out`` (the variables the default choice left out, with why) and ``constant_level2`` (one
file: the variables taken as level-2 for being constant within units) were added without a
version change: a file without them reads as an MDM that left nothing out and inferred nothing.

Arrays are written with :func:`numpy.save` (``allow_pickle=False``); the SHA-256 of each member
detects damage beyond the ZIP CRC.  Loading a file of another format version, a file that is not
an openhlm MDM, or a damaged file raises :class:`~openhlm.errors.MDMError` naming the file.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd

from openhlm.errors import MDMError, OpenHLMError

if TYPE_CHECKING:
    from openhlm.data.mdm import MDM

M = TypeVar("M")

__all__ = ["DATA_SUFFIXES", "FORMAT", "VERSION", "check_mdm_path", "load_mdm", "save_mdm"]

FORMAT = "openhlm-mdm"
VERSION = 1
#: suffixes of data files (the readers'), which an MDM file must not be named with
DATA_SUFFIXES = (".csv", ".tsv", ".txt", ".dat", ".sav", ".zsav", ".por", ".dta", ".sas7bdat",
                 ".xpt", ".parquet", ".xlsx")
_ARRAYS = ("level1.npy", "unit_index.npy", "level2.npy")


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def _version() -> str:
    try:
        from openhlm._version import __version__
    except ImportError:  # pragma: no cover - source tree without _version
        return "unknown"
    return __version__


def check_mdm_path(path: str | os.PathLike[str]) -> None:
    """MDMError for an MDM file named like a data file (it would overwrite the data)."""
    suffix = Path(path).suffix.lower()
    if suffix in DATA_SUFFIXES:
        raise MDMError(
            f"will not write an MDM file as {os.fspath(path)}: {suffix} is a data file's suffix "
            "(writing would replace data); name the MDM file with .mdmz"
        )


def save_mdm(mdm: MDM, path: str | os.PathLike[str]) -> None:
    """Write ``mdm`` to ``path`` in the format described in this module.

    Raises
    ------
    MDMError
        The file cannot be written, or its name is a data file's (``.csv``, ``.sav`` ...).
    """
    check_mdm_path(path)
    arrays = {
        "level1.npy": mdm.level1.to_numpy(dtype=np.float64),
        "unit_index.npy": np.asarray(mdm.unit_index, dtype=np.int64),
        "level2.npy": mdm.level2.to_numpy(dtype=np.float64),
    }
    blobs = {name: _npy_bytes(a) for name, a in arrays.items()}
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "openhlm_version": _version(),
        "id_name": mdm.id_name,
        "unit_ids": [str(u) for u in mdm.unit_ids],
        "level1_variables": list(mdm.level1_variables),
        "level2_variables": list(mdm.level2_variables),
        "n_level1": mdm.n_level1,
        "n_level2": mdm.n_level2,
        "variable_labels": dict(mdm.variable_labels),
        "value_labels": {
            name: [[float(code), text] for code, text in labels.items()]
            for name, labels in mdm.value_labels.items()
        },
        "missing": mdm.missing,
        "deleted_level1_rows": mdm.deleted_level1_rows,
        "dropped_units": list(mdm.dropped_units),
        "sources": list(mdm.sources),
        "left_out": {name: list(reason) for name, reason in mdm.left_out.items()},
        "constant_level2": list(mdm.constant_level2),
        "arrays": {
            name: {
                "shape": list(arrays[name].shape),
                "dtype": arrays[name].dtype.str,
                "sha256": hashlib.sha256(blobs[name]).hexdigest(),
            }
            for name in _ARRAYS
        },
    }
    text = json.dumps(manifest, indent=1, ensure_ascii=False, allow_nan=False)
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)  # as for reports and residual files
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("manifest.json", text.encode("utf-8"))
            for name in _ARRAYS:
                archive.writestr(name, blobs[name])
    except OSError as exc:
        raise MDMError(f"cannot write MDM file {os.fspath(path)}: {exc.strerror or exc}") from None


def _damaged(path: Path, problem: str) -> MDMError:
    return MDMError(f"MDM file {path} is damaged ({problem}); rebuild it with 'openhlm mdm build'")


def _read_manifest(archive: zipfile.ZipFile, path: Path) -> dict[str, Any]:
    if "manifest.json" not in archive.namelist():
        raise MDMError(f"{path} is not an openhlm MDM file (no manifest.json)")
    try:
        manifest = json.loads(archive.read("manifest.json").decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _damaged(path, f"unreadable manifest: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise MDMError(f"{path} is not an openhlm MDM file (format is not {FORMAT!r})")
    version = manifest.get("version")
    if version != VERSION:
        raise MDMError(
            f"MDM file {path} has format version {version!r} but this openhlm reads version "
            f"{VERSION}; rebuild the MDM with this openhlm (openhlm mdm build) or upgrade openhlm"
        )
    return manifest


def _read_array(
    archive: zipfile.ZipFile, path: Path, name: str, spec: dict[str, Any]
) -> np.ndarray:
    blob = archive.read(name)
    if hashlib.sha256(blob).hexdigest() != spec["sha256"]:
        raise _damaged(path, f"checksum of {name} does not match")
    array = np.load(io.BytesIO(blob), allow_pickle=False)
    if list(array.shape) != list(spec["shape"]) or array.dtype.str != spec["dtype"]:
        raise _damaged(path, f"{name} has shape {array.shape}, expected {tuple(spec['shape'])}")
    return array


def load_mdm(path: str | os.PathLike[str], factory: Callable[..., M]) -> M:
    """Read an MDM written by :func:`save_mdm`: ``factory(**fields)`` (the MDM class; this
    module does not import it, so that :mod:`openhlm.data.mdm` can import this one).
    :meth:`MDM.load <openhlm.data.mdm.MDM.load>` is the way in.

    Raises
    ------
    MDMError
        No such file, not an openhlm MDM, another format version, or a damaged file.
    """
    p = Path(path)
    if not p.is_file():
        raise MDMError(f"MDM file {p} does not exist")
    if not zipfile.is_zipfile(p):
        if p.suffix.lower() in DATA_SUFFIXES:
            raise MDMError(
                f"{p} is a data file, not an openhlm MDM file: give it as data (--level1 FILE "
                "--id ID, or [data] level1 in a model file), or build an MDM from it with "
                "'openhlm mdm build'"
            )
        raise MDMError(
            f"{p} is not an openhlm MDM file (not a ZIP archive); build one with "
            "'openhlm mdm build'"
        )
    try:
        with zipfile.ZipFile(p) as archive:
            manifest = _read_manifest(archive, p)
            arrays = {
                name: _read_array(archive, p, name, manifest["arrays"][name]) for name in _ARRAYS
            }
        return factory(
            id_name=manifest["id_name"],
            unit_ids=np.array(manifest["unit_ids"], dtype=object),
            level1=pd.DataFrame(arrays["level1.npy"], columns=manifest["level1_variables"]),
            unit_index=arrays["unit_index.npy"],
            level2=pd.DataFrame(arrays["level2.npy"], columns=manifest["level2_variables"]),
            variable_labels=manifest["variable_labels"],
            value_labels={
                name: {float(code): str(text) for code, text in pairs}
                for name, pairs in manifest["value_labels"].items()
            },
            missing=manifest["missing"],
            deleted_level1_rows=manifest["deleted_level1_rows"],
            dropped_units=tuple(manifest["dropped_units"]),
            sources=tuple(manifest["sources"]),
            left_out=manifest.get("left_out", {}),
            constant_level2=tuple(manifest.get("constant_level2", ())),
        )
    except OpenHLMError as exc:
        if str(p) in str(exc):
            raise
        raise _damaged(p, str(exc)) from None
    except (
        zipfile.BadZipFile,
        zlib.error,
        KeyError,
        ValueError,
        TypeError,
        OSError,
        EOFError,
    ) as exc:
        raise _damaged(p, f"{type(exc).__name__}: {exc}") from None
