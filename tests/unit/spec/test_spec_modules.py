"""The layout of openhlm.spec: modules of at most ~600 lines, named after concepts, and every
public name still importable from the module that has always exported it."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

import openhlm.spec

SPEC = Path(openhlm.spec.__file__).parent
MAX_LINES = 600

# The public names of each spec module before the grammar was shared (module -> names).
PUBLIC = {
    "openhlm.spec": openhlm.spec.__all__,
    "openhlm.spec.equations": [
        "parse_model", "parse_predictor", "validate_spec", "build_model", "format_equations",
        "format_hlm_equations", "format_mixed", "centering_marker", "centering_notes",
    ],
    "openhlm.spec.commandfile": [
        "CommandOptions", "CommandFile", "parse_command_file", "read_command_file",
        "write_command_file",
    ],
    "openhlm.spec.modelfile": [
        "DataSection", "ModelSection", "EstimationSection", "WeightsSection", "DevianceTest",
        "HypothesesSection", "OutputSection", "ModelFile", "format_model_file",
        "load_model_file", "model_file_from_command_file", "parse_model_file",
        "RESIDUAL_FORMATS",
    ],
    "openhlm.spec.contrasts": ["ContrastRow", "parse_contrast", "parse_hypothesis"],
    "openhlm.spec.model": ["Centering", "Predictor", "Level2Equation", "Coefficient",
                           "Constraint", "ModelSpec"],
    "openhlm.spec.printing": ["format_equations", "format_hlm_equations", "format_mixed",
                              "centering_marker", "centering_notes"],
    "openhlm.spec._names": ["NameProblem", "VariableNames", "close_matches", "did_you_mean"],
}


@pytest.mark.parametrize("path", sorted(SPEC.glob("*.py")), ids=lambda p: p.name)
def test_no_spec_module_is_over_600_lines(path: Path) -> None:
    n = len(path.read_text(encoding="utf-8").splitlines())
    assert n <= MAX_LINES, f"{path.name} has {n} lines; split it by concept"


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_public_names_are_importable_where_they_were(module: str) -> None:
    mod = importlib.import_module(module)
    missing = [name for name in PUBLIC[module] if not hasattr(mod, name)]
    assert not missing, f"{module} lost {missing}"
    listed = getattr(mod, "__all__", [])
    assert set(listed) <= set(dir(mod))


def test_each_public_name_is_one_object() -> None:
    from openhlm.spec import (
        commandfile,
        commandfile_reader,
        constraints,
        equations,
        modelfile,
        modelfile_sections,
    )

    assert equations.parse_constraint is constraints.parse_constraint
    assert commandfile.CommandOptions is commandfile_reader.CommandOptions
    assert modelfile.EstimationSection is modelfile_sections.EstimationSection
    assert openhlm.spec.parse_constraint is constraints.parse_constraint


def spec_imports() -> dict[str, set[str]]:
    """module -> the spec modules it imports (module-level and function-level imports)."""
    import ast

    graph: dict[str, set[str]] = {}
    for path in SPEC.glob("*.py"):
        name = "openhlm.spec" if path.stem == "__init__" else f"openhlm.spec.{path.stem}"
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module.startswith("openhlm.spec."):
                    deps.add(node.module)
                elif node.module == "openhlm.spec":
                    deps.update(f"openhlm.spec.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name.startswith("openhlm.spec."))
        graph[name] = deps - {name}
    return graph


def test_spec_modules_import_each_other_without_cycles() -> None:
    graph = spec_imports()
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        if module in path:
            cycle = path[path.index(module):] + (module,)
            raise AssertionError("import cycle: " + " -> ".join(cycle))
        if module in done:
            return
        for dep in sorted(graph.get(module, ())):
            visit(dep, path + (module,))
        done.add(module)

    for module in sorted(graph):
        visit(module, ())
    # the grammar knows no format
    assert graph["openhlm.spec.grammar"] == set()
