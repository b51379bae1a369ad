"""HLM 6 command files: the seminar's models (tests/unit/spec/data), errors, and round trips.

The expected models are written independently in the equation format and in HLM's own
printout ("Summary of the model specified"), transcribed from the seminar's HLM 6.08 output.
"""



from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import pytest

from openhlm.errors import CommandFileError
from openhlm.spec.commandfile import (
    CommandFile,
    CommandOptions,
    parse_command_file,
    read_command_file,
    write_command_file,
)
from openhlm.spec.equations import format_hlm_equations, parse_model
from openhlm.spec.model import Centering, Constraint, ModelSpec

HSB_LEVEL1 = ("id", "minority", "female", "ses", "mathach")
HSB_LEVEL2 = ("id", "size", "sector", "pracad", "disclim", "himinty", "meanses")
DATA = Path(__file__).parent / "data"

MODEL4 = """mathach = B0 + B1*group(ses) + R
B0 = G00 + G01*sector + G02*meanses + U0
B1 = G10 + G11*sector + G12*meanses + U1"""


def read(name: str) -> CommandFile:
    return parse_command_file(
        DATA / name, level1_variables=HSB_LEVEL1, level2_variables=HSB_LEVEL2
    )


def parse_text(text: str) -> CommandFile:
    return parse_command_file(text, level1_variables=HSB_LEVEL1, level2_variables=HSB_LEVEL2)


def equations(text: str, **kw) -> ModelSpec:  # type: ignore[no-untyped-def]
    return parse_model(text, level1_variables=HSB_LEVEL1, level2_variables=HSB_LEVEL2, **kw)


@pytest.mark.parametrize(
    ("name", "model", "seed_printout"),
    [
        ("ex1.hlm", "mathach = B0 + R; B0 = G00 + U0",
         "Level-1 Model\n\n\tY = B0 + R\n\nLevel-2 Model\n\tB0 = G00 + U0"),
        ("ex2.hlm", "mathach = B0 + R; B0 = G00 + G01*meanses + U0",
         "Level-1 Model\n\n\tY = B0 + R\n\nLevel-2 Model\n\tB0 = G00 + G01*(meanses) + U0"),
        ("ex3.hlm", "mathach = B0 + B1*group(ses) + R; B0 = G00 + U0; B1 = G10 + U1", None),
        ("ex4.hlm", MODEL4, None),
    ],
)
def test_the_seminars_four_models(name: str, model: str, seed_printout: str | None) -> None:
    cf = read(name)
    assert cf.spec == equations(model)
    assert cf.mdm == "hsb.mdm"
    assert cf.source == str(DATA / name)
    # the seminar's run header: REML, at most 100 iterations
    assert cf.options.method == "reml"
    assert cf.options.max_iterations == 100
    assert cf.options.tolerance == pytest.approx(1e-6, rel=0, abs=1e-16)
    assert cf.options.title == "no title"
    assert cf.options.output == "c:\\hlm2.txt"
    assert cf.ignored_keys == ("fixtau", "graphgammas", "lvr")
    if seed_printout is not None:
        assert format_hlm_equations(cf.spec) == seed_printout


def test_model4_printout_uses_hlm_names_from_the_seminar_mdm() -> None:
    # With the seminar's MDM (SECTOR stored upper-case, meanses lower-case) HLM printed:
    cf = parse_command_file(
        DATA / "ex4.hlm", level1_variables=HSB_LEVEL1, level2_variables=("SECTOR", "meanses")
    )
    assert format_hlm_equations(cf.spec).splitlines()[-2:] == [
        "\tB0 = G00 + G01*(SECTOR) + G02*(meanses) + U0",
        "\tB1 = G10 + G11*(SECTOR) + G12*(meanses) + U1",
    ]


def test_tests_file_hypotheses_homogeneity_and_prior_model() -> None:
    cf = read("ex4_tests.hlm")
    assert cf.options.homvar and cf.options.hypoth
    assert cf.options.hypotheses == ("gamma1:0,1,0,0,0,0", "gamma1:0,0,0,0,1,0")
    # G01 = 0 and G11 = 0, jointly (the seminar's multivariate hypothesis)
    assert cf.contrasts() == (((0, 1, 0, 0, 0, 0), (0, 0, 0, 0, 1, 0)),)
    assert cf.options.deviance == 46502.952734 and cf.options.df == 2


def test_constraint_female_and_heterogeneous_examples() -> None:
    con = read("ex_constraint.hlm")
    assert con.options.method == "ml"
    assert con.spec == equations(MODEL4 + "\nG02 = G12")
    # HLM prints the constraint as 02G = 12G
    assert format_hlm_equations(con.spec).endswith("\n\n\t02G = 12G")
    female = read("ex_female.hlm")
    assert female.spec == equations(
        "mathach = B0 + B1*female + B2*group(ses) + R\nB0 = G00 + G01*sector + G02*meanses + U0\n"
        "B1 = U1\nB2 = G20 + G21*sector + G22*meanses + U2"
    )
    hetero = read("ex_hetero.hlm")
    assert hetero.spec.variance_predictors == ("female",)
    assert hetero.spec.coefficients == equations(MODEL4).coefficients


def test_read_command_file_takes_paths_only(tmp_path: Path) -> None:
    assert read_command_file(
        DATA / "ex1.hlm", level1_variables=HSB_LEVEL1, level2_variables=HSB_LEVEL2
    ) == read("ex1.hlm")
    with pytest.raises(CommandFileError, match="cannot read command file .*missing.hlm"):
        read_command_file(tmp_path / "missing.hlm", level1_variables=HSB_LEVEL1,
                          level2_variables=HSB_LEVEL2)


def test_all_keys_and_values_are_read() -> None:
    text = (
        "#WHLM CMD FILE FOR other.mdm\nnonlin:n\nnumit:250,y\nstopval:0.0000000100\n"
        "level1:MATHACH=SES,2+FEMALE+RANDOM\nlevel2:SES=SECTOR,2+random/\nlevel2:FEMALE=INTRCPT2/\n"
        "accel:7\nlev1ols:20\nfulloutput:y\nhomvar:y\nlevel1weight:minority\n"
        "level2weight:SIZE\nvarianceknown:none\nlevel1deletion:none\nresfiltype:SPSS\n"
        "resfil1:y\nresfil1name:res1.sav\nresfil2:y/MEANSES,SES\nresfil2name:res2.sav\n"
        "title:my run\noutput:out.txt\nmlf:y\nconstrain:n\nheterol1var:y,FEMALE,MINORITY\n"
        "printvariance-covariance:y\nfishertype:2\nlaplace:n,0\n"
    )
    cf = parse_text(text)
    assert cf.mdm == "other.mdm" and cf.source == "<text>"
    assert not cf.spec.has_intercept
    ses, female = cf.spec.coefficients
    assert ses.predictor is not None and ses.predictor.centering is Centering.GRAND
    assert not ses.equation.intercept and ses.equation.random
    assert ses.equation.predictors[0].centering is Centering.GRAND
    assert female.equation.kind == "fixed"
    assert cf.spec.variance_predictors == ("female", "minority")
    assert cf.options == CommandOptions(
        method="ml", max_iterations=250, tolerance=1e-8, accel=7, lev1ols=20, fulloutput=True,
        homvar=True, level1_weight="minority", level2_weight="size", level1_deletion="none",
        resfil1=True, resfil1_name="res1.sav", resfil2=True, resfil2_name="res2.sav",
        resfil2_variables=("meanses", "ses"), resfil_type="spss", title="my run",
        output="out.txt",
    )
    assert cf.ignored_keys == ("printvariance-covariance", "fishertype", "laplace")


def test_defaults_when_keys_are_absent() -> None:
    cf = parse_text("level1:MATHACH=INTRCPT1+RANDOM\n")
    assert cf.options == CommandOptions()
    assert cf.mdm is None
    # without a level2 line the intercept is fixed, as in the equation format
    assert cf.spec == equations("mathach = B0 + R")


ERRORS = [
    ("nonlin:binomial", "nonlin:binomial needs the number-of-trials variable in line 2",
     "binomial"),
    ("nonlin:ordinal,3", "ordinal outcomes (nonlin:ordinal,3) are not supported yet", "ordinal"),
    ("nonlin:gamma", "nonlin: unknown sampling model 'gamma'", "gamma"),
    ("nonlin:bernoulli,SES", "nonlin:bernoulli takes no variable", "SES"),
    ("nonlin:binomial,MEANSES", "'meanses' is a level-2 variable and cannot be used in nonlin",
     "MEANSES"),
    ("nonlin:bernoulli\nfixsigma2:2", "fixing sigma^2 (fixsigma2:2) is not supported", "2"),
    ("nonlin:bernoulli\nmacroit:0", "macroit: expected a positive whole number", "0"),
    ("nonlin:bernoulli\nstopmacro:x", "stopmacro: expected a positive number", "x"),
    ("level3:INTRCPT2=INTRCPT3/", "three-level models (level3:) are not supported", "INTRCPT2=INTRCPT3/"),
    ("fixsigma2:1.0", "fixing sigma^2 (fixsigma2:1.0) is not supported", "1.0"),
    ("laplace:y,50", "Laplace estimation (HGLM) (laplace:y,50) is not supported", "y,50"),
    ("lvr:y", "latent variable regression (lvr:y) is not supported", "y"),
    ("numitt:5", "unknown key 'numitt' in line 2 of <text> (did you mean 'numit'?)", "numitt"),
    ("numit:lots", "numit: expected a whole number", "lots"),
    ("stopval:-1", "stopval: expected a positive number", "-1"),
    ("mlf:maybe", "mlf: expected y or n", "maybe"),
    ("level1:MATHACH=INTRCPT1+RANDOM", "key 'level1' given twice (first in line 3)", "level1"),
    ("level2:SEX=INTRCPT2/", "level2: 'SEX' is not a level-1 coefficient", "SEX"),
    ("level2:SES=INTRCPT2+MEANSES,1/", "group-mean centring (,1) is for level-1 predictors", "MEANSES,1"),
    ("level2:SES=INTRCPT2+FEMALE/", "'female' is a level-1 variable and cannot be used in level2", "FEMALE"),
    ("level2:SES=INTRCPT2+MEANSESS/", "unknown variable 'MEANSESS' in line 2 of <text> (did you mean 'meanses'?)", "MEANSESS"),
    ("level2:INTRCPT1=INTRCPT2+random/\nlevel2:INTRCPT1=INTRCPT2/", "a second equation for INTRCPT1 (the first is in line 2)", "INTRCPT1"),
    ("level2:SES=/", "empty term", ""),
    ("level2:SES=INTRCPT2+MEANSES,7/", "unknown centring code ',7'", "MEANSES,7"),
    ("constrain:G02=G12", "the constraint names unknown gamma 'G02'", "G02"),
    ("constrain:y", "constrain:y without the constraints", "y"),
    ("heterol1var:MEANSES", "'meanses' is a level-2 variable and cannot be used in heterol1var", "MEANSES"),
    ("level1weight:SIZE", "'size' is a level-2 variable and cannot be used in level1weight", "SIZE"),
    ("gamma1:0,1,0", "gamma1: 3 numbers for 2 gammas", "0,1,0"),
    ("gamma1:0,x,1", "gamma1: expected comma-separated numbers", "0,x,1"),
    ("deviance:46502.95", "deviance: and df: go together", "46502.95"),
    ("just some text", "expected 'key:value'", "just some text"),
]


@pytest.mark.parametrize(("line", "phrase", "spot"), ERRORS, ids=[e[1][:40] for e in ERRORS])
def test_errors_name_the_file_and_line_and_quote_it(line: str, phrase: str, spot: str) -> None:
    text = f"#WHLM CMD FILE FOR hsb.mdm\n{line}\nlevel1:MATHACH=INTRCPT1+SES+RANDOM\n"
    if line.startswith("level1:"):
        text = "#WHLM CMD FILE FOR hsb.mdm\nnonlin:n\nlevel1:MATHACH=INTRCPT1+SES+RANDOM\n" + line
    with pytest.raises(CommandFileError) as info:
        parse_text(text)
    message = str(info.value)
    assert phrase in message
    quote, carets = message.splitlines()[-2:]
    assert quote.strip() in text.splitlines()
    if spot:
        start = carets.index("^")
        assert quote[start : start + carets.count("^")] == spot


def test_errors_in_a_file_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.hlm"
    path.write_text("#WHLM CMD FILE FOR hsb.mdm\r\nnonlin:multinomial,3\r\n")
    with pytest.raises(CommandFileError, match=r"multinomial outcomes \(nonlin:multinomial,3\) are not supported yet in line 2 of .*bad\.hlm"):
        parse_command_file(path, level1_variables=HSB_LEVEL1, level2_variables=HSB_LEVEL2)


def test_missing_level1_line() -> None:
    with pytest.raises(CommandFileError, match="has no level1: line"):
        parse_text("#WHLM CMD FILE FOR hsb.mdm\nnumit:100\n")


# -- writing ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.glob("*.hlm")))
def test_example_files_round_trip(name: str) -> None:
    cf = read(name)
    text = write_command_file(cf.spec, cf.options, mdm=cf.mdm or "")
    back = parse_text(text)
    assert (back.spec, back.options, back.mdm) == (cf.spec, cf.options, cf.mdm)


def test_written_file_matches_hlm_layout() -> None:
    cf = read("ex4.hlm")
    text = write_command_file(cf.spec, cf.options, mdm="hsb.mdm")
    lines = text.splitlines()
    assert lines[:7] == DATA.joinpath("ex4.hlm").read_text().splitlines()[:7]
    assert "mlf:n" in lines and "constrain:n" in lines and "heterol1var:n" in lines


def test_random_specs_and_options_round_trip() -> None:
    rng = random.Random(20240601)
    l1 = ["minority", "female", "ses"]
    l2 = ["size", "sector", "pracad", "meanses"]
    for _ in range(100):
        preds = rng.sample(l1, rng.randint(0, 3))
        intercept = not preds or rng.random() < 0.8
        rows = []
        for q in ([0] if intercept else []) + list(range(1, len(preds) + 1)):
            w = rng.sample(l2, rng.randint(0, 3))
            terms = ([f"G{q}0"] if rng.random() < 0.8 else []) + [
                f"G{q}{s}*{rng.choice(['', 'grand'])}({n})" for s, n in enumerate(w, 1)
            ]
            if not terms or rng.random() < 0.5:
                terms.append(f"U{q}")
            rows.append(f"B{q} = " + " + ".join(terms))
        level1 = " + ".join((["B0"] if intercept else []) + [
            f"B{q}*{rng.choice(['', 'group', 'grand'])}({n})" for q, n in enumerate(preds, 1)
        ] + ["R"])
        spec = equations(f"mathach = {level1}\n" + "\n".join(rows))
        gammas = spec.gamma_labels()
        if len(gammas) >= 2 and rng.random() < 0.5:
            spec = ModelSpec(spec.outcome, spec.coefficients, (Constraint(tuple(gammas[:2])),),
                             ("female",) if rng.random() < 0.5 else ())
        options = CommandOptions(
            method=rng.choice(["reml", "ml"]), max_iterations=rng.randint(1, 5000),
            tolerance=rng.choice([1e-6, 1e-8, 2.5e-7, 1e-12]), homvar=rng.random() < 0.5,
            hypotheses=tuple(f"gamma1:{','.join(rng.choice('01') for _ in gammas)}"
                             for _ in range(rng.randint(0, 2))),
            deviance=46502.952734 if rng.random() < 0.5 else None,
            level2_weight=rng.choice([None, "size"]),
            resfil2=True, resfil2_name="res2.csv", resfil_type="csv",
            title=rng.choice(["no title", "Model: 4 (test)"]),
        )
        if options.deviance is not None:
            options = dataclasses.replace(options, df=2)
        back = parse_text(write_command_file(spec, options))
        assert back.spec == spec
        assert back.options == options
