"""The GUI in real headless Chromium: the seminar's Models 1-4 built by clicks from the
hsb1.sav/hsb2.sav uploads, the numbers shown equal openhlm.fit's; a GLH and a residual file
through the dialogs; a corrupt upload and an equation typo; downloads that open in the
library; graphs; the run history; sessions, tokens and the upload limit.

Screenshots of each view: docs/images/gui/*.png (``OPENHLM_WRITE_GUI_IMAGES=1``, see
tests/gui/helpers.py).
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request

import pytest

import openhlm
from tests.gui.helpers import HSB, need_gui_extra

MODELS = {
    1: "mathach = B0 + R\nB0 = G00 + U0",
    2: "mathach = B0 + R\nB0 = G00 + G01*meanses + U0",
    3: "mathach = B0 + B1*group(ses) + R\nB0 = G00 + U0\nB1 = G10 + U1",
    4: ("mathach = B0 + B1*group(ses) + R\nB0 = G00 + G01*sector + G02*meanses + U0\n"
        "B1 = G10 + G11*sector + G12*meanses + U1"),
}


@pytest.fixture(scope="module")
def hsb_files():
    return openhlm.build_mdm(HSB / "hsb1.sav", HSB / "hsb2.sav", id="id")


def fetch(page, href: str) -> bytes:
    with urllib.request.urlopen(href, timeout=30) as response:
        return response.read()


def upload_hsb(page) -> None:
    from selenium.webdriver.support.ui import Select

    page.open()
    Select(page.find("file-type")).select_by_value("spss")  # HLM's Input File Type
    page.settled()
    assert page.find("level1-file").get_attribute("accept") == ".sav,.zsav,.por"
    page.find("level1-file").send_keys(str(HSB / "hsb1.sav"))
    page.find("level2-file").send_keys(str(HSB / "hsb2.sav"))
    page.click("read-files")
    page.find("mdm-form")
    assert page.find("id-select").get_attribute("value") == "id"
    page.click("make-mdm")
    page.find("describe-2")


def bundled(page) -> None:
    page.open()
    page.click("open-hsb")
    page.find("describe-1")


def shown_report(page) -> str:
    page.click("show-text")
    return undated(page.text("report-text"))


def undated(report: str) -> str:
    """The report without its time stamp (the only part that differs between two fits)."""
    return re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", "<time>", report)


def report_of(*args, **kwargs) -> str:
    return undated(openhlm.fit(*args, **kwargs).report())


def test_seminar_models_1_to_4_by_clicks(page, hsb_files):
    upload_hsb(page)
    assert "7185 level-1 and 160 level-2 units" in page.text("mdm-status")
    stats = page.text("describe-1")
    assert "mathach" in stats and "12.748" in stats  # the mean of MATHACH
    page.d.set_window_size(1400, 1350)
    page.shot("data.png")
    page.d.set_window_size(1400, 1000)

    page.view("model")
    page.menu("mathach", "outcome")                      # Model 1
    assert page.find("equation-text").get_attribute("value") == MODELS[1]
    page.run()
    assert shown_report(page) == report_of(MODELS[1], hsb_files)

    page.view("model")
    page.click("beta0")                                  # Model 2: level 2 of B0
    page.menu("meanses", "none")
    assert page.find("equation-text").get_attribute("value") == MODELS[2]
    page.run()
    want = openhlm.fit(MODELS[2], hsb_files)
    assert shown_report(page) == undated(want.report())
    assert page.text("deviance") == f"{want.deviance:.6f}"

    page.view("model")
    page.menu("meanses", "remove")                       # Model 3
    page.click("level-1")
    page.menu("ses", "group")
    assert "u1j" in page.text("u1") and "off" in page.find("u1").get_attribute("class")
    page.click("u1")                                     # make the SES slope random
    assert "on" in page.find("u1").get_attribute("class")
    assert page.find("equation-text").get_attribute("value") == MODELS[3]
    page.run()
    assert shown_report(page) == report_of(MODELS[3], hsb_files)

    page.view("model")                                   # Model 4
    for q in (0, 1):
        page.click(f"beta{q}")
        page.menu("sector", "none")
        page.menu("meanses", "none")
    assert page.find("equation-text").get_attribute("value") == MODELS[4]
    eq = page.text("equations")
    assert "SESij − SES·j" in eq.replace("\n", "")      # group centring as HLM shows it
    page.shot("model.png")
    page.click("mixed-toggle")
    assert page.text("mixed").strip().endswith(
        "MATHACH = G00 + G01*SECTOR + G02*MEANSES + G10*SES + G11*SECTOR*SES "
        "+ G12*MEANSES*SES + u0 + u1*SES + r")
    page.shot("model-mixed.png")
    page.click("mixed-toggle")
    page.run()
    want = openhlm.fit(MODELS[4], hsb_files)
    page.click("show-html")
    html = page.text("report-html")
    fixed = want.fixed_effects
    for column in ("estimate", "se", "robust_se"):
        for value in fixed[column]:
            assert f"{value:.6f}" in html
    page.shot("output.png")
    assert shown_report(page) == undated(want.report())
    page.shot("output-text.png")

    page.view("history")                                 # REML, other fixed effects:
    page.click("compare")                                # the library refuses, in the page
    with pytest.raises(openhlm.HypothesisError) as info:
        openhlm.compare(want, openhlm.fit(MODELS[3], hsb_files))
    assert str(info.value) in page.text("messages")
    page.view("settings")                                # full ML, U1 random or not
    page.click("method-ml")
    page.run()
    page.view("model")
    page.click("u1")
    page.run()
    page.view("history")
    page.click("compare")                                # run 6 against run 5
    ml = [openhlm.fit(MODELS[4].replace(" + U1", ""), hsb_files, method="ml"),
          openhlm.fit(MODELS[4], hsb_files, method="ml")]
    assert page.text("compare-text") == str(openhlm.compare(*ml, labels=("run 6", "run 5")))
    page.shot("history.png")

    page.view("graphs")                                  # HLM's model graph of Model 4
    from selenium.webdriver.support.ui import Select

    Select(page.find("graph-run")).select_by_value("4")   # Model 4 (REML)
    page.settled()
    Select(page.find("by")).select_by_value("sector")
    page.settled()
    Select(page.find("quartiles_of")).select_by_value("meanses")
    page.settled()
    page.wait(lambda d: d.execute_script(
        "var i = document.getElementById('graph'); return i && i.complete && "
        "i.naturalWidth > 100"))
    svg = fetch(page, page.find("graph-svg").get_attribute("href"))
    assert b"<svg" in svg[:2000]
    png = fetch(page, page.find("graph-png").get_attribute("href"))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    page.shot("graphs.png")
    Select(page.find("graph-kind")).select_by_value("eb-vs")
    page.settled()
    assert "choose the level-2 variable" in page.text("graph-error")
    Select(page.find("variable")).select_by_value("pracad")
    page.settled()
    page.find("graph")


def test_glh_and_residual_file_through_the_dialogs(page, tmp_path):
    bundled(page)
    mdm = openhlm.datasets.hsb()
    page.view("model")
    page.find("equation-text").clear()
    page.find("equation-text").send_keys(MODELS[4])
    page.click("apply-equations")
    assert "error" not in (page.text("messages") or "")
    page.view("settings")
    page.click("resid1")
    page.click("resid2")
    from selenium.webdriver.support.ui import Select

    Select(page.find("resid_format")).select_by_value("sav")
    page.settled()
    page.click("resid2_extra-pracad")
    page.click("homogeneity")
    page.click("glh-G01")
    page.click("glh-G11")
    assert page.find("glh-row-1").get_attribute("value") == "G11 = 0"
    page.click("glh-add")
    assert page.text("glh-hyp-1").startswith("G01 = 0; G11 = 0")
    page.find("title").send_keys("Model 4 with a GLH")
    page.click("method-reml")   # a change event posts the form (title included)
    page.d.set_window_size(1400, 1250)
    page.d.execute_script("window.scrollTo(0, 0)")
    page.shot("settings.png")
    page.d.set_window_size(1400, 1000)
    page.run()
    want = openhlm.fit(MODELS[4], mdm, hypotheses=["G01 = 0; G11 = 0"], homogeneity=True)
    report = shown_report(page)
    assert "Problem Title: Model 4 with a GLH" in report
    assert report == undated(want.report(title="Model 4 with a GLH"))
    href = page.find("dl-resid2").get_attribute("href")
    path = tmp_path / "resid2.sav"
    path.write_bytes(fetch(page, href))
    table = openhlm.read_table(path).data
    expected = want.level2_residuals(["pracad"])
    assert list(table.columns) == list(expected.columns)
    assert table.shape == expected.shape
    assert abs(table.to_numpy(float) - expected.to_numpy(float)).max() < 1e-8
    path = tmp_path / "resid1.sav"
    path.write_bytes(fetch(page, page.find("dl-resid1").get_attribute("href")))
    table = openhlm.read_table(path).data
    expected = want.level1_residuals()
    assert list(table.columns) == list(expected.columns) and table.shape == expected.shape


def test_downloads_open_in_the_library_and_reopen_the_window(page, tmp_path):
    from openhlm.spec.commandfile import parse_command_file
    from openhlm.spec.modelfile import parse_model_file

    bundled(page)
    mdm = openhlm.datasets.hsb()
    page.view("model")
    page.find("equation-text").clear()
    page.find("equation-text").send_keys(MODELS[4])
    page.click("apply-equations")
    page.click("constraints-dialog")
    page.find("constraint-text").send_keys("G02 = G12")
    page.click("apply-constraints")
    page.view("settings")
    page.click("method-ml")
    page.click("glh-G01")
    page.click("glh-add")
    page.run()
    want = openhlm.fit(MODELS[4], mdm, method="ml", constraints=["G02 = G12"],
                       hypotheses=["G01 = 0"])
    assert shown_report(page) == undated(want.report())

    toml = fetch(page, page.find("dl-toml").get_attribute("href")).decode()
    mf = parse_model_file(toml)
    assert mf.estimation.method == "ml" and mf.model.constraints == ("G02 = G12",)
    assert mf.hypotheses.glh == (("G01 = 0",),)
    spec = mf.model_spec(mdm.level1_variables, mdm.level2_variables)
    again = openhlm.fit(spec, mdm, method="ml", hypotheses=[list(r) for r in mf.hypotheses.glh])
    assert again.deviance == pytest.approx(want.deviance, rel=1e-12)

    hlm = fetch(page, page.find("dl-hlm").get_attribute("href")).decode()
    command = parse_command_file(hlm, level1_variables=mdm.level1_variables,
                                 level2_variables=mdm.level2_variables)
    assert command.options.method == "ml" and command.spec.constraints
    report = fetch(page, page.find("dl-txt").get_attribute("href")).decode()
    assert undated(report) == undated(want.report())
    json_text = fetch(page, page.find("dl-json").get_attribute("href")).decode()
    assert undated(json_text) == undated(want.to_json())

    for name, text in (("model4.toml", toml), ("model4.hlm", hlm)):
        bundled(page)                         # a new session: an empty window
        page.view("model")
        assert page.find("equation-text").get_attribute("value") == ""
        path = tmp_path / name
        path.write_text(text)
        page.click("modelfile-dialog")
        page.find("modelfile-file").send_keys(str(path))
        page.click("open-modelfile")
        assert page.find("equation-text").get_attribute("value") == \
            MODELS[4] + "\nG02 = G12"
        page.view("settings")
        assert page.find("method-ml").is_selected()
        assert "G01 = 0" in page.text("glh-hyp-1")
        page.run()
        assert page.text("deviance") == f"{want.deviance:.6f}"


def test_corrupt_upload_and_equation_typo_then_the_next_action_works(page, tmp_path):
    bad = tmp_path / "broken.sav"
    bad.write_bytes(b"this is not an SPSS file\x00\x01" * 20)
    page.open()
    page.find("level1-file").send_keys(str(bad))
    page.click("read-files")
    with pytest.raises(openhlm.OpenHLMError) as info:
        openhlm.read_table(bad)
    library_words = str(info.value).split(":")[-1].strip()[:40]
    message = page.text("messages")
    assert message.startswith("cannot read broken.sav:") and library_words in message
    assert "/tmp" not in message  # no server folder in the page
    page.shot("error-upload.png")
    page.click("open-hsb")                               # the app keeps working
    page.find("describe-1")

    page.view("model")
    page.menu("mathach", "outcome")
    page.find("equation-text").clear()
    page.find("equation-text").send_keys("mathach = B0 + R\nB0 = G00 + G01*sectr + U0")
    page.click("apply-equations")
    error = page.text("equation-error")
    assert "did you mean 'sector'" in error and "^^^^^" in error
    assert "sectr" in page.find("equation-text").get_attribute("value")  # kept for editing
    page.shot("error-equation.png")
    page.click("beta0")                                  # the next click works
    page.menu("sector", "none")
    assert page.find("equation-text").get_attribute("value") == \
        "mathach = B0 + R\nB0 = G00 + G01*sector + U0"
    assert page.text("equation-error") is None
    page.run()
    want = openhlm.fit("mathach = B0 + R; B0 = G00 + G01*sector + U0", openhlm.datasets.hsb())
    assert page.text("deviance") == f"{want.deviance:.6f}"


def test_two_tabs_are_two_sessions(page):
    first = page.open()
    second = page.open()
    assert first != second
    page.click("open-hsb")
    page.d.get(first)                                    # the first session has no MDM
    assert "no MDM yet" in page.text("mdm-status")


def test_token_and_upload_limit():
    import http.cookiejar

    need_gui_extra()
    from openhlm.gui.server import start_in_thread

    server, thread, url = start_in_thread("127.0.0.1", token="s3cret", max_upload=1000)
    try:
        bare = url.split("?")[0]
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(bare, timeout=10)
        assert info.value.code == 403
        info.value.close()
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(bare + "?token=wrong", timeout=10)
        assert info.value.code == 403
        info.value.close()
        opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        with opener.open(url, timeout=10) as response:   # the token, then its cookie
            assert response.status == 200
            session = response.url
        body = b"--x\r\nContent-Disposition: form-data; name=\"level1\"; filename=\"big.csv\"" \
               b"\r\n\r\n" + b"1," * 2000 + b"\r\n--x--\r\n"
        request = urllib.request.Request(
            session + "upload/tables", data=body, method="POST",
            headers={"Content-Type": "multipart/form-data; boundary=x"})
        with opener.open(request, timeout=10) as response:
            assert "the limit is" in response.read().decode()
        request = urllib.request.Request(                  # no Content-Length: chunked
            session + "upload/tables", data=iter([body[:500], body[500:]]), method="POST",
            headers={"Content-Type": "multipart/form-data; boundary=x"})
        with opener.open(request, timeout=10) as response:
            assert "the upload is larger than the limit" in response.read().decode()
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_other_settings_through_the_dialogs(page):
    bundled(page)
    mdm = openhlm.datasets.hsb()
    page.view("model")
    page.menu("mathach", "outcome")
    page.menu("ses", "group")
    page.click("u1")
    page.view("settings")
    page.click("method-ml")
    page.run()                                           # run 1: the prior model
    first = openhlm.fit(MODELS[3], mdm, method="ml")
    assert page.text("deviance") == f"{first.deviance:.6f}"

    page.view("settings")
    page.click("deviance_source-run:1")
    page.click("heterogeneous-female")
    page.click("exploratory-pracad")
    page.click("exploratory-disclim")
    page.run()
    want = openhlm.fit(MODELS[3], mdm, method="ml", heterogeneous_sigma2=["female"],
                       exploratory=["pracad", "disclim"],
                       deviance_test={"deviance": first.deviance,
                                      "n_parameters": first.n_parameters})
    assert shown_report(page) == undated(want.report())

    page.view("settings")                                # weights, no other test
    page.click("deviance_source-none")
    page.click("heterogeneous-female")
    page.click("exploratory-pracad")
    page.click("exploratory-disclim")
    from selenium.webdriver.support.ui import Select

    Select(page.find("level2_weight")).select_by_value("size")
    page.settled()
    page.click("normalize-none")
    page.run()
    want = openhlm.fit(MODELS[3], mdm, method="ml", level2_weight="size",
                       normalize_weights="none")
    assert shown_report(page) == undated(want.report())


def test_saved_mdm_and_multiply_imputed_files(page, tmp_path):
    import numpy as np

    level1 = openhlm.read_table(HSB / "hsb1.sav").data
    rng = np.random.default_rng(1)
    paths = []
    for m in range(3):                                    # three "completed data sets"
        frame = level1.copy()
        frame["mathach"] = frame["mathach"] + (rng.normal(0, 0.5, len(frame)) if m else 0)
        paths.append(tmp_path / f"imp{m + 1}.csv")
        frame.to_csv(paths[-1], index=False)
    page.open()
    page.find("level1-file").send_keys(str(paths[0]))
    page.find("level2-file").send_keys(str(HSB / "hsb2.sav"))
    page.click("read-files")
    page.click("make-mdm")
    page.find("describe-1")
    built = [openhlm.build_mdm(p, HSB / "hsb2.sav", id="id") for p in paths]

    saved = tmp_path / "saved.mdmz"
    saved.write_bytes(fetch(page, page.find("save-mdm").get_attribute("href")))
    loaded = openhlm.MDM.load(saved)
    assert loaded.level1.equals(built[0].level1) and loaded.level2.equals(built[0].level2)
    assert [p.split("/")[-1] for p in loaded.sources] == ["imp1.csv", "hsb2.sav"]

    page.click("imputed-dialog")
    page.find("imputed-files").send_keys(f"{paths[1]}\n{paths[2]}")
    page.click("add-imputed")
    assert "3 in all" in page.text("messages")
    page.view("model")
    page.menu("mathach", "outcome")
    page.view("settings")
    page.click("imputation-files")
    page.run()
    want = openhlm.fit(MODELS[1], built)
    assert shown_report(page) == undated(want.report())

    page.open()                                           # the saved MDM, in a new session
    page.find("mdmz-file").send_keys(str(saved))
    page.click("open-mdmz")
    assert "saved.mdmz" in page.text("mdm-status")
    assert "7185 level-1 and 160 level-2 units" in page.text("mdm-status")


def test_a_long_fit_shows_progress_and_an_error_shows_in_the_page(page, monkeypatch):
    import time

    from openhlm.gui import session as gui_session

    def slow_fit(*args, **kwargs):
        time.sleep(1.5)
        return real_fit(*args, **kwargs)

    real_fit = gui_session.run_fit
    monkeypatch.setattr(gui_session, "run_fit", slow_fit)
    bundled(page)
    page.view("model")
    page.menu("mathach", "outcome")
    page.click("run")
    assert "Run 1 is running" in page.find("progress").text   # the page is not frozen
    page.shot("progress.png")
    page.click("tab-model")                                    # clicks still work meanwhile
    page.click("tab-output")
    page.wait(lambda d: d.find_elements("id", "run-summary"), 30)
    monkeypatch.setattr(gui_session, "run_fit", real_fit)

    page.view("settings")                                      # REML + heterogeneous sigma^2
    page.click("heterogeneous-female")
    page.run()
    with pytest.raises(openhlm.EstimationError) as info:
        openhlm.fit(MODELS[1], openhlm.datasets.hsb(), heterogeneous_sigma2=["female"])
    assert page.text("run-error") == str(info.value)
    page.view("settings")
    page.click("method-ml")
    page.run()                                                 # and the next run works
    want = openhlm.fit(MODELS[1], openhlm.datasets.hsb(), method="ml",
                       heterogeneous_sigma2=["female"])
    assert page.text("deviance") == f"{want.deviance:.6f}"
