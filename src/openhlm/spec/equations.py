"""HLM's equation format: parse it into a :class:`ModelSpec` and validate specs.

Printing a spec back lives in :mod:`openhlm.spec.printing` (re-exported here).

The equation format is the multi-equation notation HLM shows in its model window::

    mathach = B0 + B1*group(ses) + R
    B0 = G00 + G01*sector + G02*meanses + U0
    B1 = G10 + G11*sector + G12*meanses + U1

Grammar (names case-insensitive; equations separated by newlines or ``;``; ``#`` starts a
comment)::

    level-1     OUTCOME = term (+ term)* + R        term   := B0 | Bq*predictor
    level-2     Bq = gterm (+ gterm)* [+ Uq] | Bq = Uq
                                                    gterm  := Gq0 | Gqs*predictor
    constraint  Gqs = Gq's' (= ...)*
    predictor   := NAME | group(NAME) | grand(NAME) | (predictor)

Numbering follows :mod:`openhlm.spec.model`: ``B0`` is the level-1 intercept and the slopes are
``B1, B2, ...`` in the order written; in the equation of ``Bq`` the gammas are ``Gq0`` (the
level-2 intercept, optional) then ``Gq1, Gq2, ...`` in order.  A coefficient without a level-2
equation is fixed (``Bq = Gq0``).

Every error is a :class:`~openhlm.errors.SpecError` whose message quotes the offending line and
underlines the spot with carets (the formulaic ``exc_for_token`` idea).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from openhlm.errors import SpecError
from openhlm.spec._names import NameProblem, VariableNames, close_matches, did_you_mean
from openhlm.spec.model import (
    Centering,
    Coefficient,
    Constraint,
    Level2Equation,
    ModelSpec,
    Predictor,
)
from openhlm.spec.printing import (  # noqa: F401  (re-exported: the public printing API)
    centering_marker,
    centering_notes,
    format_equations,
    format_hlm_equations,
    format_mixed,
)

__all__ = [
    "parse_model",
    "parse_predictor",
    "validate_spec",
    "build_model",
    "format_equations",
    "format_hlm_equations",
    "format_mixed",
    "centering_marker",
    "centering_notes",
]

# --------------------------------------------------------------------------------------------
# Source text: statements, tokens and error messages that point at the spot
# --------------------------------------------------------------------------------------------

# names: a letter or "_" (any script: "sés", "ÉLÈVE"), then letters, digits, "_", ".", "@", "$"
_TOKEN = re.compile(r"(?P<ws>\s+)|(?P<name>[^\W\d][\w.@$]*)|(?P<op>[=+*()])")
_LABEL = re.compile(r"^(?P<letter>[BGU])(?P<digits>\d+)$", re.IGNORECASE)
_GAMMA = re.compile(r"^G\d+$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "name", "op" or "end"
    text: str
    col: int


@dataclass(frozen=True, slots=True)
class _Statement:
    """One equation: the physical line it sits on, where that line is, and its tokens."""

    line: str
    where: str
    tokens: tuple[_Token, ...]

    def error(self, message: str, col: int, width: int = 1, hint: str = "") -> SpecError:
        return SpecError(_pointed(message, self.where, self.line, col, width, hint))

    def error_at(self, message: str, token: _Token, hint: str = "") -> SpecError:
        return self.error(message, token.col, max(len(token.text), 1), hint)


def _pointed(message: str, where: str, line: str, col: int, width: int, hint: str = "") -> str:
    """``message in where hint:`` + the quoted line + a caret line under ``[col, col+width)``."""
    pad = "".join(ch if ch == "\t" else " " for ch in line[:col])
    return f"{message} in {where}{hint}:\n  {line}\n  {pad}{'^' * max(width, 1)}"


def _tokenize(line: str, start: int, end: int, where: str) -> _Statement:
    tokens: list[_Token] = []
    pos = start
    probe = _Statement(line, where, ())
    while pos < end:
        m = _TOKEN.match(line, pos, end)
        if m is None:
            ch = line[pos]
            hint = ""
            if ch == "-":
                hint = " (equations only add terms; there is no '-')"
            elif ch.isdigit():
                hint = " (numbers appear only inside labels such as B1 or G01)"
            raise probe.error(f"unexpected character '{ch}'", pos, 1, hint)
        if m.lastgroup != "ws":
            tokens.append(_Token(m.lastgroup or "", m.group(), pos))
        pos = m.end()
    tail = len(line[:end].rstrip())
    tokens.append(_Token("end", "", max(tail, start)))
    return _Statement(line, where, tuple(tokens))


def _statements(text: str, *, source: str | None, first_line: int) -> list[_Statement]:
    """Split model text into statements (newlines and ``;``), dropping comments and blanks."""
    out: list[_Statement] = []
    for offset, line in enumerate(text.splitlines()):
        lineno = first_line + offset
        where = f"line {lineno}" + (f" of {source}" if source else "")
        content_end = line.find("#")
        if content_end < 0:
            content_end = len(line)
        start = 0
        while start <= content_end:
            stop = line.find(";", start, content_end)
            if stop < 0:
                stop = content_end
            if line[start:stop].strip():
                out.append(_tokenize(line, start, stop, where))
            start = stop + 1
    return out


# --------------------------------------------------------------------------------------------
# Syntax: statements -> small syntax trees
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _PredictorNode:
    name: _Token
    centering: Centering
    func: _Token | None  # the group/grand token, if any


@dataclass(frozen=True, slots=True)
class _Term:
    head: _Token  # B1, G01, U0, R ...
    predictor: _PredictorNode | None


@dataclass(frozen=True, slots=True)
class _Equation:
    stmt: _Statement
    lhs: _Token
    terms: tuple[_Term, ...]


@dataclass(frozen=True, slots=True)
class _ConstraintNode:
    stmt: _Statement
    gammas: tuple[_Token, ...]


class _Parser:
    def __init__(self, stmt: _Statement, names: VariableNames | None = None):
        self.stmt = stmt
        self.pos = 0
        self.names = names

    @property
    def current(self) -> _Token:
        return self.stmt.tokens[self.pos]

    def accept(self, op: str) -> bool:
        if self.current.kind == "op" and self.current.text == op:
            self.pos += 1
            return True
        return False

    def _unexpected(self, what: str) -> SpecError:
        tok = self.current
        if tok.kind == "end":
            prev = self.stmt.tokens[self.pos - 1] if self.pos else tok
            if prev.text == "+":
                return self.stmt.error_at("dangling '+' with no term after it", prev)
            return self.stmt.error(f"the equation ends where {what} is expected", tok.col)
        return self.stmt.error_at(f"unexpected '{tok.text}' where {what} is expected", tok,
                                  self._adjacent_names_hint())

    def _adjacent_names_hint(self) -> str:
        """A hint when two names follow each other: ``B1 ses`` or a name with a space."""
        tok = self.current
        prev = self.stmt.tokens[self.pos - 1] if self.pos else None
        if tok.kind != "name" or prev is None or prev.kind != "name":
            return ""
        if _LABEL.match(prev.text):
            return f" (write {prev.text}*{tok.text})"
        spaced = self.stmt.line[prev.col:tok.col + len(tok.text)]
        if self.names is not None and self.names.is_variable(spaced):
            return (f" (the variable '{spaced}' has a space in its name, which an equation "
                    f"cannot hold: rename it in the data, e.g. to "
                    f"'{'_'.join(spaced.split())}')")
        return " (variable names cannot contain spaces)"

    def expect_op(self, op: str, what: str) -> None:
        if not self.accept(op):
            raise self._unexpected(what)

    def expect_name(self, what: str) -> _Token:
        tok = self.current
        if tok.kind != "name":
            raise self._unexpected(what)
        self.pos += 1
        return tok

    def predictor(self) -> _PredictorNode:
        if self.accept("("):
            inner = self.predictor()
            self.expect_op(")", "')'")
            return inner
        name = self.expect_name("a variable name")
        if not self.accept("("):
            return _PredictorNode(name, Centering.NONE, None)
        func = name
        kind = {"group": Centering.GROUP, "grand": Centering.GRAND}.get(func.text.lower())
        if kind is None:
            raise self.stmt.error_at(
                f"unknown centring '{func.text}(...)'", func, " (use group(x) or grand(x))"
            )
        arg = self.expect_name("a variable name")
        self.expect_op(")", "')'")
        return _PredictorNode(arg, kind, func)

    def term(self) -> _Term:
        head = self.expect_name("a term such as B1*ses, G01*sector, U0 or R")
        predictor = self.predictor() if self.accept("*") else None
        return _Term(head, predictor)

    def equation(self) -> _Equation | _ConstraintNode:
        lhs = self.expect_name("an outcome or a coefficient such as B0")
        self.expect_op("=", "'='")
        ops = {t.text for t in self.stmt.tokens if t.kind == "op"}
        if _GAMMA.match(lhs.text) and ops <= {"="}:
            gammas = [lhs, self.expect_name("a gamma such as G12")]
            while self.accept("="):
                gammas.append(self.expect_name("a gamma such as G12"))
            if self.current.kind != "end":
                raise self._unexpected("'=' or the end of the constraint")
            return _ConstraintNode(self.stmt, tuple(gammas))
        terms = [self.term()]
        while self.accept("+"):
            terms.append(self.term())
        if self.current.kind != "end":
            raise self._unexpected("'+' or the end of the equation")
        return _Equation(self.stmt, lhs, tuple(terms))


# --------------------------------------------------------------------------------------------
# Meaning: syntax trees -> ModelSpec
# --------------------------------------------------------------------------------------------


def _label(term: _Term) -> tuple[str, int | None, str]:
    """(letter, number, digits) of a term head: ``("B", 1, "1")``, ``("R", None, "")``, or
    ``("", None, "")`` when the head is not a label."""
    text = term.head.text
    if text.upper() == "R":
        return "R", None, ""
    m = _LABEL.match(text)
    if m is None:
        return "", None, ""
    return m["letter"].upper(), int(m["digits"]), m["digits"]


def _check_canonical(stmt: _Statement, tok: _Token, digits: str, proper: str) -> None:
    if digits != proper:
        raise stmt.error_at(f"write '{tok.text[0].upper()}{proper}' instead of '{tok.text}'", tok)


def _resolve(stmt: _Statement, node: _PredictorNode, names: VariableNames, level: int) -> str:
    try:
        return names.resolve(node.name.text, level)
    except NameProblem as problem:
        if problem.kind == "wrong-level":
            if level == 1:
                msg = f"{problem.message} and cannot enter the level-1 equation"
                hint = f" (use it in a level-2 equation, e.g. B0 = G00 + G01*{node.name.text} + U0)"
            else:
                msg = f"{problem.message} and cannot enter a level-2 equation"
                hint = f" (level-1 variables go in the level-1 equation as Bq*{node.name.text})"
            raise stmt.error_at(msg, node.name, hint) from None
        raise stmt.error_at(problem.message, node.name, problem.hint) from None


@dataclass
class _Level1:
    outcome: str
    slopes: dict[int, Predictor]
    intercept: bool
    stmt: _Statement


def _resolve_level1(eq: _Equation, names: VariableNames) -> _Level1:
    stmt = eq.stmt
    outcome = _resolve_outcome(eq, names)
    slopes: dict[int, Predictor] = {}
    owner: dict[str, int] = {}
    intercept = False
    has_r = False
    last = -1
    for term in eq.terms:
        letter, q, digits = _label(term)
        if letter == "R":
            if term.predictor is not None:
                raise stmt.error_at("R (the level-1 residual) takes no predictor", term.head)
            if has_r:
                raise stmt.error_at("duplicated term 'R'", term.head)
            has_r = True
            continue
        if letter in ("G", "U"):
            raise stmt.error_at(
                f"'{term.head.text}' belongs in a level-2 equation", term.head,
                " (the level-1 equation has B terms and R)",
            )
        if letter != "B" or q is None:
            raise stmt.error_at(
                f"expected a coefficient such as B1*{term.head.text} here, "
                f"found '{term.head.text}'", term.head,
            )
        _check_canonical(stmt, term.head, digits, str(q))
        if q in slopes or (q == 0 and intercept):
            raise stmt.error_at(f"duplicated term 'B{q}'", term.head)
        if q == 0:
            if term.predictor is not None:
                raise stmt.error_at(
                    "B0 is the intercept and takes no predictor", term.head,
                    " (number the slopes B1, B2, ...)",
                )
            if last >= 0:
                raise stmt.error_at("B0 (the intercept) must come first", term.head)
            intercept, last = True, 0
            continue
        if term.predictor is None:
            raise stmt.error_at(
                f"B{q} needs a predictor", term.head,
                f" (write B{q}*x; only B0, the intercept, stands alone)",
            )
        expected = len(slopes) + 1
        if q != expected:
            raise stmt.error_at(
                f"coefficients out of order: expected B{expected} here", term.head,
                " (number the level-1 slopes B1, B2, ... in the order written)",
            )
        name = _resolve(stmt, term.predictor, names, 1)
        if name == outcome:
            raise stmt.error_at(
                f"the outcome '{outcome}' cannot also be a predictor", term.predictor.name
            )
        if name in owner:
            raise stmt.error_at(
                f"duplicated term: '{name}' is already the predictor of B{owner[name]}",
                term.predictor.name,
            )
        owner[name] = q
        slopes[q] = Predictor(name, term.predictor.centering)
        last = q
    if not has_r:
        raise stmt.error(
            "the level-1 equation has no residual", stmt.tokens[-1].col, 1,
            " (end it with '+ R')",
        )
    if not intercept and not slopes:
        raise stmt.error_at(
            "the level-1 equation has no coefficient", eq.lhs, " (write at least B0)"
        )
    return _Level1(outcome, slopes, intercept, stmt)


def _resolve_outcome(eq: _Equation, names: VariableNames) -> str:
    tok = eq.lhs
    try:
        return names.resolve(tok.text, 1)
    except NameProblem as problem:
        if problem.kind == "wrong-level":
            raise eq.stmt.error_at(
                f"the outcome '{tok.text}' is a level-2 variable", tok,
                " (the outcome must be a level-1 variable)",
            ) from None
        if problem.kind == "unknown" and tok.text.upper() == "Y":
            example = f", e.g. {names.level1[-1]}" if names.level1 else ""
            raise eq.stmt.error_at(
                "the outcome 'Y' is not a variable", tok,
                f" (HLM prints Y for the outcome; write the outcome variable's name{example})",
            ) from None
        raise eq.stmt.error_at(f"{problem.message} as outcome", tok, problem.hint) from None


def _resolve_level2(eq: _Equation, q: int, names: VariableNames) -> Level2Equation:
    stmt = eq.stmt
    intercept = False
    random = False
    predictors: list[Predictor] = []
    owner: dict[str, str] = {}
    for term in eq.terms:
        letter, number, digits = _label(term)
        head = term.head
        if letter == "R":
            raise stmt.error_at("'R' belongs in the level-1 equation", head)
        if letter == "B":
            raise stmt.error_at(
                f"'{head.text}' cannot appear on the right of a level-2 equation", head,
                f" (write B{q} = G{q}0 + G{q}1*w + U{q})",
            )
        if letter == "U":
            if digits != str(q):
                raise stmt.error_at(
                    f"U index mismatch: the random effect of B{q} is U{q}", head
                )
            if term.predictor is not None:
                raise stmt.error_at(f"U{q} takes no predictor", head)
            if random:
                raise stmt.error_at(f"duplicated term 'U{q}'", head)
            random = True
            continue
        if letter != "G":
            raise stmt.error_at(
                f"expected a gamma such as G{q}1*{head.text} here, found '{head.text}'", head
            )
        if random:
            raise stmt.error_at(f"U{q} must come last", head)
        rest = digits[len(str(q)):] if digits.startswith(str(q)) else ""
        if not rest:
            raise stmt.error_at(
                f"wrong coefficient number in '{head.text}'", head,
                f" (the gammas of B{q} are G{q}0, G{q}1, G{q}2, ...)",
            )
        s = int(rest)
        _check_canonical(stmt, head, digits, f"{q}{s}")
        label = f"G{q}{s}"
        if label in owner.values() or (s == 0 and intercept):
            raise stmt.error_at(f"duplicated term '{label}'", head)
        if s == 0:
            if term.predictor is not None:
                raise stmt.error_at(
                    f"G{q}0 is the intercept of B{q}'s equation and takes no predictor", head,
                    f" (number the predictors G{q}1, G{q}2, ...)",
                )
            if predictors:
                raise stmt.error_at(f"G{q}0 (the intercept) must come first", head)
            intercept = True
            continue
        if term.predictor is None:
            raise stmt.error_at(f"{label} needs a predictor", head, f" (write {label}*w)")
        expected = len(predictors) + 1
        if s != expected:
            raise stmt.error_at(
                f"gamma labels out of order: expected G{q}{expected} here", head,
                f" (number the predictors of B{q} G{q}1, G{q}2, ... in the order written)",
            )
        node = term.predictor
        name = _resolve(stmt, node, names, 2)
        if node.centering is Centering.GROUP:
            assert node.func is not None
            raise stmt.error_at(
                "group-mean centring is for level-1 predictors", node.func,
                " (use grand(w) or w at level 2)",
            )
        if name in owner:
            raise stmt.error_at(
                f"duplicated term: '{name}' already has {owner[name]}", node.name
            )
        owner[name] = label
        predictors.append(Predictor(name, node.centering))
    return Level2Equation(intercept=intercept, predictors=tuple(predictors), random=random)


def _is_level2(eq: _Equation, names: VariableNames) -> bool:
    m = _LABEL.match(eq.lhs.text)
    if m is None or m["letter"].upper() != "B":
        return False
    if names.level_of(eq.lhs.text) != 1:
        return True
    # a level-1 variable that happens to be called B1: its equation is level 1 if it has B/R
    return not any(_label(t)[0] in ("B", "R") for t in eq.terms)


def _constraint_from_node(
    node: _ConstraintNode, gammas: Sequence[str], taken: dict[str, str]
) -> Constraint:
    stmt = node.stmt
    labels: list[str] = []
    for tok in node.gammas:
        label = tok.text.upper()
        if not _GAMMA.match(label):
            raise stmt.error_at(
                f"'{tok.text}' is not a gamma", tok, " (constraints equate gammas: G02 = G12)"
            )
        if label not in gammas:
            hint = did_you_mean(close_matches(label, gammas, n=2))
            known = ", ".join(gammas) if gammas else "none"
            raise stmt.error_at(
                f"the constraint names unknown gamma '{tok.text}'", tok,
                f"{hint} (the model's gammas are {known})",
            )
        if label in labels:
            raise stmt.error_at(f"'{label}' appears twice in the constraint", tok)
        if label in taken:
            raise stmt.error_at(
                f"'{label}' is already constrained in {taken[label]}", tok,
                " (write one constraint with all the equal gammas: G01 = G11 = G21)",
            )
        labels.append(label)
    for label in labels:
        taken[label] = stmt.where
    return Constraint(tuple(labels))


def _parse_constraint_strings(
    constraints: Iterable[str | Constraint], first_index: int
) -> list[_ConstraintNode]:
    nodes: list[_ConstraintNode] = []
    for i, item in enumerate(constraints, start=first_index):
        text = str(item) if isinstance(item, Constraint) else item
        if not isinstance(text, str):
            raise SpecError(f"constraint {i} must be a string such as 'G02 = G12', got {text!r}")
        where = f"constraint {i}"
        if not text.strip():
            raise SpecError(f"{where} is empty; write it as 'G02 = G12'")
        line = " ".join(text.splitlines())
        stmt = _tokenize(line, 0, len(line), where)
        parsed = _Parser(stmt).equation()
        if not isinstance(parsed, _ConstraintNode):
            raise stmt.error_at(
                "a constraint equates gammas", stmt.tokens[0], " (write it as 'G02 = G12')"
            )
        nodes.append(parsed)
    return nodes


def parse_model(
    text: str,
    *,
    level1_variables: Iterable[str],
    level2_variables: Iterable[str],
    constraints: Iterable[str | Constraint] = (),
    variance_predictors: Iterable[str] = (),
    source: str | None = None,
    first_line: int = 1,
) -> ModelSpec:
    """Parse a model written in HLM's equation format.

    Parameters
    ----------
    text
        The equations, one per line or separated by ``;``.  ``#`` starts a comment.  Lines of
        the form ``G02 = G12`` are equality constraints.
    level1_variables, level2_variables
        The variable names of the MDM.  Names in ``text`` are matched case-insensitively and
        the returned spec uses these spellings.
    constraints
        Further equality constraints, as strings (``"G02 = G12"``, ``"G01 = G11 = G21"``) or
        :class:`Constraint` objects.
    variance_predictors
        Level-1 variables of a log-linear model for sigma^2 (heterogeneous level-1 variance).
    source, first_line
        Where the text comes from, for error messages: ``"line 9 of model.toml"``.

    Returns
    -------
    ModelSpec

    Raises
    ------
    SpecError
        With the offending line quoted and the spot underlined.

    Notes
    -----
    Level 1: ``Y_ij = B0_j + B1_j X1_ij + ... + r_ij``; level 2:
    ``Bq_j = Gq0 + Gq1 W1_j + ... + u_qj`` (Raudenbush & Bryk 2002, ch. 2-3).
    """
    if not isinstance(text, str):
        raise SpecError(f"the model text must be a string, got {type(text).__name__}")
    names = VariableNames(level1_variables, level2_variables)
    statements = _statements(text, source=source, first_line=first_line)
    if not statements:
        raise SpecError(
            "the model text is empty: write the level-1 equation and, for each coefficient, "
            "its level-2 equation, e.g. 'mathach = B0 + R; B0 = G00 + U0'"
        )
    parsed = [_Parser(stmt, names).equation() for stmt in statements]
    equations = [p for p in parsed if isinstance(p, _Equation)]
    constraint_nodes = [p for p in parsed if isinstance(p, _ConstraintNode)]
    level1_eqs = [eq for eq in equations if not _is_level2(eq, names)]
    level2_eqs = [eq for eq in equations if _is_level2(eq, names)]
    if not level1_eqs:
        first = level2_eqs[0] if level2_eqs else None
        msg = "the model has no level-1 equation (OUTCOME = B0 + ... + R)"
        if first is None:
            raise SpecError(msg)
        raise first.stmt.error_at(msg, first.lhs)
    if len(level1_eqs) > 1:
        second = level1_eqs[1]
        raise second.stmt.error_at(
            f"a second level-1 equation (the first is in {level1_eqs[0].stmt.where})",
            second.lhs, " (a model has one outcome; level-2 equations start with Bq =)",
        )
    level1 = _resolve_level1(level1_eqs[0], names)
    numbers = set(level1.slopes) | ({0} if level1.intercept else set())
    level2: dict[int, Level2Equation] = {}
    seen_at: dict[int, str] = {}
    for eq in level2_eqs:
        q = int(eq.lhs.text[1:])
        _check_canonical(eq.stmt, eq.lhs, eq.lhs.text[1:], str(q))
        if q not in numbers:
            have = ", ".join(f"B{n}" for n in sorted(numbers))
            raise eq.stmt.error_at(
                f"B{q} has a level-2 equation but is not in the level-1 equation", eq.lhs,
                f" (the level-1 coefficients are {have})",
            )
        if q in level2:
            raise eq.stmt.error_at(
                f"B{q} has two level-2 equations (the first is in {seen_at[q]})", eq.lhs
            )
        level2[q] = _resolve_level2(eq, q, names)
        seen_at[q] = eq.stmt.where
    coefficients = tuple(
        Coefficient(
            index=q,
            predictor=None if q == 0 else level1.slopes[q],
            equation=level2.get(q, Level2Equation(intercept=True, predictors=(), random=False)),
        )
        for q in sorted(numbers)
    )
    spec = ModelSpec(outcome=level1.outcome, coefficients=coefficients)
    gammas = spec.gamma_labels()
    taken: dict[str, str] = {}
    nodes = constraint_nodes + _parse_constraint_strings(constraints, 1)
    resolved = tuple(_constraint_from_node(node, gammas, taken) for node in nodes)
    variance = _resolve_variance_predictors(variance_predictors, names)
    return ModelSpec(
        outcome=spec.outcome,
        coefficients=coefficients,
        constraints=resolved,
        variance_predictors=variance,
    )


def _resolve_variance_predictors(items: Iterable[str], names: VariableNames) -> tuple[str, ...]:
    out: list[str] = []
    for item in items:
        try:
            name = names.resolve(item, 1)
        except NameProblem as problem:
            raise SpecError(
                f"heterogeneous sigma^2: {problem.message}{problem.hint}; the level-1 variance "
                "can only be modelled by level-1 variables"
            ) from None
        if name in out:
            raise SpecError(f"heterogeneous sigma^2: '{name}' is listed twice")
        out.append(name)
    return tuple(out)


def parse_predictor(text: str) -> Predictor:
    """``"group(ses)"`` -> ``Predictor("ses", GROUP)``; ``"x"``, ``"grand(x)"``, ``"(x)"`` too.

    The name is not checked against any data (see :func:`validate_spec`).
    """
    stmt = _tokenize(text, 0, len(text), "predictor")
    parser = _Parser(stmt)
    node = parser.predictor()
    if parser.current.kind != "end":
        raise parser._unexpected("the end of the predictor")
    return Predictor(node.name.text, node.centering)


# --------------------------------------------------------------------------------------------
# Specs built in code
# --------------------------------------------------------------------------------------------


def _spec_error(where: str, message: str) -> SpecError:
    return SpecError(f"invalid model: {where}: {message}")


def _resolve_plain(names: VariableNames, name: str, level: int, where: str) -> str:
    try:
        return names.resolve(name, level)
    except NameProblem as problem:
        extra = ""
        if problem.kind == "wrong-level":
            extra = f" and cannot be used at level {level}"
        raise _spec_error(where, f"{problem.message}{extra}{problem.hint}") from None


def validate_spec(
    spec: ModelSpec,
    level1_variables: Iterable[str],
    level2_variables: Iterable[str],
) -> ModelSpec:
    """Check a :class:`ModelSpec` (typically built in code) against the MDM's variables.

    Returns the same model with every name spelled as in the MDM.  A spec returned by
    :func:`parse_model` always passes.

    Raises
    ------
    SpecError
        Naming the coefficient and the problem: unknown or wrong-level variables, coefficient
        numbers that do not follow the HLM conventions (``B0`` = intercept, slopes ``B1, B2,
        ...`` consecutively), a coefficient with neither gammas nor a random effect,
        group-mean centring at level 2, duplicated predictors, constraints on unknown gammas.
    """
    if not isinstance(spec, ModelSpec):
        raise SpecError(f"expected a ModelSpec, got {type(spec).__name__}")
    names = VariableNames(level1_variables, level2_variables)
    outcome = _resolve_plain(names, spec.outcome, 1, "outcome")
    if not spec.coefficients:
        raise _spec_error("level-1 equation", "the model has no coefficient (add at least B0)")
    coefficients = []
    seen: dict[str, int] = {}
    expected = 1
    for position, coef in enumerate(spec.coefficients):
        if not isinstance(coef, Coefficient):
            raise _spec_error(f"coefficient {position}", f"expected a Coefficient, got {coef!r}")
        where = f"B{coef.index}"
        if coef.predictor is None:
            if coef.index != 0 or position != 0:
                raise _spec_error(where, "the intercept must be B0 and come first")
            predictor = None
        else:
            if coef.index != expected:
                raise _spec_error(
                    where, f"expected B{expected} here (slopes are numbered B1, B2, ... in order)"
                )
            expected += 1
            name = _resolve_plain(names, coef.predictor.name, 1, where)
            if name == outcome:
                raise _spec_error(where, f"the outcome '{outcome}' cannot also be a predictor")
            if name in seen:
                raise _spec_error(where, f"'{name}' is already the predictor of B{seen[name]}")
            seen[name] = coef.index
            predictor = Predictor(name, coef.predictor.centering)
        equation = _validate_level2(coef.equation, names, coef.index)
        coefficients.append(Coefficient(coef.index, predictor, equation))
    draft = ModelSpec(outcome, tuple(coefficients))
    gammas = draft.gamma_labels()
    taken: dict[str, str] = {}
    constraints = []
    for i, con in enumerate(spec.constraints, start=1):
        if not isinstance(con, Constraint):
            raise _spec_error(f"constraint {i}", f"expected a Constraint, got {con!r}")
        for g in con.gammas:
            if g not in gammas:
                raise _spec_error(
                    f"constraint {i} ({con})",
                    f"unknown gamma '{g}'{did_you_mean(close_matches(g, gammas))}",
                )
            if g in taken:
                raise _spec_error(
                    f"constraint {i} ({con})", f"'{g}' is already constrained in {taken[g]}"
                )
        if len(set(con.gammas)) != len(con.gammas):
            raise _spec_error(f"constraint {i} ({con})", "a gamma appears twice")
        taken.update({g: f"constraint {i}" for g in con.gammas})
        constraints.append(con)
    variance = _resolve_variance_predictors(spec.variance_predictors, names)
    return ModelSpec(outcome, tuple(coefficients), tuple(constraints), variance)


def _validate_level2(eq: Level2Equation, names: VariableNames, q: int) -> Level2Equation:
    where = f"equation of B{q}"
    if not isinstance(eq, Level2Equation):
        raise _spec_error(where, f"expected a Level2Equation, got {eq!r}")
    if eq.n_gammas == 0 and not eq.random:
        raise _spec_error(where, f"B{q} has neither gammas nor U{q}; give it G{q}0 or U{q}")
    predictors = []
    for p in eq.predictors:
        name = _resolve_plain(names, p.name, 2, where)
        if p.centering is Centering.GROUP:
            raise _spec_error(
                where, f"group-mean centring of '{name}': use grand or none at level 2"
            )
        if any(name == other.name for other in predictors):
            raise _spec_error(where, f"'{name}' appears twice")
        predictors.append(Predictor(name, p.centering))
    return Level2Equation(eq.intercept, tuple(predictors), eq.random)


def build_model(
    outcome: str,
    level1: Sequence[str | Predictor] = (),
    level2: Mapping[int | str, str | Level2Equation] | None = None,
    *,
    intercept: bool = True,
    constraints: Iterable[str] = (),
    variance_predictors: Iterable[str] = (),
) -> ModelSpec:
    """Build a :class:`ModelSpec` in code, without writing the level-1 equation.

    Parameters
    ----------
    outcome
        The outcome variable.
    level1
        Level-1 predictors in order (``B1, B2, ...``): ``"group(ses)"``, ``"ses"`` or
        :class:`Predictor` objects.
    level2
        Level-2 equations keyed by coefficient number (``0``, ``1``, ...) or name (``"B1"``,
        ``"INTRCPT1"``, or the level-1 predictor's name), as right-hand sides in equation
        format (``"G10 + G11*sector + U1"``) or :class:`Level2Equation` objects.  Missing
        coefficients are fixed.
    intercept
        Whether the level-1 model has an intercept (``B0``).

    Returns
    -------
    ModelSpec
        Names are not checked against data: call :func:`validate_spec` for that.
    """
    preds = [p if isinstance(p, Predictor) else parse_predictor(p) for p in level1]
    numbers = ([0] if intercept else []) + list(range(1, len(preds) + 1))
    keys: dict[str, int] = {}
    for q in numbers:
        keys[f"b{q}"] = q
        keys[str(q)] = q
        keys["intrcpt1" if q == 0 else preds[q - 1].name.lower()] = q
    equations: dict[int, Level2Equation] = {}
    for key, rhs in (level2 or {}).items():
        q = keys.get(str(key).lower())
        if q is None:
            raise SpecError(
                f"build_model: level-2 equation for '{key}', which is not a level-1 coefficient"
                f"{did_you_mean(close_matches(str(key), list(keys)))}"
            )
        if isinstance(rhs, Level2Equation):
            equations[q] = rhs
            continue
        l2_names = [t.text for t in _tokenize(rhs, 0, len(rhs), "level 2").tokens
                    if t.kind == "name" and not _LABEL.match(t.text)
                    and t.text.lower() not in ("group", "grand")]
        text = f"{outcome} = " + " + ".join(
            (["B0"] if intercept else []) + [f"B{i}*{p}" for i, p in enumerate(preds, 1)] + ["R"]
        ) + f"\nB{q} = {rhs}"
        spec = parse_model(
            text,
            level1_variables=[outcome] + [p.name for p in preds],
            level2_variables=l2_names,
        )
        equations[q] = spec.coefficients[numbers.index(q)].equation
    coefficients = tuple(
        Coefficient(q, None if q == 0 else preds[q - 1], equations.get(q, Level2Equation()))
        for q in numbers
    )
    return ModelSpec(
        outcome,
        coefficients,
        tuple(Constraint(tuple(g.strip() for g in c.split("="))) for c in constraints),
        tuple(variance_predictors),
    )
