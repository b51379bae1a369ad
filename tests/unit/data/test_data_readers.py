"""read_table: every shipped format, labels, missing codes, and every failure mode."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from openhlm.data import Table, read_table
from openhlm.datasets import path
from openhlm.errors import DataError

LEVEL1_FILES = ["hsb1.sav", "hsb1.dta", "hsb1.xpt", "hsb1.csv"]
LEVEL2_FILES = ["hsb2.sav", "hsb2.dta", "hsb2.xpt", "hsb2.sas7bdat", "hsb2.csv"]


def _same_values(table: Table, reference: pd.DataFrame) -> None:
    assert list(table.data.columns) == list(reference.columns)
    assert len(table.data) == len(reference)
    ids = table.data["id"].astype(str).str.strip().str.replace(r"\.0$", "", regex=True)
    assert ids.tolist() == reference["id"].astype(str).tolist()
    for column in reference.columns.drop("id"):
        np.testing.assert_allclose(
            table.data[column].to_numpy(dtype=float),
            reference[column].to_numpy(dtype=float),
            rtol=0,
            atol=1e-9,
            err_msg=f"{table.source}: {column}",
        )


@pytest.mark.parametrize("name", LEVEL1_FILES)
def test_level1_formats_agree_with_csv(name: str, hsb1_csv: pd.DataFrame) -> None:
    table = read_table(path(name))
    assert table.source == str(path(name))
    _same_values(table, hsb1_csv)


@pytest.mark.parametrize("name", LEVEL2_FILES)
def test_level2_formats_agree_with_csv(name: str, hsb2_csv: pd.DataFrame) -> None:
    _same_values(read_table(path(name)), hsb2_csv)


@pytest.mark.parametrize("name", ["hsb2.sav", "hsb2.dta"])
def test_labels_are_kept(name: str) -> None:
    table = read_table(path(name))
    assert table.variable_labels["meanses"] == "Mean SES of the school"
    assert table.value_labels["sector"] == {0.0: "public", 1.0: "catholic"}


def test_xpt_keeps_variable_labels() -> None:
    assert (
        read_table(path("hsb1.xpt")).variable_labels["mathach"] == "Mathematics achievement score"
    )


def test_parquet_and_excel_written_by_pandas(tmp_path: Path, hsb2_csv: pd.DataFrame) -> None:
    parquet = tmp_path / "schools.parquet"
    hsb2_csv.to_parquet(parquet)
    _same_values(read_table(parquet), hsb2_csv)
    xlsx = tmp_path / "schools.xlsx"
    with pd.ExcelWriter(xlsx, engine="openpyxl") as writer:
        hsb2_csv.head(3).to_excel(writer, sheet_name="first", index=False)
        hsb2_csv.to_excel(writer, sheet_name="schools", index=False)
    _same_values(read_table(xlsx, sheet="schools"), hsb2_csv)
    assert len(read_table(xlsx)) == 3  # default: first sheet
    with pytest.raises(DataError, match=r"schools\.xlsx.*no sheet 'nope'"):
        read_table(xlsx, sheet="nope")


@pytest.mark.parametrize(
    ("suffix", "text", "options"),
    [
        (".tsv", "id\tx\n1\t2.5\n2\t.\n", {}),
        (".txt", "id x\n1   2.5\n2 .\n", {}),
        (".dat", "id,x\n1,2.5\n2,\n", {}),
        (".txt", "id;x\n1;2.5\n2;\n", {"delimiter": ";"}),
        (".dat", "1 2.5\n2 .\n", {"header": False, "names": ["id", "x"]}),
    ],
)
def test_delimited_variants(tmp_path: Path, suffix: str, text: str, options: dict) -> None:
    file = tmp_path / f"data{suffix}"
    file.write_text(text)
    data = read_table(file, **options).data
    assert list(data.columns) == ["id", "x"]
    assert data["id"].tolist() == [1, 2]
    assert data["x"].iloc[0] == 2.5 and np.isnan(data["x"].iloc[1])


def test_headerless_text_gets_default_names(tmp_path: Path) -> None:
    file = tmp_path / "free.dat"
    file.write_text("1 2 3\n4 5 6\n")
    assert list(read_table(file, header=False).data.columns) == ["V1", "V2", "V3"]


def test_spss_user_missing_codes_become_nan(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "id": [1.0, 1.0, 2.0, 2.0],
            "x": [1.0, 99.0, 3.0, -9.0],
            "y": [1.0, 2.0, 8.5, 5.0],
            "s": ["a", "NA", "b", "c"],
        }
    )
    file = tmp_path / "codes.sav"
    pyreadstat.write_sav(
        frame,
        str(file),
        missing_ranges={"x": [99.0, -9.0], "y": [{"lo": 8.0, "hi": 9.0}], "s": ["NA"]},
    )
    data = read_table(file).data
    assert data["x"].isna().tolist() == [False, True, False, True]
    assert data["y"].isna().tolist() == [False, False, True, False]
    assert data["s"].isna().tolist() == [False, True, False, False]
    # pyreadstat's own conversion (user_missing=False) agrees on the numeric variables
    reference, _ = pyreadstat.read_sav(str(file))
    pd.testing.assert_frame_equal(data[["x", "y"]], reference[["x", "y"]])


def test_zsav_and_por(tmp_path: Path) -> None:
    frame = pd.DataFrame({"id": [1.0, 2.0], "x": [0.5, 99.0]})
    pyreadstat.write_sav(
        frame, str(tmp_path / "c.zsav"), compress=True, missing_ranges={"x": [99.0]}
    )
    assert read_table(tmp_path / "c.zsav").data["x"].isna().tolist() == [False, True]
    pyreadstat.write_por(frame, str(tmp_path / "p.por"))
    np.testing.assert_array_equal(read_table(tmp_path / "p.por").data.to_numpy(), frame.to_numpy())


@pytest.mark.parametrize("version", [8, 10, 12, 13, 14, 15])
def test_stata_versions_pyreadstat(tmp_path: Path, version: int) -> None:
    frame = pd.DataFrame({"id": [1.0, 2.0], "x": [0.5, np.nan]})
    file = tmp_path / f"v{version}.dta"
    pyreadstat.write_dta(frame, str(file), version=version, column_labels={"x": "the x"})
    table = read_table(file)
    np.testing.assert_array_equal(table.data.to_numpy(), frame.to_numpy())
    assert table.variable_labels == {"x": "the x"}


@pytest.mark.parametrize("version", [114, 117, 118, 119])
def test_stata_versions_pandas(tmp_path: Path, version: int) -> None:
    frame = pd.DataFrame({"id": [1, 2], "x": [0.5, np.nan]})
    file = tmp_path / f"p{version}.dta"
    frame.to_stata(file, version=version, write_index=False, variable_labels={"x": "the x"})
    table = read_table(file)
    np.testing.assert_array_equal(table.data.to_numpy(dtype=float), frame.to_numpy(dtype=float))
    assert table.variable_labels["x"] == "the x"


# ----------------------------------------------------------------------------- failures
def _raises(file: Path, pattern: str, **options: object) -> DataError:
    with pytest.raises(DataError) as info:
        read_table(file, **options)
    message = str(info.value)
    assert str(file) in message, message
    assert "\n" not in message
    assert pattern in message, message
    # wrapped library exceptions are raised 'from None': no chained traceback
    assert info.value.__cause__ is None
    assert info.value.__context__ is None or info.value.__suppress_context__
    return info.value


def test_unknown_suffix(tmp_path: Path) -> None:
    file = tmp_path / "data.xyz"
    file.write_text("a,b\n1,2\n")
    _raises(file, "unknown file type '.xyz'")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file") as info:
        read_table(tmp_path / "absent.sav")
    assert "absent.sav" in str(info.value)


@pytest.mark.parametrize(
    "suffix", [".csv", ".sav", ".dta", ".xpt", ".sas7bdat", ".parquet", ".xlsx"]
)
def test_empty_file(tmp_path: Path, suffix: str) -> None:
    file = tmp_path / f"empty{suffix}"
    file.touch()
    _raises(file, "empty")


def test_directory(tmp_path: Path) -> None:
    folder = tmp_path / "dir.csv"
    folder.mkdir()
    _raises(folder, "directory")


def test_header_only_csv(tmp_path: Path) -> None:
    file = tmp_path / "header.csv"
    file.write_text("id,x\n")
    _raises(file, "no data rows")


@pytest.mark.parametrize(
    ("name", "size", "pattern"),
    [
        ("hsb1.sav", 5000, "truncated"),
        ("hsb1.sav", 100000, "truncated"),
        ("hsb1.dta", 5000, "truncated"),
        ("hsb2.sas7bdat", 3000, "truncated"),
        ("hsb1.xpt", 3000, "truncated"),
    ],
)
def test_truncated_files(tmp_path: Path, name: str, size: int, pattern: str) -> None:
    file = tmp_path / name
    file.write_bytes(path(name).read_bytes()[:size])
    _raises(file, pattern)


@pytest.mark.parametrize(
    "suffix", [".sav", ".zsav", ".por", ".dta", ".xpt", ".sas7bdat", ".parquet", ".xlsx"]
)
def test_csv_renamed_to_binary_format(tmp_path: Path, suffix: str) -> None:
    file = tmp_path / f"renamed{suffix}"
    shutil.copy(path("hsb2.csv"), file)
    _raises(file, "not a valid")


def test_binary_file_renamed_to_csv(tmp_path: Path) -> None:
    file = tmp_path / "renamed.csv"
    shutil.copy(path("hsb2.sav"), file)
    _raises(file, "not a text file")


def test_unknown_option() -> None:
    with pytest.raises(DataError, match=r"hsb2\.sav: option\(s\) sheet not accepted"):
        read_table(path("hsb2.sav"), sheet="x")
