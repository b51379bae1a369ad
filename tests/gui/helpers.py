"""Helpers of the GUI tests: where the files are, the gui extra, Chromium, and a page driver."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

#: Screenshots of each view go to docs/images/gui/ with OPENHLM_WRITE_GUI_IMAGES=1 (after a change
#: to the window; look at them before committing), else to a temporary folder.
IMAGES = (Path(__file__).resolve().parents[2] / "docs" / "images" / "gui"
          if os.environ.get("OPENHLM_WRITE_GUI_IMAGES")
          else Path(tempfile.gettempdir()) / "openhlm-gui-screenshots")
HSB = Path(__file__).resolve().parents[2] / "src" / "openhlm" / "datasets" / "hsb"


def chromium() -> tuple[str | None, str | None]:
    binary = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome")
                   if shutil.which(b)), None)
    driver = shutil.which("chromedriver") or (
        "/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists() else None)
    return binary, driver


def need_gui_extra() -> None:
    for name in ("starlette", "uvicorn", "multipart"):
        pytest.importorskip(name, reason=f'the gui extra is not installed ({name}): '
                                         'pip install ".[gui]"')


class Page:
    """Clicks and waits on the GUI, by element id."""

    def __init__(self, driver, url: str):
        self.d = driver
        self.url = url

    def open(self) -> str:
        self.d.get(self.url)
        self.wait(lambda d: d.find_elements("id", "main"))
        return self.d.current_url

    def find(self, id_: str):
        return self.wait(lambda d: d.find_element("id", id_))

    def wait(self, condition, timeout: float = 30.0):
        from selenium.common.exceptions import (
            NoSuchElementException,
            StaleElementReferenceException,
        )
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.d, timeout, poll_frequency=0.05, ignored_exceptions=(
            NoSuchElementException, StaleElementReferenceException)).until(condition)

    def settled(self) -> None:
        """Wait until htmx has no request in flight."""
        self.wait(lambda d: d.execute_script(
            "return document.querySelectorAll('.htmx-request').length === 0"))

    def click(self, id_: str) -> None:
        self.settled()
        self.find(id_).click()
        time.sleep(0.05)
        self.settled()

    def menu(self, var: str, item: str) -> None:
        """Click a variable in the list, then an item of its menu."""
        self.click(f"var-{var}")
        self.click(f"var-{var}-{item}")

    def text(self, id_: str) -> str:
        return self.d.execute_script(
            "var e = document.getElementById(arguments[0]); return e ? e.textContent : null",
            id_)

    def view(self, name: str) -> None:
        self.click(f"tab-{name}")
        self.find(f"view-{name}")

    def shot(self, name: str) -> None:
        IMAGES.mkdir(parents=True, exist_ok=True)
        self.settled()
        self.d.save_screenshot(str(IMAGES / name))

    def run(self, timeout: float = 60.0) -> None:
        """Press Run and wait for the result (or the error)."""
        self.settled()
        before = self.text("run-title")
        self.click("run")
        self.wait(lambda d: d.find_elements("id", "run-summary") or
                  d.find_elements("id", "run-error"), timeout)
        assert self.text("run-title") != before


def html_tables(html: str) -> list[tuple[str, list[list[str]]]]:
    """The ``<table>``s of an HTML fragment as (caption, rows of cell texts), whitespace
    collapsed: what a report's HTML tables show, to compare with the page's."""
    from html.parser import HTMLParser

    tables: list[tuple[str, list[list[str]]]] = []

    class Parser(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.caption: list[str] | None = None
            self.rows: list[list[str]] = []
            self.cell: list[str] | None = None
            self.cap = ""

        def handle_starttag(self, tag, attrs):
            if tag == "table":
                self.rows, self.cap = [], ""
            elif tag == "caption":
                self.caption = []
            elif tag == "tr":
                self.rows.append([])
            elif tag in ("td", "th"):
                self.cell = []

        def handle_endtag(self, tag):
            if tag == "caption" and self.caption is not None:
                self.cap, self.caption = " ".join("".join(self.caption).split()), None
            elif tag in ("td", "th") and self.cell is not None:
                self.rows[-1].append(" ".join("".join(self.cell).split()))
                self.cell = None
            elif tag == "table":
                tables.append((self.cap, self.rows))

        def handle_data(self, data):
            if self.cell is not None:
                self.cell.append(data)
            elif self.caption is not None:
                self.caption.append(data)

    Parser().feed(html)
    return tables


def page_tables(page, id_: str) -> list[tuple[str, list[list[str]]]]:
    """The tables inside the element ``id_`` of the page, as :func:`html_tables` gives them."""
    return html_tables(page.d.execute_script(
        "return document.getElementById(arguments[0]).innerHTML", id_))
