"""The one late-bound hook from the results layer to the report layer.

Result types live below inference and the report (``docs/architecture.md``), yet
``print(results)``, ``results.to_json()``, ``results.write_residuals(...)`` and ``str(glh)``
should just work.  They call :func:`render` with a *kind* (``"text"``, ``"html"``, ``"dict"``,
``"level1_residuals"``, ``"level2_residuals"``, ``"write_residuals"``) and the object; the
report layer registers, on import, what each kind means for each result type with
:func:`set_renderer` (``openhlm.report.register_renderers``).  When nothing is registered,
:func:`render` imports ``openhlm.report`` by name and calls its ``register_renderers()`` -- the only import of a higher layer in the results layer, and the
only place in openhlm that does this (``tests/test_architecture.py`` checks both) -- so the import
graph has no cycle and no import against the layering.

>>> from openhlm.results.hooks import set_renderer
>>> set_renderer("text", MyResultType, lambda obj, **options: "...")  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["REPORT_MODULE", "registered", "render", "set_renderer"]

#: The module that registers openhlm's renderers when imported.
REPORT_MODULE = "openhlm.report"

_RENDERERS: dict[tuple[str, type], Callable[..., Any]] = {}


def set_renderer(kind: str, cls: type, fn: Callable[..., Any], *, replace: bool = True) -> None:
    """Register ``fn(obj, *args, **kwargs)`` as the ``kind`` output of objects of type ``cls``
    (and its subclasses).

    ``replace=False`` keeps a renderer already registered (openhlm's report registers its own
    that way, so a renderer registered by the user before the report is imported stays).
    """
    if replace or (kind, cls) not in _RENDERERS:
        _RENDERERS[kind, cls] = fn


def _lookup(kind: str, cls: type) -> Callable[..., Any] | None:
    for base in cls.__mro__:
        fn = _RENDERERS.get((kind, base))
        if fn is not None:
            return fn
    return None


def registered(kind: str, cls: type) -> bool:
    """Is a ``kind`` renderer registered for ``cls`` (without importing the report)?"""
    return _lookup(kind, cls) is not None


def render(kind: str, obj: Any, *args: Any, **kwargs: Any) -> Any:
    """The ``kind`` output of ``obj``: the registered renderer called with ``obj`` and the
    other arguments; the report layer is imported first when nothing is registered."""
    fn = _lookup(kind, type(obj))
    if fn is None:
        # importing the report registers its renderers; register again in case the registry
        # was changed after that import
        importlib.import_module(REPORT_MODULE).register_renderers()
        fn = _lookup(kind, type(obj))
    if fn is None:
        raise TypeError(f"no {kind!r} renderer is registered for {type(obj).__name__} "
                        f"(openhlm.results.hooks.set_renderer)")
    return fn(obj, *args, **kwargs)
