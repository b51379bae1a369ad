"""The import graph of ``src/openhlm`` follows the layering of ``docs/architecture.md``.

The layers are read from the table under "## Layers" in ``docs/architecture.md`` (the test has
no copy of its own): each row gives a rank, a layer name and the modules or packages in it.  A
module belongs to the row naming the longest prefix of its dotted name (``openhlm`` alone names
only the top-level ``__init__``).

Rules, checked on every module (``ast``, no import is executed):

* **every import counts**: module level, inside functions and methods, ``from . import x``
  and relative imports.  ``from pkg import name`` is an edge to ``pkg.name`` when that is a
  module, else to ``pkg`` (its ``__init__``).  The parent packages that Python imports on the
  way (``openhlm.report`` for ``openhlm.report.text``) are not edges: a package's
  ``__init__`` importing its own submodules is not a cycle.
* **layering**: a module imports only modules of its own rank or lower ranks.  Imports under
  ``if TYPE_CHECKING:`` count here too (a type annotation is a dependency).
* **no cycles** between modules.  ``TYPE_CHECKING`` imports are left out of this check: they
  are never executed, so they cannot take part in an import cycle.
* **no dynamic imports** (``importlib.import_module``, ``__import__``) except those listed in
  :data:`DYNAMIC_IMPORTS`; the one from a lower to a higher layer is the results layer's
  renderer hook (``openhlm.results.hooks``), documented in ``docs/architecture.md``.

:data:`KNOWN_VIOLATIONS` lists what other branches still have to fix.  The test fails when a
listed violation is *gone* as well, so the list can only shrink: delete the entry when it does.
"""

from __future__ import annotations

import ast
import re
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PACKAGE = SRC / "openhlm"
ARCHITECTURE = ROOT / "docs" / "architecture.md"

#: Violations that are known and owned by other work, each with who removes it.  Edges are
#: ``"importer -> imported"``; cycles are ``"cycle: a, b, c"`` (the modules of the cycle,
#: sorted).  The lead empties this list after merging those branches; an entry that no longer
#: occurs makes the test fail (so it is removed, never left behind).
KNOWN_VIOLATIONS: dict[str, str] = {
}

#: Modules allowed to import by name at run time, and why.
DYNAMIC_IMPORTS: dict[str, str] = {
    "openhlm.results.hooks": "the renderer hook: imports openhlm.report (registers renderers)",
    "openhlm.cli.main": "the CLI's subcommand modules, openhlm.cli.commands.<name>",
}


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int
    type_only: bool   # under ``if TYPE_CHECKING:``


def _module_name(path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    return ".".join(parts), is_package


def _modules() -> dict[str, tuple[Path, bool]]:
    return {name: (path, pkg) for path in sorted(PACKAGE.rglob("*.py"))
            for name, pkg in [_module_name(path)]}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


class _Collector(ast.NodeVisitor):
    def __init__(self, name: str, is_package: bool, modules: set[str]) -> None:
        self.name, self.modules = name, modules
        self.package = name if is_package else name.rpartition(".")[0]
        self.imports: list[Import] = []
        self.dynamic: list[int] = []
        self._type_only = 0

    def _owner(self, dotted: str) -> str | None:
        while dotted and dotted not in self.modules:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    def _add(self, target: str | None, line: int) -> None:
        if target is not None and target != self.name:
            self.imports.append(Import(self.name, target, line, self._type_only > 0))

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            self._type_only += 1
            for child in node.body:
                self.visit(child)
            self._type_only -= 1
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name == "openhlm" or alias.name.startswith("openhlm."):
                self._add(self._owner(alias.name), node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = self.package.split(".")
            base = base[: len(base) - (node.level - 1)]
            module = ".".join(base + ([node.module] if node.module else []))
        else:
            module = node.module or ""
        if not (module == "openhlm" or module.startswith("openhlm.")):
            return
        for alias in node.names:
            full = f"{module}.{alias.name}"
            self._add(full if full in self.modules else self._owner(module), node.lineno)

    def visit_Call(self, node: ast.Call) -> None:
        f = node.func
        name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
        if name in ("import_module", "__import__"):
            self.dynamic.append(node.lineno)
        self.generic_visit(node)


def _collect() -> tuple[dict[str, Path], list[Import], dict[str, list[int]]]:
    modules = _modules()
    imports: list[Import] = []
    dynamic: dict[str, list[int]] = {}
    for name, (path, is_package) in modules.items():
        c = _Collector(name, is_package, set(modules))
        c.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        imports += c.imports
        if c.dynamic:
            dynamic[name] = c.dynamic
    return {n: p for n, (p, _) in modules.items()}, imports, dynamic


def read_layers(text: str | None = None) -> list[tuple[int, str, tuple[str, ...]]]:
    """The rows ``(rank, layer, modules)`` of the table under "## Layers" of the doc."""
    text = ARCHITECTURE.read_text(encoding="utf-8") if text is None else text
    section = text.split("\n## Layers", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].isdigit():
            names = tuple(re.findall(r"`(openhlm[\w.]*)`", cells[2]))
            rows.append((int(cells[0]), cells[1], names))
    return rows


def _layer_of(module: str, layers: list[tuple[int, str, tuple[str, ...]]]
              ) -> tuple[int, str] | None:
    best: tuple[int, int, str] | None = None
    for rank, layer, names in layers:
        for prefix in names:
            hit = module == prefix or (prefix != "openhlm" and module.startswith(prefix + "."))
            if hit and (best is None or len(prefix) > best[0]):
                best = (len(prefix), rank, layer)
    return None if best is None else (best[1], best[2])


def _cycles(nodes: list[str], edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(edges[w]))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return out


def _chain(component: list[str], edges: dict[str, set[str]],
           where: dict[tuple[str, str], int]) -> str:
    """One shortest cycle through the first module of the component, with line numbers."""
    start, members = component[0], set(component)
    previous: dict[str, str] = {}
    queue = deque([start])
    while queue:
        v = queue.popleft()
        for w in sorted(edges[v] & members):
            if w == start:
                path = [v]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                path.reverse()
                hops = [f"{a} (line {where[a, b]}) -> {b}"
                        for a, b in zip(path, path[1:] + [start])]
                return "\n      ".join(hops)
            if w not in previous and w != start:
                previous[w] = v
                queue.append(w)
    return ", ".join(component)  # pragma: no cover - a component always has a cycle


def _violations() -> tuple[dict[str, str], list[str]]:
    """Observed violations ``{key: explanation}`` and problems that are never allowed."""
    files, imports, dynamic = _collect()
    layers = read_layers()
    found: dict[str, str] = {}
    problems: list[str] = []
    layer = {m: _layer_of(m, layers) for m in files}
    for m, l in sorted(layer.items()):
        if l is None:
            problems.append(f"{m} ({files[m].relative_to(ROOT)}) is in no layer of the table "
                            f"in docs/architecture.md: add it to one")
    for imp in imports:
        a, b = layer[imp.importer], layer[imp.imported]
        if a is not None and b is not None and b[0] > a[0]:
            key = f"{imp.importer} -> {imp.imported}"
            what = " (under TYPE_CHECKING)" if imp.type_only else ""
            found.setdefault(key, f"{imp.importer} (layer {a[1]}, line {imp.line}) imports "
                                  f"{imp.imported} (layer {b[1]}, above it){what}")
    edges: dict[str, set[str]] = {m: set() for m in files}
    where: dict[tuple[str, str], int] = {}
    for imp in imports:
        if not imp.type_only:
            edges[imp.importer].add(imp.imported)
            where.setdefault((imp.importer, imp.imported), imp.line)
    for component in _cycles(sorted(files), edges):
        found[f"cycle: {', '.join(component)}"] = (
            "import cycle:\n      " + _chain(component, edges, where))
    for module, lines in sorted(dynamic.items()):
        if module not in DYNAMIC_IMPORTS:
            problems.append(f"{module} imports by name at run time (lines "
                            f"{', '.join(map(str, lines))}): use an import statement, or the "
                            f"renderer hook of openhlm.results.hooks")
    return found, problems


def test_layers_table_is_readable():
    layers = read_layers()
    ranks = [r for r, _, _ in layers]
    assert ranks == sorted(ranks) and len(set(ranks)) >= 7, layers
    names = [n for _, _, ns in layers for n in ns]
    assert len(names) == len(set(names)), f"a module is in two layers: {names}"
    assert {"openhlm.data", "openhlm.results", "openhlm.report", "openhlm.errors"} <= set(names)


def test_no_cycles_and_no_imports_against_the_layering():
    found, problems = _violations()
    new = {k: v for k, v in found.items() if k not in KNOWN_VIOLATIONS}
    gone = sorted(k for k in KNOWN_VIOLATIONS if k not in found)
    message = []
    if new:
        message.append("imports against docs/architecture.md:\n" + "\n".join(
            f"  * {v}" for _, v in sorted(new.items())))
    if gone:
        message.append("fixed, so delete from KNOWN_VIOLATIONS in tests/test_architecture.py:\n"
                       + "\n".join(f"  * {k}" for k in gone))
    message += problems
    assert not message, "\n".join(message)


def test_the_hook_is_the_only_import_of_the_report_below_it():
    """openhlm.results reaches openhlm.report only through the hook, by name, lazily."""
    text = (PACKAGE / "results" / "hooks.py").read_text(encoding="utf-8")
    assert 'REPORT_MODULE = "openhlm.report"' in text and "import_module(REPORT_MODULE)" in text
    _, imports, _ = _collect()
    upward = [i for i in imports if i.importer.startswith(("openhlm.results", "openhlm.inference"))
              and i.imported.startswith(("openhlm.report", "openhlm.plots"))]
    assert upward == []


@pytest.mark.parametrize("snippet, expected", [
    ("from openhlm.report import numfmt", "openhlm.report.numfmt"),
    ("from openhlm.report import render_text", "openhlm.report"),
    ("from . import tables", "openhlm.report.tables"),
    ("from .extras import register_extra", "openhlm.report.extras"),
    ("from .. import results", "openhlm.results"),
    ("import openhlm.report.text as t", "openhlm.report.text"),
    ("def f():\n    from openhlm.results import HLMResults", "openhlm.results"),
])
def test_imports_are_resolved(snippet, expected):
    modules = set(_modules())
    c = _Collector("openhlm.report.json", False, modules)
    c.visit(ast.parse(snippet))
    assert [i.imported for i in c.imports] == [expected]


def test_type_checking_imports_are_marked():
    c = _Collector("openhlm.data.describe", False, set(_modules()))
    c.visit(ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                      "    from openhlm.data.mdm import MDM\nfrom openhlm.errors import MDMError"))
    assert [(i.imported, i.type_only) for i in c.imports] == [
        ("openhlm.data.mdm", True), ("openhlm.errors", False)]


def test_a_cycle_is_reported_with_its_chain():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(sorted(edges), edges) == [["a", "b", "c"]]
    chain = _chain(["a", "b", "c"], edges, {("a", "b"): 1, ("b", "c"): 2, ("c", "a"): 3})
    assert chain.split("\n      ") == ["a (line 1) -> b", "b (line 2) -> c", "c (line 3) -> a"]
