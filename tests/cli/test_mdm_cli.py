"""``openhlm mdm`` and the top-level command line (exit codes, one-line errors, warnings)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from openhlm._version import __version__
from openhlm.cli.main import main
from openhlm.data import MDM, build_mdm
from openhlm.datasets import path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_describe_example(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "mdm", "describe", "--example", "hsb")
    assert code == 0 and err == ""
    assert "level-1 records: 7185" in out and "level-2 units: 160" in out
    assert "LEVEL-1 DESCRIPTIVE STATISTICS" in out and "LEVEL-2 DESCRIPTIVE STATISTICS" in out
    mathach = next(line for line in out.splitlines() if line.split()[:1] == ["MATHACH"])
    expected = pd.read_csv(path("hsb1.csv"))["mathach"]
    assert mathach.split()[1:4] == ["7185", f"{expected.mean():.2f}", f"{expected.std():.2f}"]
    assert out == build_mdm(path("hsb1.sav"), path("hsb2.sav"), id="id").describe_text()


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.strip() == f"openhlm {__version__}"


def test_build_then_describe(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # bundled file names resolve when no local file exists
    out_file = tmp_path / "hsb.mdmz"
    code, out, err = run(
        capsys,
        "mdm",
        "build",
        "--level1",
        "hsb1.sav",
        "--level2",
        "hsb2.csv",
        "--id",
        "ID",
        "--level2-vars",
        "sector,MEANSES",
        "-o",
        str(out_file),
    )
    assert code == 0 and err == ""
    assert "MEANSES" in out and "SIZE" not in out and f"MDM saved to {out_file}" in out
    saved = MDM.load(out_file)
    assert saved.level2_variables == ("sector", "meanses") and saved.n_level1 == 7185
    code, out2, _ = run(capsys, "mdm", "describe", str(out_file))
    assert code == 0 and out2 == saved.describe_text()
    code, out3, _ = run(
        capsys,
        "mdm",
        "describe",
        "--level1",
        "hsb1.dta",
        "--level2",
        "hsb2.dta",
        "--id",
        "id",
        "--level2-vars",
        "sector,meanses",
    )
    assert code == 0 and out3.split("ID variable")[1] == out2.split("ID variable")[1]


def test_missing_file_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nothere.sav"
    code, out, err = run(capsys, "mdm", "describe", "--level1", str(missing), "--id", "id")
    assert code == 2 and out == ""
    assert err.startswith("openhlm: error: ") and err.count("\n") == 1
    assert "nothere.sav" in err and "no such file" in err and "Traceback" not in err


def test_unknown_variable_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        capsys,
        "mdm",
        "describe",
        "--level1",
        "hsb1.sav",
        "--level2",
        "hsb2.sav",
        "--id",
        "id",
        "--level1-vars",
        "mathac",
    )
    assert code == 2
    assert err == (
        "openhlm: error: the level-1 file hsb1.sav has no variable 'mathac'; "
        "did you mean mathach?\n"
    )


def test_not_an_mdm_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "mdm", "describe", str(path("hsb2.csv")))
    assert code == 2 and "hsb2.csv is a data file, not an openhlm MDM file" in err and err.count("\n") == 1


def test_describe_needs_exactly_one_source(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "mdm", "describe")
    assert code == 2 and "give exactly one of" in err
    code, _, err = run(capsys, "mdm", "describe", "--level1", "hsb1.sav")
    assert code == 2 and "--id is required" in err


def test_warnings_are_printed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    level1 = pd.read_csv(path("hsb1.csv"))
    level1.loc[:4, "ses"] = np.nan
    file = tmp_path / "holes.csv"
    level1.to_csv(file, index=False)
    code, out, err = run(
        capsys,
        "mdm",
        "build",
        "--level1",
        str(file),
        "--level2",
        "hsb2.sav",
        "--id",
        "id",
        "--missing",
        "listwise",
        "-o",
        str(tmp_path / "h.mdmz"),
    )
    assert code == 0
    assert err == (
        "openhlm: warning: listwise deletion removed 5 level-1 records with missing "
        "values in: ses (5)\n"
    )
    assert "level-1 records: 7180" in out and "5 level-1 records deleted (listwise)" in out


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "mdm", "build", "--level1", "hsb1.sav")[0] == 2  # missing --id, -o
    assert run(capsys, "mdm", "describe", "--missing", "pairwise")[0] == 2
    assert run(capsys, "nonsense")[0] == 2
    assert run(capsys)[0] == 2
    assert run(capsys, "mdm")[0] == 2


def test_help_mentions_bundled_files(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "mdm", "build", "--help")
    assert code == 0 and "bundled example file" in " ".join(out.split())


def test_python_dash_m(tmp_path: Path) -> None:
    src = Path(__file__).resolve().parents[2] / "src"
    env_path = f"{src}"
    result = subprocess.run(
        [sys.executable, "-m", "openhlm", "mdm", "describe", "--example", "hsb"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": env_path, "PATH": ""},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "level-2 units: 160" in result.stdout
    result = subprocess.run(
        [sys.executable, "-m", "openhlm", "mdm", "describe", "absent.mdmz"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": env_path, "PATH": ""},
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr == "openhlm: error: MDM file absent.mdmz does not exist\n"
