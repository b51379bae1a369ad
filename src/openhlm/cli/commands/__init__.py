"""Subcommands of ``openhlm``: each module exposes ``register(subparsers) -> None``.

Keep module top levels light (argparse only); import openhlm's data/estimation code inside the
handlers.
"""

from __future__ import annotations
