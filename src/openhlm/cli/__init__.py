"""The ``openhlm`` command line: argparse, one module per subcommand in ``openhlm.cli.commands``.

``main`` is imported here (``openhlm.cli.main`` imports only the standard library and
:mod:`openhlm.errors`): a lazy wrapper function was replaced by the submodule of the same name as
soon as anything imported ``openhlm.cli.main``, after which ``from openhlm.cli import main``
gave a module.
"""

from __future__ import annotations

from openhlm.cli.main import main

__all__ = ["main"]
