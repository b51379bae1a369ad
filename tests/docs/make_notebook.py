"""Write ``examples/seminar.ipynb`` from ``docs/guide.md`` (run ``python -m tests.docs.make_notebook``).

The notebook is the guide's Python walk-through: the prose becomes markdown cells, every
``python`` block a code cell (in order, unchanged), command-line blocks and model files are kept
as markdown for reference, and the printed-output excerpts are left out (the notebook prints its
own).  ``tests/docs/test_notebook.py`` checks that the notebook still matches the guide and runs
it.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.docs.guide_blocks import GUIDE, ROOT, markdown_segments

NOTEBOOK = ROOT / "examples" / "seminar.ipynb"

INTRO = """\
# The HLM seminar in openhlm (Python walk-through)

This notebook is the Python part of [the guide](../docs/guide.md), which redoes the UCLA seminar
*Introduction to Multilevel Modeling Using HLM* (HLM 6.08, High School and Beyond data) with
openhlm. The code cells are the guide's Python blocks, in order; the command-line steps are shown
as text. It is generated from the guide by `python -m tests.docs.make_notebook` and run by
`tests/docs/test_notebook.py`. Run it in an empty folder: some cells write files."""


def _fix_links(text: str) -> str:
    text = re.sub(r"\]\((images/[^)]+)\)", r"](../docs/\1)", text)
    text = re.sub(r'(<img\s[^>]*src=")(images/)', r"\1../docs/\2", text)
    return re.sub(r"\]\(([\w-]+\.md)(#[^)]*)?\)", r"](../docs/\1\2)", text)


def build_notebook(path: Path = GUIDE):
    import nbformat

    cells = [nbformat.v4.new_markdown_cell(INTRO)]
    segments = markdown_segments(path)
    # the guide's title is replaced by INTRO
    if segments and segments[0][0] == "markdown" and segments[0][1].startswith("# "):
        segments[0] = ("markdown", segments[0][1].split("\n", 1)[1].strip("\n"))
    prose: list[str] = []

    def flush() -> None:
        if prose:
            cells.append(nbformat.v4.new_markdown_cell(_fix_links("\n\n".join(prose))))
            prose.clear()

    for kind, text in segments:
        if kind == "python":
            flush()
            cells.append(nbformat.v4.new_code_cell(text.rstrip("\n")))
        elif kind == "output":
            continue
        elif kind == "markdown":
            prose.append(text)
        else:
            prose.append(f"```{kind}\n{text}```")
    flush()
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def main() -> None:
    import nbformat

    nb = build_notebook()
    for k, cell in enumerate(nb.cells):      # stable ids: regenerating changes nothing
        cell["id"] = f"cell-{k:03d}"
    NOTEBOOK.parent.mkdir(exist_ok=True)
    nbformat.write(nb, str(NOTEBOOK))
    print(f"wrote {NOTEBOOK.relative_to(ROOT)} ({len(nb.cells)} cells)")


if __name__ == "__main__":
    main()
