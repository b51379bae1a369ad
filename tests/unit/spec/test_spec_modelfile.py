"""TOML model files: loading, defaults, error messages, and agreement with the command files."""



from __future__ import annotations

import re
from pathlib import Path

import pytest

from openhlm.errors import CommandFileError
from openhlm.spec.commandfile import parse_command_file, read_command_file
from openhlm.spec.modelfile import (
    DataSection,
    DevianceTest,
    EstimationSection,
    HypothesesSection,
    OutputSection,
    WeightsSection,
    format_model_file,
    load_model_file,
    model_file_from_command_file,
    parse_model_file,
)

HSB_LEVEL1 = ("id", "minority", "female", "ses", "mathach")
HSB_LEVEL2 = ("id", "size", "sector", "pracad", "disclim", "himinty", "meanses")
DATA = Path(__file__).parent / "data"
EXAMPLE = DATA / "model4.toml"

MINIMAL = """
[data]
level1 = "hsb1.csv"
id = "id"
[model]
equations = "mathach = B0 + R; B0 = G00 + U0"
"""


def test_example_file_loads_with_every_section() -> None:
    mf = load_model_file(EXAMPLE)
    assert mf.path == EXAMPLE
    assert mf.title == "Model 4: intercepts- and slopes-as-outcomes"
    assert mf.data == DataSection(level1=DATA / "hsb1.sav", level2=DATA / "hsb2.sav", id="id")
    assert mf.model.constraints == ("G02 = G12",)
    assert mf.model.heterogeneous_sigma2 == ("female",)
    assert mf.estimation == EstimationSection("reml", "exact", 100, 1e-6)
    assert mf.weights == WeightsSection()
    assert mf.hypotheses == HypothesesSection(
        glh=(("G01 = 0", "G11 = 0"),), homogeneity=True,
        deviance_test=DevianceTest(46502.95, 2),
    )
    assert mf.output == OutputSection(
        report=DATA / "model4.txt", json=DATA / "model4.json", html=None,
        level2_residuals=DATA / "res2.csv",
    )


def test_example_model_equals_the_command_file_version() -> None:
    spec = load_model_file(EXAMPLE).model_spec(HSB_LEVEL1, HSB_LEVEL2)
    hlm = read_command_file(DATA / "ex_constraint.hlm", level1_variables=HSB_LEVEL1,
                            level2_variables=HSB_LEVEL2)
    assert spec.coefficients == hlm.spec.coefficients
    assert spec.constraints == hlm.spec.constraints
    assert spec.variance_predictors == ("female",)


def test_minimal_file_gets_the_defaults() -> None:
    mf = parse_model_file(MINIMAL)
    assert mf.path is None and mf.title == ""
    assert mf.data == DataSection(level1=Path("hsb1.csv"), id="id")
    assert mf.estimation == EstimationSection()
    assert mf.hypotheses == HypothesesSection() and mf.output == OutputSection()
    assert mf.model.equations_line == 6
    assert mf.model_spec(HSB_LEVEL1, HSB_LEVEL2).gamma_labels() == ("G00",)


def test_paths_are_relative_to_the_toml_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    file = tmp_path / "sub" / "m.toml"
    file.write_text(MINIMAL.replace('"hsb1.csv"', '"../data/hsb1.csv"')
                    + '[output]\nreport = "out/r.txt"\njson = "/abs/r.json"\n')
    mf = load_model_file(file)
    assert mf.data.level1 == tmp_path / "sub" / "../data/hsb1.csv"
    assert mf.output.report == tmp_path / "sub" / "out/r.txt"
    assert mf.output.json == Path("/abs/r.json")


def test_a_saved_mdm_replaces_the_data_files() -> None:
    mf = parse_model_file('[data]\nmdm = "hsb.mdm"\n[model]\nequations = "mathach = B0 + R"\n')
    assert mf.data.mdm == Path("hsb.mdm") and mf.data.level1 is None


def test_weights_are_checked_against_the_data() -> None:
    mf = parse_model_file(MINIMAL + '[weights]\nlevel1 = "FEMALE"\nlevel2 = "size"\n'
                          "normalize = false\n")
    assert mf.resolved_weights(HSB_LEVEL1, HSB_LEVEL2) == WeightsSection(
        "female", "size", None, False
    )
    bad = parse_model_file(MINIMAL + '[weights]\nlevel2 = "ses"\n', path="w.toml")
    with pytest.raises(CommandFileError, match=r"w\.toml, line 8: \[weights\] level2: 'ses' is a "
                       r"level-1 variable \(a level-2 variable is needed\)"):
        bad.resolved_weights(HSB_LEVEL1, HSB_LEVEL2)


def example_with(old: str, new: str) -> str:
    text = EXAMPLE.read_text()
    assert old in text
    return text.replace(old, new)


def line_of(text: str, fragment: str) -> int:
    return next(i for i, ln in enumerate(text.splitlines(), 1) if fragment in ln)


@pytest.mark.parametrize(
    ("old", "new", "phrase", "quoted"),
    [
        ('method = "reml"', 'metod = "reml"',
         "[estimation] metod: unknown key in [estimation]", "metod"),
        ('method = "reml"', 'method = "REML2"', "must be one of 'reml', 'ml', not 'REML2'",
         "method"),
        ('mode = "exact"', 'mode = "fast"', "must be one of 'exact', 'hlm'", "mode"),
        ("max_iterations = 100", 'max_iterations = "100"',
         "max_iterations: must be a whole number, not a string ('100')", "max_iterations"),
        ("max_iterations = 100", "max_iterations = 0", "must be at least 1", "max_iterations"),
        ("tolerance = 1e-6", "tolerance = true", ("must be a number or a whole number, not "
         "true/false"), "tolerance"),
        ("homogeneity = true", 'homogeneity = "yes"', "must be true or false", "homogeneity"),
        ('glh = [["G01 = 0", "G11 = 0"]]', 'glh = ["G01 = 0"]',
         "each hypothesis must be a list of strings", "glh"),
        ("parameters = 2}", "parameters = 0}", "must be at least 1", "deviance_test"),
        ("parameters = 2}", "params = 2}", "unknown key in [hypotheses.deviance_test]",
         "deviance_test"),
        ('constraints = ["G02 = G12"]', 'constraints = "G02 = G12"', "must be a list",
         "constraints"),
        ("[output]", "[outptu]", "unknown key in the top level", "[outptu]"),
        ('report = "model4.txt"', 'report = 4', "must be a string", "report"),
        ('id = "id"', 'id = "id', "TOML syntax error", 'id = "id'),
        ('level2_residuals = "res2.csv"', 'level2_residuals = "res2.csv"\nformat = "xls"',
         "must be one of 'csv', 'sav', 'dta', 'xpt', 'xlsx', 'parquet'", "format"),
    ],
)
def test_errors_name_the_file_key_and_line(old: str, new: str, phrase: str, quoted: str) -> None:
    text = example_with(old, new)
    with pytest.raises(CommandFileError) as info:
        parse_model_file(text, path="model4.toml")
    message = str(info.value)
    assert phrase in message
    expected_line = line_of(text, new.splitlines()[-1])
    assert f"line {expected_line} of model4.toml" in message
    assert quoted in message.splitlines()[-2]


def test_missing_sections_and_keys() -> None:
    with pytest.raises(CommandFileError, match=r"data: is required"):
        parse_model_file('[model]\nequations = "mathach = B0 + R"\n')
    with pytest.raises(CommandFileError, match=r"\[model\] equations: is required"):
        parse_model_file('[data]\nlevel1 = "a.csv"\nid = "id"\n[model]\n')
    with pytest.raises(CommandFileError, match=r"\[data\] id: is required"):
        parse_model_file('[data]\nlevel1 = "a.csv"\n[model]\nequations = "y = B0 + R"\n')
    with pytest.raises(CommandFileError, match=r"needs level1"):
        parse_model_file('[data]\nid = "id"\n[model]\nequations = "y = B0 + R"\n')
    with pytest.raises(CommandFileError, match=r"either mdm or level1/level2"):
        parse_model_file('[data]\nmdm = "a.mdm"\nlevel1 = "a.csv"\n[model]\nequations = "y"\n')
    with pytest.raises(CommandFileError, match=r"\[model\] equations: is empty"):
        parse_model_file(MINIMAL.replace("mathach = B0 + R; B0 = G00 + U0", " "))


def test_equation_errors_point_into_the_toml_file() -> None:
    text = example_with("B1 = G10 + G11*sector", "B1 = G10 + G11*sectr")
    mf = parse_model_file(text, path="model4.toml")  # the text is only parsed later
    with pytest.raises(CommandFileError) as info:
        mf.model_spec(HSB_LEVEL1, HSB_LEVEL2)
    message = str(info.value)
    line = line_of(text, "sectr")
    assert f"unknown variable 'sectr' in line {line} of model4.toml (did you mean 'sector'?)" in message
    quote, carets = message.splitlines()[-2:]
    assert quote.strip() == text.splitlines()[line - 1].strip()
    assert quote[carets.index("^"):][:5] == "sectr"


def test_single_line_equations_keep_their_line() -> None:
    text = MINIMAL.replace("B0 = G00 + U0", "B0 = G00 + G01*sess + U0")
    with pytest.raises(CommandFileError, match=r"in line 6 of <text>"):
        parse_model_file(text).model_spec(HSB_LEVEL1, HSB_LEVEL2)


def test_constraint_and_sigma2_errors_name_their_key() -> None:
    mf = parse_model_file(example_with('"G02 = G12"', '"G02 = G13"'), path="model4.toml")
    with pytest.raises(CommandFileError, match=r"model4\.toml, line 15: \[model\] constraints: "
                       r"the constraint names unknown gamma 'G13'"):
        mf.model_spec(HSB_LEVEL1, HSB_LEVEL2)
    mf = parse_model_file(example_with('["female"]', '["meanses"]'), path="model4.toml")
    with pytest.raises(CommandFileError, match=r"line 16: \[model\] heterogeneous_sigma2: "
                       r"'meanses' is a level-2 variable"):
        mf.model_spec(HSB_LEVEL1, HSB_LEVEL2)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(CommandFileError, match=r"cannot read model file .*nope\.toml"):
        load_model_file(tmp_path / "nope.toml")
    bad = tmp_path / "latin1.toml"
    bad.write_bytes('title = "caf\xe9"\n'.encode("latin-1"))
    with pytest.raises(CommandFileError, match="is not UTF-8 text"):
        load_model_file(bad)


def test_docs_examples_load() -> None:
    """Every complete ```toml example in docs/model-files.md is a valid model file."""
    docs = Path(__file__).parents[3] / "docs" / "model-files.md"
    if not docs.exists():  # the docs are not shipped with the package
        pytest.skip("docs/model-files.md is not available")
    blocks = re.findall(r"```toml\n(.*?)```", docs.read_text(), flags=re.DOTALL)
    full = [b for b in blocks if "[data]" in b and "[model]" in b]
    assert full, "the docs should show at least one complete model file"
    for block in full:
        mf = parse_model_file(block, path="docs.toml")
        mf.model_spec(HSB_LEVEL1, HSB_LEVEL2)


# -- writing and converting -------------------------------------------------------------------


def test_example_file_round_trips_through_format_model_file() -> None:
    mf = load_model_file(EXAMPLE)
    text = format_model_file(mf)
    back = parse_model_file(text, path=EXAMPLE)
    assert back == mf
    assert back.model_spec(HSB_LEVEL1, HSB_LEVEL2) == mf.model_spec(HSB_LEVEL1, HSB_LEVEL2)


def test_format_model_file_escapes_strings_and_keeps_outside_paths(tmp_path: Path) -> None:
    text = MINIMAL + '[weights]\nlevel1 = "w"\nnormalize = false\n[output]\njson = "/elsewhere/r.json"\n'
    text = 'title = "quote \\" and \\\\ and caf\u00e9"\n' + text
    file = tmp_path / "m.toml"
    mf = parse_model_file(text, path=file)
    assert mf.title == 'quote " and \\ and caf\u00e9'
    written = format_model_file(mf)
    assert 'json = "/elsewhere/r.json"' in written and 'level1 = "hsb1.csv"' in written
    assert parse_model_file(written, path=file) == mf


def test_command_file_converts_to_an_equivalent_model_file(tmp_path: Path) -> None:
    cf = read_command_file(DATA / "ex4_tests.hlm", level1_variables=HSB_LEVEL1,
                           level2_variables=HSB_LEVEL2)
    data = DataSection(level1=tmp_path / "hsb1.sav", level2=tmp_path / "hsb2.sav", id="id")
    mf = model_file_from_command_file(cf, data, path=tmp_path / "ex4.toml")
    assert mf.title == ""  # HLM's "no title"
    assert mf.estimation == EstimationSection("reml", "hlm", 100, 1e-6)
    # gamma1:0,1,0,0,0,0 and gamma1:0,0,0,0,1,0 are one hypothesis: G01 = 0 and G11 = 0
    assert mf.hypotheses == HypothesesSection(
        glh=(("G01 = 0", "G11 = 0"),), homogeneity=True,
        deviance_test=DevianceTest(46502.952734, 2),
    )
    assert mf.output.report == tmp_path / "hlm2.txt"  # HLM's c:\hlm2.txt, in the TOML's folder
    (tmp_path / "ex4.toml").write_text(format_model_file(mf))
    back = load_model_file(tmp_path / "ex4.toml")
    assert back == mf
    assert back.model_spec(HSB_LEVEL1, HSB_LEVEL2) == cf.spec


def test_converted_constraints_and_sigma2_and_general_contrasts() -> None:
    text = (DATA / "ex_constraint.hlm").read_text().replace(
        "heterol1var:n", "heterol1var:FEMALE\ngamma1:0,1,0,0,-1,0\ngamma2:0,0,2,0,0,0.5"
    )
    cf = parse_command_file(text, level1_variables=HSB_LEVEL1, level2_variables=HSB_LEVEL2)
    mf = model_file_from_command_file(cf, DataSection(mdm=Path("hsb.mdmz")))
    assert mf.model.constraints == ("G02 = G12",)
    assert mf.model.heterogeneous_sigma2 == ("female",)
    assert mf.estimation.method == "ml"
    assert mf.hypotheses.glh == (("G01 - G11 = 0",), ("2*G02 + 0.5*G12 = 0",))
    assert mf.model_spec(HSB_LEVEL1, HSB_LEVEL2) == cf.spec
