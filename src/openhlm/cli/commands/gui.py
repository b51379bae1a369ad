"""``openhlm gui``: HLM's window in the browser.

::

    openhlm gui                       # 127.0.0.1, a free port, opens the browser
    openhlm gui --port 8765 --no-browser
    openhlm gui --host 0.0.0.0        # other machines: the address carries a token

Needs the ``gui`` extra: ``pip install "openhlm[gui]"``.
"""

from __future__ import annotations

import argparse
from typing import Any

from openhlm.errors import OpenHLMError

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add ``openhlm gui`` to ``subparsers``."""
    parser = subparsers.add_parser(
        "gui", help="point-and-click HLM in the browser (local server)",
        description="Start openhlm's point-and-click window (HLM's workflow) on a local web "
                    "server and open it in the browser.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='needs: pip install "openhlm[gui]"',
    )
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to serve on (default 127.0.0.1; any other address "
                             "requires the token printed in the URL)")
    parser.add_argument("--port", type=int, default=None, help="port (default: a free one)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")
    parser.add_argument("--token", default=None,
                        help="token required in the URL (default: none on 127.0.0.1, a "
                             "random one on other hosts)")
    parser.add_argument("--max-upload-mb", type=float, default=200.0,
                        help="largest upload accepted, in MB (default 200)")
    parser.set_defaults(func=_handler)


def _handler(args: argparse.Namespace) -> int:
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise OpenHLMError(f'openhlm gui needs the gui extra ({exc.name} is missing): '
                           'pip install "openhlm[gui]"') from None
    from openhlm.gui.server import serve

    serve(args.host, args.port, open_browser=not args.no_browser, token=args.token,
          max_upload=int(args.max_upload_mb * 1024 * 1024))
    return 0
