"""Graphs of a run (``openhlm.plots``) as PNG or SVG bytes; the last PNG is kept per session."""

from __future__ import annotations

import io
from typing import Any

__all__ = ["draw_graph", "graph_png"]


def draw_graph(s: Any, q: dict[str, str], fmt: str) -> bytes:
    """A graph of ``openhlm.plots`` for a run of the session, as PNG or SVG bytes."""
    from openhlm import plots

    if fmt not in ("png", "svg"):
        raise ValueError("PNG or SVG")
    run = s.run(int(q.get("run") or 0))
    if run is None or run.results is None:
        raise ValueError("no such run")
    r = run.results
    kind = q.get("kind", "model")
    x = q.get("x") or None
    hglm = {"scale": q.get("scale") or "response"} if _is_hglm(r) else {}
    if kind == "model":
        fig = plots.model_graph(r, x=x, by=q.get("by") or None,
                                quartiles_of=q.get("quartiles_of") or None, **hglm)
    elif kind == "level1":
        fig = plots.level1_equations(r, x=x, sample=int(q.get("sample") or 30),
                                     by=q.get("by") or None, **hglm)
    elif kind == "qq-mdist" and _is_three_level(r):   # level-3 (u) or level-2 (r) units
        fig = plots.qq_mdist(r, level_of_units=2 if q.get("units") == "2" else 3)
    elif kind == "qq-mdist":
        fig = plots.qq_mdist(r)
    elif kind == "mdrsvar-hist":
        fig = plots.mdrsvar_histogram(r)
    elif kind == "mdrsvar-qq":
        fig = plots.mdrsvar_qq(r)
    elif kind == "eb-vs":
        variable = q.get("variable")
        if not variable:
            raise ValueError("choose the level-2 variable")
        fig = plots.eb_residuals_vs(r, variable, q.get("coefficient") or "INTRCPT1")
    elif kind == "caterpillar":
        coefficient = q.get("coefficient") or "INTRCPT1"
        if _is_three_level(r):   # U.. : level-3 units' u; R. : level-2 units' r
            units = 2 if coefficient.upper().startswith("R") else 3
            fig = plots.caterpillar(r, coefficient, level_of_units=units)
        else:
            fig = plots.caterpillar(r, coefficient)
    else:
        raise ValueError(f"unknown graph {kind!r}")
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=100, bbox_inches="tight")
    return buf.getvalue()


def _is_hglm(results: Any) -> bool:
    from openhlm.results.glmm import GLMMResults

    return isinstance(results, GLMMResults)


def _is_three_level(results: Any) -> bool:
    from openhlm.results.three_level import HLM3Results

    return isinstance(results, HLM3Results)


def graph_png(s: Any, q: dict[str, str]) -> bytes:
    """The PNG for ``q``, drawn once and kept in the session (the page and the download)."""
    key = tuple(sorted((k, v) for k, v in q.items() if k != "v"))
    cached = getattr(s, "graph_cache", None)
    if cached is not None and cached[0] == key:
        return cached[1]
    data = draw_graph(s, q, "png")
    s.graph_cache = (key, data)
    return data
