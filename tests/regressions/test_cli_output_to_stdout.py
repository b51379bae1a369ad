"""Regression: ``openhlm fit ... --json -``.

Before the fix ``-`` was taken as a file name: a file called ``-`` was written in the current
folder and nothing reached the pipe (``openhlm fit m.toml --json - | jq`` saw the text report).
"""

from __future__ import annotations

import json

import openhlm
from openhlm.cli.main import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_json_to_stdout(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "fit", "--example", "hsb-model1", "--json", "-")
    assert code == 0 and err == ""
    data = json.loads(out)            # stdout holds only the JSON document
    expected = openhlm.fit("mathach = B0 + R; B0 = G00 + U0", openhlm.datasets.hsb())
    assert data["n_level2"] == expected.n_level2 == 160
    assert abs(data["deviance"] - expected.deviance) < 1e-6
    assert not (tmp_path / "-").exists()


def test_json_to_stdout_with_report_file(tmp_path, capsys):
    report = tmp_path / "report.txt"
    code, out, _ = run(capsys, "fit", "--example", "hsb-model1", "--json", "-", "-o", str(report))
    assert code == 0
    assert json.loads(out)["n_level1"] == 7185
    assert "Final estimation of fixed effects" in report.read_text(encoding="utf-8")


def test_report_to_stdout_with_dash(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "fit", "--example", "hsb-model1", "-o", "-")
    assert code == 0 and "Final estimation of fixed effects" in out
    assert not (tmp_path / "-").exists()


def test_two_outputs_to_stdout_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)   # without the fix a file named '-' is written here
    code, out, err = run(capsys, "fit", "--example", "hsb-model1", "--json", "-", "--html", "-")
    assert code == 2 and out == ""
    assert "only one output can go to standard output ('-'), not --json and --html" in err
