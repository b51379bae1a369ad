"""Rows of general linear hypotheses written as equations in the gammas."""

from __future__ import annotations

from pathlib import Path

import pytest

from openhlm.errors import CommandFileError, HypothesisError
from openhlm.spec.commandfile import read_command_file
from openhlm.spec.contrasts import ContrastRow, parse_contrast, parse_hypothesis
from openhlm.spec.modelfile import DataSection, load_model_file, model_file_from_command_file

HSB_LEVEL1 = ("id", "minority", "female", "ses", "mathach")
HSB_LEVEL2 = ("id", "size", "sector", "pracad", "disclim", "himinty", "meanses")
DATA = Path(__file__).parent / "data"
GAMMAS = ("G00", "G01", "G02", "G10", "G11", "G12")


@pytest.mark.parametrize(
    ("text", "row", "rhs"),
    [
        ("G01 = 0", (0, 1, 0, 0, 0, 0), 0),
        ("g11=0", (0, 0, 0, 0, 1, 0), 0),
        ("G01 - G11 = 0", (0, 1, 0, 0, -1, 0), 0),
        ("G02 = G12", (0, 0, 1, 0, 0, -1), 0),
        ("2*G02 + 0.5*G12 = 1", (0, 0, 2, 0, 0, 0.5), 1),
        ("-G01 = -3", (0, -1, 0, 0, 0, 0), -3),
        ("G01 + 1 = 2", (0, 1, 0, 0, 0, 0), 1),
        ("G10 + G10 = 1e-1", (0, 0, 0, 2, 0, 0), 0.1),
        ("G00 - -G01 = 0", (1, 1, 0, 0, 0, 0), 0),
    ],
)
def test_rows(text: str, row: tuple[float, ...], rhs: float) -> None:
    assert parse_contrast(text, GAMMAS) == ContrastRow(tuple(map(float, row)), float(rhs))


@pytest.mark.parametrize(
    ("text", "phrase", "spot"),
    [
        ("G13 = 0", "unknown gamma 'G13' in hypothesis row (did you mean 'G12'", "G13"),
        ("G01 = 0 = 1", "a row has one '='", "="),
        ("G01", "a row is an equation", ""),
        ("0 = 0", "does not involve any gamma", "0"),
        ("G01 - G01 = 0", "does not involve any gamma", "G01"),
        ("G01 + = 0", "expected a gamma such as G01 or a number", "="),
        ("G01 * 2 = 0", "unexpected '*'", "*"),
        ("2 * = 0", "expected a gamma after '*'", "="),
        ("G01 ^ 2 = 0", "unexpected character '^'", "^"),
        ("G01 = ", "the row ends where a term is expected", ""),
    ],
)
def test_row_errors(text: str, phrase: str, spot: str) -> None:
    with pytest.raises(HypothesisError) as info:
        parse_contrast(text, GAMMAS)
    message = str(info.value)
    assert phrase in message
    if spot:
        quote, carets = message.splitlines()[-2:]
        start = carets.index("^")
        assert quote[start : start + carets.count("^")] == spot


def test_hypothesis_rows_are_numbered_in_errors() -> None:
    assert len(parse_hypothesis(["G01 = 0", "G11 = 0"], GAMMAS)) == 2
    with pytest.raises(HypothesisError, match="in row 2 of hypothesis"):
        parse_hypothesis(["G01 = 0", "G21 = 0"], GAMMAS)
    with pytest.raises(HypothesisError, match="has no rows"):
        parse_hypothesis([], GAMMAS)


def test_toml_glh_rows_give_the_seminars_contrast() -> None:
    mf = load_model_file(DATA / "model4.toml")
    spec = mf.model_spec(HSB_LEVEL1, HSB_LEVEL2)
    (hypothesis,) = mf.glh_contrasts(spec)
    # the seminar's "Results of General Linear Hypothesis Testing": contrast columns
    # 1 at SECTOR, G01 and 1 at SECTOR, G11
    assert [r.row for r in hypothesis] == [(0, 1, 0, 0, 0, 0), (0, 0, 0, 0, 1, 0)]


def test_toml_glh_errors_name_the_key() -> None:
    text = (DATA / "model4.toml").read_text().replace('"G11 = 0"', '"G21 = 0"')
    from openhlm.spec.modelfile import parse_model_file

    mf = parse_model_file(text, path="model4.toml")
    with pytest.raises(CommandFileError, match=r"model4\.toml, line 25: \[hypotheses\] glh: "
                       r"unknown gamma 'G21' in row 2 of hypothesis 1"):
        mf.glh_contrasts(mf.model_spec(HSB_LEVEL1, HSB_LEVEL2))


def test_converted_command_file_hypotheses_keep_their_contrasts(tmp_path: Path) -> None:
    text = (DATA / "ex4_tests.hlm").read_text() + "gamma2:0,0,2,0,0,-0.5\ngamma2:1,0,0,-1,0,0\n"
    path = tmp_path / "ex.hlm"
    path.write_text(text)
    cf = read_command_file(path, level1_variables=HSB_LEVEL1, level2_variables=HSB_LEVEL2)
    mf = model_file_from_command_file(cf, DataSection(mdm=Path("hsb.mdmz")))
    converted = mf.glh_contrasts(cf.spec)
    assert tuple(tuple(r.row for r in h) for h in converted) == cf.contrasts()
    assert all(r.rhs == 0 for h in converted for r in h)


def test_row_names_follow_the_shared_lexical_rules() -> None:
    # a name is a letter of any script or '_' followed by letters, digits, '_', '.', '@', '$'
    # (openhlm.spec.grammar): such a name is read whole and reported as an unknown gamma
    for text, name in (("G_01 = 0", "G_01"), ("G01.5 = 0", "G01.5"), ("éG01 = 0", "éG01")):
        with pytest.raises(HypothesisError) as info:
            parse_contrast(text, GAMMAS)
        assert f"unknown gamma '{name}'" in str(info.value)
        quote, carets = str(info.value).splitlines()[-2:]
        start = carets.index("^")
        assert quote[start : start + carets.count("^")] == name
