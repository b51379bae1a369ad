"""The HTML fragment: same formatted numbers as the text report, escaped, self-contained."""

from __future__ import annotations

import re
from dataclasses import replace
from html.parser import HTMLParser

from openhlm.report.html import render_html
from openhlm.report.tables import fixed_effects_table, variance_components_table
from openhlm.report.text import render_text


class _Cells(HTMLParser):
    def __init__(self):
        super().__init__()
        self.cells: list[str] = []
        self._in = False
        self.stack: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in ("td", "th"):
            self._in = True
            self.cells.append("")
        if tag not in ("br", "meta"):
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._in = False
        assert self.stack and self.stack[-1] == tag, f"unbalanced </{tag}>"
        self.stack.pop()

    def handle_data(self, data):
        if self._in:
            self.cells[-1] += data


def _parse(html: str) -> _Cells:
    p = _Cells()
    p.feed(html)
    p.close()
    assert p.stack == []
    return p


def test_fragment_is_balanced_and_self_contained(model4):
    html = render_html(model4)
    assert html.startswith("<style>") and html.rstrip().endswith("</div>")
    assert "<script" not in html and "http" not in html
    _parse(html)


def test_tables_hold_the_text_reports_numbers(model4):
    cells = _parse(render_html(model4)).cells
    text = render_text(model4)
    for robust in (False, True):
        for row in fixed_effects_table(model4, robust).data_rows():
            for value in row.cells[3:]:
                assert value in cells and value in text
    for row in variance_components_table(model4).rows:
        for value in row.cells[2:]:
            if value:
                assert value in cells and value in text
    assert "INTRCPT2, G00" in cells and "For INTRCPT1, B0" in cells
    assert "0.733" in cells and "2.37996" in cells and "46501.875643" in cells


def test_repr_html_delegates(model4):
    assert model4._repr_html_() == render_html(model4)


def test_escaping(model4):
    results = replace(model4, notes=("a < b & c",))
    html = render_html(results)
    assert "a &lt; b &amp; c" in html
    assert not re.search(r"a < b", html)


def test_units_note_and_constrained_marker(female, constrained):
    assert "based on only 123 of 160 units" in render_html(female)
    cells = _parse(render_html(constrained)).cells
    assert "MEANSES, G02 *" in cells
