"""The model in an HLM 6 command file: its lines, and the ``level1:``, ``level2:``,
``constrain:`` and ``heterol1var:`` lines read into a :class:`~openhlm.spec.model.ModelSpec`.

:class:`CommandLine` is one ``key:value`` line; its errors quote the line and underline the
value (or a part of it) with :func:`openhlm.spec.grammar.pointed`.  The format is described in
:mod:`openhlm.spec.commandfile`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from openhlm.errors import CommandFileError, SpecError
from openhlm.spec.constraints import read_constraint, resolve_constraint
from openhlm.spec.equation_syntax import equation_statement
from openhlm.spec.grammar import pointed, segments
from openhlm.spec.model import (
    Centering,
    Coefficient,
    Constraint,
    Level2Equation,
    ModelSpec,
    Predictor,
)
from openhlm.spec.names import NameProblem, VariableNames, close_matches, did_you_mean

__all__ = [
    "OFF_VALUES",
    "CommandLine",
    "build_spec",
    "read_constraints",
    "read_variance_predictors",
    "resolve_name",
    "split_command_lines",
]

#: Values that switch a setting off (``level1weight:none``, ``constrain:n``, ...).
OFF_VALUES = frozenset({"", "n", "no", "none", "n,0", "0"})


@dataclass(frozen=True, slots=True)
class CommandLine:
    """One ``key:value`` line of a command file; :meth:`error` quotes it and underlines the
    value, or ``[start, start + width)``."""

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
        return CommandFileError(pointed(message, where, self.text, start, width or 1, hint))


def split_command_lines(text: str, source: str) -> tuple[str | None, list[CommandLine]]:
    """The MDM named in ``#WHLM CMD FILE FOR ...`` (if any) and the ``key:value`` lines."""
    mdm: str | None = None
    lines: list[CommandLine] = []
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
                pointed("expected 'key:value'", where, raw, len(raw) - len(raw.lstrip()),
                        len(stripped), " (HLM command files have one key:value per line)")
            )
        start = colon + 1
        while start < len(raw) and raw[start] in " \t":
            start += 1
        value = raw[start:].rstrip()
        lines.append(CommandLine(source, number, raw, raw[:colon].strip().lower(), value, start))
    return mdm, lines


def resolve_name(line: CommandLine, names: VariableNames, name: str, level: int, col: int) -> str:
    """``name`` (written at column ``col`` of ``line``) spelled as in the MDM, at ``level``."""
    try:
        return names.resolve(name, level)
    except NameProblem as problem:
        extra = ""
        if problem.kind == "wrong-level":
            extra = f" and cannot be used in {line.key} (a level-{level} setting)"
        raise line.error(f"{problem.message}{extra}", col, len(name), problem.hint) from None


def _terms(line: CommandLine, body_end: int | None = None) -> list[tuple[str, int]]:
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
    line: CommandLine, names: VariableNames
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
               if problem.kind == "wrong-level" else problem.message
               if problem.kind == "left-out" else f"{problem.message} as outcome")
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
        resolved = resolve_name(line, names, name, 1, col)
        if resolved == outcome:
            raise line.error(f"the outcome '{outcome}' cannot also be a predictor", col, len(name))
        if resolved in seen:
            raise line.error(f"'{name}' appears twice", col, len(name))
        seen.add(resolved)
        slopes.append((Predictor(resolved, centering), name))
    if not intercept and not slopes:
        raise line.error("level1: the model has no coefficient (add INTRCPT1)")
    return outcome, intercept, slopes


def _build_level2(line: CommandLine, names: VariableNames) -> tuple[str, int, Level2Equation]:
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
        resolved = resolve_name(line, names, name, 2, col)
        if any(p.name == resolved for p in predictors):
            raise line.error(f"'{name}' appears twice", col, len(name))
        predictors.append(Predictor(resolved, Centering.GRAND if code == "2" else Centering.NONE))
    equation = Level2Equation(intercept, tuple(predictors), random)
    if equation.n_gammas == 0 and not random:
        raise line.error(f"level2: {lhs} has neither INTRCPT2, predictors nor random")
    return lhs, line.value_start, equation


def build_spec(
    level1: CommandLine | None, level2: list[CommandLine], names: VariableNames, source: str
) -> ModelSpec:
    """The model of the ``level1:`` line and the ``level2:`` lines (no constraints yet)."""
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

def read_constraints(line: CommandLine, spec: ModelSpec) -> tuple[Constraint, ...]:
    """The constraints of a ``constrain:`` line (``G02=G12``, several separated by ``;``)."""
    if line.value.strip().lower() in OFF_VALUES:
        return ()
    if line.value.strip().lower() in ("y", "yes"):
        raise line.error(
            "constrain:y without the constraints", hint=" (write them as constrain:G02=G12, "
            "several separated by ';')",
        )
    where = f"line {line.number} of {line.source}"
    taken: dict[str, str] = {}
    out = []
    for start, stop in segments(line.text, line.value_start, len(line.text.rstrip()), ";"):
        try:
            stmt = equation_statement(line.text, start, stop, where)
            node = read_constraint(stmt, " (write constrain:G02=G12)")
            out.append(resolve_constraint(node, spec.gamma_labels(), taken))
        except SpecError as exc:
            raise CommandFileError(str(exc)) from None
    return tuple(out)


def read_variance_predictors(line: CommandLine, names: VariableNames) -> tuple[str, ...]:
    """The level-1 variables of a ``heterol1var:`` line (a leading ``y,`` is accepted)."""
    value = line.value.strip()
    if value.lower() in OFF_VALUES:
        return ()
    out: list[str] = []
    col = line.value_start
    for item in value.split(","):
        name = item.strip()
        item_col = col + (len(item) - len(item.lstrip()))
        col += len(item) + 1
        if name.lower() in ("y", "yes") and not out:
            continue
        resolved = resolve_name(line, names, name, 1, item_col)
        if resolved in out:
            raise line.error(f"'{name}' appears twice", item_col, len(name))
        out.append(resolved)
    if not out:
        raise line.error("heterol1var: name the level-1 variables (heterol1var:FEMALE)")
    return tuple(out)
