"""Static typing of the core: mypy passes on estimation, inference, results, api and imputation.

The settings are pyproject.toml's ``[tool.mypy]``.  mypy is in the ``dev`` extra, not in
``test`` (it is slow to install and run in CI): without it this test is skipped.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECKED = ("src/openhlm/estimation", "src/openhlm/inference", "src/openhlm/results",
           "src/openhlm/api.py", "src/openhlm/imputation.py", "src/openhlm/runner",
           "src/openhlm/spec/options.py", "src/openhlm/spec/settings.py",
           "src/openhlm/spec/defaults.py")


def test_core_passes_mypy():
    pytest.importorskip("mypy", reason="mypy is not installed (pip install -e '.[dev]')")
    proc = subprocess.run([sys.executable, "-m", "mypy", *CHECKED], check=False, cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"mypy found problems:\n{proc.stdout}{proc.stderr}"
    assert "Success: no issues found" in proc.stdout
