"""The results layer's one hook to the report (openhlm.results.hooks)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

import openhlm
from openhlm.results import hooks
from openhlm.results.hooks import registered, render, set_renderer


@dataclass(frozen=True)
class _Block:
    value: int


@dataclass(frozen=True)
class _SubBlock(_Block):
    pass


@pytest.fixture
def clean_registry(monkeypatch):
    monkeypatch.setattr(hooks, "_RENDERERS", dict(hooks._RENDERERS))


def test_render_calls_the_registered_renderer_with_the_arguments(clean_registry):
    set_renderer("text", _Block, lambda block, sep="": f"{block.value}{sep}")
    assert render("text", _Block(3), sep="!") == "3!"
    assert render("text", _SubBlock(4)) == "4"            # subclasses use the base's renderer
    assert registered("text", _SubBlock)


def test_replace_false_keeps_a_renderer_registered_first(clean_registry):
    set_renderer("text", _Block, lambda block: "mine")
    set_renderer("text", _Block, lambda block: "report's", replace=False)
    assert render("text", _Block(1)) == "mine"
    set_renderer("text", _Block, lambda block: "replaced")
    assert render("text", _Block(1)) == "replaced"


def test_nothing_registered_imports_the_report_then_says_what_is_missing(clean_registry):
    with pytest.raises(TypeError, match="no 'text' renderer is registered for _Block"):
        render("text", _Block(1))


def test_results_print_through_the_hook(clean_registry):
    mdm = openhlm.datasets.hsb()
    res = openhlm.fit("mathach = B0 + R; B0 = G00 + U0", mdm)
    from openhlm.report.text import render_text

    assert str(res) == render_text(res)
    set_renderer("text", type(res), lambda results, **options: "custom report")
    assert str(res) == "custom report"
