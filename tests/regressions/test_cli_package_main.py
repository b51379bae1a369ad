"""Regression: ``from openhlm.cli import main`` gave the *module* ``openhlm.cli.main`` (not
callable: "TypeError: 'module' object is not callable") once the console script or any test had
imported ``openhlm.cli.main``."""

from __future__ import annotations

import subprocess
import sys


def test_package_main_is_the_function_after_the_submodule_is_imported():
    code = (
        "import openhlm.cli.main\n"
        "from openhlm.cli import main\n"
        "import sys\n"
        "sys.exit(main(['mdm', 'describe', '--example', 'hsb']))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "level-2 units: 160" in done.stdout
