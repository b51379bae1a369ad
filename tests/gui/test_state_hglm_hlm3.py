"""The HGLM settings and the HLM3 window without a browser: HLM's five outcome distributions as
openhlm.fit keywords, the fits through run_fit equal to openhlm.fit's, the model files written
and read back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import openhlm
from openhlm.errors import SpecError
from openhlm.gui.state import (
    ModelState,
    command_file_text,
    model_file_text,
    restore_from_file,
    run_fit,
)
from openhlm.gui.state3 import Model3State, model_file_text3, restore_from_file3
from openhlm.spec.modelfile import parse_model_file

EGSINGLE = Path(__file__).resolve().parents[1] / "reference" / "data" / "egsingle.csv"


@pytest.fixture(scope="module")
def counts():
    """HS&B with a 0/1 outcome, a binomial count of 3 trials and a Poisson count with an
    exposure (simulated from the school's mean SES, seed fixed)."""
    rng = np.random.default_rng(7)
    students = openhlm.read_table(openhlm.datasets.path("hsb1.sav")).data
    schools = openhlm.read_table(openhlm.datasets.path("hsb2.sav")).data
    n = len(students)
    students["high"] = (students["mathach"] >= 20).astype(int)
    students["tries"] = 3
    students["passed"] = rng.binomial(3, 1 / (1 + np.exp(-students["ses"].to_numpy())))
    students["hours"] = rng.uniform(0.5, 2.0, n)
    students["events"] = rng.poisson(students["hours"] * np.exp(0.3 * students["ses"]))
    return openhlm.MDM.from_tables(students, schools, id="id")


def window(outcome: str, sampling: str, variable: str | None = None) -> ModelState:
    m = ModelState()
    m.set_outcome(outcome)
    m.add_level1("ses", "group")
    m.add_level2(0, "sector")
    m.settings.sampling = sampling
    m.settings.sampling_variable = variable
    return m


@pytest.mark.parametrize("outcome, sampling, variable, kwargs", [
    ("high", "bernoulli", None, {"distribution": "bernoulli"}),
    ("passed", "binomial", "tries", {"distribution": "binomial", "trials": "tries"}),
    ("events", "poisson", None, {"distribution": "poisson"}),
    ("events", "poisson_exposure", "hours", {"distribution": "poisson", "exposure": "hours"}),
])
@pytest.mark.parametrize("method", ["pql", "laplace"])
def test_hlm_distributions_are_openhlm_fit_keywords(counts, outcome, sampling, variable,
                                                    kwargs, method):
    m = window(outcome, sampling, variable)
    m.settings.hglm_method = method
    assert m.fit_kwargs() == {"method": method, "mode": "exact", **kwargs}
    text = m.equations_only()
    assert text.splitlines()[0] == f"{outcome} = B0 + B1*group(ses)"    # no R
    got = run_fit(m, counts)
    want = openhlm.fit(text, counts, method=method, **kwargs)
    assert got.report() == want.report()
    assert got.deviance == want.deviance


def test_quadrature_points_and_overdispersion(counts):
    m = window("events", "poisson_exposure", "hours")
    m.settings.hglm_method, m.settings.quadrature_points = "agq", 9
    assert m.fit_kwargs()["quadrature_points"] == 9
    m.settings.hglm_method, m.settings.overdispersion = "pql", True
    kw = m.fit_kwargs()
    assert "quadrature_points" not in kw and kw["overdispersion"] is True
    want = openhlm.fit(m.equations_only(), counts, distribution="poisson", exposure="hours",
                       overdispersion=True)
    assert run_fit(m, counts).overdispersion == want.overdispersion


def test_missing_trials_variable_and_normal_default():
    m = window("passed", "binomial")
    with pytest.raises(SpecError, match="choose the number of trials variable"):
        m.fit_kwargs()
    m.settings.sampling = "normal"
    assert "distribution" not in m.fit_kwargs()
    assert m.equations_only().splitlines()[0].endswith(" + R")


def test_hglm_model_file_round_trip(counts):
    m = window("events", "poisson_exposure", "hours")
    m.settings.hglm_method, m.settings.quadrature_points = "agq", 5
    text = model_file_text(m, {"level1": "counts.csv", "level2": "hsb2.sav"}, "id")
    mf = parse_model_file(text)
    assert (mf.model.distribution, mf.model.exposure) == ("poisson", "hours")
    assert (mf.estimation.method, mf.estimation.quadrature_points) == ("agq", 5)
    again = ModelState()
    restore_from_file(again, "m.toml", text, counts.level1_variables, counts.level2_variables)
    assert again.fit_kwargs() == m.fit_kwargs()
    assert again.equations_text() == m.equations_text()
    with pytest.raises(SpecError, match="TOML"):
        command_file_text(m)


def growth_window() -> Model3State:
    m = Model3State()
    m.set_outcome("math")
    m.add_level1("year")
    m.toggle_r(1)
    m.add_level2(0, "female", "group")
    m.add_level3(0, 0, "lowinc", "grand")
    m.toggle_u(1, 0)
    return m


def test_hlm3_clicks_write_hlm3_equations():
    assert growth_window().equations_text() == (
        "math = P0 + P1*year + E\nP0 = B00 + B01*group(female) + R0\nP1 = B10 + R1\n"
        "B00 = G000 + G001*grand(lowinc) + U00\nB01 = G010\nB10 = G100 + U10")
    m = growth_window()
    with pytest.raises(SpecError, match="level-3 variables are uncentred or grand"):
        m.add_level3(0, 0, "size", "group")
    m.remove_level3(0, 0, "lowinc")
    m.remove_level2(0, "female")
    m.remove_level1("year")
    assert m.equations_text() == "math = P0 + E\nP0 = B00 + R0\nB00 = G000 + U00"


def test_hlm3_run_fit_and_model_file_round_trip():
    eg = pd.read_csv(EGSINGLE)
    mdm = openhlm.build_mdm(eg, id=("childid", "schoolid"))
    m = growth_window()
    m.settings.method = "ml"
    m.settings.glh = [["G001 = 0"]]
    got = run_fit(m, mdm)
    want = openhlm.fit(m.equations_only(), mdm, method="ml", hypotheses=["G001 = 0"])
    assert got.report() == want.report()
    text = model_file_text3(m, {"level1": "egsingle.csv"}, ("childid", "schoolid"))
    again = Model3State()
    restore_from_file3(again, "growth.toml", text, mdm.level1_variables, mdm.level2_variables,
                       mdm.level3_variables)
    assert again.equations_text() == m.equations_text()
    assert again.fit_kwargs() == m.fit_kwargs()
    mf = parse_model_file(text)
    assert (mf.data.id, mf.data.id3) == ("childid", "schoolid")
