"""HLM3's equation format parsed into a frozen three-level specification."""

from __future__ import annotations

import dataclasses

import pytest

from openhlm.errors import SpecError
from openhlm.spec.equations3 import looks_three_level, parse_model3
from openhlm.spec.model import Centering

NAMES = {"level1_variables": ["math", "year"], "level2_variables": ["black", "hispanic"],
             "level3_variables": ["lowinc", "size"]}

FULL = """math = P0 + P1*year + E
P0 = B00 + B01*group(black) + R0
P1 = B10 + R1
B00 = G000 + G001*grand(lowinc) + U00
B10 = G100 + U10"""


def test_full_model():
    spec = parse_model3(FULL, **NAMES)
    assert spec.outcome == "math"
    assert spec.gamma_labels() == ("G000", "G001", "G010", "G100")
    assert [p.label for p in spec.pis] == ["INTRCPT1", "YEAR slope"]
    assert [b.name for b in spec.betas] == ["B00", "B01", "B10"]
    assert [b.name for b in spec.random_betas] == ["B00", "B10"]
    assert [p.name for p in spec.random_pis] == ["P0", "P1"]
    assert spec.betas[1].predictor.centering is Centering.GROUP
    assert spec.betas[0].equation.predictors[0].centering is Centering.GRAND
    assert spec.level3_variables() == ("lowinc",)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.outcome = "x"  # type: ignore[misc]
    # printing round-trips
    again = parse_model3(str(spec), **NAMES)
    assert again == spec


def test_defaults_fixed_at_next_level():
    spec = parse_model3("MATH = P0 + P1*YEAR + E", **NAMES)
    assert [b.name for b in spec.betas] == ["B00", "B10"]
    assert spec.gamma_labels() == ("G000", "G100")
    assert not spec.random_pis and not spec.random_betas


def test_random_only_and_no_intercept():
    spec = parse_model3("math = P0 + P1*year + E; P0 = B00 + R0; P1 = R1; B00 = U00", **NAMES)
    assert spec.gamma_labels() == ()
    assert [p.name for p in spec.random_pis] == ["P0", "P1"]
    assert spec.pis[1].betas == ()
    spec = parse_model3("math = P1*year + E; P1 = B10 + R1; B10 = G101*lowinc + U10", **NAMES)
    assert spec.gamma_labels() == ("G101",)


def test_looks_three_level():
    assert looks_three_level(FULL)
    assert not looks_three_level("mathach = B0 + R; B0 = G00 + U0")


@pytest.mark.parametrize("text, message", [
    ("math = P0 + P1*year + E; B00 = G000 + G001*black", "level-2 variable"),
    ("math = P0 + P1*black + E", "level-2 variable"),
    ("math = P0 + P1*yeer + E", "did you mean 'year'"),
    ("math = P0 + P1*year", "needs the residual E"),
    ("math = P0 + E; P2 = B20", "P2 is not in the level-1 equation"),
    ("math = P0 + E; P0 = B00 + B11*black", "expected B00"),
    ("math = P0 + E; B01 = G010", "B01 is not in a level-2 equation"),
    ("math = P0 + E; B00 = G000 + U01", "U00"),
    ("math = P0 + E; B00 = G000 + G001*group(lowinc)", "grand-mean centred"),
    ("math = P0 + E; P0 = B00 + R0; P0 = B00", "a second equation for P0"),
])
def test_pointed_errors(text, message):
    with pytest.raises(SpecError, match=message) as info:
        parse_model3(text, **NAMES)
    assert "^" in str(info.value) or "E" in message
