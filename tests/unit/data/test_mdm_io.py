"""MDM save/load: exact round trip and refusal of foreign, old/new-version and damaged files."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from openhlm.data import MDM, build_mdm
from openhlm.datasets import path
from openhlm.errors import DataWarning, MDMError


@pytest.fixture(scope="module")
def awkward(hsb1_csv: pd.DataFrame, hsb2_csv: pd.DataFrame) -> MDM:
    """An MDM with NaNs kept, a dropped unit, labels and odd IDs."""
    level1 = hsb1_csv.copy()
    level1.loc[[0, 7], "ses"] = np.nan
    level2 = pd.concat([hsb2_csv, hsb2_csv.iloc[:1].assign(id=77777)], ignore_index=True)
    with pytest.warns(DataWarning):
        mdm = build_mdm(level1, level2, id="id")
    return mdm


def _roundtrip(mdm: MDM, tmp_path: Path) -> MDM:
    file = tmp_path / "x.mdmz"
    mdm.save(file)
    return MDM.load(file)


def test_roundtrip_exact_hsb(tmp_path: Path) -> None:
    mdm = build_mdm(path("hsb1.sav"), path("hsb2.sav"), id="id")
    loaded = _roundtrip(mdm, tmp_path)
    assert loaded.equals(mdm)
    assert loaded.value_labels == {
        "minority": {0.0: "no", 1.0: "yes"},
        "female": {0.0: "male", 1.0: "female"},
        "sector": {0.0: "public", 1.0: "catholic"},
        "himinty": {0.0: "no", 1.0: "yes"},
    }
    np.testing.assert_array_equal(loaded.level1.to_numpy(), mdm.level1.to_numpy())  # bitwise


def test_roundtrip_exact_with_missing_and_drops(awkward: MDM, tmp_path: Path) -> None:
    loaded = _roundtrip(awkward, tmp_path)
    assert loaded.equals(awkward)
    assert loaded.missing == "analysis" and loaded.dropped_units == ("77777",)
    assert int(loaded.level1["ses"].isna().sum()) == 2
    subset, deleted = loaded.subset_complete(["ses"])
    reloaded = _roundtrip(subset, tmp_path)
    assert reloaded.equals(subset) and reloaded.deleted_level1_rows == 2 == deleted


def test_roundtrip_no_level2_variables(tmp_path: Path) -> None:
    mdm = build_mdm(path("hsb1.csv"), path("hsb2.csv"), id="id", level2_variables=[])
    loaded = _roundtrip(mdm, tmp_path)
    assert loaded.equals(mdm) and loaded.level2.shape == (160, 0)


def _rewrite(source: Path, target: Path, change: dict[str, bytes | None]) -> None:
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w") as zout:
        for name in zin.namelist():
            data = change.get(name, zin.read(name))
            if data is not None:
                zout.writestr(name, data)


@pytest.fixture()
def saved(tmp_path: Path) -> Path:
    file = tmp_path / "hsb.mdmz"
    build_mdm(path("hsb1.csv"), path("hsb2.csv"), id="id").save(file)
    return file


def _manifest(file: Path) -> dict:
    with zipfile.ZipFile(file) as archive:
        return json.loads(archive.read("manifest.json"))


def test_manifest_documents_format(saved: Path) -> None:
    manifest = _manifest(saved)
    assert manifest["format"] == "openhlm-mdm" and manifest["version"] == 1
    assert manifest["n_level1"] == 7185 and manifest["unit_ids"][:2] == ["1224", "1288"]


def test_other_version_is_refused(saved: Path, tmp_path: Path) -> None:
    manifest = _manifest(saved) | {"version": 2}
    bad = tmp_path / "v2.mdmz"
    _rewrite(saved, bad, {"manifest.json": json.dumps(manifest).encode()})
    with pytest.raises(
        MDMError, match=r"v2\.mdmz has format version 2 but this openhlm reads version 1"
    ):
        MDM.load(bad)


@pytest.mark.parametrize("kind", ["csv", "zip-without-manifest", "other-format"])
def test_not_an_mdm(saved: Path, tmp_path: Path, kind: str) -> None:
    bad = tmp_path / f"{kind}.mdmz"
    if kind == "csv":
        bad.write_bytes(path("hsb2.csv").read_bytes())
    elif kind == "zip-without-manifest":
        _rewrite(saved, bad, {"manifest.json": None})
    else:
        manifest = _manifest(saved) | {"format": "something-else"}
        _rewrite(saved, bad, {"manifest.json": json.dumps(manifest).encode()})
    with pytest.raises(MDMError, match=rf"{kind}\.mdmz is not an openhlm MDM file"):
        MDM.load(bad)


def test_damaged_files(saved: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.mdmz"
    truncated.write_bytes(saved.read_bytes()[:-200])
    with pytest.raises(MDMError, match=r"truncated\.mdmz"):
        MDM.load(truncated)
    with zipfile.ZipFile(saved) as archive:
        blob = bytearray(archive.read("level1.npy"))
    blob[-1] ^= 0xFF
    tampered = tmp_path / "tampered.mdmz"
    _rewrite(saved, tampered, {"level1.npy": bytes(blob)})
    with pytest.raises(MDMError, match=r"tampered\.mdmz is damaged \(checksum of level1\.npy"):
        MDM.load(tampered)
    garbled = tmp_path / "garbled.mdmz"
    _rewrite(saved, garbled, {"manifest.json": b"{not json"})
    with pytest.raises(MDMError, match=r"garbled\.mdmz is damaged"):
        MDM.load(garbled)
    with pytest.raises(MDMError, match=r"absent\.mdmz does not exist"):
        MDM.load(tmp_path / "absent.mdmz")


def test_damaged_bytes_inside_zip(saved: Path, tmp_path: Path) -> None:
    raw = bytearray(saved.read_bytes())
    start = raw.find(b"level1.npy") + 200  # inside the compressed member data
    raw[start : start + 50] = bytes(50)
    bad = tmp_path / "corrupt.mdmz"
    bad.write_bytes(bytes(raw))
    with pytest.raises(MDMError, match=r"corrupt\.mdmz"):
        MDM.load(bad)
