"""What a researcher reads on the command line when the data are messy: the MDM summary lists
what it left out, fits say why such a variable is not there, one-line errors name the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from openhlm.cli.main import main
from openhlm.datasets import path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture()
def messy(tmp_path: Path) -> Path:
    frame = pd.read_csv(path("hsb1.csv"))
    frame["passed"] = (frame["mathach"] > 13).astype(int).astype(object)
    frame.loc[5, "passed"] = "yes"
    frame.to_csv(tmp_path / "messy.csv", index=False)
    return tmp_path / "messy.csv"


def test_mdm_build_lists_left_out_variables(capsys, messy: Path, tmp_path: Path) -> None:
    out_file = tmp_path / "m.mdmz"
    code, out, err = run(capsys, "mdm", "build", "--level1", str(messy), "--level2", "hsb2.csv",
                         "--id", "id", "-o", str(out_file))
    assert code == 0 and err == ""
    assert "left out (not numeric): passed ('yes' in 1 record of the level-1 file messy.csv)" \
        in out.splitlines()
    # kept in the saved MDM
    code, out, _ = run(capsys, "mdm", "describe", str(out_file))
    assert code == 0 and "left out (not numeric): passed" in out


def _toml(tmp_path: Path, data: str, equations: str, extra: str = "") -> Path:
    file = tmp_path / "model.toml"
    file.write_text(f'[data]\n{data}\n[model]\nequations = """\n{equations}\n"""\n{extra}')
    return file


def test_fit_of_a_left_out_outcome_says_why(capsys, messy: Path, tmp_path: Path) -> None:
    model = _toml(tmp_path, f'level1 = "{messy.name}"\nlevel2 = "{path("hsb2.csv")}"\nid = "id"',
                  "passed = B0 + B1*ses\nB0 = G00 + U0", 'distribution = "bernoulli"\n')
    code, out, err = run(capsys, "fit", str(model))
    assert code == 2 and out == ""
    first, quote, caret = err.splitlines()
    assert first == (
        "openhlm: error: [model] equations: 'passed' is in the data file but not in the MDM in "
        f"line 7 of {model} (not numeric: 'yes' in 1 record of the level-1 file messy.csv; "
        "recode those values as numbers (blank = missing) and build the MDM again):")
    assert quote.strip() == "passed = B0 + B1*ses" and caret.strip() == "^^^^^^"


def test_three_level_toml_errors_quote_the_file_line(capsys, tmp_path: Path) -> None:
    students = pd.read_csv(path("hsb1.csv"))
    schools = pd.read_csv(path("hsb2.csv")).assign(district=lambda d: np.arange(len(d)) % 8 + 1)
    one = students.merge(schools, on="id")
    one["region"] = np.where(one["district"] % 2 == 0, "north", "south")
    one.to_csv(tmp_path / "one3.csv", index=False)
    # the command line's "L2,L3" spelling of the two IDs works in the file too
    model = _toml(tmp_path, 'level1 = "one3.csv"\nid = "id,district"',
                  "mathach = P0 + E\nP0 = B00 + R0\nB00 = G000 + G001*region + U00")
    code, _, err = run(capsys, "fit", str(model))
    assert code == 2
    first = err.splitlines()[0]
    assert first.startswith(
        "openhlm: error: [model] equations: 'region' is in the data file but not in the MDM in "
        f"line 8 of {model} (not numeric: '")
    north = int((one["region"] == "north").sum())
    assert f"'north' in {north} records" in first and "of the data file one3.csv" in first
    assert err.splitlines()[1].strip() == "B00 = G000 + G001*region + U00"


def test_level3_file_with_one_id(capsys, tmp_path: Path) -> None:
    code, _, err = run(capsys, "mdm", "build", "--level1", "hsb1.csv", "--level2", "hsb2.csv",
                       "--level3", "hsb2.csv", "--id", "id", "-o", str(tmp_path / "x.mdmz"))
    assert code == 2 and len(err.splitlines()) == 1
    assert "--id childid,schoolid on the command line" in err


def test_repeated_names_and_codes_warn_on_one_line(capsys, tmp_path: Path) -> None:
    frame = pd.read_csv(path("hsb1.csv"))
    frame.loc[:4, "ses"] = -99
    text = frame.to_csv(index=False).replace("id,minority", "id,female", 1)
    (tmp_path / "l1.csv").write_text(text)
    code, _, err = run(capsys, "mdm", "build", "--level1", str(tmp_path / "l1.csv"),
                         "--level2", "hsb2.csv", "--id", "id", "-o", str(tmp_path / "x.mdmz"))
    assert code == 0
    lines = err.splitlines()
    assert lines == [
        ("openhlm: warning: l1.csv has 2 variables named 'female' (columns 2, 3); they are read "
         "as 'female', 'female.1': rename them in the file"),
        ("openhlm: warning: variable 'ses' in the level-1 file l1.csv has 5 values of -99, far "
         f"outside its other values ({frame['ses'][5:].min():g} to {frame['ses'][5:].max():g}); "
         "if -99 means missing, make those values blank (or declared missing in SPSS/Stata) and "
         "build the MDM again"),
    ]


def test_three_level_hglm_is_refused_not_fitted_as_linear(capsys, tmp_path: Path) -> None:
    students = pd.read_csv(path("hsb1.csv"))
    schools = pd.read_csv(path("hsb2.csv")).assign(district=lambda d: np.arange(len(d)) % 8 + 1)
    students.merge(schools, on="id").to_csv(tmp_path / "one3.csv", index=False)
    model = _toml(tmp_path, 'level1 = "one3.csv"\nid = ["id", "district"]',
                  "minority = P0\nP0 = B00 + R0\nB00 = G000 + U00", 'distribution = "bernoulli"\n')
    code, out, err = run(capsys, "fit", str(model))
    assert code == 2 and out == ""
    assert err == ("openhlm: error: not available for three-level models yet: "
                   "distribution='bernoulli' (three-level HGLMs; fit a linear model, or a "
                   "two-level HGLM)\n")
    code, out, err = run(capsys, "fit", str(model),
                         "--distribution", "poisson")
    assert code == 2 and "distribution='poisson' (three-level HGLMs" in err
