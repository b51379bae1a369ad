"""The core install stays light: ``import openhlm`` imports no engine of the scale extra, and a
missing extra gives one line saying how to install it."""

from __future__ import annotations

import subprocess
import sys

import pytest

import openhlm
from openhlm.errors import SpecError


def test_import_openhlm_does_not_import_duckdb_or_dask():
    code = ("import sys, openhlm, openhlm.runner, openhlm.spec.options; "
            "print(sorted(m for m in ('duckdb', 'dask', 'distributed') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_missing_extra_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "duckdb", None)     # import duckdb -> ImportError
    (tmp_path / "a.csv").write_text("id,x,y\n1,0.5,1.0\n")
    pytest.importorskip("pyarrow")
    with pytest.raises(SpecError, match=r"needs the optional package 'duckdb': "
                                        r"pip install \"openhlm\[scale\]\""):
        openhlm.fit("y = B0 + B1*x + R; B0 = G00 + U0; B1 = G10", str(tmp_path / "a.csv"),
                    id="id", engine="duckdb", quiet=True)
