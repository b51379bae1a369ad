"""Serving the GUI: address, token, browser."""

from __future__ import annotations

import ipaddress
import secrets
import socket
import sys
import threading
import webbrowser
from typing import Any

__all__ = ["free_port", "is_loopback", "serve", "start_in_thread"]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _config(host: str, port: int, token: str | None, max_upload: int) -> Any:
    import uvicorn

    from openhlm.gui.app import create_app

    app = create_app(token=token, max_upload=max_upload)
    return uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                          lifespan="on")


def address(host: str, port: int, token: str | None) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


def serve(host: str = "127.0.0.1", port: int | None = None, *, open_browser: bool = True,
          token: str | None = None, max_upload: int = 200 * 1024 * 1024) -> None:
    """Serve the GUI until interrupted.  Any host but a loopback one needs a token (made here
    when not given), which is part of the printed address."""
    import uvicorn

    if not is_loopback(host) and not token:
        token = secrets.token_urlsafe(24)
    port = port or free_port(host if is_loopback(host) else "0.0.0.0")
    url = address(host, port, token)
    server = uvicorn.Server(_config(host, port, token, max_upload))
    print(f"openhlm gui: serving at {url}  (Ctrl+C to stop)", flush=True)
    if open_browser:
        threading.Timer(0.8, lambda: webbrowser.open(url)).start()
    try:
        server.run()
    except KeyboardInterrupt:  # pragma: no cover - interactive
        pass
    print("openhlm gui: stopped", file=sys.stderr)


def start_in_thread(host: str = "127.0.0.1", port: int | None = None, *,
                    token: str | None = None, max_upload: int = 200 * 1024 * 1024
                    ) -> tuple[Any, threading.Thread, str]:
    """Start the server in a background thread (tests): returns (server, thread, address).
    Stop it with ``server.should_exit = True; thread.join()``."""
    import time

    import uvicorn

    port = port or free_port(host)
    server = uvicorn.Server(_config(host, port, token, max_upload))
    thread = threading.Thread(target=server.run, name="openhlm-gui-server", daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    return server, thread, address(host, port, token)
