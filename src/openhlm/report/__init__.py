"""Reports of fitted models: HLM-style text, JSON and an HTML fragment.

Reports only format what :class:`~openhlm.results.HLMResults` holds; numbers are formatted in
:mod:`openhlm.report.numfmt`, tables laid out once in :mod:`openhlm.report.tables`, and optional
blocks (``results.extras``) rendered through the registry of :mod:`openhlm.report.extras`.

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
from openhlm.report.text import render_text

__all__ = ["register_extra", "render_html", "render_text", "results_to_dict"]
