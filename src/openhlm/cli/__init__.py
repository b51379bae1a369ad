"""The ``openhlm`` command line: argparse, one module per subcommand in ``openhlm.cli.commands``."""

from __future__ import annotations

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run the command line; see :func:`openhlm.cli.main.main`."""
    from openhlm.cli.main import main as _main

    return _main(argv)
