"""TOML model files: what ``openhlm fit MODEL.toml`` reads.

One file names the data, the model (in HLM's equation format), the estimation settings, the
tests to run and the outputs to write; see ``docs/model-files.md`` for the schema.  Loading
checks the file's structure (unknown keys with close matches, types, allowed values) and keeps
the equations as text: they are parsed against the MDM's variable names later, with
:meth:`ModelFile.model_spec`, because only the data know which variables exist.

Every error is a :class:`~openhlm.errors.CommandFileError` naming the file, the key and the
line, with the line quoted.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath
from typing import Any, Literal

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, from PyPI (a declared dependency there)
    import tomli as tomllib

from openhlm.errors import CommandFileError, HypothesisError, SpecError
from openhlm.spec._names import NameProblem, VariableNames, close_matches, did_you_mean
from openhlm.spec.contrasts import ContrastRow, parse_hypothesis
from openhlm.spec.defaults import HLM_LIMITS
from openhlm.spec.equations import _pointed, parse_model
from openhlm.spec.model import ModelSpec

__all__ = [
    "DataSection",
    "ModelSection",
    "EstimationSection",
    "WeightsSection",
    "DevianceTest",
    "HypothesesSection",
    "OutputSection",
    "ModelFile",
    "format_model_file",
    "load_model_file",
    "model_file_from_command_file",
    "parse_model_file",
]

RESIDUAL_FORMATS = ("csv", "sav", "dta", "xpt", "xlsx", "parquet")


@dataclass(frozen=True, slots=True)
class DataSection:
    """``[data]``: the level-1 and level-2 files (or a saved MDM), the unit id, missing data.

    Paths are relative to the TOML file's folder (already joined to it when the file was
    loaded from disk).  ``missing``: ``"analysis"`` deletes incomplete level-1 records when
    running the analysis (only the variables in the model count), ``"listwise"`` when making
    the MDM (all variables count), as in HLM's MDM dialog.
    """

    level1: Path | None = None
    level2: Path | None = None
    mdm: Path | None = None
    id: str | None = None
    missing: Literal["analysis", "listwise"] = "analysis"


@dataclass(frozen=True, slots=True)
class ModelSection:
    """``[model]``: equations as written, constraints, heterogeneous sigma^2 variables.

    ``equations_line`` is the line of the TOML file holding the first line of ``equations``,
    so that equation errors point into the TOML file.
    """

    equations: str
    constraints: tuple[str, ...] = ()
    heterogeneous_sigma2: tuple[str, ...] = ()
    equations_line: int = field(default=1, compare=False)


@dataclass(frozen=True, slots=True)
class EstimationSection:
    """``[estimation]``: REML or ML; ``mode`` ``"exact"`` (to convergence) or ``"hlm"``
    (HLM 6's iteration and stopping rule).  ``max_iterations``/``tolerance`` default to HLM's
    values; in exact mode only other values change the run (:mod:`openhlm.spec.options`)."""

    method: Literal["reml", "ml"] = "reml"
    mode: Literal["exact", "hlm"] = "exact"
    max_iterations: int = HLM_LIMITS.max_iterations
    tolerance: float = HLM_LIMITS.tolerance


@dataclass(frozen=True, slots=True)
class WeightsSection:
    """``[weights]``: design weights (level 1, level 2), precision (V-known) variable.

    ``normalize``: ``true`` (= ``"within"``), ``false`` (= ``"none"``) or ``"overall"``, as the
    ``normalize_weights`` keyword of :func:`openhlm.fit`."""

    level1: str | None = None
    level2: str | None = None
    precision: str | None = None
    normalize: bool | str = True


@dataclass(frozen=True, slots=True)
class DevianceTest:
    """A prior model to compare against: its deviance and number of parameters.

    ``convention``: ``"standard"`` (-2 log-likelihood, as openhlm, R, Stata, SAS report it) or
    ``"hlm"`` (the deviance as HLM 6.08 prints it; see :func:`openhlm.deviance_test`).
    """

    deviance: float
    parameters: int
    convention: Literal["standard", "hlm"] = "standard"


@dataclass(frozen=True, slots=True)
class HypothesesSection:
    """``[hypotheses]``: general linear hypotheses (each a list of rows such as
    ``"G01 = 0"``), the homogeneity-of-sigma^2 test, a deviance test against a prior model."""

    glh: tuple[tuple[str, ...], ...] = ()
    homogeneity: bool = False
    deviance_test: DevianceTest | None = None


@dataclass(frozen=True, slots=True)
class OutputSection:
    """``[output]``: files to write (``None`` = not written), the residual-file format, and
    ``exploratory``: level-2 variables not in the model for HLM's "Exploratory Analysis" block
    (:func:`openhlm.exploratory`)."""

    report: Path | None = None
    json: Path | None = None
    html: Path | None = None
    level1_residuals: Path | None = None
    level2_residuals: Path | None = None
    format: str = "csv"
    exploratory: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ModelFile:
    """A loaded TOML model file."""

    path: Path | None
    title: str
    data: DataSection
    model: ModelSection
    estimation: EstimationSection = field(default_factory=EstimationSection)
    weights: WeightsSection = field(default_factory=WeightsSection)
    hypotheses: HypothesesSection = field(default_factory=HypothesesSection)
    output: OutputSection = field(default_factory=OutputSection)
    _lines: tuple[tuple[tuple[str, ...], int], ...] = field(default=(), repr=False, compare=False)

    @property
    def source(self) -> str:
        return str(self.path) if self.path is not None else "<text>"

    def _line_of(self, *key: str) -> int | None:
        return dict(self._lines).get(key)

    def model_spec(
        self, level1_variables: Iterable[str], level2_variables: Iterable[str]
    ) -> ModelSpec:
        """Parse ``[model]`` against the MDM's variable names.

        Raises
        ------
        CommandFileError
            Quoting the equation (with its line in the TOML file) or naming the constraint /
            heterogeneous-sigma^2 entry at fault.
        """
        level1 = tuple(level1_variables)
        level2 = tuple(level2_variables)
        m = self.model
        try:
            parse_model(
                m.equations, level1_variables=level1, level2_variables=level2,
                source=self.source, first_line=m.equations_line,
            )
        except SpecError as exc:
            raise CommandFileError(f"[model] equations: {exc}") from None
        try:
            parse_model(
                m.equations, level1_variables=level1, level2_variables=level2,
                constraints=m.constraints, source=self.source, first_line=m.equations_line,
            )
        except SpecError as exc:
            raise CommandFileError(f"{self._where('model', 'constraints')}: {exc}") from None
        try:
            return parse_model(
                m.equations, level1_variables=level1, level2_variables=level2,
                constraints=m.constraints, variance_predictors=m.heterogeneous_sigma2,
                source=self.source, first_line=m.equations_line,
            )
        except SpecError as exc:
            detail = str(exc).removeprefix("heterogeneous sigma^2: ")
            raise CommandFileError(
                f"{self._where('model', 'heterogeneous_sigma2')}: {detail}"
            ) from None

    def glh_contrasts(self, spec: ModelSpec) -> tuple[tuple[ContrastRow, ...], ...]:
        """``[hypotheses] glh`` as contrast rows over ``spec.gamma_labels()``.

        Raises
        ------
        CommandFileError
            Naming the hypothesis and row, quoting the row.
        """
        gammas = spec.gamma_labels()
        out = []
        for number, rows in enumerate(self.hypotheses.glh, start=1):
            try:
                out.append(parse_hypothesis(rows, gammas, where=f"hypothesis {number}"))
            except HypothesisError as exc:
                raise CommandFileError(f"{self._where('hypotheses', 'glh')}: {exc}") from None
        return tuple(out)

    def resolved_weights(
        self, level1_variables: Iterable[str], level2_variables: Iterable[str]
    ) -> WeightsSection:
        """``[weights]`` with the variable names spelled as in the MDM (and checked)."""
        names = VariableNames(level1_variables, level2_variables)
        w = self.weights
        resolved: dict[str, str | None] = {}
        for key, level in (("level1", 1), ("level2", 2), ("precision", 1)):
            value = getattr(w, key)
            if value is None:
                resolved[key] = None
                continue
            try:
                resolved[key] = names.resolve(value, level)
            except NameProblem as problem:
                extra = f" (a level-{level} variable is needed)" if problem.kind == "wrong-level" \
                    else problem.hint
                raise CommandFileError(
                    f"{self._where('weights', key)}: {problem.message}{extra}"
                ) from None
        return WeightsSection(resolved["level1"], resolved["level2"], resolved["precision"],
                              w.normalize)

    def _where(self, *key: str) -> str:
        line = self._line_of(*key)
        table = ".".join(key[:-1])
        at = f", line {line}" if line else ""
        return f"{self.source}{at}: [{table}] {key[-1]}"


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


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
            _pointed(f"{name}: {message}", f"line {line} of {self.source}", raw, start, width,
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


def _data_section(ctx: _Context, doc: dict[str, Any], base: Path | None) -> DataSection:
    t = ("data",)
    d = _table(ctx, doc, "data", required=True)
    _check_keys(ctx, t, d, ("level1", "level2", "mdm", "id", "missing"))
    section = DataSection(
        level1=_path(ctx, t, d, "level1", base),
        level2=_path(ctx, t, d, "level2", base),
        mdm=_path(ctx, t, d, "mdm", base),
        id=_name(ctx, t, d, "id"),
        missing=_choice(  # type: ignore[arg-type]
            ctx, t, d, "missing", ("analysis", "listwise"), "analysis"
        ),
    )
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
    _check_keys(ctx, t, d, ("equations", "constraints", "heterogeneous_sigma2"))
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
    )


def _estimation_section(ctx: _Context, doc: dict[str, Any]) -> EstimationSection:
    t = ("estimation",)
    d = _table(ctx, doc, "estimation")
    _check_keys(ctx, t, d, ("method", "mode", "max_iterations", "tolerance"))
    iterations = _get(ctx, t, d, "max_iterations", int, HLM_LIMITS.max_iterations)
    if iterations < 1:
        raise ctx.error(t + ("max_iterations",), f"must be at least 1, not {iterations}")
    tolerance = float(_get(ctx, t, d, "tolerance", (float, int), HLM_LIMITS.tolerance))
    if not tolerance > 0:
        raise ctx.error(t + ("tolerance",), f"must be positive, not {tolerance}")
    return EstimationSection(
        method=_choice(ctx, t, d, "method", ("reml", "ml"), "reml"),  # type: ignore[arg-type]
        mode=_choice(ctx, t, d, "mode", ("exact", "hlm"), "exact"),  # type: ignore[arg-type]
        max_iterations=iterations,
        tolerance=tolerance,
    )


def _weights_section(ctx: _Context, doc: dict[str, Any]) -> WeightsSection:
    t = ("weights",)
    d = _table(ctx, doc, "weights")
    _check_keys(ctx, t, d, ("level1", "level2", "precision", "normalize"))
    return WeightsSection(
        level1=_name(ctx, t, d, "level1"),
        level2=_name(ctx, t, d, "level2"),
        precision=_name(ctx, t, d, "precision"),
        normalize=_normalize(ctx, t, d),
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
    keys = ("report", "json", "html", "level1_residuals", "level2_residuals")
    _check_keys(ctx, t, d, keys + ("format", "exploratory"))
    paths = {k: _path(ctx, t, d, k, base) for k in keys}
    return OutputSection(**paths, format=_choice(ctx, t, d, "format", RESIDUAL_FORMATS, "csv"),
                         exploratory=_strings(ctx, t, d, "exploratory"))


def _toml_error(exc: tomllib.TOMLDecodeError, ctx: _Context) -> CommandFileError:
    message = str(exc)
    m = re.search(r"\s*\(at line (\d+), column (\d+)\)\s*$", message)
    if m is None:
        return CommandFileError(f"TOML syntax error in {ctx.source}: {message}")
    line, col = int(m.group(1)), int(m.group(2))
    text = message[: m.start()]
    raw = ctx.lines[line - 1] if 0 < line <= len(ctx.lines) else ""
    return CommandFileError(
        _pointed(f"TOML syntax error: {text}", f"line {line} of {ctx.source}", raw,
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
    return ModelFile(
        path=file,
        title=title,
        data=_data_section(ctx, doc, base),
        model=_model_section(ctx, doc),
        estimation=_estimation_section(ctx, doc),
        weights=_weights_section(ctx, doc),
        hypotheses=_hypotheses_section(ctx, doc),
        output=_output_section(ctx, doc, base),
        _lines=tuple(ctx.key_lines.items()),
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



# --------------------------------------------------------------------------------------------
# Writing, and converting HLM 6 command files
# --------------------------------------------------------------------------------------------


def _toml_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _toml_path(path: Path, base: Path | None) -> str:
    if base is not None and path.is_relative_to(base):
        return _toml_string(path.relative_to(base).as_posix())
    return _toml_string(str(path))


def _toml_equations(text: str) -> str:
    q = "'" * 3
    if q not in text and "\r" not in text and not text.endswith("'"):
        return q + "\n" + text + q  # TOML drops the line break right after the opening quotes
    return _toml_string(text)


def format_model_file(mf: ModelFile) -> str:
    """The TOML text of a model file; :func:`parse_model_file` reads it back to ``mf``.

    Paths inside the folder of ``mf.path`` are written relative to it, others as they are.
    """
    base = mf.path.parent if mf.path is not None else None
    d, m, e, w, h, o = mf.data, mf.model, mf.estimation, mf.weights, mf.hypotheses, mf.output
    out = [f"title = {_toml_string(mf.title)}", "", "[data]"]
    for key in ("level1", "level2", "mdm"):
        if getattr(d, key) is not None:
            out.append(f"{key} = {_toml_path(getattr(d, key), base)}")
    if d.id is not None:
        out.append(f"id = {_toml_string(d.id)}")
    out += [f"missing = {_toml_string(d.missing)}", "", "[model]",
            f"equations = {_toml_equations(m.equations)}"]
    out.append("constraints = [" + ", ".join(map(_toml_string, m.constraints)) + "]")
    out.append("heterogeneous_sigma2 = ["
               + ", ".join(map(_toml_string, m.heterogeneous_sigma2)) + "]")
    out += ["", "[estimation]", f"method = {_toml_string(e.method)}",
            f"mode = {_toml_string(e.mode)}", f"max_iterations = {e.max_iterations}",
            f"tolerance = {e.tolerance!r}", "", "[weights]"]
    for key in ("level1", "level2", "precision"):
        if getattr(w, key) is not None:
            out.append(f"{key} = {_toml_string(getattr(w, key))}")
    normalize = (_toml_string(w.normalize) if isinstance(w.normalize, str)
                 else "true" if w.normalize else "false")
    out += [f"normalize = {normalize}", "", "[hypotheses]"]
    glh = ", ".join("[" + ", ".join(map(_toml_string, rows)) + "]" for rows in h.glh)
    out += [f"glh = [{glh}]", f"homogeneity = {'true' if h.homogeneity else 'false'}"]
    if h.deviance_test is not None:
        convention = ("" if h.deviance_test.convention == "standard" else
                      f", convention = {_toml_string(h.deviance_test.convention)}")
        out.append(f"deviance_test = {{deviance = {h.deviance_test.deviance!r}, "
                   f"parameters = {h.deviance_test.parameters}{convention}}}")
    out += ["", "[output]"]
    for key in ("report", "json", "html", "level1_residuals", "level2_residuals"):
        if getattr(o, key) is not None:
            out.append(f"{key} = {_toml_path(getattr(o, key), base)}")
    out.append(f"format = {_toml_string(o.format)}")
    if o.exploratory:
        out.append("exploratory = [" + ", ".join(map(_toml_string, o.exploratory)) + "]")
    return "\n".join(out) + "\n"


def _contrast_text(row: tuple[float, ...], gammas: tuple[str, ...]) -> str:
    """``(0, 1, 0, 0, -1, 0)`` -> ``"G01 - G11 = 0"``."""
    terms: list[str] = []
    for value, gamma in zip(row, gammas):
        if value == 0:
            continue
        size = abs(value)
        coef = "" if size == 1 else f"{size:g}*"
        sign = "-" if value < 0 else "+"
        if not terms:
            terms.append(("-" if value < 0 else "") + coef + gamma)
        else:
            terms.append(f"{sign} {coef}{gamma}")
    return (" ".join(terms) or "0") + " = 0"


def model_file_from_command_file(
    command: Any, data: DataSection, *, path: str | Path | None = None,
    title: str | None = None, mode: Literal["exact", "hlm"] = "hlm",
) -> ModelFile:
    """Turn a parsed HLM 6 command file into a model file (for ``openhlm`` TOML users).

    Parameters
    ----------
    command
        A :class:`~openhlm.spec.commandfile.CommandFile`.
    data
        Where the data are: HLM's ``.mdm`` named in the command file cannot be read.
    path
        Where the TOML file will be written (relative paths are written relative to it).
    title
        Defaults to the command file's title (``"no title"`` becomes ``""``).
    mode
        ``"hlm"`` (default: reproduce HLM 6's iterations, as the command file came from HLM)
        or ``"exact"``.

    Notes
    -----
    The hypotheses' contrast rows become rows such as ``"G01 - G11 = 0"``; weights are carried
    over; the output and residual files keep their file names (HLM's folders are Windows
    folders) in the TOML file's folder; display-only settings are dropped.
    """
    from openhlm.spec.printing import format_equations

    options = command.options
    spec = command.spec
    file = Path(path) if path is not None else None
    base = file.parent if file is not None else None
    gammas = spec.gamma_labels()
    glh = tuple(tuple(_contrast_text(row, gammas) for row in rows)
                for rows in command.contrasts())
    equations_only = ModelSpec(spec.outcome, spec.coefficients)

    def out(name: str | None) -> Path | None:
        if not name:
            return None
        p = Path(PureWindowsPath(name).name)  # HLM's paths are Windows paths: keep the name
        return p if base is None else base / p

    fmt = (options.resfil_type or "csv").lower()
    fmt = {"spss": "sav", "stata": "dta", "sas": "xpt"}.get(fmt, fmt)
    if fmt not in RESIDUAL_FORMATS:
        fmt = "csv"
    deviance = (DevianceTest(options.deviance, options.df)
                if options.deviance is not None and options.df is not None else None)
    return ModelFile(
        path=file,
        title=title if title is not None else
        ("" if options.title.strip().lower() == "no title" else options.title),
        data=data,
        model=ModelSection(
            equations=format_equations(equations_only) + "\n",
            constraints=tuple(str(c) for c in spec.constraints),
            heterogeneous_sigma2=spec.variance_predictors,
        ),
        estimation=EstimationSection(options.method, mode, options.max_iterations,
                                     options.tolerance),
        weights=WeightsSection(options.level1_weight, options.level2_weight,
                               options.variance_known),
        hypotheses=HypothesesSection(glh, options.homvar, deviance),
        output=OutputSection(
            report=out(options.output),
            level1_residuals=out(options.resfil1_name) if options.resfil1 else None,
            level2_residuals=out(options.resfil2_name) if options.resfil2 else None,
            format=fmt,
        ),
    )
