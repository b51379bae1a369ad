"""Report block of HLM's "Exploratory Analysis" of potential level-2 predictors.

Importing this module registers the renderers of ``results.extras["exploratory"]``
(:class:`openhlm.results.ExploratoryAnalysis`) with :mod:`openhlm.report.extras`.

The text block follows HLM 6's layout as far as it is described (docs/statistics.md 12.3; no
printed example was available): the heading, then per random coefficient ("INTRCPT1,B0") a
small table with the candidates as columns and the rows "Coefficient", "Standard Error",
"t value".  Many candidates wrap to several panels of at most 79 characters.

Three-level models have one block per level of candidates (``results.extras["exploratory"]``
for level 2, ``["exploratory_level3"]`` for level 3), in the same layout with HLM3's row labels
("INTRCPT1,P0"; "INTRCPT1/INTRCPT2,B00") and the column heading "Level-2 Coefficient /
Potential Level-3 Predictors" for the level-3 block (HLM3's own layout of the block was not
found in print).
"""

from __future__ import annotations

import textwrap
from typing import Any

from openhlm.report import numfmt
from openhlm.report.extras import register_extra, to_jsonable
from openhlm.results.exploratory import ExploratoryAnalysis

__all__ = ["exploratory_json", "exploratory_text"]

_WIDTH = 79
_LABEL = 22          # width of the row-label column
_MIN_COLUMN = 11     # width of a candidate's column (wider for long names)
_RULE = " " + "-" * (_WIDTH - 2)
_ROWS = (("Coefficient", "estimate", 6), ("Standard Error", "se", 6), ("t value", "t", 3))


def _panels(names: tuple[str, ...]) -> list[list[int]]:
    """Candidates (by position) grouped so that every panel line fits in 79 characters."""
    panels: list[list[int]] = [[]]
    used = _LABEL
    for k, name in enumerate(names):
        width = max(_MIN_COLUMN, len(name) + 2)
        if panels[-1] and used + width > _WIDTH:
            panels.append([])
            used = _LABEL
        panels[-1].append(k)
        used += width
    return panels


def exploratory_text(block: ExploratoryAnalysis, results: Any = None) -> list[str]:
    """HLM's "Exploratory Analysis" table: per random coefficient, the candidates as columns
    and the rows "Coefficient", "Standard Error", "t value"."""
    level = block.level
    lines = textwrap.wrap(block.title, width=_WIDTH, initial_indent=" ",
                          subsequent_indent=" ")
    heading = f"Level-{level - 1} Coefficient"
    lines += [_RULE, f" {heading:<{_LABEL - 1}}Potential Level-{level} Predictors", _RULE]
    widths = [max(_MIN_COLUMN, len(n) + 2) for n in block.candidates]
    for r, label in enumerate(block.labels):
        lines += ["", f" {label}"]
        for i, panel in enumerate(_panels(block.candidates)):
            if i:
                lines.append("")
            lines.append(" " * _LABEL + "".join(f"{block.candidates[k]:>{widths[k]}}"
                                               for k in panel))
            for title, field, decimals in _ROWS:
                values = getattr(block, field)
                lines.append(f"{'    ' + title:<{_LABEL}}" + "".join(
                    numfmt.rjust(numfmt.fixed(values[r, k], decimals), widths[k])
                    for k in panel))
    lines.append("")
    n = "K" if level == 3 else "J"
    note = ("(openhlm: each EB residual regressed on one predictor at a time, by ordinary "
            f"least squares with an intercept over the {n} level-{level} units; standard errors "
            f"from the residual variance on {n} - 2 degrees of freedom. HLM does not document "
            "its standard-error formula.)")
    lines += textwrap.wrap(note, width=_WIDTH, initial_indent=" ", subsequent_indent="  ")
    return lines


def exploratory_json(block: ExploratoryAnalysis, results: Any = None) -> dict[str, Any]:
    """The block as JSON: the title, the method, and one record per (coefficient, candidate)
    (three-level blocks also the ``level`` of the candidates)."""
    out: dict[str, Any] = {"level": block.level} if block.three_level else {}
    return {
        **out,
        "title": block.title,
        "method": "ols",
        "coefficients": list(block.coefficients),
        "candidates": list(block.candidates),
        "n_units": int(block.n_units),
        "df": int(block.df),
        "rows": to_jsonable(block.to_frame()),
    }


register_extra("exploratory", text=exploratory_text, json=exploratory_json)
register_extra("exploratory_level3", text=exploratory_text, json=exploratory_json)
