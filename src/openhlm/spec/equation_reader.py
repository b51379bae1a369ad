"""Reading HLM's equation format into a :class:`~openhlm.spec.model.ModelSpec`.

Statements are parsed into syntax trees (:mod:`openhlm.spec.equation_syntax`), which are given
meaning here against the data's variable names: the level-1 equation, the level-2 equations
(numbering, order, levels of the variables), the constraints
(:mod:`openhlm.spec.constraints`) and the heterogeneous-sigma^2 variables.  The public entry
point is :func:`parse_model` (also importable from :mod:`openhlm.spec.equations`).

Every error is a :class:`~openhlm.errors.SpecError` whose message quotes the offending line and
underlines the spot with carets.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from openhlm.errors import SpecError
from openhlm.spec.constraints import constraint_nodes, resolve_constraint
from openhlm.spec.equation_syntax import (
    LABEL,
    ConstraintNode,
    Equation,
    EquationParser,
    PredictorNode,
    Term,
    equation_statements,
)
from openhlm.spec.grammar import Statement, Token
from openhlm.spec.model import (
    Centering,
    Coefficient,
    Constraint,
    Level2Equation,
    ModelSpec,
    Predictor,
)
from openhlm.spec.names import NameProblem, VariableNames

__all__ = ["parse_model", "resolve_variance_predictors"]


def _label(term: Term) -> tuple[str, int | None, str]:
    """(letter, number, digits) of a term head: ``("B", 1, "1")``, ``("R", None, "")``, or
    ``("", None, "")`` when the head is not a label."""
    text = term.head.text
    if text.upper() == "R":
        return "R", None, ""
    m = LABEL.match(text)
    if m is None:
        return "", None, ""
    return m["letter"].upper(), int(m["digits"]), m["digits"]


def _check_canonical(stmt: Statement, tok: Token, digits: str, proper: str) -> None:
    if digits != proper:
        raise stmt.error_at(f"write '{tok.text[0].upper()}{proper}' instead of '{tok.text}'", tok)


def _resolve(stmt: Statement, node: PredictorNode, names: VariableNames, level: int) -> str:
    try:
        return names.resolve(node.name.text, level)
    except NameProblem as problem:
        if problem.kind == "wrong-level":
            if level == 1:
                msg = f"{problem.message} and cannot enter the level-1 equation"
                hint = problem.hint or (
                    f" (use it in a level-2 equation, e.g. B0 = G00 + G01*{node.name.text} + U0)")
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
    stmt: Statement


def _resolve_level1(eq: Equation, names: VariableNames, residual: bool = True) -> _Level1:
    stmt = eq.statement
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
    if not has_r and residual:
        raise stmt.error(
            "the level-1 equation has no residual", stmt.tokens[-1].column, 1,
            " (end it with '+ R')",
        )
    if not intercept and not slopes:
        raise stmt.error_at(
            "the level-1 equation has no coefficient", eq.lhs, " (write at least B0)"
        )
    return _Level1(outcome, slopes, intercept, stmt)


def _resolve_outcome(eq: Equation, names: VariableNames) -> str:
    tok = eq.lhs
    try:
        return names.resolve(tok.text, 1)
    except NameProblem as problem:
        if problem.kind == "wrong-level":
            raise eq.statement.error_at(
                f"the outcome '{tok.text}' is a level-2 variable", tok,
                problem.hint or " (the outcome must be a level-1 variable)",
            ) from None
        if problem.kind == "unknown" and tok.text.upper() == "Y":
            example = f", e.g. {names.level1[-1]}" if names.level1 else ""
            raise eq.statement.error_at(
                "the outcome 'Y' is not a variable", tok,
                f" (HLM prints Y for the outcome; write the outcome variable's name{example})",
            ) from None
        message = problem.message if problem.kind == "left-out" else f"{problem.message} as outcome"
        raise eq.statement.error_at(message, tok, problem.hint) from None


def _resolve_level2(eq: Equation, q: int, names: VariableNames) -> Level2Equation:
    stmt = eq.statement
    intercept = False
    random = False
    predictors: list[Predictor] = []
    owner: dict[str, str] = {}
    for term in eq.terms:
        letter, _number, digits = _label(term)
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


def _is_level2(eq: Equation, names: VariableNames) -> bool:
    m = LABEL.match(eq.lhs.text)
    if m is None or m["letter"].upper() != "B":
        return False
    if names.level_of(eq.lhs.text) != 1:
        return True
    # a level-1 variable that happens to be called B1: its equation is level 1 if it has B/R
    return not any(_label(t)[0] in ("B", "R") for t in eq.terms)


def parse_model(
    text: str,
    *,
    level1_variables: Iterable[str],
    level2_variables: Iterable[str],
    constraints: Iterable[str | Constraint] = (),
    variance_predictors: Iterable[str] = (),
    source: str | None = None,
    first_line: int = 1,
    residual: bool = True,
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
    residual
        Whether the level-1 equation must end with ``R``: ``False`` for non-normal outcomes
        (HGLM), whose level-1 model has no residual term (``R`` is then optional).

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
    statements = equation_statements(text, source=source, first_line=first_line)
    if not statements:
        raise SpecError(
            "the model text is empty: write the level-1 equation and, for each coefficient, "
            "its level-2 equation, e.g. 'mathach = B0 + R; B0 = G00 + U0'"
        )
    parsed = [EquationParser(stmt, names).equation() for stmt in statements]
    equations = [p for p in parsed if isinstance(p, Equation)]
    in_text = [p for p in parsed if isinstance(p, ConstraintNode)]
    level1_eqs = [eq for eq in equations if not _is_level2(eq, names)]
    level2_eqs = [eq for eq in equations if _is_level2(eq, names)]
    if not level1_eqs:
        first = level2_eqs[0] if level2_eqs else None
        msg = "the model has no level-1 equation (OUTCOME = B0 + ... + R)"
        if first is None:
            raise SpecError(msg)
        raise first.statement.error_at(msg, first.lhs)
    if len(level1_eqs) > 1:
        second = level1_eqs[1]
        raise second.statement.error_at(
            f"a second level-1 equation (the first is in {level1_eqs[0].statement.where})",
            second.lhs, " (a model has one outcome; level-2 equations start with Bq =)",
        )
    level1 = _resolve_level1(level1_eqs[0], names, residual)
    numbers = set(level1.slopes) | ({0} if level1.intercept else set())
    level2: dict[int, Level2Equation] = {}
    seen_at: dict[int, str] = {}
    for eq in level2_eqs:
        q = int(eq.lhs.text[1:])
        _check_canonical(eq.statement, eq.lhs, eq.lhs.text[1:], str(q))
        if q not in numbers:
            have = ", ".join(f"B{n}" for n in sorted(numbers))
            raise eq.statement.error_at(
                f"B{q} has a level-2 equation but is not in the level-1 equation", eq.lhs,
                f" (the level-1 coefficients are {have})",
            )
        if q in level2:
            raise eq.statement.error_at(
                f"B{q} has two level-2 equations (the first is in {seen_at[q]})", eq.lhs
            )
        level2[q] = _resolve_level2(eq, q, names)
        seen_at[q] = eq.statement.where
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
    nodes = in_text + constraint_nodes(constraints, 1)
    resolved = tuple(resolve_constraint(node, gammas, taken) for node in nodes)
    variance = resolve_variance_predictors(variance_predictors, names)
    return ModelSpec(
        outcome=spec.outcome,
        coefficients=coefficients,
        constraints=resolved,
        variance_predictors=variance,
    )


def resolve_variance_predictors(items: Iterable[str], names: VariableNames) -> tuple[str, ...]:
    """The heterogeneous-sigma^2 variables spelled as in the MDM (level-1 variables, once each).

    Raises
    ------
    SpecError
        ``heterogeneous sigma^2: ...`` for an unknown, level-2 or repeated variable.
    """
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


