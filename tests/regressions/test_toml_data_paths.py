"""Regression: a TOML model file whose [data] file does not exist.

Paths in [data] are relative to the model file's folder, but the error named only the bare
file name ("cannot read nope.csv: no such file (check the path and the current directory)"),
sending users to look in the current directory.
"""

from __future__ import annotations

import shutil

from openhlm.cli.main import main
from openhlm.datasets import path as bundled

MODEL = """\
[data]
level1 = "{level1}"
level2 = "{level2}"
id = "id"

[model]
equations = "mathach = B0 + R; B0 = G00 + U0"
"""


def test_missing_level2_file_named_with_key_and_full_path(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "m.toml").write_text(MODEL.format(level1="hsb1.csv", level2="schools.csv"))
    monkeypatch.chdir(tmp_path)
    assert main(["fit", "project/m.toml"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("openhlm: error: ")
    assert "m.toml: [data] level2: no such file" in err
    assert "no such file project/schools.csv" in err   # the path joined to the model's folder


def test_local_file_next_to_the_model_and_bundled_names_still_work(tmp_path, monkeypatch,
                                                                  capsys):
    shutil.copy(bundled("hsb2.csv"), tmp_path / "schools.csv")
    (tmp_path / "m.toml").write_text(MODEL.format(level1="hsb1.sav", level2="schools.csv"))
    monkeypatch.chdir("/")
    assert main(["fit", str(tmp_path / "m.toml")]) == 0
    assert "The maximum number of level-2 units = 160" in capsys.readouterr().out
