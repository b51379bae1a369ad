"""examples/seminar.ipynb: the guide's Python walk-through as a notebook.

The notebook is generated from docs/guide.md (``python -m tests.docs.make_notebook``); this test
checks that it still is the guide's walk-through (same code cells, in order), executes it with
nbclient on the ``python3`` kernel, and checks each cell's printed output against the excerpt the
guide shows for that block.
"""

from __future__ import annotations

import pytest

from tests.docs.guide_blocks import excerpt_mismatch, read_blocks
from tests.docs.make_notebook import NOTEBOOK, build_notebook

nbformat = pytest.importorskip("nbformat", reason="nbformat is in the 'test' extra")


def _code_cells(nb) -> list[str]:
    return [c.source for c in nb.cells if c.cell_type == "code"]


def test_notebook_is_the_guide_walk_through():
    saved = nbformat.read(str(NOTEBOOK), as_version=4)
    expected = build_notebook()
    assert _code_cells(saved) == _code_cells(expected), (
        "examples/seminar.ipynb is out of date: run `python -m tests.docs.make_notebook`")
    assert [c.source for c in saved.cells] == [c.source for c in expected.cells]
    # committed without outputs
    assert all(not c.get("outputs") for c in saved.cells if c.cell_type == "code")


def _kernel_available() -> str | None:
    try:
        import nbclient  # noqa: F401
        from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
    except ImportError as exc:
        return f"nbclient/jupyter_client not installed ({exc}); install the 'test' extra"
    try:
        KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        return "no 'python3' Jupyter kernel (install ipykernel)"
    return None


def _printed(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type in ("execute_result", "display_data"):
            parts.append(out.get("data", {}).get("text/plain", ""))
    return "".join(parts)


def test_notebook_runs(tmp_path):
    reason = _kernel_available()
    if reason:
        pytest.skip(reason)
    from nbclient import NotebookClient

    nb = nbformat.read(str(NOTEBOOK), as_version=4)
    NotebookClient(nb, kernel_name="python3", timeout=300,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    # the excerpt after each python block of the guide is printed by the matching cell
    blocks = read_blocks()
    excerpts = {}
    k = -1
    for block in blocks:
        if block.kind == "python":
            k += 1
        elif block.kind == "output":
            excerpts[k] = block.text
    cells = [c for c in nb.cells if c.cell_type == "code"]
    checked = 0
    for k, text in excerpts.items():
        printed = _printed(cells[k])
        # warnings go to stderr in a notebook, with the file and line in front
        lines = [ln for ln in text.splitlines() if "Warning: " not in ln]
        assert excerpt_mismatch("\n".join(lines), printed) is None, (k, cells[k].source)
        checked += 1
    assert checked >= 20
    assert (tmp_path / "level1-equations.png").exists()
