"""``openhlm gui``: HLM's point-and-click window in the browser (``pip install "openhlm[gui]"``).

A small Starlette app served by uvicorn on 127.0.0.1, with htmx (vendored in ``static/``, no
CDN) swapping the server-rendered window.  It holds no statistics: the model built by clicks
becomes the keyword arguments of :func:`openhlm.fit` (:meth:`state.ModelState.fit_kwargs`,
:func:`state.run_fit`), and every number shown comes from the library.

Modules: :mod:`~openhlm.gui.state` (the window as data, the fit keywords -- HGLM settings
included --, model/command files), :mod:`~openhlm.gui.state3` (HLM3's window as data),
:mod:`~openhlm.gui.session` (one tab's uploads, MDM, runs), :mod:`~openhlm.gui.views` (HTML),
:mod:`~openhlm.gui.views3` (HLM3's MDM dialog, model window and settings),
:mod:`~openhlm.gui.widgets` (pieces both share),
:mod:`~openhlm.gui.app` (routes, click handlers, uploads, downloads),
:mod:`~openhlm.gui.graphs` (``openhlm.plots`` as PNG/SVG), :mod:`~openhlm.gui.server`
(``serve``).
"""

from __future__ import annotations

__all__ = ["create_app", "serve"]


def create_app(**kwargs):  # type: ignore[no-untyped-def]
    """The Starlette app (see :func:`openhlm.gui.app.create_app`)."""
    from openhlm.gui.app import create_app as _create

    return _create(**kwargs)


def serve(**kwargs):  # type: ignore[no-untyped-def]
    """Run the GUI server (see :func:`openhlm.gui.server.serve`)."""
    from openhlm.gui.server import serve as _serve

    return _serve(**kwargs)
