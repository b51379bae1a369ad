"""The GUI's state logic without a browser: clicks -> equations -> openhlm.fit keywords, the
model and command files written and read back, the session folder."""

from __future__ import annotations

import dataclasses

import pytest

import openhlm
from openhlm.errors import CommandFileError, SpecError
from openhlm.gui.session import Session, safe_name
from openhlm.gui.state import (
    ModelState,
    command_file_text,
    model_file_text,
    restore_from_file,
    run_fit,
)
from openhlm.spec.commandfile import parse_command_file
from openhlm.spec.modelfile import parse_model_file

MODEL4 = ("mathach = B0 + B1*group(ses) + R\n"
          "B0 = G00 + G01*sector + G02*meanses + U0\n"
          "B1 = G10 + G11*sector + G12*meanses + U1")


@pytest.fixture(scope="module")
def hsb():
    return openhlm.datasets.hsb()


def model4() -> ModelState:
    m = ModelState()
    m.set_outcome("mathach")
    m.add_level1("ses", "group")
    m.toggle_random(1)
    for q in (0, 1):
        m.add_level2(q, "sector")
        m.add_level2(q, "meanses")
    return m


def test_clicks_build_the_seminar_model4():
    assert model4().equations_text() == MODEL4


def test_new_window_has_a_random_intercept_and_no_outcome():
    m = ModelState()
    assert m.equations_text() == ""
    with pytest.raises(SpecError, match="outcome"):
        m.spec()
    m.set_outcome("mathach")
    assert m.equations_text() == "mathach = B0 + R\nB0 = G00 + U0"


def test_centring_changes_in_place_and_remove():
    m = model4()
    m.add_level1("ses", "grand")
    assert "B1*grand(ses)" in m.equations_text()
    m.add_level2(0, "meanses", "grand")
    assert "G02*grand(meanses)" in m.equations_text()
    m.remove_level2(0, "sector")
    assert "B0 = G00 + G01*grand(meanses) + U0" in m.equations_text()
    m.remove_level1("ses")
    assert m.equations_text() == "mathach = B0 + R\nB0 = G00 + G01*grand(meanses) + U0"
    m.toggle_random(0)
    assert m.equations_text().endswith("B0 = G00 + G01*grand(meanses)")


def test_outcome_taken_from_the_predictors_and_back():
    m = model4()
    m.set_outcome("ses")
    assert m.outcome == "ses" and len(m.coefs) == 1
    m.add_level1("ses", "none")
    assert m.outcome is None


def test_typed_equations_sync_and_pointed_errors(hsb):
    m = ModelState()
    m.apply_text(MODEL4, hsb.level1_variables, hsb.level2_variables)
    assert m.equations_text() == MODEL4
    before = m.equations_text()
    with pytest.raises(SpecError) as info:
        m.apply_text(MODEL4.replace("sector", "sectr", 1), hsb.level1_variables,
                     hsb.level2_variables)
    assert "did you mean 'sector'" in str(info.value) and "^" in str(info.value)
    assert m.equations_text() == before


def test_constraints_checked_by_the_parser(hsb):
    m = model4()
    m.set_constraints(["G02 = G12", ""], hsb.level1_variables, hsb.level2_variables)
    assert m.constraints == ["G02 = G12"]
    assert m.fit_kwargs()["constraints"] == ["G02 = G12"]
    with pytest.raises(SpecError):
        m.set_constraints(["G02 = G99"], hsb.level1_variables, hsb.level2_variables)
    assert m.constraints == ["G02 = G12"]


def test_fit_kwargs_are_openhlm_fit_keywords():
    m = model4()
    assert m.fit_kwargs() == {"method": "reml", "mode": "exact"}
    s = m.settings
    s.method, s.mode, s.max_iterations, s.tolerance = "ml", "hlm", 50, 1e-7
    s.level1_weight, s.level2_weight, s.normalize = "female", "size", "overall"
    s.heterogeneous = ["female"]
    s.glh = [["G01 = 0", "G11 = 0"]]
    s.homogeneity = True
    s.deviance_source, s.deviance_value, s.deviance_parameters = "typed", 46500.5, 2
    s.exploratory = ["pracad"]
    assert m.fit_kwargs() == {
        "method": "ml", "mode": "hlm", "max_iterations": 50, "tolerance": 1e-7,
        "level1_weight": "female", "level2_weight": "size", "normalize_weights": "overall",
        "heterogeneous_sigma2": ["female"], "hypotheses": ["G01 = 0; G11 = 0"],
        "homogeneity": True, "deviance_test": {"deviance": 46500.5, "n_parameters": 2},
        "exploratory": ["pracad"]}
    s.imputation, s.plausible_values = "plausible", ["mathach", "ses"]
    assert m.fit_kwargs()["plausible_values"] == ["mathach", "ses"]


def test_deviance_test_against_a_previous_run(hsb):
    class Run:
        number = 1
        results = openhlm.fit("mathach = B0 + R; B0 = G00 + U0", hsb)

    m = model4()
    m.settings.deviance_source = "run:1"
    prior = m.fit_kwargs([Run()])["deviance_test"]
    assert prior == {"deviance": Run.results.deviance, "n_parameters": 2}
    m.settings.deviance_source = "run:7"
    with pytest.raises(SpecError, match="run 7"):
        m.fit_kwargs([Run()])


def test_run_fit_is_openhlm_fit(hsb):
    m = model4()
    m.settings.glh = [["G01 = 0", "G11 = 0"]]
    got = run_fit(m, hsb)
    want = openhlm.fit(MODEL4, hsb, hypotheses=["G01 = 0; G11 = 0"])
    # the two fits may straddle a second: the reports' time stamps are not part of the claim
    assert dataclasses.replace(got, created=want.created).report() == want.report()


def _full_settings(m: ModelState) -> ModelState:
    s = m.settings
    s.title, s.method, s.max_iterations = "Model 4", "ml", 60
    s.glh = [["G01 = 0", "G11 = 0"], ["G02 - G12 = 0"]]
    s.homogeneity = True
    s.resid2, s.resid_format = True, "sav"
    s.level2_weight = "size"
    s.heterogeneous = ["female"]
    s.deviance_source, s.deviance_value, s.deviance_parameters = "typed", 46500.25, 4
    s.exploratory = ["pracad", "disclim"]
    m.constraints = ["G02 = G12"]
    return m


def test_model_file_round_trip(hsb):
    m = _full_settings(model4())
    text = model_file_text(m, {"level1": "hsb1.sav", "level2": "hsb2.sav"}, "id")
    mf = parse_model_file(text)
    assert mf.model_spec(hsb.level1_variables, hsb.level2_variables).gamma_labels() == \
        m.spec().gamma_labels()
    back = ModelState()
    restore_from_file(back, "model4.toml", text, hsb.level1_variables, hsb.level2_variables)
    assert back.equations_text() == m.equations_text()
    assert back.settings == m.settings
    assert back.fit_kwargs() == m.fit_kwargs()


def test_command_file_round_trip(hsb):
    m = _full_settings(model4())
    m.settings.exploratory = []  # not a command-file setting
    m.settings.resid2_extra = ["pracad"]
    text = command_file_text(m)
    command = parse_command_file(text, level1_variables=hsb.level1_variables,
                                 level2_variables=hsb.level2_variables)
    assert command.spec.gamma_labels() == m.spec().gamma_labels()
    back = ModelState()
    restore_from_file(back, "model4.hlm", text, hsb.level1_variables, hsb.level2_variables)
    assert back.equations_text() == m.equations_text()
    assert back.fit_kwargs() == m.fit_kwargs()
    assert back.settings.resid2 and back.settings.resid2_extra == ["pracad"]


def test_broken_model_file_is_the_library_error(hsb):
    with pytest.raises(CommandFileError, match="line"):
        restore_from_file(ModelState(), "x.toml", "title = \n", hsb.level1_variables,
                          hsb.level2_variables)


def test_uploads_stay_in_the_session_folder(tmp_path):
    s = Session("abc", tmp_path)
    for name in ("../../etc/passwd", "C:\\Users\\x\\hsb1.sav", ".hidden", "", "a b?.sav"):
        path = s.new_path(safe_name(name))
        assert tmp_path.resolve() in path.parents
    assert safe_name("C:\\Users\\x\\hsb1.sav") == "hsb1.sav"
    assert safe_name("../../etc/passwd") == "passwd"
    assert safe_name("a b?.sav") == "a_b_.sav"


def test_cli_has_the_gui_command(capsys):
    from openhlm.cli.main import main

    assert main(["gui", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--no-browser" in out and "--port" in out and "token" in out


def test_non_loopback_hosts_need_a_token():
    from openhlm.gui.server import address, is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.0.2.1")
    assert address("0.0.0.0", 8000, "t0k") == "http://0.0.0.0:8000/?token=t0k"


@pytest.mark.parametrize("kind, extra", [
    ("model", {"x": "ses", "by": "sector"}), ("level1", {"sample": "10"}), ("qq-mdist", {}),
    ("mdrsvar-hist", {}), ("mdrsvar-qq", {}), ("eb-vs", {"variable": "pracad"}),
    ("caterpillar", {"coefficient": "SES"})])
def test_every_graph_of_openhlm_plots(hsb, kind, extra):
    from openhlm.gui.graphs import draw_graph

    class Run:
        number = 1
        results = _model4_results(hsb)

    class S:
        def run(self, n):
            return Run if n == 1 else None

    png = draw_graph(S(), {"run": "1", "kind": kind, **extra}, "png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    if kind == "model":
        assert b"<svg" in draw_graph(S(), {"run": "1", "kind": kind, **extra}, "svg")[:2000]


_CACHE: dict[str, object] = {}


def _model4_results(hsb):
    if "m4" not in _CACHE:
        _CACHE["m4"] = openhlm.fit(MODEL4, hsb)
    return _CACHE["m4"]


def test_imputed_data_sets_go_to_fit_as_a_list(hsb, tmp_path):
    s = Session("abc", tmp_path)
    s.mdm = hsb
    s.model.set_outcome("mathach")
    s.model.settings.imputation = "files"
    with pytest.raises(SpecError, match="other completed data sets"):
        s.data_for_fit()
    s.imputed = [hsb]
    assert s.data_for_fit() == [hsb, hsb]
