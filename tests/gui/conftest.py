"""Fixtures of the GUI tests: a live server in a thread and Debian's headless Chromium.

The browser tests skip, with the reason, when the gui extra, selenium, chromium or chromedriver
is missing (``.ci/run`` installs Debian's ``chromium chromium-driver`` when it can); the state
tests need none of them.
"""

from __future__ import annotations

import pytest

from tests.gui.helpers import Page, chromium, need_gui_extra


@pytest.fixture(scope="session")
def server():
    need_gui_extra()
    from openhlm.gui.server import start_in_thread

    srv, thread, url = start_in_thread("127.0.0.1")
    yield url
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser():
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="selenium is not installed (pip install selenium)")
    from selenium.webdriver.chrome.service import Service

    binary, driver = chromium()
    if binary is None or driver is None:
        pytest.skip("headless Chromium is not available: apt-get install chromium "
                    "chromium-driver (.ci/run does this when it can)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--no-first-run", "--disable-sync", "--window-size=1400,1000"):
        options.add_argument(arg)
    drv = webdriver.Chrome(service=Service(driver), options=options)
    drv.set_page_load_timeout(30)
    yield drv
    drv.quit()


@pytest.fixture
def page(server, browser):
    return Page(browser, server)
