"""A self-contained HTML fragment of the results, for Jupyter (``HLMResults._repr_html_``).

Built from the same formatted rows as the text report (:mod:`openhlm.report.tables`), so the
two never disagree; only the layout differs (``<table>`` instead of fixed-width columns).
The fragment carries its own small ``<style>`` scoped to ``.openhlm-report``.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from openhlm.report import numfmt
from openhlm.report.convergence import html_status
from openhlm.report.extras import renderer_for
from openhlm.report.tables import (
    Table,
    fixed_effects_table,
    model_fit_table,
    plausible_values_table,
    reliability_table,
    tau_table,
    variance_components_table,
)
from openhlm.results import HLMResults

__all__ = ["escape_html", "html_extras", "html_table", "render_html"]

_STYLE = """<style>
.openhlm-report {font-family: sans-serif; font-size: 0.9em;}
.openhlm-report table {border-collapse: collapse; margin: 0.3em 0 0.8em 0;}
.openhlm-report th, .openhlm-report td {padding: 0.15em 0.7em; text-align: right;
  border-bottom: 1px solid #ddd;}
.openhlm-report th {border-bottom: 2px solid #888;}
.openhlm-report td.label, .openhlm-report th.label {text-align: left;}
.openhlm-report tr.heading td {text-align: left; font-style: italic; background: #f4f4f4;}
.openhlm-report caption {text-align: left; font-weight: bold; padding: 0.2em 0;}
.openhlm-report p.note {font-size: 0.85em; color: #555; margin: 0 0 0.8em 0;}
.openhlm-report pre {font-size: 0.95em;}
</style>"""

#: the report's ``<style>``, shared with the three-level report (:mod:`openhlm.report.html3`)
STYLE = _STYLE


def escape_html(text: object) -> str:
    """``str(text)`` escaped for HTML text and attribute values."""
    return escape(str(text), quote=True)


_e = escape_html


def html_table(caption: str, header: Sequence[str], rows: Sequence[Sequence[str] | str],
               notes: Sequence[str] = (), label_columns: int = 1) -> str:
    """A ``<table>`` of the report: ``rows`` are sequences of cells, or a string for a heading
    row spanning the table; the first ``label_columns`` columns are left-aligned labels;
    ``notes`` follow as paragraphs (shared by the two-level, three-level and HGLM reports)."""
    ncol = len(header)
    out = ["<table>", f"<caption>{_e(caption)}</caption>", "<thead><tr>"]
    out += [f'<th class="{"label" if i < label_columns else ""}">{_e(h)}</th>'
            for i, h in enumerate(header)]
    out.append("</tr></thead><tbody>")
    for row in rows:
        if isinstance(row, str):
            out.append(f'<tr class="heading"><td colspan="{ncol}">{_e(row)}</td></tr>')
            continue
        cells = [f'<td class="{"label" if i < label_columns else ""}">{_e(c)}</td>'
                 for i, c in enumerate(row)]
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    out += [f'<p class="note">{_e(note)}</p>' for note in notes]
    return "\n".join(out)


def html_extras(results: Any, *, unrendered: bool = False) -> list[str]:
    """The HTML of each block of ``results.extras``: its renderer's HTML, else its text lines
    as ``<pre>``; a block with neither is shown as its key and ``str(block)`` when
    ``unrendered`` is true and left out otherwise."""
    parts = []
    for key, block in results.extras.items():
        renderer = renderer_for(key)
        if renderer.html is not None:
            parts.append(renderer.html(block, results))
        elif renderer.text is not None:
            parts.append(f"<pre>{_e(chr(10).join(renderer.text(block, results)))}</pre>")
        elif unrendered:
            parts.append(f"<p><b>{_e(key)}</b></p><pre>{_e(str(block))}</pre>")
    return parts


def _table(table: Table, header: tuple[str, ...], rows: list[tuple[str, ...] | str],
           label_columns: int = 1) -> str:
    """``rows``: tuples of cells, or a string for a heading row spanning the table."""
    return html_table(table.title, header, rows,
                      notes=[" ".join(note.split()) for note in table.notes],
                      label_columns=label_columns)


def _fixed(results: HLMResults, robust: bool) -> str:
    table = fixed_effects_table(results, robust)
    rows: list[tuple[str, ...] | str] = []
    for row in table.rows:
        if row.kind == "heading":
            label, code = row.cells
            rows.append(f"For {label}, {code}")
        else:
            predictor, gamma, marker, *numbers = row.cells
            rows.append((f"{predictor}, {gamma}{' ' + marker if marker else ''}", *numbers))
    return _table(table, table.columns, rows)


def _variance(results: HLMResults) -> str:
    table = variance_components_table(results)
    rows: list[tuple[str, ...] | str] = [(f"{label}, {effect}", *rest)
                                        for label, effect, *rest in (r.cells for r in table.rows)]
    return _table(table, table.columns, rows)


def _reliability(results: HLMResults) -> str:
    table = reliability_table(results)
    rows: list[tuple[str, ...] | str] = [(f"{label}, {code}", value)
                                        for label, code, value in (r.cells for r in table.rows)]
    return _table(table, table.columns, rows)


def _matrix(results: HLMResults, which: str) -> str:
    table = tau_table(results, which)
    if table is None:
        return ""
    return _table(table, table.columns, [r.cells for r in table.rows])


def _estimates_summary(results: HLMResults) -> str:
    sigma = f"sigma^2 = {numfmt.estimate(results.sigma2, 5)}"
    if not numfmt.is_missing(results.sigma2_se):
        sigma += f" (standard error {numfmt.estimate(results.sigma2_se, 5)})"
    return f"<p>{_e(sigma)}</p>"


def _model_fit(results: HLMResults) -> str:
    table = model_fit_table(results)
    return _table(table, table.columns, [r.cells for r in table.rows])


def _plausible(results: HLMResults) -> str:
    table = plausible_values_table(results)
    rows: list[tuple[str, ...] | str] = [(f"{label}, {code}", *rest)
                                        for label, code, *rest in (r.cells for r in table.rows)]
    return _table(table, table.columns, rows)


def render_html(results: HLMResults) -> str:
    """An HTML fragment with the main tables of ``results`` (for Jupyter).

    Returns
    -------
    str
        ``<div class="openhlm-report">...</div>`` with an embedded ``<style>``.
    """
    from openhlm.spec.printing import format_hlm_equations, format_mixed

    method = ("restricted maximum likelihood" if results.method == "reml"
              else "full maximum likelihood")
    status = html_status(results)
    head = (f"<p><b>openhlm {_e(results.version)}</b>: two-level HLM, outcome "
            f"<code>{_e(results.spec.outcome)}</code>; {_e(method)} ({_e(results.mode)} mode, "
            f"{_e(status)}); {results.n_level1} level-1 and {results.n_level2} level-2 units.</p>")
    equations = (f"<pre>{_e(format_hlm_equations(results.spec))}\n\nMixed Model\n\t"
                 f"{_e(format_mixed(results.spec))}</pre>")
    parts = [
        _STYLE, '<div class="openhlm-report">', head, equations,
        _fixed(results, robust=False), _fixed(results, robust=True),
        _variance(results), _estimates_summary(results), _matrix(results, "tau"),
        _matrix(results, "se"), _matrix(results, "corr"), _reliability(results),
        _model_fit(results), *html_extras(results, unrendered=True), _plausible(results),
    ]
    parts += [f'<p class="note">{_e(note)}</p>' for note in results.notes]
    parts.append("</div>")
    return "\n".join(p for p in parts if p)
