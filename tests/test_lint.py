"""ruff (configured in pyproject.toml) finds nothing in src, tests, benchmarks and tools.

Runs when ruff is installed (it is pinned in the ``test`` extra so CI runs it); skipped otherwise.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECKED = ("src", "tests", "benchmarks", "tools")


def _ruff() -> list[str] | None:
    try:
        import ruff  # noqa: F401  (the pip package ships the binary and a __main__)
    except ImportError:
        found = shutil.which("ruff")
        return [found] if found else None
    return [sys.executable, "-m", "ruff"]


def test_ruff_finds_nothing():
    command = _ruff()
    if command is None:
        pytest.skip("ruff is not installed (pip install -e '.[test]')")
    proc = subprocess.run([*command, "check", *CHECKED], check=False, cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"ruff found problems:\n{proc.stdout}{proc.stderr}"
