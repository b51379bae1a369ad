"""Equality constraints on the fixed effects: ``G02 = G12``, ``G01 = G11 = G21``.

A constraint makes the named gammas share one estimate.  It is written in the equation format
(:mod:`openhlm.spec.equation_syntax`): gamma labels joined by ``=``, case-insensitive, spaces
optional.  The same syntax is read everywhere a constraint appears: a line of the model text,
the ``constraints`` argument of :func:`openhlm.spec.equations.parse_model` and of
:func:`openhlm.fit`, ``[model] constraints`` of TOML model files and ``constrain:`` lines of
HLM 6 command files.

>>> parse_constraint("g02 = G12")
Constraint(gammas=('G02', 'G12'))

Every error quotes the constraint and underlines the spot (:func:`openhlm.spec.grammar.pointed`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from openhlm.errors import SpecError
from openhlm.spec.equation_syntax import GAMMA, ConstraintNode, EquationParser, equation_statement
from openhlm.spec.grammar import Statement
from openhlm.spec.model import Constraint
from openhlm.spec.names import close_matches, did_you_mean

__all__ = [
    "constraint_nodes",
    "parse_constraint",
    "read_constraint",
    "resolve_constraint",
]


def read_constraint(statement: Statement,
                    hint: str = " (write it as 'G02 = G12')") -> ConstraintNode:
    """The syntax tree of one constraint statement.

    Raises
    ------
    SpecError
        Syntax errors, or ``a constraint equates gammas`` (with ``hint``) for an equation that
        is not a constraint (``B0 = G00 + U0``, ``G01 = G02 + G03``).
    """
    parsed = EquationParser(statement).equation()
    if not isinstance(parsed, ConstraintNode):
        raise statement.error_at("a constraint equates gammas", statement.tokens[0], hint)
    return parsed


def resolve_constraint(node: ConstraintNode, gammas: Sequence[str] | None = None,
                       taken: dict[str, str] | None = None) -> Constraint:
    """Check a constraint's gammas and make it a :class:`Constraint`.

    ``gammas``: the model's gamma labels (``None``: any gamma label is accepted); ``taken``:
    the gammas already constrained, mapped to where (updated with this constraint's gammas).

    Raises
    ------
    SpecError
        Pointing at the gamma at fault: not a gamma label, not one of ``gammas`` (with close
        matches), twice in the constraint, already in another constraint.
    """
    stmt = node.statement
    taken = {} if taken is None else taken
    labels: list[str] = []
    for tok in node.gammas:
        label = tok.text.upper()
        if not GAMMA.match(label):
            raise stmt.error_at(
                f"'{tok.text}' is not a gamma", tok, " (constraints equate gammas: G02 = G12)"
            )
        if gammas is not None and label not in gammas:
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


def _constraint_text(item: object, where: str) -> str:
    text = str(item) if isinstance(item, Constraint) else item
    if not isinstance(text, str):
        raise SpecError(f"{where} must be a string such as 'G02 = G12', got {text!r}")
    if not text.strip():
        raise SpecError(f"{where} is empty; write it as 'G02 = G12'")
    return text


def _constraint_statement(text: str, where: str) -> Statement:
    line = " ".join(text.splitlines())
    return equation_statement(line, 0, len(line), where)


def constraint_nodes(constraints: Iterable[str | Constraint],
                     first_index: int = 1) -> list[ConstraintNode]:
    """The syntax trees of constraints given as strings (or :class:`Constraint` objects),
    named ``"constraint 1"``, ``"constraint 2"``, ... in messages."""
    nodes: list[ConstraintNode] = []
    for i, item in enumerate(constraints, start=first_index):
        where = f"constraint {i}"
        nodes.append(read_constraint(_constraint_statement(_constraint_text(item, where), where)))
    return nodes


def parse_constraint(text: str, gammas: Sequence[str] | None = None, *,
                     where: str = "constraint") -> Constraint:
    """Read one equality constraint: ``"G02 = G12"``, ``"g01=g11=g21"``.

    Parameters
    ----------
    text
        Gamma labels joined by ``=`` (case-insensitive, spaces optional; line breaks count as
        spaces).
    gammas
        The model's gamma labels (``ModelSpec.gamma_labels()``), to check the constraint
        against; ``None`` accepts any gamma label (check later with
        :func:`openhlm.spec.equations.validate_spec`).
    where
        Names the constraint in error messages.

    Returns
    -------
    Constraint
        With the labels upper-case, in the order written.

    Raises
    ------
    SpecError
        Quoting the constraint and underlining the spot: empty text, a syntax error, an
        equation that is not a constraint, a name that is not a gamma label, a gamma twice, a
        gamma not in ``gammas`` (with close matches).
    """
    statement = _constraint_statement(_constraint_text(text, where), where)
    return resolve_constraint(read_constraint(statement), gammas)
