"""Graphs of a fitted model (matplotlib, imported when a graph is drawn).

Every function takes the results (and options) and returns a :class:`matplotlib.figure.Figure`
(a plain Figure, no pyplot state); save it with ``fig.savefig("graph.png")`` (PNG, SVG, PDF).

* :func:`model_graph` -- HLM's "Graph equations > Model graphs"
* :func:`level1_equations` -- each unit's line from its EB coefficients
* :func:`qq_mdist`, :func:`mdrsvar_histogram`, :func:`mdrsvar_qq`, :func:`eb_residuals_vs`,
  :func:`caterpillar` -- the seminar's model checking
"""

from __future__ import annotations

from openhlm.plots.diagnostics import (
    caterpillar,
    eb_residuals_vs,
    mdrsvar_histogram,
    mdrsvar_qq,
    qq_mdist,
)
from openhlm.plots.equations import level1_equations, model_graph
from openhlm.plots.lowess import lowess

__all__ = [
    "PLOTS",
    "caterpillar",
    "eb_residuals_vs",
    "level1_equations",
    "lowess",
    "mdrsvar_histogram",
    "mdrsvar_qq",
    "model_graph",
    "qq_mdist",
]

#: Graph names (CLI ``openhlm plot NAME``) -> functions.
PLOTS = {
    "model": model_graph,
    "level1": level1_equations,
    "qq-mdist": qq_mdist,
    "mdrsvar-hist": mdrsvar_histogram,
    "mdrsvar-qq": mdrsvar_qq,
    "eb-vs": eb_residuals_vs,
    "caterpillar": caterpillar,
}
