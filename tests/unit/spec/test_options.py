"""FitOptions: built from keywords, TOML model files and HLM command files, written back to both
(round trips), iteration limits resolved per mode, defaults written once."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from openhlm.errors import SpecError
from openhlm.spec.commandfile import CommandOptions, parse_command_file, read_command_file
from openhlm.spec.defaults import EXACT_LIMITS, HLM_LIMITS, IterationLimits
from openhlm.spec.equations import parse_model
from openhlm.spec.modelfile import (
    DataSection,
    EstimationSection,
    load_model_file,
    parse_model_file,
)
from openhlm.spec.options import (
    FitOptions,
    Imputation,
    Output,
    Residuals,
    Tests,
    Weights,
    normalization_mode,
)

DATA = Path(__file__).parent / "data"
SRC = Path(__file__).resolve().parents[3] / "src" / "openhlm"
HSB_LEVEL1 = ("mathach", "ses", "female", "minority")
HSB_LEVEL2 = ("size", "sector", "pracad", "disclim", "himinty", "meanses")
M4 = ("mathach = B0 + B1*group(ses) + R\nB0 = G00 + G01*sector + G02*meanses + U0\n"
      "B1 = G10 + G11*sector + G12*meanses + U1\n")


def _spec(constraints=(), variance=()):
    return parse_model(M4, level1_variables=HSB_LEVEL1, level2_variables=HSB_LEVEL2,
                       constraints=constraints, variance_predictors=variance)


# -- keywords ------------------------------------------------------------------------------------

def test_from_kwargs_defaults_are_the_dataclass_defaults():
    assert FitOptions.from_kwargs() == FitOptions()
    o = FitOptions()
    assert (o.method, o.mode, o.max_iterations, o.tolerance) == ("reml", "exact", None, None)
    assert o.weights == Weights() and o.weights.normalize == "within" and not o.weights.used
    assert o.output.ols_units == 10 and o.exploratory is None and not o.tests.requested


def test_from_kwargs_reads_every_fit_keyword():
    o = FitOptions.from_kwargs(
        method="ML", mode="hlm", constraints=["G02 = G12"], max_iterations=50, tolerance=1e-7,
        ols_units=3, level1_weight="w1", level2_weight="w2", normalize_weights=False,
        precision_weight="p", imputation="imp", plausible_values="pv1",
        heterogeneous_sigma2="female", hypotheses=np.array([[0.0, 1.0]]), homogeneity=True,
        deviance_test={"deviance": 1.0, "n_parameters": 2}, exploratory=["pracad"])
    assert (o.method, o.mode, o.max_iterations, o.tolerance) == ("ml", "hlm", 50, 1e-7)
    assert o.constraints == ("G02 = G12",) and o.heterogeneous_sigma2 == ("female",)
    assert o.weights == Weights("w1", "w2", "p", "none")
    assert o.imputation == Imputation("imp", ("pv1",))
    assert o.tests == Tests(((0.0, 1.0),), True, {"deviance": 1.0, "n_parameters": 2})
    assert o.exploratory == ("pracad",) and o.output.ols_units == 3
    assert FitOptions.from_kwargs(**o.to_kwargs()) == o


@pytest.mark.parametrize("kwargs, message", [
    ({"methd": "ml"}, "unknown fit option 'methd' (did you mean 'method'?)"),
    ({"method": "bayes"}, "method must be 'reml' or 'ml', not 'bayes'"),
    ({"mode": "fast"}, "mode must be 'exact' or 'hlm', not 'fast'"),
    ({"normalize_weights": "sometimes"}, "normalize_weights must be True, False"),
    ({"level1_weight": 3}, "level1_weight must be a variable name, not int"),
    ({"constraints": [3]}, "constraints must be text such as 'G02 = G12', not int"),
    ({"ols_units": "ten"}, "ols_units must be a whole number"),
])
def test_from_kwargs_refuses_with_one_line(kwargs, message):
    with pytest.raises(SpecError) as info:
        FitOptions.from_kwargs(**kwargs)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_normalization_spellings():
    assert normalization_mode(True) == "within" and normalization_mode(False) == "none"
    assert Weights(normalize="OVERALL").normalize == "overall"
    assert Weights(normalize=True) == Weights(normalize="within")


# -- iteration limits ----------------------------------------------------------------------------

def test_limits_are_resolved_per_mode():
    assert FitOptions().limits == EXACT_LIMITS == IterationLimits(1000, 1e-10)
    assert FitOptions(mode="hlm").limits == HLM_LIMITS == IterationLimits(100, 1e-6)
    assert FitOptions(mode="hlm", max_iterations=7).limits == IterationLimits(7, 1e-6)
    assert FitOptions(tolerance=1e-8).limits == IterationLimits(1000, 1e-8)


def test_the_file_readers_default_to_hlms_limits_written_once():
    assert EstimationSection().max_iterations == CommandOptions().max_iterations == 100
    assert EstimationSection().tolerance == CommandOptions().tolerance == 1e-6
    assert (EstimationSection().max_iterations, EstimationSection().tolerance) == \
        (HLM_LIMITS.max_iterations, HLM_LIMITS.tolerance)


def test_iteration_defaults_and_stop_reasons_are_written_once():
    for sentence in ("Iterations stopped due to", "Converged to the maximum of the likelihood"):
        holders = sorted(p.relative_to(SRC).as_posix() for p in SRC.rglob("*.py")
                         if sentence in p.read_text(encoding="utf-8"))
        assert holders == ["spec/defaults.py"], (sentence, holders)
    for pattern in ("100 if max_iterations is None", "1000 if max_iterations is None",
                    "1e-6 if tolerance is None", "1e-10 if tolerance is None"):
        assert not [p for p in SRC.rglob("*.py") if pattern in p.read_text(encoding="utf-8")]


def test_model_file_limits_mean_the_modes_default_at_hlms_values():
    mf = load_model_file(DATA / "model4.toml")  # exact mode, max_iterations = 100, 1e-6
    assert mf.estimation == EstimationSection("reml", "exact", 100, 1e-6)
    o = FitOptions.from_model_file(mf)
    assert (o.max_iterations, o.tolerance) == (None, None) and o.limits == EXACT_LIMITS
    assert FitOptions.from_model_file(mf, mode="hlm").limits == HLM_LIMITS
    changed = dataclasses.replace(mf, estimation=EstimationSection("reml", "exact", 40, 1e-8))
    assert FitOptions.from_model_file(changed).limits == IterationLimits(40, 1e-8)


def test_command_file_limits_count_in_hlm_mode_only():
    text = (DATA / "ex4_tests.hlm").read_text().replace("numit:100", "numit:60")
    cf = parse_command_file(text, level1_variables=HSB_LEVEL1, level2_variables=HSB_LEVEL2)
    assert cf.options.max_iterations == 60
    assert FitOptions.from_command_file(cf).limits == EXACT_LIMITS
    assert FitOptions.from_command_file(cf, mode="hlm").limits == IterationLimits(60, 1e-6)


# -- files ---------------------------------------------------------------------------------------

def test_model_file_settings():
    o = FitOptions.from_model_file(load_model_file(DATA / "model4.toml"))
    assert o.constraints == ("G02 = G12",) and o.heterogeneous_sigma2 == ("female",)
    assert o.tests == Tests((("G01 = 0", "G11 = 0"),), True,
                            {"deviance": 46502.95, "n_parameters": 2, "convention": "standard"})
    assert o.output.report == DATA / "model4.txt" and o.output.html is None
    assert o.output.title == "Model 4: intercepts- and slopes-as-outcomes"
    assert o.residuals == Residuals(level2=DATA / "res2.csv")  # csv: the suffix decides
    assert o.sources["tests"] == str(DATA / "model4.toml")


def test_command_file_settings():
    cf = read_command_file(DATA / "ex4_tests.hlm", level1_variables=HSB_LEVEL1,
                           level2_variables=HSB_LEVEL2)
    o = FitOptions.from_command_file(cf)
    # gamma1:0,1,0,0,0,0 and gamma1:0,0,0,0,1,0: one hypothesis, as a TOML file writes it
    assert o.tests == Tests((("G01 = 0", "G11 = 0"),), True,
                            {"deviance": 46502.952734, "n_parameters": 2, "convention": "hlm"})
    assert o.weights.normalize == "within" and o.output.ols_units == cf.options.lev1ols
    assert o.sources["command_file"] == cf.source


RICH = FitOptions(
    method="ml", mode="hlm", max_iterations=250, tolerance=1e-8, constraints=("G02 = G12",),
    heterogeneous_sigma2=("female",),
    weights=Weights(level1="minority", level2="size", precision=None, normalize="overall"),
    tests=Tests((("G01 = 0", "G11 = 0"), ("G01 - G11 = 0",)), True,
                {"deviance": 46502.95, "n_parameters": 2, "convention": "hlm"}),
    exploratory=("pracad", "disclim"),
    output=Output(report=Path("/models/m4.txt"), json=Path("/models/m4.json"), title="Model 4"),
    residuals=Residuals(level2=Path("/models/res2.sav"), format="sav"))


@pytest.mark.parametrize("options", [
    FitOptions(), RICH, RICH.replace(mode="exact", max_iterations=None, tolerance=None,
                                     weights=Weights(level2="size", normalize=False)),
])
def test_toml_round_trip(options):
    data = DataSection(level1=Path("/models/hsb1.sav"), level2=Path("/models/hsb2.sav"), id="id")
    text = options.to_toml(M4, data, path="/models/m4.toml")
    mf = parse_model_file(text, path="/models/m4.toml")
    assert FitOptions.from_model_file(mf) == options
    assert mf.data == data and mf.model.equations == M4
    # a ModelSpec writes its equations, and its constraints with the options' ones
    spec = _spec(constraints=options.constraints)
    again = parse_model_file(options.to_toml(spec, data, path="/models/m4.toml"),
                             path="/models/m4.toml")
    assert FitOptions.from_model_file(again) == options
    assert again.model_spec(HSB_LEVEL1, HSB_LEVEL2) == \
        _spec(options.constraints, options.heterogeneous_sigma2)


@pytest.mark.parametrize("mode", ["exact", "hlm"])
def test_command_file_round_trip(mode):
    options = RICH.replace(
        mode=mode, max_iterations=250 if mode == "hlm" else None,
        tolerance=1e-8 if mode == "hlm" else None,
        weights=Weights(level1="minority", level2="size"), exploratory=None,
        output=Output(ols_units=20, full=True, title="Model 4"),
        residuals=Residuals(level1=Path("r1.csv"), level2=Path("r2.sav"), format="spss",
                            extra_level2=("pracad",)))
    spec = _spec(options.constraints, options.heterogeneous_sigma2)
    text = options.to_command_file(spec, mdm="hsb.mdm")
    cf = parse_command_file(text, level1_variables=HSB_LEVEL1, level2_variables=HSB_LEVEL2)
    assert cf.spec == spec and cf.mdm == "hsb.mdm"
    assert FitOptions.from_command_file(cf, mode=mode) == options


def test_what_a_file_cannot_hold_is_refused():
    data = DataSection(level1=Path("a.csv"), id="id")
    with pytest.raises(SpecError, match="multiple imputation"):
        FitOptions(imputation=Imputation("imp")).to_toml(M4, data)
    with pytest.raises(SpecError, match="as text"):
        FitOptions(tests=Tests(np.eye(2))).to_toml(M4, data)
    with pytest.raises(SpecError, match="weights not normalised within units"):
        FitOptions(weights=Weights(level2="size", normalize="none")).to_command_file(_spec())
    with pytest.raises(SpecError, match="standard convention"):
        FitOptions(tests=Tests(deviance_test={"deviance": 1.0, "n_parameters": 2})
                   ).to_command_file(_spec())
    with pytest.raises(SpecError, match="results.spec"):
        FitOptions(constraints=("G02 = G12",)).to_command_file(_spec())


def test_with_overrides_keeps_what_is_not_given():
    o = RICH.with_overrides(method=None, mode="exact", ols_units=0, json=Path("-"), full=True)
    assert o.method == "ml" and o.mode == "exact"
    assert o.output == dataclasses.replace(RICH.output, ols_units=0, json=Path("-"), full=True)
    assert RICH.with_overrides() is RICH
    with pytest.raises(SpecError, match="did you mean 'tolerance'"):
        RICH.with_overrides(tolerence=1e-3)
