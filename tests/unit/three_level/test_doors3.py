"""Three-level models through the doors: openhlm.fit, TOML model files, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import openhlm
from openhlm.cli.main import main
from openhlm.errors import SpecError
from openhlm.spec.modelfile import load_model_file

from .conftest import simulate

MODEL = """y = P0 + P1*t + E
P0 = B00 + B01*x2 + R0
P1 = B10 + R1
B00 = G000 + G001*w + U00
B10 = G100 + U10"""


@pytest.fixture()
def files(tmp_path: Path) -> Path:
    d = simulate()
    d.to_csv(tmp_path / "all.csv", index=False)
    d[["child", "t", "y"]].to_csv(tmp_path / "l1.csv", index=False)
    d[["child", "school", "x2"]].drop_duplicates().to_csv(tmp_path / "l2.csv", index=False)
    d[["school", "w"]].drop_duplicates().to_csv(tmp_path / "l3.csv", index=False)
    return tmp_path


def test_fit_from_dataframes_and_mdm(files):
    d = simulate()
    via_mdm = openhlm.fit(MODEL, openhlm.build_mdm(d, id=("child", "school")))
    via_frames = openhlm.fit(MODEL, files / "l1.csv", id=("child", "school"),
                             level2=files / "l2.csv", level3=files / "l3.csv")
    assert isinstance(via_mdm, openhlm.HLM3Results)
    assert via_frames.deviance == pytest.approx(via_mdm.deviance, abs=1e-8)
    assert via_mdm.n_level3 == 12


def test_unsupported_options_are_clear_errors():
    m = openhlm.build_mdm(simulate(), id=("child", "school"))
    with pytest.raises(SpecError, match="full maximum likelihood only: pass method='ml'"):
        openhlm.fit(MODEL, m, mode="hlm")
    with pytest.raises(SpecError, match="not available for three-level models yet: "
                                        "heterogeneous sigma\\^2 in mode='hlm'"):
        openhlm.fit(MODEL, m, method="ml", mode="hlm", heterogeneous_sigma2=["x2"])


def _toml(files: Path, data: str) -> Path:
    path = files / "model.toml"
    path.write_text(f'title = "t"\n\n[data]\n{data}\n\n[model]\nequations = """\n{MODEL}\n"""\n',
                    encoding="utf-8")
    return path


def test_toml_three_files_and_cli(files, capsys):
    path = _toml(files, 'level1 = "l1.csv"\nlevel2 = "l2.csv"\nlevel3 = "l3.csv"\n'
                        'id = ["child", "school"]')
    mf = load_model_file(path)
    assert mf.data.id == "child" and mf.data.id3 == "school" and mf.data.three_level
    assert main(["fit", str(path), "--json", str(files / "out.json")]) == 0
    out = capsys.readouterr().out
    assert "Tau(beta)" in out and "INTRCPT1/INTRCPT2, U00" in out
    data = json.loads((files / "out.json").read_text())
    assert data["n_level3"] == 12 and data["levels"] == 3


def test_toml_one_file_equals_three_files(files, capsys):
    one = _toml(files, 'level1 = "all.csv"\nid = ["child", "school"]')
    assert main(["fit", str(one), "--json", str(files / "one.json"), "-o",
                 str(files / "one.txt")]) == 0
    three = _toml(files, 'level1 = "l1.csv"\nlevel2 = "l2.csv"\nlevel3 = "l3.csv"\n'
                         'id = ["child", "school"]')
    assert main(["fit", str(three), "--json", str(files / "three.json"), "-o",
                 str(files / "three.txt")]) == 0
    a = json.loads((files / "one.json").read_text())
    b = json.loads((files / "three.json").read_text())
    assert a["deviance"] == pytest.approx(b["deviance"], abs=1e-8)


def test_toml_level3_needs_two_ids(files):
    path = _toml(files, 'level1 = "l1.csv"\nlevel2 = "l2.csv"\nlevel3 = "l3.csv"\nid = "child"')
    with pytest.raises(openhlm.OpenHLMError, match="level-3 ID"):
        load_model_file(path)


def test_cli_mdm_build_and_fit_from_saved_mdm(files, capsys):
    assert main(["mdm", "build", "--level1", str(files / "l1.csv"), "--level2",
                 str(files / "l2.csv"), "--level3", str(files / "l3.csv"), "--id",
                 "child,school", "-o", str(files / "x.mdmz")]) == 0
    assert "level-3 units: 12" in capsys.readouterr().out
    path = _toml(files, 'mdm = "x.mdmz"')
    assert main(["fit", str(path)]) == 0
    assert "Number of level-3 units = 12" in capsys.readouterr().out
    assert main(["mdm", "describe", str(files / "x.mdmz")]) == 0


def test_model_file_round_trip_keeps_both_ids(files):
    from openhlm.spec.modelfile import format_model_file, parse_model_file

    path = _toml(files, 'level1 = "l1.csv"\nlevel2 = "l2.csv"\nlevel3 = "l3.csv"\n'
                        'id = ["child", "school"]')
    mf = load_model_file(path)
    text = format_model_file(mf)
    assert 'id = ["child", "school"]' in text and "level3 = " in text
    back = parse_model_file(text, path=path)
    assert back.data == mf.data


def test_glh_on_three_level_gammas():
    import numpy as np

    m = openhlm.build_mdm(simulate(), id=("child", "school"))
    res = openhlm.fit(MODEL, m, hypotheses=["G001 = 0", "G001 = G100"])
    block = res.extras["glh"]
    g = res.gamma
    i, j = list(g.index).index("G001"), list(g.index).index("G100")
    V = res.robust_covariance
    chi2 = (g.iloc[i] - g.iloc[j]) ** 2 / (V[i, i] + V[j, j] - 2 * V[i, j])
    assert block.hypotheses[1].robust.chi2 == pytest.approx(chi2, rel=1e-10)
    assert block.hypotheses[0].model.chi2 == pytest.approx(
        g.iloc[i] ** 2 / res.covariance[i, i], rel=1e-10)
    assert "Results of General Linear Hypothesis Testing" in str(res)
    assert np.isfinite(block.hypotheses[0].robust.p)
    data = json.loads(res.to_json())
    assert len(data["glh"]["hypotheses"]) == 2


def test_deviance_tests():
    from openhlm.inference.three_level import compare3

    m = openhlm.build_mdm(simulate(), id=("child", "school"))
    full = openhlm.fit(MODEL, m, method="ml")
    small = openhlm.fit("y = P0 + P1*t + E; P0 = B00 + B01*x2 + R0; P1 = B10 + R1;"
                        "B00 = G000 + G001*w + U00", m, method="ml")
    test = compare3(full, small)
    assert test.chi2 == pytest.approx(small.deviance - full.deviance)
    assert test.df == full.n_parameters - small.n_parameters == 2
    again = openhlm.fit(MODEL, m, method="ml", deviance_test={
        "deviance": small.deviance, "n_parameters": small.n_parameters})
    assert again.extras["deviance_test"].chi2 == pytest.approx(test.chi2)
    assert "Chi-square statistic" in str(again) or "chi-square" in str(again).lower()
    with pytest.raises(openhlm.HypothesisError, match="same fixed effects"):
        compare3(openhlm.fit(MODEL, m), openhlm.fit("y = P0 + E; P0 = B00 + R0", m))


def test_toml_residual_files(files):
    path = files / "model.toml"
    path.write_text(f'[data]\nlevel1 = "all.csv"\nid = ["child", "school"]\n\n[model]\n'
                    f'equations = """\n{MODEL}\n"""\n\n[output]\nreport = "out.txt"\n'
                    'level2_residuals = "res2.csv"\nlevel3_residuals = "res3.csv"\n',
                    encoding="utf-8")
    assert main(["fit", str(path)]) == 0
    import pandas as pd

    l2 = pd.read_csv(files / "res2.csv")
    l3 = pd.read_csv(files / "res3.csv")
    assert len(l3) == 12 and {"EBU00", "ECB10"} <= set(l3.columns)
    assert {"L2ID", "EBR0", "EBR1"} <= set(l2.columns)
    from openhlm.spec.modelfile import format_model_file

    assert 'level3_residuals = "res3.csv"' in format_model_file(load_model_file(path))


def test_three_level_equations_with_two_level_data_is_a_clear_error():
    with pytest.raises(SpecError, match="three-level format"):
        openhlm.fit(MODEL, openhlm.build_mdm(simulate(), id="child"))
