"""The HGLM and HLM3 settings, output, History and Graphs in real headless Chromium.

HGLM: HS&B with a 0/1 outcome (MATHACH >= 20) and design weights made from the data (W1 from
SES, W2 from the school's size), uploaded as two CSV files.  HLM-mode PQL with HLM's macro /
micro iteration settings and full PQL, a level-2 weight in HLM mode (the library's one-line
refusal in the page), then Laplace with design weights and both residual files, the HTML
tables, the History's deviance test of two Laplace runs (and the refusal for a PQL run), and
the model graph on the probability scale -- each equal to the library's with the same options.

HLM3: the Chicago growth data (egsingle) in one uploaded file with design weights at the three
levels; HLM mode with REML (refused, the library's message), HLM mode with ML with the
homogeneity test and a deviance test typed in HLM's convention, then a constraint with weights
at levels 1-3, and the three-level model graph and caterpillar plot.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

import openhlm
from openhlm import plots
from openhlm.runner import run as runner_run
from openhlm.spec.options import FitOptions
from tests.gui.helpers import HSB, html_tables, page_tables
from tests.gui.test_browser import fetch, shown_report, undated

EGSINGLE = Path(__file__).resolve().parents[1] / "reference" / "data" / "egsingle.csv"
HIGH = "high = B0 + B1*group(ses)\nB0 = G00 + G01*sector + G02*meanses + U0\nB1 = G10"
SMALLER = "high = B0 + B1*group(ses)\nB0 = G00 + G01*sector + U0\nB1 = G10"
GROWTH = ("math = P0 + P1*year + E\nP0 = B00 + B01*black + R0\nP1 = B10 + R1\n"
          "B00 = G000 + G001*lowinc + U00\nB01 = G010\nB10 = G100 + U10")


@pytest.fixture(scope="module")
def weighted(tmp_path_factory):
    students = openhlm.read_table(HSB / "hsb1.sav").data
    schools = openhlm.read_table(HSB / "hsb2.sav").data
    students["high"] = (students["mathach"] >= 20).astype(int)
    students["w1"] = 1.0 + 0.5 * (students["ses"] > 0)
    schools["w2"] = schools["size"] / schools["size"].mean()
    folder = tmp_path_factory.mktemp("hglmw")
    paths = folder / "students.csv", folder / "schools.csv"
    students.to_csv(paths[0], index=False)
    schools.to_csv(paths[1], index=False)
    return paths, openhlm.build_mdm(paths[0], paths[1], id="id")


@pytest.fixture(scope="module")
def growth_file(tmp_path_factory):
    eg = pd.read_csv(EGSINGLE)
    eg["w1"] = 1.0 + 0.25 * (eg["year"] > 0)
    eg["w2"] = 1.0 + 0.5 * eg["female"]
    eg["w3"] = eg["size"] / eg["size"].mean()
    path = tmp_path_factory.mktemp("hlm3w") / "egsingle_w.csv"
    eg.to_csv(path, index=False)
    return path, openhlm.build_mdm(path, id=("childid", "schoolid"))


def _select(page, id_: str, value: str) -> None:
    from selenium.webdriver.support.ui import Select

    page.settled()
    Select(page.find(id_)).select_by_value(value)
    page.settled()


def _type(page, id_: str, text: str) -> None:
    from selenium.webdriver.common.keys import Keys

    box = page.find(id_)
    box.clear()
    box.send_keys(text + Keys.TAB)
    page.settled()


def _equations(page, text: str) -> None:
    page.view("model")
    page.find("equation-text").clear()
    page.find("equation-text").send_keys(text)
    page.click("apply-equations")
    assert page.find("equation-text").get_attribute("value") == text


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return buf.getvalue()


def _tall_shot(page, name: str, height: int) -> None:
    page.d.execute_script("document.activeElement.blur(); window.scrollTo(0, 0)")
    page.d.set_window_size(1400, height)
    page.shot(name)
    page.d.set_window_size(1400, 1000)


def test_hglm_settings_output_history_and_graphs(page, weighted):
    paths, mdm = weighted
    page.open()
    page.find("level1-file").send_keys(str(paths[0]))
    page.find("level2-file").send_keys(str(paths[1]))
    page.click("read-files")
    page.click("make-mdm")
    page.view("settings")
    page.click("sampling-bernoulli")
    _equations(page, HIGH)

    # HLM-mode PQL: HLM's macro / micro iteration settings, full PQL
    page.view("settings")
    assert page.d.find_elements("id", "pql-iterations") == []
    page.click("mode-hlm")
    assert page.find("macro_iterations").get_attribute("placeholder") == "100"
    _type(page, "macro_iterations", "4")
    _type(page, "micro_iterations", "10")
    page.click("method-ml")                              # full PQL
    _tall_shot(page, "hglm-hlm-mode.png", 820)
    page.run()
    options = FitOptions.from_kwargs(distribution="bernoulli", mode="hlm", pql_likelihood="ml")
    options = options.replace(outcome=options.outcome.__class__(
        "bernoulli", method="pql", pql_likelihood="ml", macro_iterations=4,
        micro_iterations=10))
    want = runner_run(HIGH, mdm, options)
    assert shown_report(page) == undated(want.report())
    command = fetch(page, page.find("dl-hlm").get_attribute("href")).decode()
    assert "macroit:4" in command and "microit:10" in command and "mlf:y" in command
    from openhlm.spec.commandfile import parse_command_file

    parsed = parse_command_file(command, level1_variables=mdm.level1_variables,
                                level2_variables=mdm.level2_variables)
    again = runner_run(HIGH, mdm, FitOptions.from_command_file(parsed, mode="hlm"))
    assert again.report() == want.report()             # the same fit from the command file

    # design weights in HLM mode: the library's one-line refusal, in the page
    page.view("settings")
    _select(page, "level2_weight", "w2")
    page.run()
    with pytest.raises(openhlm.OpenHLMError) as refused:
        openhlm.fit(HIGH, mdm, distribution="bernoulli", mode="hlm", level2_weight="w2")
    assert page.text("run-error") == str(refused.value)
    page.shot("hglm-weights-error.png")

    # Laplace, exact, design weights at both levels, both residual files; HTML tables
    page.view("settings")
    page.click("mode-exact")
    page.click("hglm_method-laplace")
    _select(page, "level1_weight", "w1")
    page.click("resid1")
    page.click("resid2")
    page.run()
    want = openhlm.fit(HIGH, mdm, distribution="bernoulli", method="laplace",
                       level1_weight="w1", level2_weight="w2")
    page.click("show-html")
    assert page_tables(page, "report-html") == html_tables(want._repr_html_())
    assert page.text("deviance") == f"{want.deviance:.6f}"
    resid2 = pd.read_csv(io.BytesIO(fetch(page, page.find("dl-resid2").get_attribute("href"))))
    expected = want.level2_residuals()
    assert list(resid2.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(resid2, expected.reset_index(drop=True), check_dtype=False,
                                  rtol=1e-9)
    resid1 = pd.read_csv(io.BytesIO(fetch(page, page.find("dl-resid1").get_attribute("href"))))
    assert len(resid1) == want.n_level1

    # History: the deviance test of two Laplace runs; a PQL run is refused
    _equations(page, SMALLER)
    page.run()
    smaller = openhlm.fit(SMALLER, mdm, distribution="bernoulli", method="laplace",
                          level1_weight="w1", level2_weight="w2")
    page.view("history")
    _select(page, "compare-a", "3")
    _select(page, "compare-b", "4")
    page.click("compare")
    test = openhlm.compare(want, smaller, labels=("run 3", "run 4"))
    assert page.text("compare-text") == str(test)
    page.shot("hglm-history.png")
    _select(page, "compare-b", "1")                      # run 1: PQL
    page.click("compare")
    first = runner_run(HIGH, mdm, options)
    with pytest.raises(openhlm.OpenHLMError) as no_deviance:
        openhlm.compare(want, first)
    assert str(no_deviance.value) in page.text("messages")
    assert page.d.find_elements("id", "compare-text") == []

    # Graphs: the model graph on the probability scale, as openhlm.plots draws it
    page.view("graphs")
    _select(page, "graph-run", "3")
    kinds = [o.get_attribute("value") for o in page.find("graph-kind")
             .find_elements("tag name", "option")]
    assert kinds == ["model", "level1", "qq-mdist"]
    _select(page, "by", "sector")
    png = fetch(page, page.find("graph-png").get_attribute("href"))
    assert png == _png(plots.model_graph(want, by="sector"))
    page.wait(lambda d: d.execute_script(
        "var i = document.getElementById('graph'); return i && i.complete && "
        "i.naturalWidth > 0"))
    _tall_shot(page, "hglm-graphs.png", 900)


def test_three_level_settings_and_graphs(page, growth_file):
    path, mdm = growth_file
    page.open()
    page.click("mdm_type-hlm3")
    page.find("level1-file").send_keys(str(path))        # one file: all three levels
    page.click("read-files")
    _select(page, "id-select", "childid")
    _select(page, "id3-select", "schoolid")
    page.click("make-mdm")
    assert "7230 level-1, 1721 level-2 and 60 level-3 units" in page.text("mdm-status")
    _equations(page, GROWTH)

    page.view("settings")                                # HLM mode with REML: refused
    page.click("mode-hlm")
    page.run()
    with pytest.raises(openhlm.OpenHLMError) as refused:
        openhlm.fit(GROWTH, mdm, mode="hlm")
    assert page.text("run-error") == str(refused.value)
    page.shot("hlm3-mode-error.png")

    page.view("settings")                                # HLM3: ML, homogeneity, deviance
    page.click("method-ml")
    page.click("homogeneity")
    page.click("deviance_source-typed")
    _type(page, "deviance_value", "16400")
    _type(page, "deviance_parameters", "7")
    page.click("deviance_convention-hlm")
    _tall_shot(page, "hlm3-settings.png", 900)
    page.run()
    prior = {"deviance": 16400.0, "n_parameters": 7, "convention": "hlm"}
    want = openhlm.fit(GROWTH, mdm, method="ml", mode="hlm", homogeneity=True,
                       deviance_test=prior)
    report = shown_report(page)
    assert report == undated(want.report())
    assert "homogeneity" in report.lower()

    page.view("settings")                                # exact REML, weights at 3 levels
    page.click("mode-exact")
    page.click("method-reml")
    page.click("homogeneity")
    page.click("deviance_source-none")
    for level in (1, 2, 3):
        _select(page, f"level{level}_weight", f"w{level}")
    page.view("model")                                   # and a constraint of gammas
    page.click("constraints-dialog")
    page.find("constraint-text").send_keys("G001 = G010")
    page.click("apply-constraints")
    assert page.find("constraint-text").get_attribute("value") == "G001 = G010"
    page.run()
    want = openhlm.fit(GROWTH, mdm, constraints=["G001 = G010"], level1_weight="w1",
                       level2_weight="w2", level3_weight="w3")
    assert shown_report(page) == undated(want.report())

    page.view("graphs")                                  # HLM3's model graph, caterpillar
    kinds = [o.get_attribute("value") for o in page.find("graph-kind")
             .find_elements("tag name", "option")]
    assert kinds == ["model", "level1", "qq-mdist", "mdrsvar-hist", "mdrsvar-qq", "eb-vs",
                     "caterpillar"]
    _select(page, "quartiles_of", "lowinc")
    png = fetch(page, page.find("graph-png").get_attribute("href"))
    assert png == _png(plots.model_graph(want, quartiles_of="lowinc"))
    _select(page, "graph-kind", "caterpillar")
    _select(page, "coefficient", "U10")
    png = fetch(page, page.find("graph-png").get_attribute("href"))
    assert png == _png(plots.caterpillar(want, "U10"))
    page.wait(lambda d: d.execute_script(
        "var i = document.getElementById('graph'); return i && i.complete && "
        "i.naturalWidth > 0"))
    _tall_shot(page, "hlm3-graphs.png", 900)
