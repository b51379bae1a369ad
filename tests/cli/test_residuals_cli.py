"""The CLI writes residual files (``openhlm residuals``, and ``openhlm fit`` from TOML [output]
and HLM command files' resfil keys) and graphs (``openhlm plot``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest

import openhlm
from openhlm.cli.main import main
from openhlm.datasets import path as bundled

SPEC_DATA = Path(__file__).resolve().parents[1] / "unit" / "spec" / "data"
MODEL4 = ("mathach = B0 + B1*group(ses) + R; B0 = G00 + G01*sector + G02*meanses + U0; "
          "B1 = G10 + G11*sector + G12*meanses + U1")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def model4():
    return openhlm.fit(MODEL4, openhlm.datasets.hsb())


def test_residuals_command_writes_both_files(capsys, tmp_path, model4):
    res2, res1 = tmp_path / "res2.sav", tmp_path / "res1.csv"
    code, out, err = run(capsys, "residuals", "--example", "hsb-model4", "--res2", str(res2),
                         "--res1", str(res1), "--extra2", "pracad,size", "--extra1", "female")
    assert code == 0, err
    assert f"level-2 residual file (160 records): {res2}" in out
    back, meta = pyreadstat.read_sav(res2)
    expected = model4.level2_residuals(extra=["pracad", "size"])
    assert list(back.columns) == list(expected.columns)
    np.testing.assert_allclose(back["EBINTRCP"], expected["EBINTRCP"], rtol=1e-12)
    np.testing.assert_allclose(back["MDIST"], expected["MDIST"], rtol=1e-12)
    assert meta.column_names_to_labels["pracad"].startswith("pracad: Proportion")
    level1 = pd.read_csv(res1)
    assert len(level1) == 7185 and "female" in level1.columns
    np.testing.assert_allclose(level1["FITVAL"], model4.level1_residuals()["FITVAL"],
                               rtol=1e-12)


def test_residuals_command_format_option_and_errors(capsys, tmp_path):
    target = tmp_path / "res2.out"
    code, _, err = run(capsys, "residuals", "--example", "hsb-model3", "--res2", str(target),
                       "--format", "stata")
    assert code == 0, err
    back, _meta = pyreadstat.read_dta(target)
    assert len(back) == 160 and "EBSES" in back.columns
    code, _out, err = run(capsys, "residuals", "--example", "hsb-model3")
    assert code == 2 and "--res2" in err and "Traceback" not in err
    code, _, err = run(capsys, "residuals", "--example", "hsb-model3", "--res2",
                       str(tmp_path / "r.sav"), "--extra2", "nosuch")
    assert code == 2 and "'nosuch'" in err


TOML = f'''title = "Model 4"

[data]
level1 = "{bundled("hsb1.sav").as_posix()}"
level2 = "{bundled("hsb2.sav").as_posix()}"
id = "id"

[model]
equations = """
mathach = B0 + B1*group(ses) + R
B0 = G00 + G01*sector + G02*meanses + U0
B1 = G10 + G11*sector + G12*meanses + U1
"""
'''


def test_fit_writes_residual_files_from_toml_output(capsys, tmp_path, model4):
    model = tmp_path / "model4.toml"
    model.write_text(TOML + '\n[output]\nlevel2_residuals = "res2.sav"\n'
                            'level1_residuals = "res1.parquet"\n')
    code, _, err = run(capsys, "fit", str(model))
    assert code == 0, err
    back, meta = pyreadstat.read_sav(tmp_path / "res2.sav")   # the suffix decides (csv default)
    np.testing.assert_allclose(back["EBSES"], model4.level2_residuals()["EBSES"], rtol=1e-12)
    assert meta.column_labels[0] == "Level-2 unit ID"
    level1 = pd.read_parquet(tmp_path / "res1.parquet")
    assert len(level1) == 7185
    model.write_text(TOML + '\n[output]\nlevel2_residuals = "res2.dat"\nformat = "dta"\n')
    code, _, err = run(capsys, "fit", str(model))
    assert code == 0, err
    assert len(pyreadstat.read_dta(tmp_path / "res2.dat")[0]) == 160


def test_fit_writes_residual_files_from_command_file(capsys, tmp_path, monkeypatch):
    text = (SPEC_DATA / "ex4.hlm").read_text()
    text = text.replace("resfil2:n", "resfil2:y/pracad,disclim\nresfil2name:hlmres2.dat\n"
                                     "resfiltype:stata")
    command = tmp_path / "ex4res.hlm"
    command.write_text(text)
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "fit", str(command), "--level1", "hsb1.sav", "--level2",
                       "hsb2.sav", "--id", "id")
    assert code == 0, err
    back, _meta = pyreadstat.read_dta(tmp_path / "hlmres2.dat")
    assert list(back.columns[:4]) == ["L2ID", "NJ", "CHIPCT", "MDIST"]
    assert {"pracad", "disclim"} <= set(back.columns)
    assert len(back) == 160


@pytest.mark.parametrize("graph,extra", [
    ("model", ["--x", "ses", "--by", "sector", "--quartiles-of", "meanses", "--name",
               "Model 4"]),
    ("level1", ["--sample", "0", "--by", "sector"]),
    ("qq-mdist", []),
    ("mdrsvar-hist", []),
    ("mdrsvar-qq", []),
    ("eb-vs", ["--variable", "pracad"]),
    ("caterpillar", ["--coefficient", "SES", "--kind", "coefficient"]),
])
def test_plot_command_writes_each_graph(capsys, tmp_path, graph, extra):
    out = tmp_path / f"{graph}.png"
    code, text, err = run(capsys, "plot", graph, "--example", "hsb-model4", "-o", str(out),
                          "--dpi", "50", *extra)
    assert code == 0, err
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"{graph} graph written to {out}" in text


def test_plot_command_formats_and_errors(capsys, tmp_path):
    for suffix, magic in ((".svg", b"<?xml"), (".pdf", b"%PDF")):
        out = tmp_path / f"qq{suffix}"
        assert run(capsys, "plot", "qq-mdist", "--example", "hsb-model4", "-o", str(out))[0] == 0
        assert out.read_bytes().startswith(magic)
    code, _, err = run(capsys, "plot", "qq-mdist", "--example", "hsb-model4", "-o",
                       str(tmp_path / "qq.jpg"))
    assert code == 2 and ".png, .svg or .pdf" in err
    code, _, err = run(capsys, "plot", "eb-vs", "--example", "hsb-model4", "-o",
                       str(tmp_path / "e.png"))
    assert code == 2 and "--variable" in err
    code, _, err = run(capsys, "plot", "eb-vs", "--example", "hsb-model4", "--variable",
                       "pracad", "--coefficient", "female", "-o", str(tmp_path / "e.png"))
    assert code == 2 and "not a random coefficient" in err
