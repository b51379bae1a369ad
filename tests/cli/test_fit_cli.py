"""``openhlm fit``: examples, TOML model files, HLM 6 command files, outputs and errors."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

import openhlm
from openhlm.cli.main import main
from openhlm.datasets import path as bundled

SPEC_DATA = Path(__file__).resolve().parents[1] / "unit" / "spec" / "data"
SEED = Path(__file__).resolve().parents[1] / "golden" / "seed"
MODEL4 = ("mathach = B0 + B1*group(ses) + R; B0 = G00 + G01*sector + G02*meanses + U0; "
          "B1 = G10 + G11*sector + G12*meanses + U1")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- examples --------------------------------------------------------------------------------

def test_example_model1_hlm_mode_prints_hlms_numbers(capsys):
    code, out, err = run(capsys, "fit", "--example", "hsb-model1", "--mode", "hlm")
    assert code == 0 and err == ""
    lines = out.splitlines()
    # seminar Model 1 (HLM 6.08), verbatim
    for expected in [
        "******* ITERATION 4 *******",
        " Sigma_squared =     39.14831",
        " INTRCPT1,B0      8.61431 ",
        "  INTRCPT1, B0                        0.901",
        "The value of the log-likelihood function at iteration 4 = -2.355840E+004",
        "    INTRCPT2, G00          12.636972   0.243628    51.870       159    0.000",  # robust
        " INTRCPT1,       U0        2.93501       8.61431   159    1660.23259    0.000",
        "  level-1,       R         6.25686      39.14831",
        " Number of estimated parameters = 2",
    ]:
        assert expected in lines, expected


def test_example_model1_hlm_mode_deviance(capsys):
    _, out, _ = run(capsys, "fit", "--example", "hsb-model1", "--mode", "hlm")
    assert " Deviance                       = 47116.793477" in out.splitlines()


@pytest.mark.xfail(strict=True, reason="model-based SE of G00 after HLM's 4 iterations is "
                   "0.2444115 (HLM prints 0.244412; on the rounding boundary, docs/statistics.md 0)")
def test_example_model1_hlm_mode_model_based_row(capsys):
    _, out, _ = run(capsys, "fit", "--example", "hsb-model1", "--mode", "hlm")
    lines = out.splitlines()
    assert "    INTRCPT2, G00          12.636972   0.244412    51.704       159    0.000" in lines


def test_example_model1_hlm_mode_reproduces_seed_lines(capsys):
    """All of HLM 6.08's Model 1 output lines appear, in order, except the ones listed."""
    _, out, _ = run(capsys, "fit", "--example", "hsb-model1", "--mode", "hlm")
    ours = [line.rstrip().lower() for line in out.splitlines()]
    skip = ("the command file", "output file name", "the value of the likelihood function",
            "the data source for this run",               # we name the data files, not hsb.mdm
            "intrcpt2, g00          12.636972   0.244412")  # xfail above
    pos = 0
    for raw in (SEED / "model1_reml.txt").read_text().splitlines():
        line = raw.rstrip().lower()
        if not line.strip() or line.strip().startswith(skip):
            continue
        hits = [i for i in range(pos, len(ours)) if ours[i] == line]
        assert hits, f"HLM line not reproduced in order: {line!r}"
        pos = hits[0] + 1


def test_example_defaults_to_exact_reml(capsys):
    code, out, _ = run(capsys, "fit", "--example", "hsb-model4")
    assert code == 0
    assert "fully converged (openhlm's exact mode)" in out
    assert "Method of estimation: restricted maximum likelihood" in out
    results = openhlm.fit(MODEL4, openhlm.datasets.hsb())
    assert f" Sigma_squared = {results.sigma2:12.5f}" in out
    assert f" Deviance                       = {results.deviance:.6f}" in out


def test_method_and_mode_overrides(capsys):
    code, out, _ = run(capsys, "fit", "--example", "hsb-model2", "--method", "ml")
    assert code == 0 and "Method of estimation: full maximum likelihood" in out
    ml = openhlm.fit("mathach = B0 + R; B0 = G00 + G01*meanses + U0", openhlm.datasets.hsb(),
                     method="ml")
    assert f" Deviance                       = {ml.deviance:.6f}" in out
    assert " Number of estimated parameters = 4" in out   # ML counts the two gammas


def test_example_model4_is_fast(capsys):
    main(["fit", "--example", "hsb-model1"])   # warm imports
    capsys.readouterr()
    start = time.perf_counter()
    code = main(["fit", "--example", "hsb-model4"])
    elapsed = time.perf_counter() - start
    assert code == 0 and "Final estimation of variance components" in capsys.readouterr()[0]
    assert elapsed < 2.0


def test_outputs_written(capsys, tmp_path):
    report, js, html = tmp_path / "r.txt", tmp_path / "r.json", tmp_path / "sub" / "r.html"
    code, out, _ = run(capsys, "fit", "--example", "hsb-model3", "--output", str(report),
                       "--json", str(js), "--html", str(html))
    assert code == 0 and out == ""
    text = report.read_text()
    assert "Final estimation of fixed effects" in text
    data = json.loads(js.read_text())
    assert data["outcome"] == "mathach" and data["n_level2"] == 160
    assert [fe["gamma"] for fe in data["fixed_effects"]] == ["G00", "G10"]
    assert f"{data['sigma2']:.5f}" in text
    assert html.read_text().startswith("<!DOCTYPE html>") and "openhlm-report" in html.read_text()


# -- TOML model files ------------------------------------------------------------------------

def _toml(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "model.toml"
    p.write_text(body)
    return p


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

[estimation]
method = "ml"
'''


def test_toml_model_file(capsys, tmp_path):
    code, out, err = run(capsys, "fit", str(_toml(tmp_path, TOML)))
    assert code == 0, err
    assert "  Problem Title: Model 4" in out
    assert "Method of estimation: full maximum likelihood" in out
    ml = openhlm.fit(MODEL4, openhlm.datasets.hsb(), method="ml")
    assert f" Deviance                       = {ml.deviance:.6f}" in out


def test_toml_output_section_and_bundled_names(capsys, tmp_path):
    body = TOML.replace(bundled("hsb1.sav").as_posix(), "hsb1.sav").replace(
        bundled("hsb2.sav").as_posix(), "hsb2.sav") + '\n[output]\njson = "out.json"\n'
    code, _, err = run(capsys, "fit", str(_toml(tmp_path, body)))
    assert code == 0, err
    assert json.loads((tmp_path / "out.json").read_text())["method"] == "ml"


def test_toml_error_names_key_and_line(capsys, tmp_path):
    bad = TOML.replace('method = "ml"', 'metod = "ml"')
    code, out, err = run(capsys, "fit", str(_toml(tmp_path, bad)))
    assert code == 2 and out == ""
    line = bad.splitlines().index('metod = "ml"') + 1
    assert err.startswith("openhlm: error:") and "metod" in err and f"line {line} " in err
    assert "did you mean 'method'" in err
    assert "Traceback" not in err


def test_toml_equation_error_points_into_file(capsys, tmp_path):
    bad = TOML.replace("G01*sector", "G01*sectr")
    line = next(i for i, t in enumerate(bad.splitlines(), 1) if "sectr" in t)
    code, _, err = run(capsys, "fit", str(_toml(tmp_path, bad)))
    assert code == 2 and "sectr" in err and f"line {line} " in err and "'sector'" in err


def test_toml_hypotheses_are_printed(capsys, tmp_path):
    body = TOML + '\n[hypotheses]\nhomogeneity = true\n'
    code, out, err = run(capsys, "fit", str(_toml(tmp_path, body)))
    assert code == 0 and err == ""
    assert " Test of homogeneity of level-1 variance" in out.splitlines()


# -- HLM 6 command files ---------------------------------------------------------------------

def test_command_file(capsys):
    code, out, err = run(capsys, "fit", str(SPEC_DATA / "ex4.hlm"), "--level1", "hsb1.sav",
                         "--level2", "hsb2.sav", "--id", "id")
    assert code == 0, err
    assert f"  The command file for this run = {SPEC_DATA / 'ex4.hlm'}" in out
    assert " *      SES slope, B1      INTRCPT2, G10   " in out
    exact = openhlm.fit(MODEL4, openhlm.datasets.hsb())
    g12 = exact.fixed["G12"]
    assert f"     meanses, G12 {g12.estimate:18.6f}" in out


def test_command_file_needs_data(capsys):
    code, _, err = run(capsys, "fit", str(SPEC_DATA / "ex4.hlm"))
    assert code == 2 and "--level1" in err and ".mdm" in err


def test_command_file_unsupported_key(capsys, tmp_path):
    text = (SPEC_DATA / "ex4.hlm").read_text().replace("nonlin:n", "nonlin:binomial")
    p = tmp_path / "bad.hlm"
    p.write_text(text)
    code, _, err = run(capsys, "fit", str(p), "--level1", "hsb1.sav", "--level2", "hsb2.sav",
                       "--id", "id")
    assert code == 2 and "bad.hlm" in err and "nonlin" in err and "Traceback" not in err


def test_command_file_weights(capsys, tmp_path):
    text = (SPEC_DATA / "ex4.hlm").read_text().replace("level2weight:none", "level2weight:SIZE")
    p = tmp_path / "w.hlm"
    p.write_text(text)
    code, out, err = run(capsys, "fit", str(p), "--level1", "hsb1.sav", "--level2", "hsb2.sav",
                         "--id", "id")
    assert code == 0, err
    weighted = openhlm.fit(MODEL4, openhlm.datasets.hsb(), level2_weight="size")
    assert f" Sigma_squared = {weighted.sigma2:12.5f}" in out.splitlines()
    assert f" Sigma_squared = {openhlm.fit(MODEL4, openhlm.datasets.hsb()).sigma2:12.5f}" \
        not in out.splitlines()


def test_toml_weights(capsys, tmp_path):
    body = TOML + '\n[weights]\nlevel2 = "size"\n'
    code, out, err = run(capsys, "fit", str(_toml(tmp_path, body)))
    assert code == 0, err
    weighted = openhlm.fit(MODEL4, openhlm.datasets.hsb(), method="ml", level2_weight="size")
    assert f" Deviance                       = {weighted.deviance:.6f}" in out.splitlines()


# -- usage errors ----------------------------------------------------------------------------

@pytest.mark.parametrize("argv,needle", [
    (["fit"], "--example"),
    (["fit", "x.toml", "--example", "hsb-model1"], "one of them"),
    (["fit", "--example", "hsb-model9"], "hsb-model1"),
    (["fit", "missing.toml"], "not found"),
])
def test_usage_errors(capsys, argv, needle):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and needle in err


def test_help_lists_fit(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "fit" in out
