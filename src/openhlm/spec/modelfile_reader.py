"""Reading TOML model files: :func:`parse_model_file` and :func:`load_model_file`.

Loading checks the file's structure (unknown keys with close matches, types, allowed values)
and keeps the equations as text (see :meth:`ModelFile.model_spec`).  Errors quote the line of
the key at fault (:func:`openhlm.spec.grammar.pointed`); TOML syntax errors point at tomllib's
line and column.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, from PyPI (a declared dependency there)
    import tomli as tomllib

from openhlm.errors import CommandFileError
from openhlm.spec.defaults import HLM_LIMITS
from openhlm.spec.grammar import pointed
from openhlm.spec.modelfile_sections import (
    RESIDUAL_FORMATS,
    DataSection,
    DevianceTest,
    EstimationSection,
    HypothesesSection,
    ModelFile,
    ModelSection,
    OutputSection,
    WeightsSection,
)
from openhlm.spec.names import close_matches, did_you_mean
from openhlm.spec.settings import ENGINES

__all__ = ["load_model_file", "parse_model_file"]


class _Context:
    """The raw text and key positions of the file being loaded, for error messages."""

    def __init__(self, text: str, source: str):
        self.text = text
        self.source = source
        self.lines = text.splitlines()
        self.key_lines = _key_lines(self.lines)

    def error(self, key: tuple[str, ...], message: str, hint: str = "") -> CommandFileError:
        name = "[" + ".".join(key[:-1]) + "] " + key[-1] if len(key) > 1 else key[-1]
        line = self.key_lines.get(key) or self.key_lines.get(key[:-1])
        if not line:
            return CommandFileError(f"{name}: {message} in {self.source}{hint}")
        raw = self.lines[line - 1]
        start = len(raw) - len(raw.lstrip())
        width = len(raw.strip()) or 1
        return CommandFileError(
            pointed(f"{name}: {message}", f"line {line} of {self.source}", raw, start, width,
                     hint)
        )


def _key_lines(lines: list[str]) -> dict[tuple[str, ...], int]:
    """Line number of every ``[table]`` and ``key =`` (skipping multi-line strings)."""
    out: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    in_string: str | None = None
    for number, line in enumerate(lines, start=1):
        if in_string is not None:
            if line.count(in_string) % 2 == 1:
                in_string = None
            continue
        stripped = line.strip()
        header = re.match(r"^\[\s*([^\[\]]+?)\s*\]", stripped)
        if header:
            table = tuple(p.strip().strip("\"'") for p in header.group(1).split("."))
            out.setdefault(table, number)
            continue
        m = re.match(r"^\s*([A-Za-z0-9_\-\"'.]+)\s*=", line)
        if m:
            key = tuple(p.strip().strip("\"'") for p in m.group(1).split("."))
            out.setdefault(table + key, number)
            rest = line[m.end():]
            for delim in ('"""', "'''"):
                if rest.count(delim) % 2 == 1:
                    in_string = delim
                    break
    return out


_TYPE_NAMES = {str: "a string", bool: "true or false", int: "a whole number",
               float: "a number", list: "a list", dict: "a table"}


def _describe(value: Any) -> str:
    for kind, name in ((bool, "true/false"), (int, "a whole number"), (float, "a number"),
                       (str, "a string"), (list, "a list"), (dict, "a table")):
        if isinstance(value, kind):
            return f"{name} ({value!r})" if kind in (bool, int, float, str) else name
    return type(value).__name__


def _check_keys(ctx: _Context, table: tuple[str, ...], data: dict[str, Any],
                allowed: Iterable[str]) -> None:
    allowed = list(allowed)
    for key in data:
        if key not in allowed:
            hint = did_you_mean(close_matches(key, allowed))
            known = ", ".join(allowed)
            where = f"[{'.'.join(table)}]" if table else "the top level"
            raise ctx.error(table + (key,), f"unknown key in {where}",
                            f"{hint} (allowed: {known})")


def _get(ctx: _Context, table: tuple[str, ...], data: dict[str, Any], key: str,
         kind: type | tuple[type, ...], default: Any = None, *, required: bool = False) -> Any:
    if key not in data:
        if required:
            raise ctx.error(table + (key,), "is required")
        return default
    value = data[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
    if not ok:
        wanted = " or ".join(_TYPE_NAMES.get(k, k.__name__) for k in kinds)
        raise ctx.error(table + (key,), f"must be {wanted}, not {_describe(value)}")
    return value


def _choice(ctx: _Context, table: tuple[str, ...], data: dict[str, Any], key: str,
            choices: tuple[str, ...], default: str) -> str:
    value = _get(ctx, table, data, key, str, default)
    if value.lower() not in choices:
        raise ctx.error(table + (key,), f"must be one of {', '.join(map(repr, choices))}, "
                        f"not {value!r}")
    return str(value.lower())


def _strings(ctx: _Context, table: tuple[str, ...], data: dict[str, Any],
             key: str) -> tuple[str, ...]:
    value = _get(ctx, table, data, key, list, [])
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise ctx.error(table + (key,), f"must be a list of non-empty strings, found "
                            f"{_describe(item)}")
    return tuple(value)


def _path(ctx: _Context, table: tuple[str, ...], data: dict[str, Any], key: str,
          base: Path | None) -> Path | None:
    value = _get(ctx, table, data, key, str)
    if value is None or not value.strip():
        return None
    path = Path(value).expanduser()
    return path if base is None or path.is_absolute() else base / path


def _name(ctx: _Context, table: tuple[str, ...], data: dict[str, Any], key: str) -> str | None:
    value = _get(ctx, table, data, key, str)
    return value.strip() or None if value is not None else None


def _table(ctx: _Context, doc: dict[str, Any], key: str, required: bool = False) -> dict[str, Any]:
    value = _get(ctx, (), doc, key, dict, {}, required=required)
    return dict(value)


def _ids(ctx: _Context, t: tuple[str, ...], d: dict[str, Any]) -> tuple[str | None, str | None]:
    """``id = "id"`` (two levels) or ``id = ["childid", "schoolid"]`` (three levels; also
    ``"childid,schoolid"``)."""
    value = d.get("id")
    if isinstance(value, list):
        if len(value) != 2 or not all(isinstance(v, str) and v.strip() for v in value):
            raise ctx.error(t + ("id",), "must be one name, or two names for a three-level "
                            "model (the level-2 ID, then the level-3 ID)")
        return value[0].strip(), value[1].strip()
    if isinstance(value, str) and "," in value:
        # "childid,schoolid" as on the command line (--id L2ID,L3ID)
        parts = [part.strip() for part in value.split(",")]
        if len(parts) != 2 or not all(parts):
            raise ctx.error(t + ("id",), "must be one name, or two names for a three-level "
                            "model (the level-2 ID, then the level-3 ID: id = [\"L2ID\", "
                            "\"L3ID\"])")
        return parts[0], parts[1]
    return _name(ctx, t, d, "id"), None


def _data_section(ctx: _Context, doc: dict[str, Any], base: Path | None) -> DataSection:
    t = ("data",)
    d = _table(ctx, doc, "data", required=True)
    _check_keys(ctx, t, d, ("level1", "level2", "level3", "mdm", "id", "missing", "engine",
                                "scheduler"))
    id2, id3 = _ids(ctx, t, d)
    section = DataSection(
        level1=_path(ctx, t, d, "level1", base),
        level2=_path(ctx, t, d, "level2", base),
        mdm=_path(ctx, t, d, "mdm", base),
        id=id2,
        missing=_choice(  # type: ignore[arg-type]
            ctx, t, d, "missing", ("analysis", "listwise"), "analysis"
        ),
        level3=_path(ctx, t, d, "level3", base),
        id3=id3,
        engine=_choice(ctx, t, d, "engine", ENGINES, "memory"),
        scheduler=_name(ctx, t, d, "scheduler"),
    )
    if section.level3 is not None and section.id3 is None:
        raise ctx.error(t + ("id",), "must name the level-2 and the level-3 ID with a level3 "
                        "file", ' (e.g. id = ["childid", "schoolid"])')
    if section.engine != "memory" and section.mdm is not None:
        raise ctx.error(t + ("engine",), f"{section.engine!r} reads level1 data files (Parquet "
                        "or CSV, a glob or a folder), not an mdm")
    if section.mdm is None and section.level1 is None:
        raise ctx.error(t, "needs level1 (and usually level2 and id), or mdm",
                        " (e.g. level1 = \"hsb1.sav\", level2 = \"hsb2.sav\", id = \"id\")")
    if section.mdm is not None and (section.level1 or section.level2):
        raise ctx.error(t + ("mdm",), "give either mdm or level1/level2, not both")
    if section.mdm is None and section.id is None:
        raise ctx.error(t + ("id",), "is required: the variable that identifies the level-2 "
                        "units in both files")
    return section


def _model_section(ctx: _Context, doc: dict[str, Any]) -> ModelSection:
    t = ("model",)
    d = _table(ctx, doc, "model", required=True)
    _check_keys(ctx, t, d, ("equations", "constraints", "heterogeneous_sigma2", "distribution",
                            "trials", "exposure", "overdispersion"))
    equations = _get(ctx, t, d, "equations", str, required=True)
    if not equations.strip():
        raise ctx.error(t + ("equations",), "is empty",
                        " (write the level-1 and level-2 equations, e.g. "
                        "\"mathach = B0 + R; B0 = G00 + U0\")")
    line = ctx.key_lines.get(t + ("equations",), 1)
    raw = ctx.lines[line - 1] if line <= len(ctx.lines) else ""
    after = raw.split("=", 1)[1].strip() if "=" in raw else ""
    if after[:3] in ('"""', "'''") and not after[3:].strip():
        line += 1  # TOML drops the line break right after the opening delimiter
    return ModelSection(
        equations=equations,
        constraints=_strings(ctx, t, d, "constraints"),
        heterogeneous_sigma2=_strings(ctx, t, d, "heterogeneous_sigma2"),
        equations_line=line,
        distribution=_choice(ctx, t, d, "distribution",
                             ("normal", "bernoulli", "binomial", "poisson"), "normal"),
        trials=_name(ctx, t, d, "trials"),
        exposure=_name(ctx, t, d, "exposure"),
        overdispersion=bool(_get(ctx, t, d, "overdispersion", bool, False)),
    )


def _estimation_section(ctx: _Context, doc: dict[str, Any]) -> EstimationSection:
    t = ("estimation",)
    d = _table(ctx, doc, "estimation")
    _check_keys(ctx, t, d, ("method", "mode", "max_iterations", "tolerance",
                            "quadrature_points", "macro_iterations", "micro_iterations",
                            "stop_macro", "stop_micro"))
    iterations = _get(ctx, t, d, "max_iterations", int, HLM_LIMITS.max_iterations)
    if iterations < 1:
        raise ctx.error(t + ("max_iterations",), f"must be at least 1, not {iterations}")
    tolerance = float(_get(ctx, t, d, "tolerance", (float, int), HLM_LIMITS.tolerance))
    if not tolerance > 0:
        raise ctx.error(t + ("tolerance",), f"must be positive, not {tolerance}")
    return EstimationSection(
        method=_method(ctx, t, d),  # type: ignore[arg-type]
        mode=_choice(ctx, t, d, "mode", ("exact", "hlm"), "exact"),  # type: ignore[arg-type]
        max_iterations=iterations,
        tolerance=tolerance,
        quadrature_points=_get(ctx, t, d, "quadrature_points", int, None),
        macro_iterations=_get(ctx, t, d, "macro_iterations", int, None),
        micro_iterations=_get(ctx, t, d, "micro_iterations", int, None),
        stop_macro=_get(ctx, t, d, "stop_macro", (float, int), None),
        stop_micro=_get(ctx, t, d, "stop_micro", (float, int), None),
    )


def _method(ctx: _Context, t: tuple[str, ...], d: dict[str, Any]) -> str:
    """``method``: reml / ml, or an HGLM's pql / laplace / agq."""
    value = d.get("method")
    if isinstance(value, str) and value.lower() in ("pql", "laplace", "agq"):
        return value.lower()
    try:
        return _choice(ctx, t, d, "method", ("reml", "ml"), "reml")
    except CommandFileError as exc:
        raise CommandFileError(f"{exc} (or 'pql', 'laplace', 'agq' for a non-normal "
                               "[model] distribution)") from None


def _weights_section(ctx: _Context, doc: dict[str, Any]) -> WeightsSection:
    t = ("weights",)
    d = _table(ctx, doc, "weights")
    _check_keys(ctx, t, d, ("level1", "level2", "level3", "precision", "normalize"))
    return WeightsSection(
        level1=_name(ctx, t, d, "level1"),
        level2=_name(ctx, t, d, "level2"),
        precision=_name(ctx, t, d, "precision"),
        normalize=_normalize(ctx, t, d),
        level3=_name(ctx, t, d, "level3"),
    )


def _normalize(ctx: _Context, t: tuple[str, ...], d: dict[str, Any]) -> bool | str:
    value = _get(ctx, t, d, "normalize", (bool, str), True)
    if isinstance(value, str) and value.lower() not in ("within", "overall", "none"):
        raise ctx.error(t + ("normalize",), f"must be true, false, \"within\", \"overall\" or "
                        f"\"none\", not {value!r}")
    return value.lower() if isinstance(value, str) else value


def _hypotheses_section(ctx: _Context, doc: dict[str, Any]) -> HypothesesSection:
    t = ("hypotheses",)
    d = _table(ctx, doc, "hypotheses")
    _check_keys(ctx, t, d, ("glh", "homogeneity", "deviance_test"))
    glh = []
    for item in _get(ctx, t, d, "glh", list, []):
        rows = item if isinstance(item, list) else None
        if not rows or not all(isinstance(r, str) and r.strip() for r in rows):
            raise ctx.error(
                t + ("glh",), f"each hypothesis must be a list of strings, found {_describe(item)}",
                ' (glh = [["G01 = 0", "G11 = 0"]] tests G01 = 0 and G11 = 0 jointly)',
            )
        glh.append(tuple(rows))
    test = None
    if "deviance_test" in d:
        dt = _get(ctx, t, d, "deviance_test", dict)
        tt = t + ("deviance_test",)
        _check_keys(ctx, tt, dt, ("deviance", "parameters", "convention"))
        deviance = float(_get(ctx, tt, dt, "deviance", (float, int), required=True))
        parameters = _get(ctx, tt, dt, "parameters", int, required=True)
        if parameters < 1:
            raise ctx.error(tt + ("parameters",), f"must be at least 1, not {parameters}")
        convention = _choice(ctx, tt, dt, "convention", ("standard", "hlm"), "standard")
        test = DevianceTest(deviance, parameters, convention)  # type: ignore[arg-type]
    return HypothesesSection(
        glh=tuple(glh),
        homogeneity=_get(ctx, t, d, "homogeneity", bool, False),
        deviance_test=test,
    )


def _output_section(ctx: _Context, doc: dict[str, Any], base: Path | None) -> OutputSection:
    t = ("output",)
    d = _table(ctx, doc, "output")
    keys = ("report", "json", "html", "level1_residuals", "level2_residuals",
            "level3_residuals")
    _check_keys(ctx, t, d, keys + ("format", "exploratory", "exploratory3"))
    paths = {k: _path(ctx, t, d, k, base) for k in keys}
    return OutputSection(**paths, format=_choice(ctx, t, d, "format", RESIDUAL_FORMATS, "csv"),
                         exploratory=_strings(ctx, t, d, "exploratory"),
                         exploratory3=_strings(ctx, t, d, "exploratory3"))


def _toml_error(exc: tomllib.TOMLDecodeError, ctx: _Context) -> CommandFileError:
    message = str(exc)
    m = re.search(r"\s*\(at line (\d+), column (\d+)\)\s*$", message)
    if m is None:
        return CommandFileError(f"TOML syntax error in {ctx.source}: {message}")
    line, col = int(m.group(1)), int(m.group(2))
    text = message[: m.start()]
    raw = ctx.lines[line - 1] if 0 < line <= len(ctx.lines) else ""
    return CommandFileError(
        pointed(f"TOML syntax error: {text}", f"line {line} of {ctx.source}", raw,
                 min(col - 1, len(raw)), 1)
    )


def parse_model_file(text: str, *, path: str | Path | None = None) -> ModelFile:
    """Read a TOML model file from its text.

    Parameters
    ----------
    text
        The TOML document.
    path
        Where it comes from: names it in error messages, and relative data and output paths
        are taken relative to its folder.

    Raises
    ------
    CommandFileError
        TOML syntax errors (with line and column), unknown keys (with close matches), wrong
        types or values, missing required keys.
    """
    file = Path(path) if path is not None else None
    ctx = _Context(text, str(file) if file is not None else "<text>")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _toml_error(exc, ctx) from None
    tables = ("title", "data", "model", "estimation", "weights", "hypotheses", "output")
    _check_keys(ctx, (), doc, tables)
    base = file.parent if file is not None else None
    title = _get(ctx, (), doc, "title", str, "")
    return ModelFile.from_sections(
        path=file,
        title=title,
        data=_data_section(ctx, doc, base),
        model=_model_section(ctx, doc),
        estimation=_estimation_section(ctx, doc),
        weights=_weights_section(ctx, doc),
        hypotheses=_hypotheses_section(ctx, doc),
        output=_output_section(ctx, doc, base),
        key_lines=ctx.key_lines,
    )


def load_model_file(path: str | Path) -> ModelFile:
    """Read a TOML model file (``openhlm fit MODEL.toml``).

    Relative paths in ``[data]`` and ``[output]`` are relative to the file's folder.

    Raises
    ------
    CommandFileError
        The file cannot be read, or is not a valid model file (see :func:`parse_model_file`).
    """
    file = Path(path)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise CommandFileError(f"cannot read model file {file}: {reason}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CommandFileError(
            f"model file {file} is not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from None
    return parse_model_file(text, path=file)
