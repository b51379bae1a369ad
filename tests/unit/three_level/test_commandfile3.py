"""HLM 6 command files of three-level models (spec/commandfile3.py): a command file written
from the documented format (Reardon's Stata hlm3.ado and an R generator of HLM3 .hlm files;
docs/three-level.md) gives the same fit as the equations; undocumented keys are refused with
their line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import openhlm
from openhlm.cli.main import main
from openhlm.errors import CommandFileError
from openhlm.spec.commandfile3 import parse_command_file3

# the manual's EG example (egsingle), its equations as in the HLM 6.00 printout EG1.txt
# (estat.us/sas/EG1.txt), here with a group-centred FEMALE and a grand-centred MOBILITY
COMMAND = """#WHLM CMD FILE FOR eg.mdm
nonlin:n
numit:100
stopval:0.0000010000
level1:MATH=INTRCPT1+YEAR+RANDOM
level2:INTRCPT1=INTRCPT2+FEMALE,1+random/
level3:INTRCPT2=INTRCPT3+MOBILITY,2+random/
level3:FEMALE=INTRCPT3+LOWINC/
level2:YEAR=INTRCPT2+BLACK+random/
level3:INTRCPT2=INTRCPT3+MOBILITY,2+random/
level3:BLACK=INTRCPT3/
fixtau2:3
fixtau3:3
accel:5
level1weight:none
level2weight:none
level3weight:none
varianceknown:none
level1deletion:none
hypoth:n
resfil1:n
resfil2:n
resfil3:n
constrain:N
lvr-beta:n
title:no title
output:eg1.txt
fulloutput:n
fishertype:2
"""

EQUATIONS = """math = P0 + P1*year + E
P0 = B00 + B01*group(female) + R0
P1 = B10 + B11*black + R1
B00 = G000 + G001*grand(mobility) + U00
B01 = G010 + G011*lowinc
B10 = G100 + G101*grand(mobility) + U10
"""


def _names(mdm):
    return {"level1_variables": mdm.level1_variables, "level2_variables": mdm.level2_variables,
                "level3_variables": mdm.level3_variables}


def test_command_file_reads_into_the_equations(eg_mdm):
    cf = parse_command_file3(COMMAND, **_names(eg_mdm))
    expected = openhlm.spec.equations3.parse_model3(EQUATIONS, **_names(eg_mdm))
    assert str(cf.spec) == str(expected)
    assert cf.mdm == "eg.mdm" and cf.max_iterations == 100 and cf.tolerance == 1e-6
    assert "fishertype" in cf.ignored_keys and "resfil3" in cf.ignored_keys


def test_command_file_through_the_cli(tmp_path: Path, egsingle, eg_mdm, capsys):
    (tmp_path / "eg.hlm").write_text(COMMAND, encoding="latin-1")
    egsingle.to_csv(tmp_path / "eg.csv", index=False)
    level1 = egsingle[["childid", "year", "math"]]
    level2 = egsingle[["childid", "schoolid", "female", "black"]].drop_duplicates()
    level3 = egsingle[["schoolid", "lowinc", "mobility"]].drop_duplicates()
    for name, frame in (("l1", level1), ("l2", level2), ("l3", level3)):
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
    out = tmp_path / "out.json"
    assert main(["fit", str(tmp_path / "eg.hlm"), "--level1", str(tmp_path / "l1.csv"),
                 "--level2", str(tmp_path / "l2.csv"), "--level3", str(tmp_path / "l3.csv"),
                 "--id", "childid,schoolid", "--json", str(out)]) == 0
    got = json.loads(out.read_text())
    direct = openhlm.fit(EQUATIONS, eg_mdm, method="ml")
    assert got["method"] == "ml"          # HLM3 estimates by full ML only
    assert got["deviance"] == pytest.approx(direct.deviance, abs=1e-6)
    assert [r["gamma"] for r in got["fixed_effects"]] == [r.gamma for r in direct.fixed]
    capsys.readouterr()
    # HLM mode takes numit/stopval from the file
    assert main(["fit", str(tmp_path / "eg.hlm"), "--level1", str(tmp_path / "l1.csv"),
                 "--level2", str(tmp_path / "l2.csv"), "--level3", str(tmp_path / "l3.csv"),
                 "--id", "childid,schoolid", "--mode", "hlm"]) == 0
    assert "Iterations stopped due to small change in likelihood function" in \
        capsys.readouterr().out


@pytest.mark.parametrize("line,message,number", [
    ("mlf:y", "key 'mlf' is not read from HLM3 command files", 3),
    ("homvar:y", "key 'homvar' is not read from HLM3 command files", 3),
    ("level3weight:W3", "weights (level3weight:W3) are not read", 3),
    ("resfil3:y", "residual files from a command file (resfil3:y)", 3),
    ("accel:3", "only HLM's default accelerator", 3),
])
def test_undocumented_or_unsupported_keys(eg_mdm, line, message, number):
    text = COMMAND.replace("numit:100\n", line + "\n")
    lines = text.splitlines()
    assert lines[number - 1] == line
    with pytest.raises(CommandFileError, match=re.escape(message)) as err:
        parse_command_file3(text, **_names(eg_mdm))
    assert f"line {number}" in str(err.value)


@pytest.mark.parametrize("old,new,message", [
    ("level1:MATH=INTRCPT1+YEAR+RANDOM", "level1:MATH=INTRCPT1+YEAR+RANDOM+FEMALE",
     "'FEMALE' is a level-2 variable and cannot enter a level-1 equation"),
    ("MOBILITY,2+random/\nlevel3:FEMALE", "MOBILITY,1+random/\nlevel3:FEMALE",
     "cannot be group-mean centred"),
    ("level3:BLACK=INTRCPT3/", "level3:HISPANIC=INTRCPT3/",
     "'HISPANIC' is not a coefficient of the level-2 equation of YEAR"),
    ("level2:YEAR=INTRCPT2+BLACK", "level2:YAER=INTRCPT2+BLACK",
     "'YAER' is not a coefficient of the level-1 equation"),
    ("INTRCPT2+FEMALE,1", "INTRCPT2+FEMAEL,1", "unknown level-2 variable 'FEMAEL'"),
])
def test_model_errors_point_at_the_line(eg_mdm, old, new, message):
    text = COMMAND.replace(old, new, 1)
    assert text != COMMAND
    with pytest.raises(CommandFileError, match=re.escape(message)) as err:
        parse_command_file3(text, **_names(eg_mdm))
    assert "line " in str(err.value)
