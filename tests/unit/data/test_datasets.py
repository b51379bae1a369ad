"""The bundled example data."""

from __future__ import annotations

from pathlib import Path

import pytest

from openhlm import datasets
from openhlm.errors import DataError


def test_paths_and_examples() -> None:
    file = datasets.path("hsb1.sav")
    assert file.is_file() and file.name == "hsb1.sav"
    assert set(datasets.files()) >= {"hsb1.sav", "hsb2.sav", "hsb1.csv", "hsb2.sas7bdat"}
    assert "hsb" in datasets.EXAMPLES
    mdm = datasets.hsb()
    assert (mdm.n_level1, mdm.n_level2, mdm.id_name) == (7185, 160, "id")


def test_unknown_names() -> None:
    with pytest.raises(
        DataError, match=r"no bundled example file 'hsb3\.sav'; bundled files: hsb1\.csv"
    ):
        datasets.path("hsb3.sav")
    with pytest.raises(DataError, match=r"no bundled example file '\.\./errors\.py'"):
        datasets.path("../errors.py")
    with pytest.raises(DataError, match=r"no bundled example 'nels'; examples: hsb"):
        datasets.load("nels")


def test_resolve_prefers_local_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert datasets.resolve_path("hsb1.sav") == datasets.path("hsb1.sav")
    (tmp_path / "hsb1.sav").write_bytes(b"local")
    assert datasets.resolve_path("hsb1.sav") == Path("hsb1.sav")
    assert datasets.resolve_path("other.csv") == Path("other.csv")
