"""Messy files as researchers bring them: what the MDM leaves out and says (left_out), text
spellings of missing values, -99-style codes, repeated and case-clashing names, unmatched IDs."""

from __future__ import annotations

import json
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import openhlm
from openhlm.data import MDM, build_mdm
from openhlm.data.mdm3 import MDM3, build_mdm3
from openhlm.data.mdm_build import suspected_missing_codes
from openhlm.data.readers import read_table
from openhlm.errors import DataWarning, MDMError, SpecError
from openhlm.spec.equations import parse_model
from openhlm.spec.equations3 import parse_model3


@pytest.fixture()
def messy(tmp_path: Path, hsb1_csv: pd.DataFrame) -> Path:
    """hsb1 with a 0/1 outcome holding one 'yes', a text 'female' and a date column."""
    frame = hsb1_csv.copy()
    frame["passed"] = (frame["mathach"] > 13).astype(int).astype(object)
    frame.loc[5, "passed"] = "yes"
    frame["female"] = frame["female"].astype(object)
    frame.loc[[20, 21], "female"] = "f"
    frame["empty"] = np.nan
    file = tmp_path / "messy.csv"
    frame.to_csv(file, index=False)
    return file


def test_left_out_variables_are_recorded_with_why(messy: Path, hsb2_csv: pd.DataFrame) -> None:
    mdm = build_mdm(messy, hsb2_csv, id="id")
    assert "passed" not in mdm.level1_variables and "female" not in mdm.level1_variables
    assert mdm.left_out == {
        "female": ("not numeric", "'f' in 2 records of the level-1 file messy.csv"),
        "passed": ("not numeric", "'yes' in 1 record of the level-1 file messy.csv"),
        "empty": ("no values", "every record of the level-1 file messy.csv is blank"),
    }
    text = mdm.describe_text()
    assert "left out (not numeric): passed ('yes' in 1 record of the level-1 file messy.csv)" \
        in text.splitlines()
    assert "left out (no values): empty" in text
    assert "left_out=['female', 'passed', 'empty']" in repr(mdm)


def test_nothing_is_left_out_when_the_variables_are_named(messy: Path,
                                                          hsb2_csv: pd.DataFrame) -> None:
    mdm = build_mdm(messy, hsb2_csv, id="id", level1_variables=["ses", "mathach"],
                    level2_variables=["sector"])
    assert mdm.left_out == {}
    with pytest.raises(MDMError, match=r"variable 'passed' in the level-1 file messy.csv is not "
                                       r"numeric \('yes' in 1 record\); recode"):
        build_mdm(messy, hsb2_csv, id="id", level1_variables=["passed"])


def test_left_out_survives_save_load_and_row_deletion(messy: Path, hsb2_csv: pd.DataFrame,
                                                      tmp_path: Path) -> None:
    mdm = build_mdm(messy, hsb2_csv, id="id")
    mdm.save(tmp_path / "m.mdmz")
    again = MDM.load(tmp_path / "m.mdmz")
    assert again.equals(mdm) and again.left_out == mdm.left_out
    subset, _ = mdm.subset_complete(["ses"])
    assert subset.left_out == mdm.left_out


def test_an_mdm_saved_without_left_out_still_loads(messy: Path, hsb2_csv: pd.DataFrame,
                                                   tmp_path: Path) -> None:
    mdm = build_mdm(messy, hsb2_csv, id="id")
    mdm.save(tmp_path / "new.mdmz")
    # rewrite the file as an older openhlm wrote it: no "left_out" in the manifest
    with zipfile.ZipFile(tmp_path / "new.mdmz") as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    manifest = json.loads(members["manifest.json"])
    del manifest["left_out"]
    members["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(tmp_path / "old.mdmz", "w") as archive:
        for name, blob in members.items():
            archive.writestr(name, blob)
    old = MDM.load(tmp_path / "old.mdmz")
    assert old.left_out == {} and old.level1.equals(mdm.level1)


def test_equation_naming_a_left_out_variable_says_why(messy: Path,
                                                      hsb2_csv: pd.DataFrame) -> None:
    mdm = build_mdm(messy, hsb2_csv, id="id")
    with pytest.raises(SpecError) as info:
        parse_model("passed = B0 + R\nB0 = G00 + U0", level1_variables=mdm.level1_variables,
                    level2_variables=mdm.level2_variables)
    first, quote, caret = str(info.value).splitlines()
    assert first.startswith("'passed' is in the data file but not in the MDM in line 1 "
                            "(not numeric: 'yes' in 1 record of the level-1 file messy.csv; "
                            "recode those values as numbers")
    assert quote.strip() == "passed = B0 + R" and caret.strip() == "^^^^^^"
    # as a predictor, through the API door, any case
    with pytest.raises(SpecError, match=r"'FEMALE' is in the data file but not in the MDM"):
        openhlm.fit("mathach = B0 + B1*FEMALE + R\nB0 = G00 + U0", mdm)
    # a name that is nowhere is still unknown
    with pytest.raises(SpecError, match="unknown variable 'nothere'"):
        openhlm.fit("nothere = B0 + R\nB0 = G00 + U0", mdm)


def test_three_level_left_out(hsb1_csv: pd.DataFrame, hsb2_csv: pd.DataFrame) -> None:
    level2 = hsb2_csv.assign(district=np.arange(len(hsb2_csv)) % 8 + 1)
    level3 = pd.DataFrame({"district": range(1, 9), "urban": [0, 1] * 4,
                           "region": ["north", "south"] * 4})
    mdm = build_mdm3(hsb1_csv, level2, level3, id=("id", "district"))
    assert isinstance(mdm, MDM3)
    assert mdm.left_out_reason("REGION") == (
        "region", "not numeric", "'north' in 4 records, 'south' in 4 records of the level-3 data")
    with pytest.raises(SpecError, match=r"'region' is in the data file but not in the MDM in "
                                        r"line 3 \(not numeric: 'north' in 4 records"):
        parse_model3("mathach = P0 + E\nP0 = B00 + R0\nB00 = G000 + G001*region + U00",
                     level1_variables=mdm.level1_variables,
                     level2_variables=mdm.level2_variables,
                     level3_variables=mdm.level3_variables)
    with pytest.raises(MDMError, match=r"1 level-3 unit of the level-3 data has missing level-3 "
                                       r"values: 3 \(urban\)"):
        build_mdm3(hsb1_csv, level2, level3.assign(urban=[0, 1, np.nan, 1, 0, 1, 0, 1]),
                   id=("id", "district"))
    with pytest.raises(MDMError, match="needs two IDs, the level-2 then the level-3 ID, not "
                                       "'id'.*--id childid,schoolid"):
        build_mdm3(hsb1_csv, level2, level3, id="id")


def test_text_columns_of_numbers_and_missing_spellings(hsb1_csv: pd.DataFrame) -> None:
    frame = hsb1_csv.astype({"ses": object, "mathach": str})
    frame.loc[0, "ses"] = " NA"
    frame.loc[1, "ses"] = "#NULL!"
    frame.loc[2, "ses"] = "."
    mdm = build_mdm(frame, id="id")
    assert "mathach" in mdm.level1_variables and "ses" in mdm.level1_variables
    ses = mdm.level1["ses"].to_numpy()
    assert np.isnan(ses[:3]).all() and int(np.isnan(ses).sum()) == 3
    np.testing.assert_array_equal(ses[3:], hsb1_csv["ses"].to_numpy()[3:])
    assert mdm.missing == "analysis" and mdm.left_out == {}


def test_missing_value_codes_are_flagged() -> None:
    rng = np.random.default_rng(0)
    ses = rng.normal(size=200)
    assert suspected_missing_codes(ses) == []
    coded = ses.copy()
    coded[:5] = -99
    coded[5:7] = 999
    found = suspected_missing_codes(coded)
    assert [(code, count) for code, count, _, _ in found] == [(999.0, 2), (-99.0, 5)]
    lo, hi = found[1][2:]
    assert lo == ses[7:].min() and hi == ses[7:].max()
    # a real value at the end of a scale is no code: 1..9 Likert, 0..100 scores with 99
    assert suspected_missing_codes(np.tile(np.arange(1.0, 10.0), 5)) == []
    assert suspected_missing_codes(np.array([0.0, 40.0, 99.0, 100.0])) == []


def test_missing_value_code_warning_names_variable_and_file(tmp_path: Path,
                                                           hsb1_csv: pd.DataFrame,
                                                           hsb2_csv: pd.DataFrame) -> None:
    frame = hsb1_csv.copy()
    frame.loc[:9, "ses"] = -99
    frame.to_csv(tmp_path / "codes.csv", index=False)
    with pytest.warns(DataWarning, match=r"variable 'ses' in the level-1 file codes.csv has 10 "
                                         r"values of -99, far outside its other values"):
        build_mdm(tmp_path / "codes.csv", hsb2_csv, id="id")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build_mdm(hsb1_csv, hsb2_csv, id="id")   # the clean HS&B data: no warning


def test_repeated_names_warn(tmp_path: Path) -> None:
    file = tmp_path / "dup.csv"
    file.write_text("id,ses,ses,mathach\n1,1,2,3\n1,2,3,4\n2,1,1,1\n2,3,3,3\n")
    with pytest.warns(DataWarning, match=r"dup.csv has 2 variables named 'ses' \(columns 2, 3\);"
                                         r" they are read as 'ses', 'ses.1'"):
        table = read_table(file)
    assert list(table.data.columns) == ["id", "ses", "ses.1", "mathach"]
    real = tmp_path / "fine.csv"   # a name that merely ends in .1 is no repeat
    real.write_text("id,x,x.1\n1,1,2\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_table(real)


def test_names_differing_in_case_name_the_file(tmp_path: Path) -> None:
    file = tmp_path / "case.csv"
    file.write_text("id,SES,ses,mathach\n1,1,2,3\n1,2,3,4\n2,1,1,1\n2,3,3,3\n")
    with pytest.raises(MDMError, match=r"the data file case.csv has variables 'SES' and 'ses', "
                                       r"which openhlm cannot tell apart"):
        build_mdm(file, id="id")
    mdm = build_mdm(file, id="id", level1_variables=["ses", "mathach"], level2_variables=[])
    assert mdm.level1_variables == ("ses", "mathach")


def test_unmatched_ids_list_both_sides(hsb1_csv: pd.DataFrame, hsb2_csv: pd.DataFrame,
                                       tmp_path: Path) -> None:
    level2 = hsb2_csv.copy()
    level2.loc[0, "id"] = 999999
    level2.to_csv(tmp_path / "l2.csv", index=False)
    with pytest.raises(MDMError, match=r"^1 level-1 ID value of the level-1 data has no record in "
                                       r"the level-2 file l2.csv: 1224 \(the level-2 file l2.csv "
                                       r"has 1 ID with no level-1 records: 999999\)"):
        build_mdm(hsb1_csv, tmp_path / "l2.csv", id="id")


def test_one_file_constant_variables_are_said_to_be_level2(hsb1_csv: pd.DataFrame,
                                                           tmp_path: Path) -> None:
    frame = hsb1_csv.assign(one=1.0)
    mdm = build_mdm(frame, id="id")
    assert mdm.constant_level2 == ("one",) and mdm.level2_variables == ("one",)
    assert "level-2 variables (constant within every unit): one" in mdm.describe_text()
    mdm.save(tmp_path / "m.mdmz")
    assert MDM.load(tmp_path / "m.mdmz").constant_level2 == ("one",)
    with pytest.raises(SpecError, match=r"the outcome 'one' is a level-2 variable in line 1 \(it "
                                        r"is constant within every unit of the data file, so the "
                                        r"MDM took it as a level-2 variable; to use it at level 1,"
                                        r" name it in level1_variables"):
        openhlm.fit("one = B0 + B1*ses\nB0 = G00 + U0", mdm, distribution="bernoulli")
    # a level-2 variable of a level-2 file keeps the usual hint
    two = build_mdm(hsb1_csv, pd.read_csv(openhlm.datasets.path("hsb2.csv")), id="id")
    assert two.constant_level2 == ()
    with pytest.raises(SpecError, match=r"\(the outcome must be a level-1 variable\)"):
        openhlm.fit("sector = B0 + R\nB0 = G00 + U0", two)
    # named lists: nothing inferred
    named = build_mdm(frame, id="id", level1_variables=["one", "ses"], level2_variables=[])
    assert named.constant_level2 == () and "one" in named.level1_variables


def test_variable_listed_for_the_wrong_file(hsb1_csv: pd.DataFrame, tmp_path: Path) -> None:
    hsb2 = openhlm.datasets.path("hsb2.csv")
    with pytest.raises(MDMError, match=r"the level-1 data has no variable 'SECTOR'; it is in the "
                                       r"level-2 file hsb2.csv: choose it with level2_variables"):
        build_mdm(hsb1_csv, hsb2, id="id", level1_variables=["ses", "SECTOR"])


def test_mdm_files_are_not_data_files(hsb1_csv: pd.DataFrame, tmp_path: Path) -> None:
    mdm = build_mdm(hsb1_csv, openhlm.datasets.path("hsb2.csv"), id="id")
    data = tmp_path / "hsb1.csv"
    hsb1_csv.to_csv(data, index=False)
    before = data.read_bytes()
    with pytest.raises(MDMError, match=r"will not write an MDM file as .*hsb1.csv: .csv is a data "
                                       r"file's suffix"):
        mdm.save(data)
    assert data.read_bytes() == before
    with pytest.raises(MDMError, match=r"hsb1.csv is a data file, not an openhlm MDM file: give "
                                       r"it as data \(--level1 FILE --id ID"):
        MDM.load(data)
    with pytest.raises(MDMError, match=r"hsb1.csv is a data file, not an openhlm MDM file"):
        MDM3.load(data)


def test_decimal_comma_column_with_a_missing_spelling(tmp_path: Path,
                                                      hsb1_csv: pd.DataFrame) -> None:
    frame = hsb1_csv.astype({"mathach": object})
    frame.loc[3, "mathach"] = "#NULL!"
    file = tmp_path / "semi.csv"
    frame.to_csv(file, sep=";", decimal=",", index=False)
    mdm = build_mdm(file, id="id")
    mathach = mdm.level1["mathach"].to_numpy()
    assert np.isnan(mathach[3]) and int(np.isnan(mathach).sum()) == 1
    expected = hsb1_csv["mathach"].to_numpy()
    np.testing.assert_allclose(np.delete(mathach, 3), np.delete(expected, 3), rtol=0, atol=1e-12)


def test_title_rows_above_the_names(tmp_path: Path, hsb1_csv: pd.DataFrame) -> None:
    file = tmp_path / "title.csv"
    file.write_text("School survey 2020,,,,\n" + hsb1_csv.head(20).to_csv(index=False))
    with pytest.raises(MDMError, match=r"has no ID variable 'id'; its variables: School survey "
                                       r"2020, Unnamed: 1, .* \(most columns have no name: the "
                                       r"file's first row should hold the variable names"):
        build_mdm(file, id="id")


def test_three_level_hglm_through_the_api_is_refused(hsb1_csv: pd.DataFrame,
                                                     hsb2_csv: pd.DataFrame) -> None:
    level2 = hsb2_csv.assign(district=np.arange(len(hsb2_csv)) % 8 + 1)
    level3 = pd.DataFrame({"district": range(1, 9), "urban": [0, 1] * 4})
    mdm = build_mdm3(hsb1_csv, level2, level3, id=("id", "district"))
    with pytest.raises(SpecError, match=r"not available for three-level models yet: "
                                        r"distribution='bernoulli'"):
        openhlm.fit("minority = P0 + E\nP0 = B00 + R0\nB00 = G000 + U00", mdm,
                    distribution="bernoulli")


def test_id_named_differently_in_the_two_files(hsb1_csv: pd.DataFrame,
                                               hsb2_csv: pd.DataFrame) -> None:
    with pytest.raises(MDMError, match=r"the level-2 data has no ID variable 'id'; its variables: "
                                       r"school, .*; the ID variable must have the same name in "
                                       r"both files: rename it in one of them$"):
        build_mdm(hsb1_csv, hsb2_csv.rename(columns={"id": "school"}), id="id")


def test_command_files_say_why_a_name_is_not_in_the_mdm(messy: Path,
                                                        hsb2_csv: pd.DataFrame) -> None:
    from openhlm.errors import CommandFileError
    from openhlm.spec.commandfile import parse_command_file
    from openhlm.spec.commandfile3 import parse_command_file3

    mdm = build_mdm(messy, hsb2_csv, id="id")
    text = ("#WHLM CMD FILE\nnonlin:n\nlevel1:PASSED=INTRCPT1+RANDOM\n"
            "level2:INTRCPT1=INTRCPT2+random/\n")
    with pytest.raises(CommandFileError, match=r"'PASSED' is in the data file but not in the MDM "
                                               r"in line 3 .*\(not numeric: 'yes' in 1 record"):
        parse_command_file(text, level1_variables=mdm.level1_variables,
                           level2_variables=mdm.level2_variables)
    text3 = ("#WHLM CMD FILE\nnonlin:n\nlevel1:MATHACH=INTRCPT1+FEMALE+RANDOM\n"
             "level2:INTRCPT1=INTRCPT2+random/\nlevel3:INTRCPT2=INTRCPT3+random/\n")
    with pytest.raises(CommandFileError, match=r"'FEMALE' is in the data file but not in the MDM"
                                               r".*\(not numeric: 'f' in 2 records"):
        parse_command_file3(text3, level1_variables=mdm.level1_variables,
                            level2_variables=mdm.level2_variables, level3_variables=())
