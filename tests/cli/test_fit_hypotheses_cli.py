"""``openhlm fit`` prints the hypothesis tests a model file asks for, at the end of the report
(HLM 6 command files: ``gammaN``/``hypoth``, ``homvar``, ``deviance``/``df``; TOML:
``[hypotheses]``)."""

from __future__ import annotations

import json
from pathlib import Path

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


def test_command_file_tests_printed(capsys):
    """ex4_tests.hlm: the seed's GLH (gamma1 rows), homvar:y and deviance:46502.952734/df:2."""
    code, out, err = run(capsys, "fit", str(SPEC_DATA / "ex4_tests.hlm"), "--level1", "hsb1.sav",
                         "--level2", "hsb2.sav", "--id", "id")
    assert code == 0, err
    lines = out.splitlines()
    exact = openhlm.fit(MODEL4, openhlm.datasets.hsb())
    glh = openhlm.glh(exact, "G01 = 0; G11 = 0")
    assert f"Chi-square statistic = {glh.chi2:.6f}" in lines
    assert "Degrees of freedom   = 2" in lines
    assert " Test of homogeneity of level-1 variance" in lines
    assert " Chi-square statistic         =    246.11665" in lines
    # the typed-in deviance is HLM's printed one: compared in HLM's convention
    dev = openhlm.deviance_test(exact, deviance=46502.952734, n_parameters=2, convention="hlm")
    assert f" Chi-square statistic         = {dev.chi2:12.5f}" in lines
    assert " P-value                      = >.500" in lines
    # order: model fit, GLH, homogeneity, deviance test
    order = [out.index(s) for s in ("Statistics for current covariance components model",
                                    "Results of General Linear Hypothesis Testing",
                                    "Test of homogeneity of level-1 variance",
                                    "Variance-Covariance components test")]
    assert order == sorted(order)


def test_toml_hypotheses(capsys, tmp_path):
    body = f'''[data]
level1 = "{bundled("hsb1.sav").as_posix()}"
level2 = "{bundled("hsb2.sav").as_posix()}"
id = "id"

[model]
equations = "{MODEL4}"

[hypotheses]
glh = [["G01 = 0", "G11 = 0"], ["G02 = G12"]]
deviance_test = {{ deviance = 46504.7906, parameters = 2 }}

[output]
json = "out.json"
'''
    path = tmp_path / "m4.toml"
    path.write_text(body, encoding="utf-8")
    code, out, err = run(capsys, "fit", str(path))
    assert code == 0, err
    assert "Results of General Linear Hypothesis Testing - Test 2" in out
    data = json.loads((tmp_path / "out.json").read_text())
    assert [h["df"] for h in data["glh"]["hypotheses"]] == [2, 1]
    assert data["deviance_test"]["chi2"] == abs(46504.7906 - data["deviance_test"]["deviance"])


def test_toml_bad_hypothesis_names_the_file(capsys, tmp_path):
    body = f'''[data]
level1 = "{bundled("hsb1.sav").as_posix()}"
level2 = "{bundled("hsb2.sav").as_posix()}"
id = "id"

[model]
equations = "mathach = B0 + R; B0 = G00 + U0"

[hypotheses]
glh = [["G01 = 0"]]
'''
    path = tmp_path / "bad.toml"
    path.write_text(body, encoding="utf-8")
    code, _, err = run(capsys, "fit", str(path))
    assert code == 2
    assert str(path) in err and "G01" in err and "Traceback" not in err
