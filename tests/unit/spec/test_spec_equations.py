"""Equation format: parsing, validation and printing, checked against HLM 6's own printout.

The expected printouts below are transcribed verbatim from HLM 6.08 output in the UCLA seminar
"Introduction to HLM" (the project's seed document): the "Summary of the model specified (in
equation format)" blocks of Models 1, 2 and 4, the constraint example and the FEMALE
random-only example.
"""



from __future__ import annotations

import csv
import random
from importlib import resources

import pytest

from openhlm.errors import SpecError
from openhlm.spec.equations import (
    build_model,
    centering_marker,
    centering_notes,
    format_equations,
    format_hlm_equations,
    format_mixed,
    parse_model,
    parse_predictor,
    validate_spec,
)
from openhlm.spec.model import (
    Centering,
    Coefficient,
    Constraint,
    Level2Equation,
    ModelSpec,
    Predictor,
)

# The variables of the HS&B files shipped in openhlm/datasets/hsb, as the MDM stores them
# (checked against the files by test_hsb_names_match_the_shipped_files).
HSB_LEVEL1 = ("id", "minority", "female", "ses", "mathach")
HSB_LEVEL2 = ("id", "size", "sector", "pracad", "disclim", "himinty", "meanses")

GROUP = Centering.GROUP
GRAND = Centering.GRAND

MODEL4 = """
mathach = B0 + B1*group(ses) + R
B0 = G00 + G01*sector + G02*meanses + U0
B1 = G10 + G11*sector + G12*meanses + U1
"""


def parse(text: str, **kw):  # type: ignore[no-untyped-def]
    return parse_model(text, level1_variables=HSB_LEVEL1, level2_variables=HSB_LEVEL2, **kw)


def underlined(message: str) -> str:
    """The text the caret line of an error message points at."""
    quote, carets = message.splitlines()[-2:]
    start = carets.index("^")
    return quote[start : start + carets.count("^")]


def model4_spec(sector: str = "sector", meanses: str = "meanses") -> ModelSpec:
    """Model 4 of the seminar, built field by field (independently of the parser)."""
    w = (Predictor(sector), Predictor(meanses))
    return ModelSpec(
        outcome="mathach",
        coefficients=(
            Coefficient(0, None, Level2Equation(True, w, True)),
            Coefficient(1, Predictor("ses", GROUP), Level2Equation(True, w, True)),
        ),
    )


def test_hsb_names_match_the_shipped_files() -> None:
    root = resources.files("openhlm.datasets") / "hsb"
    for name, expected in (("hsb1.csv", HSB_LEVEL1), ("hsb2.csv", HSB_LEVEL2)):
        with (root / name).open() as fh:
            assert tuple(next(csv.reader(fh))) == expected


# -- parsing ----------------------------------------------------------------------------------


def test_model4_parses_to_the_spec_built_by_hand() -> None:
    spec = parse(MODEL4)
    assert spec == model4_spec()
    assert spec.gamma_labels() == ("G00", "G01", "G02", "G10", "G11", "G12")
    assert [c.label for c in spec.coefficients] == ["INTRCPT1", "SES slope"]


def test_null_model() -> None:
    spec = parse("mathach = B0 + R\nB0 = G00 + U0")
    assert spec == ModelSpec("mathach", (Coefficient(0, None, Level2Equation(True, (), True)),))


def test_names_are_case_insensitive_and_take_the_mdm_spelling() -> None:
    spec = parse_model(
        "MATHACH = B0 + b1*GROUP(Ses) + r\nb0 = g00 + g01*SECTOR + u0",
        level1_variables=["MathAch", "SES"],
        level2_variables=["Sector"],
    )
    assert spec.outcome == "MathAch"
    assert spec.coefficients[1].predictor == Predictor("SES", GROUP)
    assert spec.coefficients[0].equation.predictors == (Predictor("Sector"),)


def test_hlm_printed_style_with_parentheses_is_accepted() -> None:
    text = """mathach = B0 + B1*(SES) + R
    B0 = G00 + G01*(SECTOR) + G02*(meanses) + U0
    B1 = G10 + G11*(SECTOR) + G12*(meanses) + U1"""
    spec = parse(text)
    assert spec.coefficients[1].predictor == Predictor("ses")
    assert spec.coefficients[0].equation.predictors == (Predictor("sector"), Predictor("meanses"))
    # parentheses around a centring function as well
    assert parse("mathach = B0 + B1*(group(ses)) + R").coefficients[1].predictor == Predictor(
        "ses", GROUP
    )


def test_semicolons_comments_and_blank_lines() -> None:
    text = "# Model 4\n\nmathach = B0 + B1*group(ses) + R  # level 1\n" \
           "B0 = G00 + G01*sector + G02*meanses + U0; B1 = G10 + G11*sector + G12*meanses + U1\n"
    assert parse(text) == model4_spec()


def test_grand_centring_at_both_levels() -> None:
    spec = parse("mathach = B0 + B1*grand(ses) + R; B0 = G00 + G01*grand(meanses) + U0")
    assert spec.coefficients[1].predictor == Predictor("ses", GRAND)
    assert spec.coefficients[0].equation.predictors == (Predictor("meanses", GRAND),)


def test_no_b0_removes_the_level1_intercept_and_slopes_keep_their_numbers() -> None:
    spec = parse("mathach = B1*female + B2*minority + R\nB1 = G10 + U1\nB2 = G20 + U2")
    assert not spec.has_intercept
    assert [c.index for c in spec.coefficients] == [1, 2]
    assert spec.gamma_labels() == ("G10", "G20")


def test_missing_gq0_removes_the_level2_intercept() -> None:
    spec = parse("mathach = B0 + B1*ses + R\nB0 = G00 + U0\nB1 = G11*sector + G12*meanses + U1")
    eq = spec.coefficients[1].equation
    assert not eq.intercept and eq.random and len(eq.predictors) == 2
    assert spec.coefficients[1].gamma_labels() == ("G11", "G12")


def test_random_only_fixed_and_default_equations() -> None:
    # the FEMALE example of the seminar: B1 = U1, random with no fixed part
    spec = parse(
        "mathach = B0 + B1*female + B2*ses + B3*minority + R\n"
        "B0 = G00 + U0\nB1 = U1\nB2 = G20 + G21*sector"
    )
    kinds = [c.equation.kind for c in spec.coefficients]
    assert kinds == ["random", "random-only", "nonrandomly-varying", "fixed"]
    # B3 has no level-2 equation: fixed with an intercept
    assert spec.coefficients[3].equation == Level2Equation(intercept=True, predictors=(), random=False)
    assert spec.gamma_labels() == ("G00", "G20", "G21", "G30")


def test_level2_equations_in_any_order_and_before_level1() -> None:
    text = "B1 = G10 + G11*sector + G12*meanses + U1\n" + MODEL4.split("\n", 2)[2].split("\n")[0] \
        + "\nmathach = B0 + B1*group(ses) + R"
    assert parse(text) == model4_spec()


def test_a_variable_named_like_a_label_can_be_used() -> None:
    spec = parse_model(
        "b1 = B0 + B1*g01 + R; B1 = G10 + G11*u0",
        level1_variables=["b1", "g01"],
        level2_variables=["u0"],
    )
    assert spec.outcome == "b1"
    assert spec.coefficients[1].predictor == Predictor("g01")
    assert spec.coefficients[1].equation.predictors == (Predictor("u0"),)


def test_constraints_in_the_text_and_as_arguments() -> None:
    spec = parse(MODEL4 + "G02 = G12", constraints=["g01 = G11"])
    assert spec.constraints == (Constraint(("G02", "G12")), Constraint(("G01", "G11")))
    three = parse(
        "mathach = B0 + B1*ses + B2*female + R\nB0 = G00 + G01*sector\n"
        "B1 = G10 + G11*sector\nB2 = G20 + G21*sector",
        constraints=["G01 = G11 = G21"],
    )
    assert three.constraints == (Constraint(("G01", "G11", "G21")),)


def test_variance_predictors() -> None:
    spec = parse(MODEL4, variance_predictors=["FEMALE"])
    assert spec.variance_predictors == ("female",)
    with pytest.raises(SpecError, match="'meanses' is a level-2 variable"):
        parse(MODEL4, variance_predictors=["meanses"])


# -- errors -----------------------------------------------------------------------------------

ERRORS = [
    # (model text, phrase in the message, text under the carets)
    ("mathach = B0 + B1*group(sess) + R", "unknown variable 'sess' in line 1 (did you mean 'ses'?)", "sess"),
    ("mathach = B0 + B1*meanses + R", "'meanses' is a level-2 variable and cannot enter the level-1", "meanses"),
    ("mathach = B0 + R; B0 = G00 + G01*female", "'female' is a level-1 variable and cannot enter a level-2", "female"),
    ("meanses = B0 + R", "the outcome 'meanses' is a level-2 variable", "meanses"),
    ("Y = B0 + B1*ses + R", "the outcome 'Y' is not a variable", "Y"),
    ("mathac = B0 + R", "unknown variable 'mathac' as outcome in line 1 (did you mean 'mathach'?)", "mathac"),
    ("mathach = B0 + R\nB0 = G00 + U0\nB0 = G00", "B0 has two level-2 equations (the first is in line 2) in line 3", "B0"),
    ("mathach = B0 + R\nB1 = G10 + U1", "B1 has a level-2 equation but is not in the level-1 equation", "B1"),
    ("mathach = B0 + B1*ses", "the level-1 equation has no residual", ""),
    ("mathach = B0 + B1*ses + B2*ses + R", "duplicated term: 'ses' is already the predictor of B1", "ses"),
    ("mathach = B0 + B1*ses + B1*female + R", "duplicated term 'B1'", "B1"),
    ("mathach = B0 + B0 + R", "duplicated term 'B0'", "B0"),
    ("mathach = B0 + R + R", "duplicated term 'R'", "R"),
    ("mathach = B0 + R; B0 = G00 + U0 + U0", "duplicated term 'U0'", "U0"),
    ("mathach = B0 + R; B0 = G00 + G01*sector + G02*sector", "duplicated term: 'sector' already has G01", "sector"),
    ("mathach = B0 + B2*ses + R", "coefficients out of order: expected B1 here", "B2"),
    ("mathach = B1*ses + B0 + R", "B0 (the intercept) must come first", "B0"),
    ("mathach = B0 + R; B0 = G00 + G02*sector", "gamma labels out of order: expected G01 here", "G02"),
    ("mathach = B0 + B1*ses + R; B1 = G10 + G21*sector", "wrong coefficient number in 'G21'", "G21"),
    ("mathach = B0 + R; B0 = G01*sector + G00", "G00 (the intercept) must come first", "G00"),
    ("mathach = B0 + R; B0 = G00*sector", "G00 is the intercept of B0's equation and takes no predictor", "G00"),
    ("mathach = B0 + R; B0 = G00 + G01", "G01 needs a predictor", "G01"),
    ("mathach = B0 + B1*ses + R; B1 = G10 + U0", "U index mismatch: the random effect of B1 is U1", "U0"),
    ("mathach = B0 + R; B0 = U0 + G00", "U0 must come last", "G00"),
    ("mathach = B0 + R; B0 = G00 + G01*group(sector) + U0", "group-mean centring is for level-1 predictors", "group"),
    ("mathach = B0 + B1*center(ses) + R", "unknown centring 'center(...)'", "center"),
    ("mathach = B0 + B1*ses + R +", "dangling '+'", "+"),
    ("mathach = B0 + + R", "unexpected '+' where a term", "+"),
    ("mathach = B0 - R", "unexpected character '-'", "-"),
    ("mathach = B0 + 2*ses + R", "unexpected character '2'", "2"),
    ("mathach = B0 + ses + R", "expected a coefficient such as B1*ses here, found 'ses'", "ses"),
    ("mathach = B0 + B1 + R", "B1 needs a predictor", "B1"),
    ("mathach = B0*ses + R", "B0 is the intercept and takes no predictor", "B0"),
    ("mathach = B0 + G01*ses + R", "'G01' belongs in a level-2 equation", "G01"),
    ("mathach = B0 + R; B0 = G00 + R", "'R' belongs in the level-1 equation", "R"),
    ("mathach = B0 + R*ses", "R (the level-1 residual) takes no predictor", "R"),
    ("mathach = B0 + B1*mathach + R", "the outcome 'mathach' cannot also be a predictor", "mathach"),
    ("mathach = B0 + R\nfemale = B0 + R", "a second level-1 equation (the first is in line 1)", "female"),
    ("B0 = G00 + U0", "the model has no level-1 equation", "B0"),
    ("mathach = B0 + B1*ses) + R", "unexpected ')'", ")"),
    ("mathach = B0 + B01*ses + R", "write 'B1' instead of 'B01'", "B01"),
    ("mathach = B0 + R; B0 = G00 + U0; G00 = G01", "the constraint names unknown gamma 'G01'", "G01"),
]


@pytest.mark.parametrize(("text", "phrase", "spot"), ERRORS, ids=[e[1][:40] for e in ERRORS])
def test_errors_quote_the_line_and_point_at_the_spot(text: str, phrase: str, spot: str) -> None:
    with pytest.raises(SpecError) as info:
        parse(text)
    message = str(info.value)
    assert phrase in message
    if spot:
        assert underlined(message) == spot
    else:  # missing "+ R": the caret sits just after the end of the equation
        quote, carets = message.splitlines()[-2:]
        assert carets.index("^") == len(quote.rstrip())


def test_error_message_matches_the_documented_layout() -> None:
    with pytest.raises(SpecError) as info:
        parse("mathach = B0 + B1*group(sess) + R")
    assert str(info.value) == (
        "unknown variable 'sess' in line 1 (did you mean 'ses'?):\n"
        "  mathach = B0 + B1*group(sess) + R\n"
        "                          ^^^^"
    )


def test_error_line_numbers_count_physical_lines_and_source() -> None:
    with pytest.raises(SpecError) as info:
        parse_model(
            "\n# comment\nmathach = B0 + R\n\nB0 = G00 + G01*sectr + U0",
            level1_variables=HSB_LEVEL1,
            level2_variables=HSB_LEVEL2,
            source="model4.toml",
            first_line=10,
        )
    assert "unknown variable 'sectr' in line 14 of model4.toml (did you mean 'sector'?)" in str(
        info.value
    )


def test_tabs_keep_the_caret_aligned() -> None:
    with pytest.raises(SpecError) as info:
        parse("\tmathach = B0 + B1*sess + R")
    _quote, carets = str(info.value).splitlines()[-2:]
    assert carets.startswith("  \t") and underlined(str(info.value)) == "sess"


def test_empty_model_text() -> None:
    for text in ("", "  \n# only a comment\n ; ;"):
        with pytest.raises(SpecError, match="the model text is empty"):
            parse(text)


@pytest.mark.parametrize(
    ("constraint", "phrase"),
    [
        ("G02 = G13", "unknown gamma 'G13' in constraint 1 (did you mean 'G12'"),
        ("G02 = sector", "'sector' is not a gamma"),
        ("G02 = G02", "'G02' appears twice"),
        ("G02", "the equation ends where '='"),
        ("G02 = G12 + G11", "a constraint equates gammas"),
        ("", "constraint 1 is empty"),
    ],
)
def test_constraint_errors(constraint: str, phrase: str) -> None:
    with pytest.raises(SpecError) as info:
        parse(MODEL4, constraints=[constraint])
    assert phrase in str(info.value)


def test_a_gamma_in_two_constraints_is_rejected() -> None:
    with pytest.raises(SpecError, match="'G11' is already constrained in constraint 1"):
        parse(MODEL4, constraints=["G01 = G11", "G11 = G12"])


def test_all_errors_are_openhlm_errors_with_no_traceback_leak() -> None:
    from openhlm.errors import OpenHLMError

    for text, _, _ in ERRORS:
        with pytest.raises(OpenHLMError):
            parse(text)


# -- printing in HLM 6's style ------------------------------------------------------------------

SEED_MODEL1 = "Level-1 Model\n\n\tY = B0 + R\n\nLevel-2 Model\n\tB0 = G00 + U0"
SEED_MODEL2 = "Level-1 Model\n\n\tY = B0 + R\n\nLevel-2 Model\n\tB0 = G00 + G01*(meanses) + U0"
SEED_MODEL4 = (
    "Level-1 Model\n\n\tY = B0 + B1*(SES) + R\n\nLevel-2 Model\n"
    "\tB0 = G00 + G01*(SECTOR) + G02*(meanses) + U0\n"
    "\tB1 = G10 + G11*(SECTOR) + G12*(meanses) + U1"
)
SEED_CONSTRAINT = (
    "Level-1 Model\n\n\tY = B0 + B1*(SES) + R\n\nLevel-2 Model\n"
    "\tB0 = G00 + G01*(SECTOR) + G02*(MEANSES) + U0\n"
    "\tB1 = G10 + G11*(SECTOR) + G12*(MEANSES) + U1\n"
    "\n\t02G = 12G"
)
# the seminar's page collapsed the blank lines of this block; the equations are HLM's
SEED_FEMALE_EQUATIONS = [
    "\tY = B0 + B1*(FEMALE) + B2*(SES) + R",
    "\tB0 = G00 + G01*(SECTOR) + G02*(meanses) + U0",
    "\tB1 = U1",
    "\tB2 = G20 + G21*(SECTOR) + G22*(meanses) + U2",
]


def test_hlm_summary_of_models_1_and_2() -> None:
    assert format_hlm_equations(parse("mathach = B0 + R; B0 = G00 + U0")) == SEED_MODEL1
    assert format_hlm_equations(parse("mathach = B0 + R; B0 = G00 + G01*meanses + U0")) == SEED_MODEL2


def test_hlm_summary_of_model4_keeps_level2_names_as_stored() -> None:
    # In the seminar's MDM, SECTOR was stored upper-case and meanses lower-case.
    spec = parse_model(
        MODEL4, level1_variables=HSB_LEVEL1, level2_variables=["SECTOR", "meanses"]
    )
    assert format_hlm_equations(spec) == SEED_MODEL4


def test_hlm_summary_of_the_constraint_example() -> None:
    spec = parse_model(
        MODEL4, level1_variables=HSB_LEVEL1, level2_variables=["SECTOR", "MEANSES"],
        constraints=["G02 = G12"],
    )
    assert format_hlm_equations(spec) == SEED_CONSTRAINT


def test_hlm_summary_of_the_random_only_female_example() -> None:
    spec = parse_model(
        "mathach = B0 + B1*female + B2*group(ses) + R\n"
        "B0 = G00 + G01*SECTOR + G02*meanses + U0\nB1 = U1\n"
        "B2 = G20 + G21*SECTOR + G22*meanses + U2",
        level1_variables=HSB_LEVEL1,
        level2_variables=["SECTOR", "meanses"],
    )
    lines = format_hlm_equations(spec).splitlines()
    assert [ln for ln in lines if ln.startswith("\t")] == SEED_FEMALE_EQUATIONS


def test_hlm_summary_without_intercepts_and_fixed_slopes() -> None:
    spec = parse("mathach = B1*ses + R; B1 = G11*sector + U1")
    assert format_hlm_equations(spec).splitlines()[2] == "\tY = B1*(SES) + R"
    assert format_hlm_equations(spec).splitlines()[-1] == "\tB1 = G11*(sector) + U1"
    fixed = parse("mathach = B0 + B1*ses + R; B0 = G00 + U0")
    assert format_hlm_equations(fixed).splitlines()[-1] == "\tB1 = G10"


def test_mixed_equation_of_model4() -> None:
    assert format_mixed(parse(MODEL4)) == (
        "MATHACH = G00 + G01*SECTOR + G02*MEANSES + G10*SES + G11*SECTOR*SES"
        " + G12*MEANSES*SES + u0 + u1*SES + r"
    )


def test_mixed_equation_of_the_null_and_random_only_models() -> None:
    assert format_mixed(parse("mathach = B0 + R; B0 = G00 + U0")) == "MATHACH = G00 + u0 + r"
    spec = parse("mathach = B0 + B1*female + R; B0 = G00 + U0; B1 = U1")
    assert format_mixed(spec) == "MATHACH = G00 + u0 + u1*FEMALE + r"


def test_centering_notes_list_only_the_markers_used() -> None:
    assert centering_notes(parse(MODEL4)) == (
        "'*' - This level-1 predictor has been centered around its group mean.",
    )
    assert centering_notes(parse("mathach = B0 + R; B0 = G00 + U0")) == ()
    spec = parse(
        "mathach = B0 + B1*grand(ses) + B2*group(female) + R; B0 = G00 + G01*grand(meanses) + U0"
    )
    assert centering_notes(spec) == (
        "'*' - This level-1 predictor has been centered around its group mean.",
        "'%' - This level-1 predictor has been centered around its grand mean.",
        "'$' - This level-2 predictor has been centered around its grand mean.",
    )
    assert centering_marker(None, 1) == ""
    assert centering_marker(Predictor("ses", GROUP), 1) == "*"
    assert centering_marker(Predictor("meanses", GRAND), 2) == "$"
    assert centering_marker(Predictor("meanses"), 2) == ""


# -- round trips ------------------------------------------------------------------------------


def test_format_equations_of_model4() -> None:
    assert format_equations(parse(MODEL4 + "G02=G12")) == (
        "mathach = B0 + B1*group(ses) + R\n"
        "B0 = G00 + G01*sector + G02*meanses + U0\n"
        "B1 = G10 + G11*sector + G12*meanses + U1\n"
        "G02 = G12"
    )
    assert str(parse(MODEL4)) == format_equations(parse(MODEL4))


SEED_MODELS = [
    "mathach = B0 + R; B0 = G00 + U0",
    "mathach = B0 + R; B0 = G00 + G01*meanses + U0",
    "mathach = B0 + B1*group(ses) + R; B0 = G00 + U0; B1 = G10 + U1",
    MODEL4,
    MODEL4 + "G02 = G12",
    ("mathach = B0 + B1*group(ses) + R\nB0 = G00 + G01*sector + G02*meanses + U0\n"
    "B1 = G10 + G11*sector + G12*meanses"),
    ("mathach = B0 + B1*female + B2*group(ses) + R\nB0 = G00 + G01*sector + G02*meanses + U0\n"
    "B1 = U1\nB2 = G20 + G21*sector + G22*meanses + U2"),
]


@pytest.mark.parametrize("text", SEED_MODELS)
def test_seed_models_round_trip(text: str) -> None:
    spec = parse(text)
    assert parse(format_equations(spec)) == spec


def random_spec(rng: random.Random) -> ModelSpec:
    """A random valid spec over the HS&B names (all structural cases reachable)."""
    centerings = list(Centering)
    l1 = rng.sample(["minority", "female", "ses", "id"], rng.randint(0, 4))
    intercept = rng.random() < 0.8 or not l1
    numbers = ([0] if intercept else []) + list(range(1, len(l1) + 1))
    coefficients = []
    for q in numbers:
        w = rng.sample(HSB_LEVEL2, rng.randint(0, 4))
        preds = tuple(Predictor(name, rng.choice([Centering.NONE, GRAND])) for name in w)
        has_g0 = rng.random() < 0.8
        random_ = rng.random() < 0.5 or (not has_g0 and not preds)
        eq = Level2Equation(has_g0, preds, random_)
        x = None if q == 0 else Predictor(l1[q - 1], rng.choice(centerings))
        coefficients.append(Coefficient(q, x, eq))
    spec = ModelSpec("mathach", tuple(coefficients))
    gammas = list(spec.gamma_labels())
    rng.shuffle(gammas)
    constraints = []
    while len(gammas) >= 2 and rng.random() < 0.5:
        k = rng.randint(2, min(3, len(gammas)))
        constraints.append(Constraint(tuple(gammas[:k])))
        gammas = gammas[k:]
    return ModelSpec("mathach", tuple(coefficients), tuple(constraints))


@pytest.mark.parametrize("seed", range(200))
def test_random_specs_round_trip_and_validate(seed: int) -> None:
    spec = random_spec(random.Random(seed))
    assert parse(format_equations(spec)) == spec
    assert validate_spec(spec, HSB_LEVEL1, HSB_LEVEL2) == spec


# -- specs built in code ----------------------------------------------------------------------


def test_validate_spec_fixes_the_spelling() -> None:
    spec = model4_spec(sector="SECTOR", meanses="MeanSES")
    spec = ModelSpec("MATHACH", spec.coefficients)
    assert validate_spec(spec, HSB_LEVEL1, HSB_LEVEL2) == model4_spec()


@pytest.mark.parametrize(
    ("spec", "phrase"),
    [
        (ModelSpec("meanses", (Coefficient(0, None),)), "outcome: 'meanses' is a level-2 variable"),
        (ModelSpec("mathach", ()), "no coefficient"),
        (ModelSpec("mathach", (Coefficient(1, None),)), "the intercept must be B0"),
        (ModelSpec("mathach", (Coefficient(2, Predictor("ses")),)), "expected B1 here"),
        (ModelSpec("mathach", (Coefficient(1, Predictor("sess")),)), "unknown variable 'sess' (did you mean 'ses'?)"),
        (
            ModelSpec("mathach", (Coefficient(1, Predictor("ses")), Coefficient(2, Predictor("ses")))),
            "already the predictor of B1",
        ),
        (
            ModelSpec("mathach", (Coefficient(0, None, Level2Equation(False, (), False)),)),
            "B0 has neither gammas nor U0",
        ),
        (
            ModelSpec("mathach", (Coefficient(0, None, Level2Equation(True, (Predictor("sector", GROUP),))),)),
            "group-mean centring of 'sector'",
        ),
        (
            ModelSpec("mathach", (Coefficient(0, None, Level2Equation(True, (Predictor("ses"),))),)),
            "'ses' is a level-1 variable and cannot be used at level 2",
        ),
        (
            ModelSpec("mathach", (Coefficient(0, None),), (Constraint(("G00", "G01")),)),
            "unknown gamma 'G01'",
        ),
    ],
)
def test_validate_spec_rejects_invalid_specs(spec: ModelSpec, phrase: str) -> None:
    with pytest.raises(SpecError) as info:
        validate_spec(spec, HSB_LEVEL1, HSB_LEVEL2)
    assert phrase in str(info.value)


def test_build_model_matches_the_parsed_model() -> None:
    built = build_model(
        "mathach",
        ["group(ses)"],
        {0: "G00 + G01*sector + G02*meanses + U0", "ses": "G10 + G11*sector + G12*meanses + U1"},
        constraints=["G02 = G12"],
    )
    assert built == parse(MODEL4 + "G02 = G12")
    fixed = build_model("mathach", [Predictor("ses")], {"B0": Level2Equation(random=True)})
    assert fixed == parse("mathach = B0 + B1*ses + R; B0 = G00 + U0")
    with pytest.raises(SpecError, match="not a level-1 coefficient"):
        build_model("mathach", ["ses"], {"female": "G20"})


def test_parse_predictor() -> None:
    assert parse_predictor("group(ses)") == Predictor("ses", GROUP)
    assert parse_predictor("(grand(meanses))") == Predictor("meanses", GRAND)
    assert parse_predictor("x") == Predictor("x")
    with pytest.raises(SpecError):
        parse_predictor("ses + 1")
