"""HLM 6 command files (``.hlm``): read them into a :class:`CommandFile`, write them back.

An HLM 6 command file has one ``key:value`` per line after a first line
``#WHLM CMD FILE FOR <mdm file>``::

    #WHLM CMD FILE FOR hsb.mdm
    nonlin:n
    numit:100
    stopval:0.0000010000
    level1:MATHACH=INTRCPT1+SES,1+RANDOM
    level2:INTRCPT1=INTRCPT2+SECTOR+MEANSES+random/
    level2:SES=INTRCPT2+SECTOR+MEANSES+random/
    mlf:n

In ``level1:`` a predictor followed by ``,1`` is group-mean centred and ``,2`` grand-mean
centred, ``INTRCPT1`` is the level-1 intercept and ``RANDOM`` the level-1 residual.  There is
one ``level2:`` line per level-1 coefficient, ``INTRCPT2`` is the level-2 intercept, ``,2``
grand-mean centres and ``random`` marks the random effect u.  Hypotheses are ``gammaN:`` lines,
one contrast row each (``gamma1:0,1,0,0,0,0``), as HLM's batch tools write them.

Two openhlm extensions (HLM 6 stores these settings in a form we have not seen documented):
``constrain:G02=G12`` (several constraints separated by ``;``) and ``heterol1var:FEMALE``
(comma-separated level-1 variables; a leading ``y,`` is accepted).

Keys that change the model in ways openhlm does not implement (HGLM, three-level models, fixed
sigma^2, latent-variable regression, ...) raise :class:`~openhlm.errors.CommandFileError`;
keys that only affect HLM's display or iteration bookkeeping are recorded in
:attr:`CommandFile.ignored_keys`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from openhlm.errors import CommandFileError, SpecError
from openhlm.spec.defaults import HLM_LIMITS
from openhlm.spec._names import NameProblem, VariableNames, close_matches, did_you_mean
from openhlm.spec.equations import (
    _constraint_from_node,
    _ConstraintNode,
    _Parser,
    _pointed,
    _tokenize,
)
from openhlm.spec.model import (
    Centering,
    Coefficient,
    Constraint,
    Level2Equation,
    ModelSpec,
    Predictor,
)

__all__ = [
    "CommandOptions",
    "CommandFile",
    "parse_command_file",
    "read_command_file",
    "write_command_file",
]


@dataclass(frozen=True, slots=True)
class CommandOptions:
    """Everything in a command file besides the model, with HLM 6's defaults.

    ``None`` for a weight or file name means "none".  ``hypotheses`` keeps the ``gammaN:``
    lines as written (``"gamma1:0,1,0,0,0,0"``); :meth:`CommandFile.contrasts` turns them into
    numbers.
    """

    method: Literal["reml", "ml"] = "reml"  # mlf:n / mlf:y
    max_iterations: int = HLM_LIMITS.max_iterations  # numit
    tolerance: float = HLM_LIMITS.tolerance  # stopval
    accel: int = 5
    lev1ols: int = 10  # units shown in the level-1 OLS table
    fulloutput: bool = False
    homvar: bool = False  # test of homogeneity of level-1 variance
    hypoth: bool = False
    hypotheses: tuple[str, ...] = ()
    deviance: float | None = None  # prior model's deviance ...
    df: int | None = None  # ... and its number of parameters
    level1_weight: str | None = None
    level2_weight: str | None = None
    variance_known: str | None = None
    level1_deletion: str = "none"
    resfil1: bool = False
    resfil1_name: str | None = None
    resfil1_variables: tuple[str, ...] = ()
    resfil2: bool = False
    resfil2_name: str | None = None
    resfil2_variables: tuple[str, ...] = ()
    resfil_type: str | None = None
    title: str = "no title"
    output: str | None = None


@dataclass(frozen=True, slots=True)
class CommandFile:
    """A parsed HLM 6 command file.

    ``heterol1var`` and ``constrain`` live in :attr:`spec` (``variance_predictors`` and
    ``constraints``).  ``ignored_keys`` lists, in order of appearance, the keys that were read
    and deliberately not acted on (``fixtau``, ``graphgammas``, ...).
    """

    spec: ModelSpec
    options: CommandOptions = field(default_factory=CommandOptions)
    mdm: str | None = None
    source: str = "<text>"
    ignored_keys: tuple[str, ...] = ()

    def contrasts(self) -> tuple[tuple[tuple[float, ...], ...], ...]:
        """The hypotheses as contrast matrices, one per hypothesis number, in number order.

        Each row has one entry per gamma, in :meth:`ModelSpec.gamma_labels` order.
        """
        groups: dict[int, list[tuple[float, ...]]] = {}
        for line in self.options.hypotheses:
            key, _, values = line.partition(":")
            number = int(key.strip()[5:])
            groups.setdefault(number, []).append(
                tuple(float(v) for v in values.split(","))
            )
        return tuple(tuple(groups[n]) for n in sorted(groups))


# Keys read and deliberately not acted on: display, iteration bookkeeping, HGLM-only settings
# (nonlin:n is required, so they cannot matter).
_COSMETIC = frozenset(
    {
        "fixtau", "graphgammas", "printvariance-covariance", "fishertype", "debug", "nobase",
        "startvals", "hetit", "dofisher", "esttau2", "vagueprior", "growthmodel", "hasmissing",
        "popavit", "taylor", "macroit", "microit", "stopmicro", "stopmacro", "level2deletion",
        "pvc",
    }
)
# Keys whose "off" value (n, none, empty, n,0) is fine, and anything else is not supported.
_OFF_OR_UNSUPPORTED = {
    "laplace": "Laplace estimation (HGLM)",
    "laplace6": "Laplace estimation (HGLM)",
    "emlaplace5": "Laplace estimation (HGLM)",
    "agq": "adaptive Gauss-Hermite quadrature (HGLM)",
    "lvr": "latent variable regression",
    "lvr-beta": "latent variable regression",
    "plausvals": "plausible values",
    "autoimpute": "multiple imputation",
    "autoimputeiter": "multiple imputation",
    "autoimputekeep": "multiple imputation",
    "mimdm": "multiply imputed data",
    "fixsigma2": "fixing sigma^2",
    "diagonalizetau": "a diagonal Tau",
}
_KNOWN = (
    {"nonlin", "numit", "stopval", "level1", "level2", "level3", "accel", "lev1ols",
     "fulloutput", "homvar", "hypoth", "deviance", "df", "level1weight", "level2weight",
     "varianceknown", "level1deletion", "resfil1", "resfil1name", "resfil2", "resfil2name",
     "resfiltype", "title", "output", "mlf", "heterol1var", "constrain"}
    | _COSMETIC
    | set(_OFF_OR_UNSUPPORTED)
)
_GAMMA_KEY = re.compile(r"^gamma(\d+)$")
_OFF = {"", "n", "no", "none", "n,0", "0"}


@dataclass(frozen=True, slots=True)
class _Line:
    source: str
    number: int
    text: str  # the physical line, as written
    key: str  # lower-case
    value: str
    value_start: int  # column of the value in text

    def error(self, message: str, start: int | None = None, width: int | None = None,
              hint: str = "") -> CommandFileError:
        where = f"line {self.number} of {self.source}"
        if start is None:
            start, width = self.value_start, len(self.value)
        return CommandFileError(_pointed(message, where, self.text, start, width or 1, hint))


def _parse_lines(text: str, source: str) -> tuple[str | None, list[_Line]]:
    mdm: str | None = None
    lines: list[_Line] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            m = re.match(r"#\s*WHLM\s+CMD\s+FILE\s+FOR\s+(.*)$", stripped, re.IGNORECASE)
            if m and mdm is None:
                mdm = m.group(1).strip() or None
            continue
        colon = raw.find(":")
        if colon < 0:
            where = f"line {number} of {source}"
            raise CommandFileError(
                _pointed("expected 'key:value'", where, raw, len(raw) - len(raw.lstrip()),
                         len(stripped), " (HLM command files have one key:value per line)")
            )
        start = colon + 1
        while start < len(raw) and raw[start] in " \t":
            start += 1
        value = raw[start:].rstrip()
        lines.append(_Line(source, number, raw, raw[:colon].strip().lower(), value, start))
    return mdm, lines


def _yes_no(line: _Line) -> bool:
    v = line.value.strip().lower()
    if v in ("y", "yes"):
        return True
    if v in ("n", "no"):
        return False
    raise line.error(f"{line.key}: expected y or n, found '{line.value}'")


def _number(line: _Line, kind: Callable[[str], float | int], what: str) -> float | int:
    text = line.value.split(",")[0].strip()  # numit:100,y -> 100
    try:
        value = kind(text)
    except ValueError:
        raise line.error(f"{line.key}: expected {what}, found '{line.value}'") from None
    return value


def _positive_int(line: _Line) -> int:
    value = int(_number(line, int, "a whole number"))
    if value < 0:
        raise line.error(f"{line.key}: expected a whole number >= 0, found '{line.value}'")
    return value


def _variable(line: _Line, names: VariableNames, level: int) -> str | None:
    if line.value.strip().lower() in _OFF:
        return None
    return _resolve(line, names, line.value.strip(), level, line.value_start)


def _resolve(line: _Line, names: VariableNames, name: str, level: int, col: int) -> str:
    try:
        return names.resolve(name, level)
    except NameProblem as problem:
        extra = ""
        if problem.kind == "wrong-level":
            extra = f" and cannot be used in {line.key} (a level-{level} setting)"
        raise line.error(f"{problem.message}{extra}", col, len(name), problem.hint) from None


def _terms(line: _Line, body_end: int | None = None) -> list[tuple[str, int]]:
    """``(term, column)`` for the ``+``-separated terms right of ``=``."""
    text = line.text
    eq = text.find("=", line.value_start)
    if eq < 0:
        raise line.error(f"{line.key}: expected NAME=TERM+TERM...")
    end = len(text.rstrip()) if body_end is None else body_end
    out = []
    for m in re.finditer(r"[^+]+", text[eq + 1 : end]):
        term = m.group()
        stripped = term.strip()
        col = eq + 1 + m.start() + (len(term) - len(term.lstrip()))
        if not stripped:
            raise line.error("empty term", col, 1)
        out.append((stripped, col))
    empty = re.search(r"\+\s*\+|^\s*\+|\+\s*$", text[eq + 1 : end])
    if empty or not out:
        where = eq + 1 + (empty.start() if empty else 0)
        raise line.error("empty term (a dangling '+')", where, 1)
    return out


def _split_centering(term: str) -> tuple[str, str]:
    """``"SES,1"`` -> ``("SES", "1")``."""
    name, _, code = term.partition(",")
    return name.strip(), code.strip()


def _build_level1(
    line: _Line, names: VariableNames
) -> tuple[str, bool, list[tuple[Predictor, str]]]:
    """Outcome, intercept?, and (predictor, name-as-written) per slope in order."""
    eq = line.text.find("=", line.value_start)
    if eq < 0:
        raise line.error("level1: expected OUTCOME=INTRCPT1+X+...+RANDOM")
    outcome_text = line.text[line.value_start:eq].strip()
    if not outcome_text:
        raise line.error("level1: the outcome is missing", line.value_start, 1)
    try:
        outcome = names.resolve(outcome_text, 1)
    except NameProblem as problem:
        msg = (f"the outcome '{outcome_text}' is a level-2 variable"
               if problem.kind == "wrong-level" else f"{problem.message} as outcome")
        raise line.error(msg, line.value_start, len(outcome_text), problem.hint) from None
    intercept = False
    slopes: list[tuple[Predictor, str]] = []
    seen: set[str] = set()
    for term, col in _terms(line):
        upper = term.upper()
        if upper == "INTRCPT1":
            if intercept:
                raise line.error("INTRCPT1 appears twice", col, len(term))
            intercept = True
            continue
        if upper == "RANDOM":
            continue
        name, code = _split_centering(term)
        centering = {"": Centering.NONE, "0": Centering.NONE, "1": Centering.GROUP,
                     "2": Centering.GRAND}.get(code)
        if centering is None:
            raise line.error(
                f"unknown centring code ',{code}'", col, len(term),
                " (,1 centres around the group mean, ,2 around the grand mean)",
            )
        resolved = _resolve(line, names, name, 1, col)
        if resolved == outcome:
            raise line.error(f"the outcome '{outcome}' cannot also be a predictor", col, len(name))
        if resolved in seen:
            raise line.error(f"'{name}' appears twice", col, len(name))
        seen.add(resolved)
        slopes.append((Predictor(resolved, centering), name))
    if not intercept and not slopes:
        raise line.error("level1: the model has no coefficient (add INTRCPT1)")
    return outcome, intercept, slopes


def _build_level2(line: _Line, names: VariableNames) -> tuple[str, int, Level2Equation]:
    """(left-hand side, its column, equation) of a ``level2:`` line."""
    body_end = len(line.text.rstrip())
    if line.text[:body_end].endswith("/"):
        body_end -= 1
    eq = line.text.find("=", line.value_start)
    if eq < 0:
        raise line.error("level2: expected COEFFICIENT=INTRCPT2+W+...+random/")
    lhs = line.text[line.value_start:eq].strip()
    intercept = False
    random = False
    predictors: list[Predictor] = []
    for term, col in _terms(line, body_end):
        upper = term.upper()
        if upper == "INTRCPT2":
            intercept = True
            continue
        if upper == "RANDOM":
            random = True
            continue
        name, code = _split_centering(term)
        if code == "1":
            raise line.error(
                "group-mean centring (,1) is for level-1 predictors", col, len(term),
                " (use ,2 for grand-mean centring at level 2)",
            )
        if code not in ("", "0", "2"):
            raise line.error(f"unknown centring code ',{code}'", col, len(term),
                             " (,2 centres around the grand mean)")
        resolved = _resolve(line, names, name, 2, col)
        if any(p.name == resolved for p in predictors):
            raise line.error(f"'{name}' appears twice", col, len(name))
        predictors.append(Predictor(resolved, Centering.GRAND if code == "2" else Centering.NONE))
    equation = Level2Equation(intercept, tuple(predictors), random)
    if equation.n_gammas == 0 and not random:
        raise line.error(f"level2: {lhs} has neither INTRCPT2, predictors nor random")
    return lhs, line.value_start, equation


def _build_spec(
    level1: _Line | None, level2: list[_Line], names: VariableNames, source: str
) -> ModelSpec:
    if level1 is None:
        raise CommandFileError(
            f"{source} has no level1: line (e.g. level1:MATHACH=INTRCPT1+SES,1+RANDOM)"
        )
    outcome, intercept, slopes = _build_level1(level1, names)
    keys: dict[str, int] = {}
    if intercept:
        keys["INTRCPT1"] = 0
    for q, (pred, written) in enumerate(slopes, start=1):
        keys[written.upper()] = q
        keys.setdefault(pred.name.upper(), q)
    equations: dict[int, Level2Equation] = {}
    first_line: dict[int, int] = {}
    for line in level2:
        lhs, col, equation = _build_level2(line, names)
        q = keys.get(lhs.upper())
        if q is None:
            hint = did_you_mean(close_matches(lhs, list(keys)))
            raise line.error(
                f"level2: '{lhs}' is not a level-1 coefficient", col, len(lhs) or 1,
                f"{hint} (the level-1 coefficients are {', '.join(keys)})",
            )
        if q in equations:
            raise line.error(
                f"level2: a second equation for {lhs} (the first is in line {first_line[q]})",
                col, len(lhs),
            )
        equations[q] = equation
        first_line[q] = line.number
    numbers = ([0] if intercept else []) + list(range(1, len(slopes) + 1))
    coefficients = tuple(
        Coefficient(q, None if q == 0 else slopes[q - 1][0], equations.get(q, Level2Equation()))
        for q in numbers
    )
    return ModelSpec(outcome, coefficients)


def _constraints(line: _Line, spec: ModelSpec) -> tuple[Constraint, ...]:
    if line.value.strip().lower() in _OFF:
        return ()
    if line.value.strip().lower() in ("y", "yes"):
        raise line.error(
            "constrain:y without the constraints", hint=" (write them as constrain:G02=G12, "
            "several separated by ';')",
        )
    where = f"line {line.number} of {line.source}"
    taken: dict[str, str] = {}
    out = []
    start = line.value_start
    end = len(line.text.rstrip())
    while start <= end:
        stop = line.text.find(";", start, end)
        stop = end if stop < 0 else stop
        if line.text[start:stop].strip():
            try:
                stmt = _tokenize(line.text, start, stop, where)
                node = _Parser(stmt).equation()
                if not isinstance(node, _ConstraintNode):
                    raise stmt.error_at("a constraint equates gammas", stmt.tokens[0],
                                        " (write constrain:G02=G12)")
                out.append(_constraint_from_node(node, spec.gamma_labels(), taken))
            except SpecError as exc:
                raise CommandFileError(str(exc)) from None
        start = stop + 1
    return tuple(out)


def _variance_predictors(line: _Line, names: VariableNames) -> tuple[str, ...]:
    value = line.value.strip()
    if value.lower() in _OFF:
        return ()
    out: list[str] = []
    col = line.value_start
    for item in value.split(","):
        name = item.strip()
        item_col = col + (len(item) - len(item.lstrip()))
        col += len(item) + 1
        if name.lower() in ("y", "yes") and not out:
            continue
        resolved = _resolve(line, names, name, 1, item_col)
        if resolved in out:
            raise line.error(f"'{name}' appears twice", item_col, len(name))
        out.append(resolved)
    if not out:
        raise line.error("heterol1var: name the level-1 variables (heterol1var:FEMALE)")
    return tuple(out)


def _residual_file(line: _Line, names: VariableNames, level: int) -> tuple[bool, tuple[str, ...]]:
    flag, _, extra = line.value.partition("/")
    if flag.strip().lower() not in ("y", "yes", "n", "no"):
        raise line.error(f"{line.key}: expected y or n, found '{line.value}'")
    wanted = flag.strip().lower().startswith("y")
    variables = []
    col = line.value_start + len(flag) + 1
    for item in extra.split(",") if extra.strip() else []:
        variables.append(_resolve_any(line, names, item.strip(), col))
        col += len(item) + 1
    return wanted, tuple(variables)


def _resolve_any(line: _Line, names: VariableNames, name: str, col: int) -> str:
    level = names.level_of(name)
    return _resolve(line, names, name, level or 1, col)


def _unknown_key(line: _Line) -> CommandFileError:
    hint = did_you_mean(close_matches(line.key, sorted(_KNOWN)))
    return line.error(
        f"unknown key '{line.key}'", line.text.find(line.key[:1]) if line.key else 0,
        len(line.key) or 1, hint + " (openhlm reads HLM 6 HLM2 command files)",
    )


def parse_command_file(
    path_or_text: str | Path,
    *,
    level1_variables: Iterable[str],
    level2_variables: Iterable[str],
) -> CommandFile:
    """Read an HLM 6 command file (``.hlm``).

    Parameters
    ----------
    path_or_text
        A path, or the text of the file itself (recognised by a line break or a leading
        ``#WHLM``).
    level1_variables, level2_variables
        The MDM's variable names; HLM writes names upper-case, the returned spec uses the
        MDM's spelling.

    Returns
    -------
    CommandFile

    Raises
    ------
    CommandFileError
        Naming the file and the line, quoting it: unreadable file, malformed line, unknown key
        (with close matches), unknown variable, unsupported feature (``nonlin:binomial`` ...).
    """
    text, source = _read(path_or_text)
    return _parse(text, source, VariableNames(level1_variables, level2_variables))


def _parse(text: str, source: str, names: VariableNames) -> CommandFile:
    mdm, lines = _parse_lines(text, source)
    seen: dict[str, int] = {}
    level1: _Line | None = None
    level2: list[_Line] = []
    ignored: list[str] = []
    hypotheses: list[_Line] = []
    later: dict[str, _Line] = {}
    for line in lines:
        key = line.key
        if _GAMMA_KEY.match(key):
            hypotheses.append(line)
            continue
        if key not in _KNOWN:
            raise _unknown_key(line)
        if key != "level2":
            if key in seen:
                raise line.error(f"key '{key}' given twice (first in line {seen[key]})",
                                 0, len(line.text[: line.text.find(':')]))
            seen[key] = line.number
        if key == "nonlin":
            if line.value.strip().lower() not in ("n", "no", ""):
                raise line.error(
                    f"HGLM (nonlin:{line.value.strip()}) is not supported",
                    hint=" (openhlm fits two-level linear models: nonlin:n)",
                )
        elif key == "level3":
            raise line.error("three-level models (level3:) are not supported",
                             hint=" (openhlm fits two-level models, HLM2)")
        elif key in _OFF_OR_UNSUPPORTED:
            if line.value.strip().lower() not in _OFF:
                raise line.error(
                    f"{_OFF_OR_UNSUPPORTED[key]} ({key}:{line.value.strip()}) is not supported",
                    hint=f" (remove the line or set {key}:n)",
                )
            ignored.append(key)
        elif key in _COSMETIC:
            ignored.append(key)
        elif key == "level1":
            level1 = line
        elif key == "level2":
            level2.append(line)
        else:
            later[key] = line
    spec = _build_spec(level1, level2, names, source)
    options = _options(later, hypotheses, spec, names)
    constraints = _constraints(later["constrain"], spec) if "constrain" in later else ()
    variance = (_variance_predictors(later["heterol1var"], names)
                if "heterol1var" in later else ())
    spec = ModelSpec(spec.outcome, spec.coefficients, constraints, variance)
    return CommandFile(spec, options, mdm, source, tuple(dict.fromkeys(ignored)))


def _options(
    lines: dict[str, _Line], hypotheses: list[_Line], spec: ModelSpec, names: VariableNames
) -> CommandOptions:
    values: dict[str, object] = {}

    def get(key: str) -> _Line | None:
        return lines.get(key)

    if (line := get("mlf")) is not None:
        values["method"] = "ml" if _yes_no(line) else "reml"
    if (line := get("numit")) is not None:
        values["max_iterations"] = _positive_int(line)
    if (line := get("stopval")) is not None:
        tol = float(_number(line, float, "a number"))
        if not tol > 0:
            raise line.error(f"stopval: expected a positive number, found '{line.value}'")
        values["tolerance"] = tol
    for key in ("accel", "lev1ols"):
        if (line := get(key)) is not None:
            values[key] = _positive_int(line)
    for key in ("fulloutput", "homvar", "hypoth"):
        if (line := get(key)) is not None:
            values[key] = _yes_no(line)
    for key, attr, level in (("level1weight", "level1_weight", 1),
                             ("level2weight", "level2_weight", 2),
                             ("varianceknown", "variance_known", 1)):
        if (line := get(key)) is not None:
            values[attr] = _variable(line, names, level)
    for n in (1, 2):
        if (line := get(f"resfil{n}")) is not None:
            values[f"resfil{n}"], values[f"resfil{n}_variables"] = _residual_file(line, names, n)
        if (line := get(f"resfil{n}name")) is not None:
            values[f"resfil{n}_name"] = line.value.strip() or None
    if (line := get("resfiltype")) is not None:
        values["resfil_type"] = line.value.strip().lower() or None
    if (line := get("title")) is not None:
        values["title"] = line.value.strip()
    if (line := get("output")) is not None:
        values["output"] = line.value.strip() or None
    if (line := get("level1deletion")) is not None:
        values["level1_deletion"] = line.value.strip() or "none"
    _prior_model(get("deviance"), get("df"), values)
    values["hypotheses"] = _hypotheses(hypotheses, spec)
    return CommandOptions(**values)  # type: ignore[arg-type]


def _prior_model(dev: _Line | None, df: _Line | None, values: dict[str, object]) -> None:
    if dev is None and df is None:
        return
    if dev is None or df is None:
        present = dev or df
        assert present is not None
        raise present.error(
            "deviance: and df: go together (the prior model's deviance and its number of "
            "parameters)"
        )
    values["deviance"] = float(_number(dev, float, "a number"))
    n = _positive_int(df)
    if n < 1:
        raise df.error("df: expected a positive whole number")
    values["df"] = n


def _hypotheses(lines: list[_Line], spec: ModelSpec) -> tuple[str, ...]:
    n_gammas = len(spec.gamma_labels())
    out = []
    for line in lines:
        items = line.value.split(",")
        try:
            [float(v) for v in items]
        except ValueError:
            raise line.error(
                f"{line.key}: expected comma-separated numbers, one per gamma"
            ) from None
        if len(items) != n_gammas:
            raise line.error(
                f"{line.key}: {len(items)} numbers for {n_gammas} gammas",
                hint=f" (the gammas are {', '.join(spec.gamma_labels())})",
            )
        out.append(f"{line.key}:{','.join(v.strip() for v in items)}")
    return tuple(out)


def _read(path_or_text: str | Path) -> tuple[str, str]:
    if isinstance(path_or_text, str) and (
        "\n" in path_or_text or path_or_text.lstrip().upper().startswith("#WHLM")
    ):
        return path_or_text, "<text>"
    path = Path(path_or_text)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise CommandFileError(f"cannot read command file {path}: {reason}") from None
    try:
        return raw.decode("utf-8"), str(path)
    except UnicodeDecodeError:
        return raw.decode("latin-1"), str(path)  # HLM for Windows writes ANSI files


def read_command_file(
    path: str | Path, *, level1_variables: Iterable[str], level2_variables: Iterable[str]
) -> CommandFile:
    """:func:`parse_command_file` for a path only (never interpreted as text)."""
    text, source = _read(Path(path))
    return _parse(text, source, VariableNames(level1_variables, level2_variables))


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def _yn(flag: bool) -> str:
    return "y" if flag else "n"


def _float_text(value: float) -> str:
    fixed = f"{value:.10f}"
    return fixed if float(fixed) == value else repr(value)


def _level1_line(spec: ModelSpec) -> str:
    codes = {Centering.NONE: "", Centering.GROUP: ",1", Centering.GRAND: ",2"}
    terms = ["INTRCPT1"] if spec.has_intercept else []
    terms += [
        f"{c.predictor.name.upper()}{codes[c.predictor.centering]}"
        for c in spec.coefficients
        if c.predictor is not None
    ]
    return f"level1:{spec.outcome.upper()}=" + "+".join(terms + ["RANDOM"])


def _level2_line(coef: Coefficient) -> str:
    eq = coef.equation
    terms = ["INTRCPT2"] if eq.intercept else []
    terms += [
        p.name.upper() + (",2" if p.centering is Centering.GRAND else "") for p in eq.predictors
    ]
    if eq.random:
        terms.append("random")
    lhs = "INTRCPT1" if coef.predictor is None else coef.predictor.name.upper()
    return f"level2:{lhs}=" + "+".join(terms) + "/"


def write_command_file(
    spec: ModelSpec, options: CommandOptions | None = None, *, mdm: str = "model.mdm"
) -> str:
    """An HLM 6 command file for ``spec`` and ``options``; it parses back to both.

    Names are written upper-case, as HLM does.  Constraints and heterogeneous sigma^2 use the
    openhlm forms ``constrain:G02=G12`` and ``heterol1var:FEMALE``.
    """
    o = options or CommandOptions()
    out = [
        f"#WHLM CMD FILE FOR {mdm}",
        "nonlin:n",
        f"numit:{o.max_iterations}",
        f"stopval:{_float_text(o.tolerance)}",
        _level1_line(spec),
        *[_level2_line(c) for c in spec.coefficients],
        "fixtau:3",
        f"lev1ols:{o.lev1ols}",
        f"accel:{o.accel}",
        *o.hypotheses,
    ]
    if o.deviance is not None and o.df is not None:
        out += [f"deviance:{o.deviance!r}", f"df:{o.df}"]
    out += [
        f"level1weight:{o.level1_weight.upper() if o.level1_weight else 'none'}",
        f"level2weight:{o.level2_weight.upper() if o.level2_weight else 'none'}",
        f"varianceknown:{o.variance_known.upper() if o.variance_known else 'none'}",
        f"level1deletion:{o.level1_deletion}",
        f"hypoth:{_yn(o.hypoth)}",
    ]
    if o.resfil_type:
        out.append(f"resfiltype:{o.resfil_type}")
    for n, flag, name, variables in ((1, o.resfil1, o.resfil1_name, o.resfil1_variables),
                                     (2, o.resfil2, o.resfil2_name, o.resfil2_variables)):
        extra = "/" + ",".join(v.upper() for v in variables) if variables else ""
        out.append(f"resfil{n}:{_yn(flag)}{extra}")
        if name:
            out.append(f"resfil{n}name:{name}")
    constraints = ";".join(str(c).replace(" ", "") for c in spec.constraints)
    hetero = ",".join(v.upper() for v in spec.variance_predictors)
    out += [
        f"homvar:{_yn(o.homvar)}",
        f"constrain:{constraints or 'n'}",
        f"heterol1var:{hetero or 'n'}",
        f"title:{o.title}",
    ]
    if o.output:
        out.append(f"output:{o.output}")
    out += [f"fulloutput:{_yn(o.fulloutput)}", f"mlf:{_yn(o.method == 'ml')}"]
    for line in out:
        if "\n" in line or "\r" in line:
            raise CommandFileError(f"cannot write a command file line with a line break: {line!r}")
    return "\n".join(out) + "\n"
