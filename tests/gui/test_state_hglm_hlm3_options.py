"""The HGLM and HLM3 settings added to the window, without a browser: each becomes the keywords
of openhlm.fit (or, for HLM-mode PQL's macro / micro iterations, which no keyword holds, the
FitOptions an HLM command file gives), and the fit through the runner equals openhlm.fit's;
the History's comparison and the graphs are the library's own.

HGLM: a Bernoulli model of a high mathematics score (MATHACH >= 20) on HS&B with design
weights made from the data (a deterministic function of SES and of the school's size).
HLM3: the Chicago growth data (egsingle) with design weights at the three levels and a second
"plausible value" of the outcome."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import openhlm
from openhlm.gui import app
from openhlm.gui.graphs import draw_graph
from openhlm.gui.session import Run, Session
from openhlm.gui.state import ModelState, fit_options, model_file_text, restore_from_file, run_fit
from openhlm.gui.state3 import Model3State, model_file_text3, restore_from_file3
from openhlm.runner import run as runner_run
from openhlm.spec.commandfile import parse_command_file
from openhlm.spec.options import FitOptions

EGSINGLE = Path(__file__).resolve().parents[1] / "reference" / "data" / "egsingle.csv"
HIGH = "high = B0 + B1*group(ses)\nB0 = G00 + G01*sector + G02*meanses + U0\nB1 = G10"


@pytest.fixture(scope="module")
def binary():
    students = openhlm.read_table(openhlm.datasets.path("hsb1.sav")).data
    schools = openhlm.read_table(openhlm.datasets.path("hsb2.sav")).data
    students["high"] = (students["mathach"] >= 20).astype(int)
    students["high2"] = (students["mathach"] >= 19).astype(int)   # a second "plausible value"
    students["w1"] = 1.0 + 0.5 * (students["ses"] > 0)
    schools["w2"] = schools["size"] / schools["size"].mean()
    return openhlm.MDM.from_tables(students, schools, id="id")


@pytest.fixture(scope="module")
def growth():
    eg = pd.read_csv(EGSINGLE)
    eg["w1"] = 1.0 + 0.25 * (eg["year"] > 0)
    eg["w2"] = 1.0 + 0.5 * eg["female"]
    eg["w3"] = eg["size"] / eg["size"].mean()
    eg["math2"] = eg["math"] + np.random.default_rng(3).normal(0.0, 0.3, len(eg))
    return openhlm.build_mdm(eg, id=("childid", "schoolid"))


def high_window(method: str = "pql") -> ModelState:
    m = ModelState()
    m.settings.sampling, m.settings.hglm_method = "bernoulli", method
    m.apply_text(HIGH, ("high", "high2", "ses", "mathach", "w1"), ("sector", "meanses", "w2"))
    return m


def test_hlm_mode_pql_macro_micro_settings_are_those_of_a_command_file(binary):
    m = high_window()
    m.settings.mode = "hlm"
    m.settings.macro_iterations, m.settings.micro_iterations = 3, 5
    m.settings.stop_macro = 1e-3
    options = fit_options(m)
    # the same settings as an HLM command file gives them (macroit/microit/stopmacro)
    command = parse_command_file(
        "#WHLM CMD FILE\nnonlin:bernoulli\nmacroit:3\nmicroit:5\nstopmacro:0.001\n"
        "level1:HIGH=INTRCPT1+SES,2+RANDOM\nlevel2:INTRCPT1=INTRCPT2+SECTOR+MEANSES+random/\n"
        "level2:SES=INTRCPT2/\n", level1_variables=binary.level1_variables,
        level2_variables=binary.level2_variables)
    from_file = FitOptions.from_command_file(command, mode="hlm")
    assert options.outcome == from_file.outcome
    got = run_fit(m, binary)
    want = runner_run(HIGH, binary, from_file)
    assert got.report() == want.report()
    assert got.iterations == 3                            # stopped by MACROIT
    default = openhlm.fit(HIGH, binary, distribution="bernoulli", mode="hlm")
    assert default.iterations > 3 and got.gamma["G00"] != default.gamma["G00"]
    m.settings.mode = "exact"                             # exact mode: not used
    assert fit_options(m).outcome.macro_iterations is None


def test_hglm_command_file_holds_hlm_mode_pql(binary):
    """The window's HLM 6 command file of a PQL run (nonlin:, mlf:, macroit/microit/...) runs
    to the same results in HLM mode, and reopens into the same settings."""
    from openhlm.gui.state import command_file_text

    m = high_window()
    m.settings.mode, m.settings.method = "hlm", "ml"
    m.settings.macro_iterations, m.settings.stop_micro = 6, 1e-5
    text = command_file_text(m, mdm_name="high.mdm")
    assert "nonlin:bernoulli" in text and "macroit:6" in text
    command = parse_command_file(text, level1_variables=binary.level1_variables,
                                 level2_variables=binary.level2_variables)
    want = runner_run(HIGH, binary, FitOptions.from_command_file(command, mode="hlm"))
    assert run_fit(m, binary).report() == want.report()
    again = ModelState()
    restore_from_file(again, "high.hlm", text, binary.level1_variables,
                      binary.level2_variables)
    again.settings.mode = "hlm"                 # a command file has no mode
    assert again.fit_kwargs() == m.fit_kwargs()
    assert fit_options(again) == fit_options(m)
    m.settings.hglm_method = "laplace"
    with pytest.raises(openhlm.OpenHLMError, match="PQL only"):
        command_file_text(m)


def test_restricted_and_full_pql_and_the_model_file(binary):
    m = high_window()
    m.settings.method = "ml"                              # HLM's ML with PQL: full PQL
    assert m.fit_kwargs()["pql_likelihood"] == "ml"
    full = run_fit(m, binary)
    want = openhlm.fit(HIGH, binary, distribution="bernoulli", pql_likelihood="ml")
    assert full.report() == want.report()
    restricted = openhlm.fit(HIGH, binary, distribution="bernoulli")
    assert full.tau[0, 0] != pytest.approx(restricted.tau[0, 0], rel=1e-4)
    text = model_file_text(m, {"level1": "high.csv", "level2": "schools.csv"}, "id")
    again = ModelState()
    restore_from_file(again, "high.toml", text, binary.level1_variables,
                      binary.level2_variables)
    assert again.fit_kwargs() == m.fit_kwargs()
    assert run_fit(again, binary).report() == want.report()


@pytest.mark.parametrize("method", ["pql", "laplace"])
def test_hglm_design_weights(binary, method):
    m = high_window(method)
    m.settings.level1_weight, m.settings.level2_weight = "w1", "w2"
    m.settings.normalize = "overall"
    got = run_fit(m, binary)
    want = openhlm.fit(HIGH, binary, distribution="bernoulli", method=method,
                       level1_weight="w1", level2_weight="w2", normalize_weights="overall")
    assert got.report() == want.report()
    unweighted = openhlm.fit(HIGH, binary, distribution="bernoulli", method=method)
    assert got.gamma["G00"] != pytest.approx(unweighted.gamma["G00"], rel=1e-4)


def test_hglm_plausible_values(binary):
    m = high_window("laplace")
    m.settings.imputation, m.settings.plausible_values = "plausible", ["high", "high2"]
    got = run_fit(m, binary)
    want = openhlm.fit(HIGH, binary, distribution="bernoulli", method="laplace",
                       plausible_values=["high", "high2"])
    assert got.report() == want.report()


def test_hlm_mode_with_design_weights_is_the_library_s_refusal(binary):
    m = high_window()
    m.settings.mode, m.settings.level2_weight = "hlm", "w2"
    with pytest.raises(openhlm.OpenHLMError) as want:
        openhlm.fit(HIGH, binary, distribution="bernoulli", mode="hlm", level2_weight="w2")
    with pytest.raises(openhlm.OpenHLMError) as got:
        run_fit(m, binary)
    assert str(got.value) == str(want.value)
    assert "\n" not in str(got.value) and "design weights" in str(got.value)


def _session_with_runs(tmp_path, *results) -> Session:
    s = Session("test", tmp_path)
    s.runs = [Run(i, "", {}, "", results=r, done=True) for i, r in enumerate(results, 1)]
    return s


def test_history_compare_of_hglm_runs(binary, tmp_path):
    smaller = "high = B0 + B1*group(ses)\nB0 = G00 + G01*sector + U0\nB1 = G10"
    a = openhlm.fit(HIGH, binary, distribution="bernoulli", method="laplace")
    b = openhlm.fit(smaller, binary, distribution="bernoulli", method="laplace")
    pql = openhlm.fit(smaller, binary, distribution="bernoulli")
    s = _session_with_runs(tmp_path, a, b, pql)
    app.a_compare(s, {"a": "1", "b": "2"})
    want = openhlm.compare(a, b, labels=("run 1", "run 2"))
    assert s.compare_text == str(want)
    assert f"{want.chi2:.5f}" in s.compare_text
    with pytest.raises(openhlm.OpenHLMError) as refused:
        openhlm.compare(a, pql)
    with pytest.raises(openhlm.OpenHLMError) as got:
        app.a_compare(s, {"a": "1", "b": "3"})
    assert str(got.value) == str(refused.value) and s.compare_text is None


def _png(fig) -> bytes:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return buf.getvalue()


def test_hglm_and_hlm3_graphs_are_openhlm_plots(binary, growth, tmp_path):
    from openhlm import plots

    hglm = openhlm.fit(HIGH, binary, distribution="bernoulli", method="laplace")
    three = openhlm.fit(GROWTH, growth, method="ml")
    s = _session_with_runs(tmp_path, hglm, three)
    got = draw_graph(s, {"run": "1", "kind": "model", "by": "sector"}, "png")
    assert got == _png(plots.model_graph(hglm, by="sector", scale="response"))
    got = draw_graph(s, {"run": "1", "kind": "level1", "scale": "link", "sample": "10"}, "png")
    assert got == _png(plots.level1_equations(hglm, sample=10, scale="link"))
    got = draw_graph(s, {"run": "2", "kind": "model", "quartiles_of": "lowinc"}, "png")
    assert got == _png(plots.model_graph(three, quartiles_of="lowinc"))
    got = draw_graph(s, {"run": "2", "kind": "caterpillar", "coefficient": "U10"}, "png")
    assert got == _png(plots.caterpillar(three, "U10", level_of_units=3))
    got = draw_graph(s, {"run": "2", "kind": "caterpillar", "coefficient": "R1"}, "png")
    assert got == _png(plots.caterpillar(three, "R1", level_of_units=2))
    got = draw_graph(s, {"run": "1", "kind": "qq-mdist"}, "png")
    assert got == _png(plots.qq_mdist(hglm))
    got = draw_graph(s, {"run": "2", "kind": "qq-mdist", "units": "2"}, "png")
    assert got == _png(plots.qq_mdist(three, level_of_units=2))
    got = draw_graph(s, {"run": "2", "kind": "eb-vs", "variable": "size",
                         "coefficient": "U10"}, "png")
    assert got == _png(plots.eb_residuals_vs(three, "size", "U10"))
    got = draw_graph(s, {"run": "2", "kind": "level1", "sample": "12", "by": "black"}, "png")
    assert got == _png(plots.level1_equations(three, sample=12, by="black"))
    got = draw_graph(s, {"run": "2", "kind": "mdrsvar-qq"}, "png")
    assert got == _png(plots.mdrsvar_qq(three))


# ---------------------------------------------------------------------------- three levels
GROWTH = ("math = P0 + P1*year + E\nP0 = B00 + B01*black + R0\nP1 = B10 + R1\n"
          "B00 = G000 + G001*lowinc + U00\nB01 = G010\nB10 = G100 + U10")


def growth_window(mdm) -> Model3State:
    m = Model3State()
    m.apply_text(GROWTH, mdm.level1_variables, mdm.level2_variables, mdm.level3_variables)
    return m


def test_hlm3_hlm_mode_homogeneity_and_hlm_convention_deviance(growth):
    m = growth_window(growth)
    s = m.settings
    s.method, s.mode, s.homogeneity = "ml", "hlm", True
    s.deviance_source, s.deviance_value, s.deviance_parameters = "typed", 16400.0, 7
    s.deviance_convention = "hlm"
    kw = m.fit_kwargs()
    assert kw["deviance_test"] == {"deviance": 16400.0, "n_parameters": 7, "convention": "hlm"}
    got = run_fit(m, growth)
    want = openhlm.fit(GROWTH, growth, method="ml", mode="hlm", homogeneity=True,
                       deviance_test={"deviance": 16400.0, "n_parameters": 7,
                                      "convention": "hlm"})
    assert got.report() == want.report()
    assert got.extras["deviance_test"].convention == "hlm"
    s.method = "reml"                                     # HLM3 has no REML
    with pytest.raises(openhlm.OpenHLMError) as want_error:
        openhlm.fit(GROWTH, growth, mode="hlm")
    with pytest.raises(openhlm.OpenHLMError) as got_error:
        run_fit(m, growth)
    assert str(got_error.value) == str(want_error.value)


def test_hlm3_constraints_and_weights_at_three_levels(growth):
    m = growth_window(growth)
    m.set_constraints(["G001 = G010"], growth.level1_variables, growth.level2_variables,
                      growth.level3_variables)
    s = m.settings
    s.level1_weight, s.level2_weight, s.level3_weight = "w1", "w2", "w3"
    s.normalize = "none"
    got = run_fit(m, growth)
    want = openhlm.fit(GROWTH, growth, constraints=["G001 = G010"], level1_weight="w1",
                       level2_weight="w2", level3_weight="w3", normalize_weights="none")
    assert got.report() == want.report()
    assert "G001" in got.gamma.index and "G010" not in got.gamma.index   # one estimate
    text = model_file_text3(m, {"level1": "eg.csv"}, ("childid", "schoolid"))
    again = Model3State()
    restore_from_file3(again, "g.toml", text, growth.level1_variables,
                       growth.level2_variables, growth.level3_variables)
    assert again.fit_kwargs() == m.fit_kwargs()
    assert again.equations_text() == m.equations_text()
    with pytest.raises(openhlm.OpenHLMError, match="G009"):
        m.set_constraints(["G001 = G009"], growth.level1_variables, growth.level2_variables,
                          growth.level3_variables)
    assert m.constraints == ["G001 = G010"]               # the window keeps the last good one


def test_hlm3_model_graph_of_a_constrained_model(growth):
    """The model graph of a model with a constraint (G001 = G010 share one estimate): the
    line is the fixed part at the mean of BLACK (level 2) and LOWINC (level 3), computed here
    from the MDM's tables and the reported gammas."""
    from openhlm import plots

    r = openhlm.fit(GROWTH, growth, constraints=["G001 = G010"])
    line = plots.model_graph(r).axes[0].lines[0]
    g = r.gamma
    black = growth.level2["black"].mean()
    lowinc = growth.level3["lowinc"].mean()
    x = line.get_xdata()
    want = g["G000"] + g["G001"] * lowinc + g["G001"] * black + g["G100"] * x
    np.testing.assert_allclose(line.get_ydata(), want, rtol=1e-12)


def test_hlm3_heterogeneous_sigma2_precision_weight_and_plausible_values(growth):
    small = "math = P0 + P1*year + E\nP0 = B00 + R0\nP1 = B10\nB00 = G000 + U00\nB10 = G100"
    m = Model3State()
    m.apply_text(small, growth.level1_variables, growth.level2_variables,
                 growth.level3_variables)
    m.settings.method, m.settings.heterogeneous = "ml", ["retained"]
    got = run_fit(m, growth)
    want = openhlm.fit(small, growth, method="ml", heterogeneous_sigma2=["retained"])
    assert got.report() == want.report()
    m = growth_window(growth)
    m.settings.precision_weight = "w1"
    assert run_fit(m, growth).report() == openhlm.fit(GROWTH, growth,
                                                      precision_weight="w1").report()
    m = growth_window(growth)
    m.settings.imputation, m.settings.plausible_values = "plausible", ["math", "math2"]
    got = run_fit(m, growth)
    want = openhlm.fit(GROWTH, growth, plausible_values=["math", "math2"])
    assert got.report() == want.report()


def test_hlm3_exploratory_analysis_at_levels_2_and_3(growth):
    m = growth_window(growth)
    m.settings.exploratory, m.settings.exploratory3 = ["female"], ["size", "mobility"]
    got = run_fit(m, growth)
    want = openhlm.fit(GROWTH, growth, exploratory=["female"], exploratory3=["size", "mobility"])
    assert got.report() == want.report()
    assert "Potential Level-3 Predictors" in got.report()
    text = model_file_text3(m, {"level1": "eg.csv"}, ("childid", "schoolid"))
    again = Model3State()
    restore_from_file3(again, "g.toml", text, growth.level1_variables,
                       growth.level2_variables, growth.level3_variables)
    assert again.fit_kwargs() == m.fit_kwargs()


def test_settings_form_reaches_the_window(growth, tmp_path):
    """The Settings form of HLM3 (the browser posts these fields) sets every new setting."""
    from starlette.datastructures import FormData

    s = Session("t", tmp_path)
    s.set_mdm(growth, "growth")
    s.model = growth_window(growth)
    form = FormData([("method", "ml"), ("mode", "hlm"), ("homogeneity", "on"),
                     ("heterogeneous", "retained"), ("level1_weight", "w1"),
                     ("level2_weight", "w2"), ("level3_weight", "w3"),
                     ("precision_weight", "nope"), ("normalize", "overall"),
                     ("deviance_source", "typed"), ("deviance_value", "16400"),
                     ("deviance_parameters", "7"), ("deviance_convention", "hlm"),
                     ("resid3", "on"), ("exploratory3", "size"), ("exploratory3", "female")])
    app.a_settings(s, form)
    st = s.model.settings
    assert (st.method, st.mode, st.homogeneity, st.heterogeneous) == ("ml", "hlm", True,
                                                                      ["retained"])
    assert (st.level1_weight, st.level2_weight, st.level3_weight) == ("w1", "w2", "w3")
    assert st.precision_weight is None and st.normalize == "overall"
    assert st.deviance_convention == "hlm" and st.resid3
    assert st.exploratory3 == ["size"]                    # FEMALE is not a level-3 variable
