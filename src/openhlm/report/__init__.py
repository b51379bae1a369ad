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

from openhlm.report import (
    exploratory_sections,  # noqa: F401  (registers its renderers)
    heterogeneous_sections,  # noqa: F401  (registers its renderers)
    hypothesis_sections,  # noqa: F401  (registers its renderers)
    weighting,  # noqa: F401  (registers its renderers)
)
from openhlm.report.extras import register_extra
from openhlm.report.html import render_html
from openhlm.report.json import results_to_dict
from openhlm.report.residual_files import (
    level1_residual_table,
    level2_residual_table,
    write_residuals,
)
from openhlm.report.text import render_text
from openhlm.results import HLMResults
from openhlm.results.hooks import set_renderer

__all__ = ["register_extra", "render_html", "render_text", "results_to_dict"]

# What HLMResults' printing and writing methods do (replace=False: a renderer the user
# registered before this import stays).
set_renderer("text", HLMResults, render_text, replace=False)
set_renderer("html", HLMResults, render_html, replace=False)
set_renderer("dict", HLMResults, results_to_dict, replace=False)
set_renderer("level1_residuals", HLMResults, level1_residual_table, replace=False)
set_renderer("level2_residuals", HLMResults, level2_residual_table, replace=False)
set_renderer("write_residuals", HLMResults, write_residuals, replace=False)
