"""Read and run the fenced blocks of ``docs/guide.md`` (the user guide is its own test).

Block kinds (the fence's info string):

* ``python``: run in order, in one namespace; what it prints is captured.  Warnings are caught
  and added to the captured text as ``Category: message`` (as Python would show them).
* ``output``: an excerpt of what the previous ``python`` block or command printed.  Each line
  must occur in that output, in order (whitespace-normalised); a line ``...`` skips lines.
* ``console`` (or ``bash``): lines starting with ``$ openhlm`` are run through
  :func:`openhlm.cli.main.main` (argv from :func:`shlex.split`); the lines up to the next
  ``$`` line are an excerpt of what the command prints, checked like ``output``.
* ``toml`` whose first line is ``# file: NAME``: written to ``NAME`` in the working directory.
* anything else (``text``, ``toml`` without a file line, ...): shown, never run.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import warnings
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "guide.md"

_FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)
_IMAGE = re.compile(r"!\[[^\]]*\]\((images/[^)\s]+)\)")


@dataclass
class Block:
    kind: str
    text: str
    line: int                      # 1-based line of the opening fence in the guide

    def where(self) -> str:
        return f"docs/guide.md line {self.line} ({self.kind} block)"


@dataclass
class Run:
    """What running the guide produced."""

    namespace: dict = field(default_factory=dict)
    outputs: list[tuple[Block, str]] = field(default_factory=list)        # (block, printed)
    commands: list[tuple[Block, str, int, str]] = field(default_factory=list)  # (block, cmd, rc, out)
    failures: list[str] = field(default_factory=list)                      # excerpt mismatches


def read_blocks(path: Path = GUIDE) -> list[Block]:
    text = path.read_text(encoding="utf-8")
    return [Block(m.group(1).lower(), m.group(2), text.count("\n", 0, m.start()) + 1)
            for m in _FENCE.finditer(text)]


def markdown_segments(path: Path = GUIDE) -> list[tuple[str, str]]:
    """The guide as ``[(kind, text), ...]``: ``"markdown"`` prose and fenced blocks in order."""
    text = path.read_text(encoding="utf-8")
    out, pos = [], 0
    for m in _FENCE.finditer(text):
        if text[pos:m.start()].strip():
            out.append(("markdown", text[pos:m.start()].strip("\n")))
        out.append((m.group(1).lower(), m.group(2)))
        pos = m.end()
    if text[pos:].strip():
        out.append(("markdown", text[pos:].strip("\n")))
    return out


def embedded_images(path: Path = GUIDE) -> list[str]:
    """``images/NAME.png`` paths of the figures embedded in the guide."""
    return _IMAGE.findall(path.read_text(encoding="utf-8"))


def _norm(line: str) -> str:
    return " ".join(line.split())


def excerpt_mismatch(expected: str, actual: str) -> str | None:
    """``None`` if every line of ``expected`` occurs in ``actual`` in order, else a message."""
    lines = [_norm(x) for x in actual.splitlines()]
    pos = 0
    for want in expected.splitlines():
        w = _norm(want)
        if not w or w == "...":
            continue
        try:
            pos = lines.index(w, pos) + 1
        except ValueError:
            return f"line not printed (in this order): {want!r}"
    return None


def _capture(fn) -> tuple[str, object]:
    buf = io.StringIO()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
            value = fn()
    text = buf.getvalue()
    for w in caught:
        text += f"{w.category.__name__}: {w.message}\n"
    return text, value


def _console(block: Block) -> list[tuple[str, str]]:
    """``[(command, expected excerpt), ...]`` of a console block."""
    items: list[tuple[str, list[str]]] = []
    for line in block.text.splitlines():
        if line.startswith("$ "):
            items.append((line[2:].strip(), []))
        elif items:
            items[-1][1].append(line)
    return [(cmd, "\n".join(lines)) for cmd, lines in items]


def run_guide(workdir: Path, path: Path = GUIDE) -> Run:
    """Run every block of the guide with ``workdir`` as the current directory."""
    import os

    from openhlm.cli.main import main

    run = Run()
    run.namespace["__name__"] = "__guide__"
    last: str | None = None
    old = os.getcwd()
    os.chdir(workdir)
    try:
        for block in read_blocks(path):
            if block.kind == "python":
                code = compile(block.text, block.where(), "exec")
                last, _ = _capture(lambda code=code: exec(code, run.namespace))  # noqa: S102
                run.outputs.append((block, last))
            elif block.kind == "output":
                if last is None:
                    run.failures.append(f"{block.where()}: no output to compare with")
                elif (msg := excerpt_mismatch(block.text, last)) is not None:
                    run.failures.append(f"{block.where()}: {msg}")
            elif block.kind in ("console", "bash") and block.text.startswith("$ "):
                for cmd, expected in _console(block):
                    argv = shlex.split(cmd)
                    if argv[0] != "openhlm":
                        raise AssertionError(f"{block.where()}: not an openhlm command: {cmd}")
                    last, rc = _capture(lambda argv=argv: main(argv[1:]))
                    run.commands.append((block, cmd, rc, last))
                    if rc != 0:
                        run.failures.append(f"{block.where()}: `{cmd}` exited {rc}:\n{last}")
                    elif (msg := excerpt_mismatch(expected, last)) is not None:
                        run.failures.append(f"{block.where()}: `{cmd}`: {msg}")
            elif block.kind == "toml" and block.text.startswith("# file:"):
                name = block.text.splitlines()[0].split(":", 1)[1].strip()
                Path(name).write_text(block.text, encoding="utf-8")
    finally:
        os.chdir(old)
    return run
