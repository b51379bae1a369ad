"""Optional report blocks: a registry mapping keys of ``HLMResults.extras`` to renderers.

Features that add a block to the output (general linear hypothesis tests, the homogeneity-of-
level-1-variance test, heterogeneous sigma^2, model comparisons, ...) store their numbers in
``results.extras[key]`` and register how to show them::

    from openhlm.report.extras import register_extra

    def homvar_text(block, results) -> list[str]:
        return [" Test of homogeneity of level-1 variance", " " + "-" * 40, ...]

    register_extra("homogeneity", text=homvar_text, json=lambda block, results: {...})

The text report appends, after the fixed/variance/deviance sections and in the order of
``results.extras``, the lines of each block; the JSON gets ``key: json(block)``; the HTML gets
``html(block)`` (or the text lines in a ``<pre>``).  Unregistered keys fall back to a generic
rendering (``str(block)`` in text, :func:`to_jsonable` in JSON), so nothing is silently lost.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["EXTRA_RENDERERS", "ExtraRenderer", "register_extra", "renderer_for", "to_jsonable"]

TextRenderer = Callable[[Any, Any], list[str]]
JSONRenderer = Callable[[Any, Any], Any]
HTMLRenderer = Callable[[Any, Any], str]


@dataclass(frozen=True)
class ExtraRenderer:
    """How to show one kind of optional block (any of the three may be ``None``)."""

    text: TextRenderer | None = None
    json: JSONRenderer | None = None
    html: HTMLRenderer | None = None


#: extras key -> renderers.
EXTRA_RENDERERS: dict[str, ExtraRenderer] = {}


def register_extra(key: str, *, text: TextRenderer | None = None,
                   json: JSONRenderer | None = None, html: HTMLRenderer | None = None) -> None:
    """Register the renderers of the optional block stored under ``results.extras[key]``.

    Each renderer is called as ``renderer(block, results)``: ``text`` returns the report lines,
    ``json`` a JSON-compatible value, ``html`` an HTML fragment.
    """
    EXTRA_RENDERERS[key] = ExtraRenderer(text=text, json=json, html=html)


def renderer_for(key: str) -> ExtraRenderer:
    """The registered renderers of ``key`` (empty when none is registered)."""
    return EXTRA_RENDERERS.get(key, ExtraRenderer())


def to_jsonable(value: Any) -> Any:
    """``value`` as plain JSON data: dataclasses -> dicts, arrays -> lists, DataFrames ->
    lists of records, NaN/inf -> ``None``, objects with ``to_dict()`` -> that dict."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        x = float(value)
        return x if math.isfinite(x) else None
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if hasattr(value, "to_dict") and callable(value.to_dict):
        try:
            import pandas as pd

            if isinstance(value, pd.DataFrame):
                return to_jsonable(value.to_dict(orient="records"))
        except ImportError:  # pragma: no cover - pandas is a dependency
            pass
        return to_jsonable(value.to_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "value") and isinstance(value.value, (str, int)):  # Enum
        return value.value
    return str(value)
