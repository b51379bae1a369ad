"""Building the MDM: HS&B from every format and layout, ID linking, and every error case."""

from __future__ import annotations

import re
from dataclasses import FrozenInstanceError
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from openhlm.data import MDM, Table, build_mdm, read_table
from openhlm.datasets import path
from openhlm.errors import DataWarning, MDMError

L1_VARS = ["minority", "female", "ses", "mathach"]
L2_VARS = ["size", "sector", "pracad", "disclim", "himinty", "meanses"]


def same_data(a: MDM, b: MDM) -> None:
    """The parts an analysis uses are identical (labels and sources may differ)."""
    np.testing.assert_array_equal(a.unit_ids, b.unit_ids)
    np.testing.assert_array_equal(a.unit_index, b.unit_index)
    pd.testing.assert_frame_equal(a.level1, b.level1)
    pd.testing.assert_frame_equal(a.level2, b.level2)
    assert a.id_name == b.id_name
    assert (a.missing, a.deleted_level1_rows, a.dropped_units) == (
        b.missing,
        b.deleted_level1_rows,
        b.dropped_units,
    )


@pytest.fixture(scope="module")
def hsb_sav() -> MDM:
    return build_mdm(path("hsb1.sav"), path("hsb2.sav"), id="id")


def test_hsb_two_files_against_pandas(
    hsb_sav: MDM, hsb1_csv: pd.DataFrame, hsb2_csv: pd.DataFrame
) -> None:
    mdm = hsb_sav
    assert (mdm.n_level1, mdm.n_level2) == (7185, 160)
    assert mdm.level1_variables == tuple(L1_VARS) and mdm.level2_variables == tuple(L2_VARS)
    assert mdm.unit_ids.tolist() == hsb2_csv["id"].astype(str).tolist()  # level-2 file order
    # independent grouping: stable sort of the level-1 file by the school's level-2 position
    position = {s: k for k, s in enumerate(hsb2_csv["id"])}
    order = np.argsort(hsb1_csv["id"].map(position).to_numpy(), kind="stable")
    expected = hsb1_csv.iloc[order].reset_index(drop=True)
    np.testing.assert_array_equal(mdm.level1.to_numpy(), expected[L1_VARS].to_numpy(dtype=float))
    np.testing.assert_array_equal(mdm.unit_ids[mdm.unit_index], expected["id"].astype(str))
    np.testing.assert_array_equal(mdm.level2.to_numpy(), hsb2_csv[L2_VARS].to_numpy(dtype=float))
    assert np.all(np.diff(mdm.unit_index) >= 0)
    np.testing.assert_array_equal(
        mdm.n_per_unit, expected.groupby("id", sort=False).size().to_numpy()
    )
    assert mdm.missing == "none" and mdm.deleted_level1_rows == 0 and mdm.dropped_units == ()
    assert mdm.level1.dtypes.eq(np.float64).all() and isinstance(mdm.level1.index, pd.RangeIndex)
    assert mdm.variable_labels["mathach"] == "Mathematics achievement score"
    assert mdm.value_labels["sector"] == {0.0: "public", 1.0: "catholic"}
    assert [Path(s).name for s in mdm.sources] == ["hsb1.sav", "hsb2.sav"]


@pytest.mark.parametrize(
    ("level1", "level2"),
    [
        ("hsb1.dta", "hsb2.dta"),
        ("hsb1.csv", "hsb2.csv"),
        ("hsb1.xpt", "hsb2.sas7bdat"),
        ("hsb1.csv", "hsb2.sav"),
        ("hsb1.sav", "hsb2.xpt"),
    ],
)
def test_same_mdm_from_every_format(hsb_sav: MDM, level1: str, level2: str) -> None:
    # .csv has numeric IDs, .sav/.dta/.xpt string IDs: linking must not care
    same_data(build_mdm(path(level1), path(level2), id="id"), hsb_sav)


def test_dta_keeps_same_labels_as_sav(hsb_sav: MDM) -> None:
    mdm = build_mdm(path("hsb1.dta"), path("hsb2.dta"), id="id")
    assert mdm.variable_labels == hsb_sav.variable_labels
    assert mdm.value_labels == hsb_sav.value_labels


@pytest.fixture(scope="module")
def merged_file(
    tmp_path_factory: pytest.TempPathFactory, hsb1_csv: pd.DataFrame, hsb2_csv: pd.DataFrame
) -> Path:
    merged = hsb1_csv.merge(hsb2_csv, on="id", how="left", sort=False)
    file = tmp_path_factory.mktemp("merged") / "hsb_merged.csv"
    merged.to_csv(file, index=False)
    return file


def test_one_file_inferred_levels(hsb_sav: MDM, merged_file: Path) -> None:
    mdm = build_mdm(merged_file, id="id")
    assert mdm.level1_variables == tuple(L1_VARS) and mdm.level2_variables == tuple(L2_VARS)
    same_data(mdm, hsb_sav)  # hsb1 is sorted like hsb2, so first-appearance order agrees


def test_one_file_explicit_levels(hsb_sav: MDM, merged_file: Path) -> None:
    mdm = build_mdm(
        merged_file,
        id="ID",
        level1_variables=["MATHACH", "ses"],
        level2_variables=["sector", "meanses"],
    )
    assert mdm.level1_variables == ("mathach", "ses")
    np.testing.assert_array_equal(
        mdm.level2.to_numpy(), hsb_sav.level2[["sector", "meanses"]].to_numpy()
    )
    mdm2 = build_mdm(merged_file, id="id", level2_variables=["sector"])
    assert mdm2.level1_variables == tuple(v for v in L1_VARS + L2_VARS if v != "sector")


def test_one_file_level2_variable_varying_within_unit(merged_file: Path) -> None:
    with pytest.raises(
        MDMError, match=r"'ses' is not constant within units.*\(it varies in 160 units: 1224, 1288,"
    ):
        build_mdm(merged_file, id="id", level2_variables=["ses"])


def test_unsorted_level1_and_mixed_id_types(
    hsb_sav: MDM, hsb1_csv: pd.DataFrame, hsb2_csv: pd.DataFrame
) -> None:
    shuffled = hsb1_csv.sample(frac=1.0, random_state=1)
    level1 = Table(shuffled.assign(id=shuffled["id"].astype(float)))  # 1224.0
    level2 = Table(hsb2_csv.assign(id=" " + hsb2_csv["id"].astype(str)))  # " 1224"
    mdm = build_mdm(level1, level2, id="id")
    np.testing.assert_array_equal(mdm.unit_ids, hsb_sav.unit_ids)
    np.testing.assert_array_equal(mdm.unit_index, hsb_sav.unit_index)
    # within a unit, rows keep the (shuffled) file order
    expected = shuffled.assign(pos=shuffled["id"].map({s: k for k, s in enumerate(hsb2_csv["id"])}))
    expected = expected.sort_values("pos", kind="stable")
    np.testing.assert_array_equal(mdm.level1.to_numpy(), expected[L1_VARS].to_numpy(dtype=float))


def test_leading_zero_text_ids_link_to_numbers() -> None:
    level1 = pd.DataFrame({"school": [12, 12, 7], "y": [1.0, 2.0, 3.0]})
    level2 = pd.DataFrame({"school": ["0007", "0012"], "w": [0.5, 1.5]})
    mdm = build_mdm(level1, level2, id="school")
    assert mdm.unit_ids.tolist() == ["0007", "0012"]
    assert mdm.level1["y"].tolist() == [3.0, 1.0, 2.0]
    assert mdm.unit_index.tolist() == [0, 1, 1]


def test_unmatched_level1_ids(hsb1_csv: pd.DataFrame, hsb2_csv: pd.DataFrame) -> None:
    level2 = hsb2_csv.iloc[12:]  # remove the first 12 schools
    missing = hsb2_csv["id"].iloc[:12].astype(str).tolist()
    with pytest.raises(MDMError) as info:
        build_mdm(hsb1_csv, level2, id="id")
    message = str(info.value)
    assert message.startswith("12 level-1 ID values")
    assert ", ".join(missing[:10]) + ", ..." in message and missing[10] not in message


def test_level2_units_without_level1_rows_are_dropped(
    hsb_sav: MDM, hsb1_csv: pd.DataFrame, hsb2_csv: pd.DataFrame
) -> None:
    extra = pd.concat([hsb2_csv, hsb2_csv.iloc[:2].assign(id=[9001, 9002])], ignore_index=True)
    with pytest.warns(DataWarning, match=r"2 level-2 units .* no level-1 records .*: 9001, 9002"):
        mdm = build_mdm(hsb1_csv, extra, id="id")
    assert mdm.dropped_units == ("9001", "9002")
    np.testing.assert_array_equal(mdm.level2.to_numpy(), hsb_sav.level2.to_numpy())


def test_duplicate_level2_ids(hsb1_csv: pd.DataFrame, hsb2_csv: pd.DataFrame) -> None:
    doubled = pd.concat([hsb2_csv, hsb2_csv.iloc[[3]]], ignore_index=True)
    with pytest.raises(MDMError, match=r"1 IDs on more than one record: 1308"):
        build_mdm(hsb1_csv, doubled, id="id")


def test_missing_level1_id(hsb1_csv: pd.DataFrame, hsb2_csv: pd.DataFrame) -> None:
    level1 = hsb1_csv.astype({"id": float})
    level1.loc[[5, 9], "id"] = np.nan
    with pytest.raises(
        MDMError, match=r"^2 rows of the level-1 data have a missing ID 'id' \(rows 6, 10\)"
    ):
        build_mdm(level1, hsb2_csv, id="id")


def test_unknown_variables_suggest_close_matches() -> None:
    with pytest.raises(
        MDMError, match=r"hsb1\.sav has no variable 'mathac'; did you mean mathach\?"
    ):
        build_mdm(path("hsb1.sav"), path("hsb2.sav"), id="id", level1_variables=["mathac"])
    with pytest.raises(MDMError, match=r"level-1 file hsb1\.sav has no ID variable 'schoolid'"):
        build_mdm(path("hsb1.sav"), path("hsb2.sav"), id="schoolid")
    with pytest.raises(MDMError, match=r"hsb2\.sav has no variable 'meanse'; did you mean meanses"):
        build_mdm(path("hsb1.sav"), path("hsb2.sav"), id="id", level2_variables=["meanse"])


def test_non_numeric_variable(hsb1_csv: pd.DataFrame, hsb2_csv: pd.DataFrame) -> None:
    level2 = hsb2_csv.assign(kind=np.where(hsb2_csv["sector"] == 1, "catholic", "public"))
    with pytest.raises(MDMError, match=r"variable 'kind' in the level-2 data is not numeric"):
        build_mdm(hsb1_csv, level2, id="id", level2_variables=["kind", "sector"])
    # default choice skips text variables
    assert "kind" not in build_mdm(hsb1_csv, level2, id="id").level2_variables
    # text holding numbers is converted
    as_text = hsb2_csv.assign(size=hsb2_csv["size"].astype(str))
    mdm = build_mdm(hsb1_csv, as_text, id="id", level2_variables=["size"])
    np.testing.assert_array_equal(mdm.level2["size"], hsb2_csv["size"].astype(float))


def test_variable_at_both_levels(hsb1_csv: pd.DataFrame, hsb2_csv: pd.DataFrame) -> None:
    with pytest.raises(MDMError, match=r"variable\(s\) ses chosen at both levels"):
        build_mdm(
            hsb1_csv,
            hsb2_csv.assign(SES=1.0),
            id="id",
            level1_variables=["ses"],
            level2_variables=["SES"],
        )
    with pytest.raises(MDMError, match=r"ID variable 'id' cannot also be a model variable"):
        build_mdm(hsb1_csv, hsb2_csv, id="id", level1_variables=["ID", "ses"])


def test_level2_missing_values(
    hsb_sav: MDM, hsb1_csv: pd.DataFrame, hsb2_csv: pd.DataFrame
) -> None:
    level2 = hsb2_csv.copy()
    level2.loc[1, "size"] = np.nan
    level2.loc[4, ["pracad", "meanses"]] = np.nan
    a, b = hsb2_csv["id"].iloc[[1, 4]].tolist()
    with pytest.raises(
        MDMError,
        match=rf"2 level-2 units .* missing level-2 values: {a} \(size\); "
        rf"{b} \(pracad, meanses\)",
    ):
        build_mdm(hsb1_csv, level2, id="id")
    n_rows = int(hsb1_csv["id"].isin([a, b]).sum())
    with pytest.warns(
        DataWarning,
        match=rf"2 level-2 units .* dropped with their {n_rows} "
        rf"level-1 records: {a}, {b}",
    ):
        mdm = build_mdm(hsb1_csv, level2, id="id", drop_incomplete_units=True)
    assert mdm.dropped_units == (str(a), str(b))
    assert (mdm.n_level2, mdm.n_level1) == (158, 7185 - n_rows)
    assert str(a) not in mdm.unit_ids.tolist()
    # unaffected: a variable that was not chosen may be missing
    fine = build_mdm(hsb1_csv, level2, id="id", level2_variables=["sector"])
    assert fine.n_level2 == 160


@pytest.fixture()
def holes(hsb1_csv: pd.DataFrame) -> pd.DataFrame:
    level1 = hsb1_csv.copy()
    level1.loc[[0, 1, 2], "ses"] = np.nan
    level1.loc[[2, 100], "mathach"] = np.nan
    return level1


def test_listwise_and_analysis(holes: pd.DataFrame, hsb2_csv: pd.DataFrame) -> None:
    with pytest.warns(DataWarning, match=r"removed 4 level-1 records .* ses \(3\), mathach \(2\)"):
        listwise = build_mdm(holes, hsb2_csv, id="id", missing="listwise")
    assert (listwise.missing, listwise.deleted_level1_rows, listwise.n_level1) == (
        "listwise",
        4,
        7181,
    )
    assert not listwise.level1.isna().any().any()
    analysis = build_mdm(holes, hsb2_csv, id="id", missing="analysis")
    assert (analysis.missing, analysis.deleted_level1_rows, analysis.n_level1) == (
        "analysis",
        0,
        7185,
    )
    assert int(analysis.level1["ses"].isna().sum()) == 3
    # run-time deletion gives the listwise MDM back
    subset, deleted = analysis.subset_complete(["SES", "mathach", "sector"])
    assert deleted == 4
    same_data(subset.__class__(**{**subset.__dict__, "missing": "listwise"}), listwise)
    only_female, none_deleted = analysis.subset_complete(["female"])
    assert none_deleted == 0 and only_female is analysis
    # no missing value among the chosen variables: mode "none"
    clean = build_mdm(holes, hsb2_csv, id="id", level1_variables=["female"], missing="listwise")
    assert (clean.missing, clean.deleted_level1_rows) == ("none", 0)


def test_listwise_drops_emptied_unit(hsb1_csv: pd.DataFrame, hsb2_csv: pd.DataFrame) -> None:
    level1 = hsb1_csv.copy()
    level1.loc[level1["id"] == 1308, "ses"] = np.nan
    n = int((level1["id"] == 1308).sum())
    with pytest.warns(DataWarning) as record:
        mdm = build_mdm(level1, hsb2_csv, id="id", missing="listwise")
    messages = [str(w.message) for w in record]
    assert any(f"removed {n} level-1 records" in m for m in messages)
    assert any(re.search(r"1 level-2 units lost all level-1 records .*: 1308", m) for m in messages)
    assert mdm.dropped_units == ("1308",) and mdm.n_level2 == 159
    analysis = build_mdm(level1, hsb2_csv, id="id")
    subset, deleted = analysis.subset_complete(["ses"])
    assert deleted == n and subset.dropped_units == ("1308",)
    same_data(subset.__class__(**{**subset.__dict__, "missing": "listwise"}), mdm)


def test_subset_complete_unknown_variable(hsb_sav: MDM) -> None:
    with pytest.raises(MDMError, match=r"no variable 'sess' \(did you mean: ses"):
        hsb_sav.subset_complete(["sess"])


def test_names_are_case_insensitive(hsb_sav: MDM) -> None:
    assert hsb_sav.level_of("MathAch") == 1 and hsb_sav.level_of("MEANSES") == 2
    assert hsb_sav.level_of("nothing") is None
    assert hsb_sav.canonical_name("SECTOR") == "sector" and hsb_sav.canonical_name("x") is None


def test_mdm_is_immutable(hsb_sav: MDM) -> None:
    with pytest.raises(FrozenInstanceError):
        hsb_sav.missing = "listwise"  # type: ignore[misc]
    for array in (hsb_sav.unit_ids, hsb_sav.unit_index, hsb_sav.n_per_unit):
        with pytest.raises(ValueError, match="read-only"):
            array[0] = array[1]
    with pytest.raises(ValueError, match="read-only"):
        hsb_sav.level1.iloc[0, 0] = 99.0
    assert hsb_sav.level1.iloc[0, 0] != 99.0


def test_bad_missing_option() -> None:
    with pytest.raises(MDMError, match="missing must be 'listwise' or 'analysis'"):
        build_mdm(path("hsb1.sav"), path("hsb2.sav"), id="id", missing="pairwise")


def test_read_errors_propagate_as_data_errors(tmp_path: Path) -> None:
    from openhlm.errors import DataError

    with pytest.raises(DataError, match=r"absent\.sav: no such file"):
        MDM.from_tables(tmp_path / "absent.sav", path("hsb2.sav"), id="id")


def test_from_tables_equals_build_mdm(hsb_sav: MDM) -> None:
    mdm = MDM.from_tables(read_table(path("hsb1.sav")), read_table(path("hsb2.sav")), id="id")
    assert mdm.equals(hsb_sav)


def test_id_missing_from_level2_file() -> None:
    with pytest.raises(MDMError, match=r"level-2 file hsb2\.sav has no ID variable 'mathach'"):
        build_mdm(path("hsb1.sav"), path("hsb2.sav"), id="mathach")


def test_no_level2_variables(hsb_sav: MDM, merged_file: Path) -> None:
    one = build_mdm(merged_file, id="id", level1_variables=["mathach"], level2_variables=[])
    two = build_mdm(
        path("hsb1.csv"),
        path("hsb2.csv"),
        id="id",
        level1_variables=["mathach"],
        level2_variables=[],
    )
    for mdm in (one, two):
        assert mdm.level2.shape == (160, 0) and mdm.level1_variables == ("mathach",)
        np.testing.assert_array_equal(mdm.unit_index, hsb_sav.unit_index)


def test_one_file_units_in_order_of_first_appearance(merged_file: Path) -> None:
    merged = pd.read_csv(merged_file).sample(frac=1.0, random_state=3)
    mdm = build_mdm(merged, id="id", level2_variables=L2_VARS)
    assert mdm.unit_ids.tolist() == [str(i) for i in pd.unique(merged["id"])]
    first = merged.drop_duplicates("id")
    np.testing.assert_array_equal(mdm.level2.to_numpy(), first[L2_VARS].to_numpy(dtype=float))
    np.testing.assert_array_equal(
        mdm.level1["mathach"],
        merged.sort_values(
            "id",
            key=lambda s: s.map({u: k for k, u in enumerate(pd.unique(merged["id"]))}),
            kind="stable",
        )["mathach"],
    )


def test_one_file_missing_level2_value(merged_file: Path) -> None:
    merged = pd.read_csv(merged_file)
    merged.loc[merged["id"] == 1296, "meanses"] = np.nan  # all rows of the school
    merged.loc[merged.index[merged["id"] == 1224][:3], "size"] = np.nan  # some rows only
    with pytest.raises(
        MDMError, match=r"1 level-2 unit .* missing level-2 values: 1296 \(meanses\)"
    ):
        build_mdm(merged, id="id", level2_variables=L2_VARS)
    with pytest.warns(
        DataWarning, match=r"1 level-2 units with missing level-2 values were dropped"
    ):
        mdm = build_mdm(merged, id="id", level2_variables=L2_VARS, drop_incomplete_units=True)
    assert mdm.dropped_units == ("1296",) and mdm.n_level2 == 159
    assert mdm.level2.loc[0, "size"] == 842.0  # school 1224: the non-missing value is used
