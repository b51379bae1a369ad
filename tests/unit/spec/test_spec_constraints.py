"""Equality constraints: openhlm.spec.constraints.parse_constraint, the one constraint parser
(used by parse_model, command files and TOML model files)."""



from __future__ import annotations

import pytest

from openhlm.errors import SpecError
from openhlm.spec import parse_constraint as from_spec
from openhlm.spec.constraints import parse_constraint
from openhlm.spec.equations import parse_constraint as from_equations
from openhlm.spec.equations import parse_model
from openhlm.spec.model import Constraint

GAMMAS = ("G00", "G01", "G02", "G10", "G11", "G12")
MODEL4 = """
mathach = B0 + B1*group(ses) + R
B0 = G00 + G01*sector + G02*meanses + U0
B1 = G10 + G11*sector + G12*meanses + U1
"""


def underlined(message: str) -> str:
    quote, carets = message.splitlines()[-2:]
    start = carets.index("^")
    return quote[start : start + carets.count("^")]


@pytest.mark.parametrize(
    ("text", "gammas"),
    [
        ("G02 = G12", ("G02", "G12")),
        ("g02 = g12", ("G02", "G12")),
        ("G02=G12", ("G02", "G12")),
        ("   G02   =G12  ", ("G02", "G12")),
        ("G01 = G02 = G03", ("G01", "G02", "G03")),
        ("g01=G11=g21", ("G01", "G11", "G21")),
        ("G01 =\nG11", ("G01", "G11")),
        ("\tG10 = G00", ("G10", "G00")),
    ],
)
def test_constraints_are_read(text: str, gammas: tuple[str, ...]) -> None:
    assert parse_constraint(text) == Constraint(gammas)
    # what the split-on-'=' reader in api.py made of the same text
    assert parse_constraint(text) == Constraint(tuple(p.strip().upper() for p in text.split("=")))


def test_one_function_everywhere() -> None:
    assert from_spec is parse_constraint and from_equations is parse_constraint
    assert parse_constraint(str(Constraint(("G01", "G11", "G21")))) == Constraint(("G01", "G11", "G21"))
    assert parse_constraint("G02 = g12", GAMMAS) == Constraint(("G02", "G12"))


@pytest.mark.parametrize(
    ("text", "message", "spot"),
    [
        ("", "constraint is empty; write it as 'G02 = G12'", None),
        ("   \n ", "constraint is empty; write it as 'G02 = G12'", None),
        ("G01", "the equation ends where '=' is expected in constraint:", ""),
        ("G01 =", "the equation ends where a gamma such as G12 is expected in constraint:", ""),
        ("G01 = = G02", "unexpected '=' where a gamma such as G12 is expected in constraint:", "="),
        ("G01 = G02 G03", "unexpected 'G03' where '=' or the end of the constraint is expected in constraint (write G02*G03):", "G03"),
        ("B1 = B2", "a constraint equates gammas in constraint (write it as 'G02 = G12'):", "B1"),
        ("G01 = B2", "'B2' is not a gamma in constraint (constraints equate gammas: G02 = G12):", "B2"),
        ("G01 = x", "'x' is not a gamma in constraint (constraints equate gammas: G02 = G12):", "x"),
        ("G01 = G01", "'G01' appears twice in the constraint in constraint:", "G01"),
        ("G01 = G02 + G03", "a constraint equates gammas in constraint (write it as 'G02 = G12'):", "G01"),
        ("B0 = G00 + U0", "a constraint equates gammas in constraint (write it as 'G02 = G12'):", "B0"),
        ("G01 - G02", "unexpected character '-' in constraint (equations only add terms; there is no '-'):", "-"),
        ("G01 = 2", "unexpected character '2' in constraint (numbers appear only inside labels such as B1 or G01):", "2"),
        ("G01 = G02 +", "dangling '+' with no term after it in constraint:", "+"),
    ],
)
def test_errors_point_at_the_spot(text: str, message: str, spot: str | None) -> None:
    with pytest.raises(SpecError) as info:
        parse_constraint(text)
    assert message in str(info.value)
    if spot is not None:
        assert underlined(str(info.value)) == spot


def test_errors_against_the_models_gammas() -> None:
    with pytest.raises(SpecError) as info:
        parse_constraint("G02 = G13", GAMMAS, where="constraint 2")
    assert str(info.value) == (
        "the constraint names unknown gamma 'G13' in constraint 2 (did you mean 'G12' or 'G11'?) "
        "(the model's gammas are G00, G01, G02, G10, G11, G12):\n"
        "  G02 = G13\n"
        "        ^^^"
    )
    with pytest.raises(SpecError, match="must be a string such as 'G02 = G12', got 3"):
        parse_constraint(3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    ["G02 = G12", "g01 = g11 = G12", "G02 = G13", "G01 = G01", "G01 = G02 + G03", "G01 -", "",
     "x = G01", "G01 = G02 G03"],
)
def test_parse_model_reads_constraints_the_same_way(text: str) -> None:
    spec = parse_model(MODEL4, level1_variables=["mathach", "ses"],
                       level2_variables=["sector", "meanses"])
    try:
        expected: object = parse_constraint(text, spec.gamma_labels(), where="constraint 1")
    except SpecError as exc:
        expected = str(exc)
    try:
        got: object = parse_model(MODEL4, level1_variables=["mathach", "ses"],
                                  level2_variables=["sector", "meanses"],
                                  constraints=[text]).constraints[0]
    except SpecError as exc:
        got = str(exc)
    assert got == expected
