"""Reports of fitted models: HLM-style text, JSON and an HTML fragment.

Reports only format what :class:`~openhlm.results.HLMResults` holds; numbers are formatted in
:mod:`openhlm.report.numfmt`, tables laid out once in :mod:`openhlm.report.tables`, and optional
blocks (``results.extras``) rendered through the registry of :mod:`openhlm.report.extras`.

Importing this package registers, with the hook of :mod:`openhlm.results.hooks`, what
``str(results)``, ``results.report()``, ``_repr_html_``, ``to_dict``/``to_json`` and the
residual-file methods of :class:`~openhlm.results.HLMResults` do (the results layer imports
nothing of the report; ``openhlm.results.hooks.render`` imports this package by name when it
finds nothing registered).

>>> from openhlm.report import render_text, results_to_dict, render_html  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from openhlm.report import (
    exploratory_sections,
    heterogeneous_sections,  # noqa: F401  (registers its renderers)
    hypothesis_sections,
    text3,
    weighting,  # noqa: F401  (registers its renderers)
)
from openhlm.report.extras import register_extra
from openhlm.report.html import render_html
from openhlm.report.json import results_to_dict
from openhlm.report.residual_files import (
    glmm_level1_residual_table,
    glmm_level2_residual_table,
    level1_residual_table,
    level2_residual_table,
    write_residuals,
)
from openhlm.report.text import render_text
from openhlm.report.text_glmm import glmm_html, glmm_text, glmm_to_dict
from openhlm.results import (
    DevianceTest,
    ExploratoryAnalysis,
    GLHResult,
    HLMResults,
    HomogeneityTest,
)
from openhlm.results.glmm import GLMMResults
from openhlm.results.hooks import set_renderer

__all__ = ["register_extra", "register_renderers", "render_html", "render_text",
           "results_to_dict"]


def _lines(renderer: Callable[[Any], list[str]]) -> Callable[[Any], str]:
    return lambda block: "\n".join(renderer(block))


def register_renderers() -> None:
    """Register with :mod:`openhlm.results.hooks` what the results' printing and writing
    methods do.  Run on import of this package, and again by ``render`` when it finds nothing
    registered; ``replace=False`` keeps a renderer registered before (by the user)."""
    for kind, fn in (("text", render_text), ("html", render_html), ("dict", results_to_dict),
                     ("level1_residuals", level1_residual_table),
                     ("level2_residuals", level2_residual_table),
                     ("write_residuals", write_residuals)):
        set_renderer(kind, HLMResults, fn, replace=False)
    set_renderer("text", GLMMResults, glmm_text, replace=False)
    set_renderer("dict", GLMMResults, glmm_to_dict, replace=False)
    set_renderer("html", GLMMResults, glmm_html, replace=False)
    set_renderer("level1_residuals", GLMMResults, glmm_level1_residual_table, replace=False)
    set_renderer("level2_residuals", GLMMResults, glmm_level2_residual_table, replace=False)
    set_renderer("write_residuals", GLMMResults, write_residuals, replace=False)
    for cls, fn in ((GLHResult, _lines(hypothesis_sections.glh_text)),
                    (HomogeneityTest, _lines(hypothesis_sections.homogeneity_text)),
                    (DevianceTest, _lines(hypothesis_sections.deviance_test_text)),
                    (ExploratoryAnalysis, _lines(exploratory_sections.exploratory_text))):
        set_renderer("text", cls, fn, replace=False)
    text3.register_renderers3()


register_renderers()
