"""HGLMs and three-level models in the GUI, in real headless Chromium.

HGLM: a Bernoulli model of a high mathematics score (MATHACH >= 20) on the uploaded HS&B
files, built by clicks, with HLM's "Distribution of outcome variable" and PQL / Laplace /
adaptive quadrature chosen in Settings; the report shown equals openhlm.fit's with the same
keywords, line by line; a Bernoulli model of a non-0/1 outcome and a binomial model without
its number-of-trials variable show the library's one-line errors in the page.

HLM3: the Chicago growth data (egsingle, tests/reference/data) split into level-1, level-2 and
level-3 files, the three-level MDM made in the Data view, the model built by clicks (pi, beta,
gamma; r and u), REML and ML runs equal to openhlm.fit's; a level-3 ID that puts a child in two
schools and a level-2 variable typed into a level-3 equation show their errors in the page.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import openhlm
from tests.gui.helpers import HSB, html_tables, page_tables
from tests.gui.test_browser import shown_report, undated

EGSINGLE = Path(__file__).resolve().parents[1] / "reference" / "data" / "egsingle.csv"
HIGH = ("high = B0 + B1*group(ses)\nB0 = G00 + G01*sector + G02*meanses + U0\nB1 = G10")
GROWTH = ("math = P0 + P1*year + E\nP0 = B00 + B01*black + R0\nP1 = B10 + R1\n"
          "B00 = G000 + G001*lowinc + U00\nB01 = G010\nB10 = G100 + U10")


@pytest.fixture(scope="module")
def binary(tmp_path_factory):
    """HS&B's level-1 file with HIGH = 1 for MATHACH >= 20, and the library's MDM of it."""
    students = openhlm.read_table(HSB / "hsb1.sav").data
    students["high"] = (students["mathach"] >= 20).astype(int)
    path = tmp_path_factory.mktemp("hglm") / "hsb_high.csv"
    students.to_csv(path, index=False)
    return path, openhlm.build_mdm(path, HSB / "hsb2.sav", id="id")


@pytest.fixture(scope="module")
def growth(tmp_path_factory):
    """egsingle as HLM3's three files (records; children with their school; schools)."""
    eg = pd.read_csv(EGSINGLE)
    folder = tmp_path_factory.mktemp("hlm3")
    paths = [folder / name for name in ("occasions.csv", "children.csv", "schools.csv")]
    eg[["childid", "year", "grade", "math", "retained"]].to_csv(paths[0], index=False)
    eg[["childid", "schoolid", "female", "black", "hispanic"]].drop_duplicates().to_csv(
        paths[1], index=False)
    eg[["schoolid", "size", "lowinc", "mobility"]].drop_duplicates().to_csv(paths[2],
                                                                            index=False)
    mdm = openhlm.build_mdm(*paths, id=("childid", "schoolid"))
    return paths, mdm


def _select(page, id_: str, value: str) -> None:
    from selenium.webdriver.support.ui import Select

    page.settled()
    Select(page.find(id_)).select_by_value(value)
    page.settled()


def test_bernoulli_model_pql_laplace_and_quadrature(page, binary):
    path, mdm = binary
    page.open()
    page.find("level1-file").send_keys(str(path))
    page.find("level2-file").send_keys(str(HSB / "hsb2.sav"))
    page.click("read-files")
    page.click("make-mdm")
    page.find("describe-1")

    page.view("model")
    page.menu("high", "outcome")
    page.menu("ses", "group")
    page.click("beta0")
    page.menu("sector", "none")
    page.menu("meanses", "none")
    page.view("settings")
    page.click("sampling-bernoulli")                     # HLM's Basic Settings
    assert page.find("hglm_method-pql").is_selected()    # HLM's default
    page.view("model")
    assert page.find("equation-text").get_attribute("value") == HIGH   # no level-1 R
    level1 = page.text("hglm-level1")
    assert "Prob(HIGHij = 1|βj) = φij" in level1
    assert "log[φij/(1 − φij)] = ηij" in level1
    assert "ηij = β0j + β1j*(SESij − SES·j)" in " ".join(level1.split())
    assert "rij" not in page.text("equations")
    page.shot("hglm-model.png")

    page.run()                                           # PQL: no deviance
    want = openhlm.fit(HIGH, mdm, distribution="bernoulli")
    assert "no deviance (PQL)" in page.text("run-summary")
    tables = page_tables(page, "report-html")           # the report layer's HGLM tables
    assert tables == html_tables(want._repr_html_())
    assert any("population-average" in caption for caption, _ in tables)
    assert shown_report(page) == undated(want.report())

    page.view("settings")
    page.click("hglm_method-laplace")
    page.run()
    want = openhlm.fit(HIGH, mdm, distribution="bernoulli", method="laplace")
    assert page.text("deviance") == f"{want.deviance:.6f}"
    page.click("show-html")
    tables = page_tables(page, "report-html")
    assert tables == html_tables(want._repr_html_())
    cells = [c for _, rows in tables for row in rows for c in row]
    for row in want.fixed_effects:                     # odds ratios and their intervals
        assert f"{row.ratio:.6f}" in cells and f"({row.ci_low:.3f}, {row.ci_high:.3f})" in cells
    page.d.set_window_size(1400, 1900)                  # down to the odds ratios
    page.shot("hglm-output.png")
    page.d.set_window_size(1400, 1000)
    assert shown_report(page) == undated(want.report())

    from selenium.webdriver.common.keys import Keys

    page.view("settings")
    page.click("hglm_method-agq")
    page.find("quadrature_points").send_keys("7" + Keys.TAB)
    page.settled()
    page.d.execute_script("document.activeElement.blur()")
    page.d.set_window_size(1400, 700)                  # Basic Settings
    page.shot("hglm-settings.png")
    page.d.set_window_size(1400, 1000)
    page.run()
    want = openhlm.fit(HIGH, mdm, distribution="bernoulli", method="agq", quadrature_points=7)
    report = shown_report(page)
    assert "(7 points per random effect)" in report
    assert report == undated(want.report())

    toml = page.find("dl-toml").get_attribute("href")   # the model file says the same
    from tests.gui.test_browser import fetch

    text = fetch(page, toml).decode()
    assert 'distribution = "bernoulli"' in text and 'method = "agq"' in text
    assert page.d.find_elements("id", "dl-hlm") == []    # no HLM command file of an HGLM


def test_hglm_bad_choices_show_one_line_errors(page, binary):
    path, mdm = binary
    page.open()
    page.find("level1-file").send_keys(str(path))
    page.find("level2-file").send_keys(str(HSB / "hsb2.sav"))
    page.click("read-files")
    page.click("make-mdm")
    page.view("settings")
    page.click("sampling-bernoulli")
    page.view("model")
    page.menu("mathach", "outcome")                      # not 0/1
    page.run()
    with pytest.raises(openhlm.OpenHLMError) as info:
        openhlm.fit("mathach = B0\nB0 = G00 + U0", mdm, distribution="bernoulli")
    error = page.text("run-error")
    assert error == str(info.value) and "\n" not in error and "Traceback" not in error
    page.shot("hglm-error.png")

    page.view("settings")                                # binomial without its trials
    page.click("sampling-binomial")
    page.run()
    assert "choose the number of trials variable" in page.text("messages")
    page.view("settings")
    _select(page, "sampling_variable", "female")         # trials < successes: the library
    page.view("model")
    page.menu("high", "outcome")
    page.run()
    with pytest.raises(openhlm.OpenHLMError) as info:
        openhlm.fit("high = B0\nB0 = G00 + U0", mdm, distribution="binomial", trials="female")
    assert page.text("run-error") == str(info.value)


def _three_level_mdm(page, paths) -> None:
    page.open()
    page.click("mdm_type-hlm3")
    page.find("level3-file")
    for level, path in zip((1, 2, 3), paths, strict=True):
        page.find(f"level{level}-file").send_keys(str(path))
    page.click("read-files")
    page.find("id3-select")
    _select(page, "id-select", "childid")
    _select(page, "id3-select", "schoolid")
    page.click("make-mdm")
    page.find("describe-3")


def test_three_level_mdm_model_and_runs(page, growth, tmp_path):
    paths, mdm = growth
    _three_level_mdm(page, paths)
    status = page.text("mdm-status")
    assert "7230 level-1, 1721 level-2 and 60 level-3 units" in status
    shown, want_text = page.text("describe-3"), mdm.describe_text()   # the library's
    assert shown[shown.index("LEVEL-1"):] == want_text[want_text.index("LEVEL-1"):]
    page.d.set_window_size(1400, 1250)
    page.shot("hlm3-data.png")
    page.d.set_window_size(1400, 1000)

    page.view("model")
    page.menu("math", "outcome")
    page.menu("year", "none")
    page.click("r1")                                     # YEAR slope random at level 2
    page.click("pi0")                                    # level 2 of P0
    page.menu("black", "none")
    page.click("beta0-0")                                # level 3 of B00
    page.menu("lowinc", "none")
    page.click("u1-0")                                   # B10 random at level 3
    assert page.find("equation-text").get_attribute("value") == GROWTH
    eq = " ".join(page.text("equations").split())
    assert "MATHijk = π0jk + π1jk*(YEARijk) + eijk" in eq
    assert "π0jk = β00k + β01k*(BLACKjk) + r0jk" in eq
    assert "β00k = γ000 + γ001*(LOWINCk) + u00k" in eq
    assert "off" in page.find("u0-1").get_attribute("class")   # B01 fixed at level 3
    page.shot("hlm3-model.png")

    page.run()
    want = openhlm.fit(GROWTH, mdm)
    assert page.text("deviance") == f"{want.deviance:.6f}"
    assert shown_report(page) == undated(want.report())
    page.view("settings")
    page.click("method-ml")                              # what HLM3 fits
    page.click("glh-G001")
    page.click("glh-add")
    page.click("resid3")
    page.run()
    want = openhlm.fit(GROWTH, mdm, method="ml", hypotheses=["G001 = 0"])
    assert shown_report(page) == undated(want.report())
    page.click("show-html")
    html = page.text("report-html")
    for value in want.fixed_effects["estimate"]:
        assert f"{value:.6f}" in html
    page.shot("hlm3-output.png")
    from tests.gui.test_browser import fetch

    resid = fetch(page, page.find("dl-resid3").get_attribute("href")).decode()
    assert resid.splitlines()[0].split(",")[:2] == list(want.level3_residuals().columns[:2])
    toml = fetch(page, page.find("dl-toml").get_attribute("href")).decode()
    assert 'id = ["childid", "schoolid"]' in toml and 'level3 = "schools.csv"' in toml

    page.view("data")                                    # the saved MDM3, in a new session
    saved = tmp_path / "growth.mdmz"
    saved.write_bytes(fetch(page, page.find("save-mdm").get_attribute("href")))
    loaded = openhlm.MDM3.load(saved)
    assert loaded.level1.equals(mdm.level1) and loaded.level2.equals(mdm.level2)
    assert loaded.level3.equals(mdm.level3) and loaded.ids == mdm.ids
    page.open()
    page.find("mdmz-file").send_keys(str(saved))
    page.click("open-mdmz")
    assert "7230 level-1, 1721 level-2 and 60 level-3 units" in page.text("mdm-status")
    page.view("model")
    page.find("level-3")


def test_three_level_errors_in_the_page(page):
    page.open()
    page.click("mdm_type-hlm3")
    page.find("level1-file").send_keys(str(EGSINGLE))    # one file: all three levels
    page.click("read-files")
    _select(page, "id-select", "childid")
    _select(page, "id3-select", "year")                  # a child in several "level-3 units"
    page.click("make-mdm")
    with pytest.raises(openhlm.OpenHLMError) as info:
        openhlm.build_mdm(openhlm.read_table(EGSINGLE), id=("childid", "year"))
    assert str(info.value) in page.text("messages")
    _select(page, "id3-select", "schoolid")
    page.click("make-mdm")
    assert "7230 level-1, 1721 level-2 and 60 level-3 units" in page.text("mdm-status")

    page.view("model")
    page.find("equation-text").clear()
    page.find("equation-text").send_keys(GROWTH.replace("G001*lowinc", "G001*black"))
    page.click("apply-equations")
    error = page.text("equation-error")
    assert "'black' is a level-2 variable and cannot enter a level-3 equation" in error
    assert "^^^^^" in error
    page.shot("hlm3-error.png")
