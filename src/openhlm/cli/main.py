"""Entry point of the ``openhlm`` command (also ``python -m openhlm``).

Subcommands live in :mod:`openhlm.cli.commands`, one module each, exposing
``register(subparsers) -> None``; the module adds its parser and sets ``func=handler`` where
``handler(args) -> int``.  To add a subcommand, write the module and add its name to
:data:`COMMANDS`.  Command modules import heavy dependencies inside their handlers so that
``openhlm --help`` stays fast.

Errors a user can cause (:class:`~openhlm.errors.OpenHLMError`) are printed as one line,
``openhlm: error: <message>`` (followed by the quoted equation and a caret line for equation
errors), on stderr with exit status 2 and no traceback; warnings are printed
as ``openhlm: warning: <message>``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from collections.abc import Sequence
from typing import Any, TextIO

from openhlm._version import __version__
from openhlm.errors import OpenHLMError

__all__ = ["COMMANDS", "build_parser", "main"]

#: Subcommand modules of :mod:`openhlm.cli.commands`, in the order shown by ``--help``.
COMMANDS: list[str] = ["mdm", "fit"]
COMMANDS.append("residuals")
COMMANDS.append("plot")
COMMANDS.append("gui")

EXIT_OK = 0
EXIT_USER_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every subcommand of :data:`COMMANDS` registered."""
    parser = argparse.ArgumentParser(
        prog="openhlm",
        description=("Hierarchical linear and generalised linear models (two and three levels) "
                     "the way HLM prints them."),
    )
    parser.add_argument("--version", action="version", version=f"openhlm {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"openhlm.cli.commands.{name}")
        module.register(subparsers)
    return parser


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    text = " ".join(str(message).split())
    print(f"openhlm: warning: {text}", file=sys.stderr)


def _run(args: argparse.Namespace) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("always", UserWarning)
        warnings.showwarning = _show_warning
        return int(args.func(args) or EXIT_OK)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``openhlm`` with ``argv`` (default ``sys.argv[1:]``) and return the exit status.

    Returns
    -------
    int
        0 on success, 2 for a usage error or an :class:`~openhlm.errors.OpenHLMError`.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(None if argv is None else list(argv))
    except SystemExit as exc:  # --help, --version, usage errors
        code: Any = exc.code
        return code if isinstance(code, int) else (EXIT_OK if code is None else EXIT_USER_ERROR)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_USER_ERROR
    try:
        return _run(args)
    except OpenHLMError as exc:
        # the first line is the message; equation errors add the quoted line and a caret line
        # underneath, which must keep their layout to point at the spot
        first, *quote = str(exc).rstrip().splitlines() or [""]
        print(f"openhlm: error: {' '.join(first.split())}", file=sys.stderr)
        for line in quote:
            print(line, file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("openhlm: interrupted", file=sys.stderr)
        return 130
