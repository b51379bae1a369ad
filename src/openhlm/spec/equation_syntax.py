"""The syntax of HLM's equation format: statements -> small syntax trees.

The grammar (names case-insensitive; statements separated by newlines or ``;``; ``#`` starts a
comment; lexical rules in :mod:`openhlm.spec.grammar`)::

    level-1     OUTCOME = term (+ term)* + R        term   := B0 | Bq*predictor
    level-2     Bq = gterm (+ gterm)* [+ Uq] | Bq = Uq
                                                    gterm  := Gq0 | Gqs*predictor
    constraint  Gqs = Gq's' (= ...)*
    predictor   := NAME | group(NAME) | grand(NAME) | (predictor)

The trees keep their tokens, so that :mod:`openhlm.spec.equation_reader` (which gives them
meaning against the data's variables) can point at the spot of every error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from openhlm.errors import OpenHLMError
from openhlm.spec.grammar import (
    END,
    NAME,
    OP,
    Lexicon,
    Parser,
    Statement,
    Token,
    statements,
    tokenize,
)
from openhlm.spec.model import Centering, Predictor
from openhlm.spec.names import VariableNames

__all__ = [
    "EQUATION_LEXICON",
    "GAMMA",
    "LABEL",
    "ConstraintNode",
    "Equation",
    "EquationParser",
    "PredictorNode",
    "Term",
    "equation_statement",
    "equation_statements",
    "parse_predictor",
]

#: A coefficient label: ``B1``, ``G01``, ``U0`` (letter and digits).
LABEL = re.compile(r"^(?P<letter>[BGU])(?P<digits>\d+)$", re.IGNORECASE)
#: A gamma label: ``G01``.
GAMMA = re.compile(r"^G\d+$", re.IGNORECASE)


def _equation_hint(ch: str) -> str:
    if ch == "-":
        return " (equations only add terms; there is no '-')"
    if ch.isdigit():
        return " (numbers appear only inside labels such as B1 or G01)"
    return ""


#: The equation format: names and ``= + * ( )``; no numbers, no ``-``.
EQUATION_LEXICON = Lexicon(operators="=+*()", numbers=False, hint=_equation_hint)


def equation_statements(text: str, *, source: str | None = None,
                        first_line: int = 1) -> list[Statement]:
    """The statements of model text (lines and ``;``), comments and blanks dropped."""
    return statements(text, source=source, first_line=first_line, lexicon=EQUATION_LEXICON)


def equation_statement(text: str, start: int, end: int, where: str) -> Statement:
    """One statement of the equation format in ``text[start:end]`` (a single line)."""
    return tokenize(text, start, end, where=where, lexicon=EQUATION_LEXICON)


@dataclass(frozen=True, slots=True)
class PredictorNode:
    """``ses``, ``group(ses)`` or ``grand(ses)``: the name token, the centring, the function
    token (``group``/``grand``) if any."""

    name: Token
    centering: Centering
    func: Token | None


@dataclass(frozen=True, slots=True)
class Term:
    """One term of a right-hand side: its head (``B1``, ``G01``, ``U0``, ``R``) and predictor."""

    head: Token
    predictor: PredictorNode | None


@dataclass(frozen=True, slots=True)
class Equation:
    """``lhs = term + term + ...``."""

    statement: Statement
    lhs: Token
    terms: tuple[Term, ...]


@dataclass(frozen=True, slots=True)
class ConstraintNode:
    """``G02 = G12 (= ...)``: the gamma tokens as written (not yet checked)."""

    statement: Statement
    gammas: tuple[Token, ...]


class EquationParser(Parser):
    """The equation format's rules; ``names`` (optional) improve the hint for two names in a
    row (a variable with a space in its name)."""

    noun = "equation"

    def __init__(self, statement: Statement, names: VariableNames | None = None):
        super().__init__(statement)
        self.names = names

    def unexpected(self, what: str) -> OpenHLMError:
        tok = self.current
        prev = self.previous
        if tok.kind == END and prev is not None and prev.is_op("+"):
            return self.statement.error_at("dangling '+' with no term after it", prev)
        return super().unexpected(what)

    def unexpected_hint(self) -> str:
        """A hint when two names follow each other: ``B1 ses`` or a name with a space."""
        tok = self.current
        prev = self.previous
        if tok.kind != NAME or prev is None or prev.kind != NAME:
            return ""
        if LABEL.match(prev.text):
            return f" (write {prev.text}*{tok.text})"
        spaced = self.statement.text[prev.column:tok.column + len(tok.text)]
        if self.names is not None and self.names.is_variable(spaced):
            return (f" (the variable '{spaced}' has a space in its name, which an equation "
                    f"cannot hold: rename it in the data, e.g. to "
                    f"'{'_'.join(spaced.split())}')")
        return " (variable names cannot contain spaces)"

    def predictor(self) -> PredictorNode:
        """``predictor := NAME | group(NAME) | grand(NAME) | (predictor)``."""
        if self.accept("("):
            inner = self.predictor()
            self.expect_op(")", "')'")
            return inner
        name = self.expect_name("a variable name")
        if not self.accept("("):
            return PredictorNode(name, Centering.NONE, None)
        func = name
        kind = {"group": Centering.GROUP, "grand": Centering.GRAND}.get(func.text.lower())
        if kind is None:
            raise self.statement.error_at(
                f"unknown centring '{func.text}(...)'", func, " (use group(x) or grand(x))"
            )
        arg = self.expect_name("a variable name")
        self.expect_op(")", "')'")
        return PredictorNode(arg, kind, func)

    def term(self) -> Term:
        """``term := NAME [* predictor]``."""
        head = self.expect_name("a term such as B1*ses, G01*sector, U0 or R")
        predictor = self.predictor() if self.accept("*") else None
        return Term(head, predictor)

    def equation(self) -> Equation | ConstraintNode:
        """An equation, or a constraint when a gamma is equated to gammas only."""
        lhs = self.expect_name("an outcome or a coefficient such as B0")
        self.expect_op("=", "'='")
        ops = {t.text for t in self.statement.tokens if t.kind == OP}
        if GAMMA.match(lhs.text) and ops <= {"="}:
            gammas = [lhs, self.expect_name("a gamma such as G12")]
            while self.accept("="):
                gammas.append(self.expect_name("a gamma such as G12"))
            self.expect_end("'=' or the end of the constraint")
            return ConstraintNode(self.statement, tuple(gammas))
        terms = [self.term()]
        while self.accept("+"):
            terms.append(self.term())
        self.expect_end("'+' or the end of the equation")
        return Equation(self.statement, lhs, tuple(terms))


def parse_predictor(text: str) -> Predictor:
    """``"group(ses)"`` -> ``Predictor("ses", GROUP)``; ``"x"``, ``"grand(x)"``, ``"(x)"`` too.

    The name is not checked against any data (see :func:`openhlm.spec.equations.validate_spec`).
    """
    parser = EquationParser(equation_statement(text, 0, len(text), "predictor"))
    node = parser.predictor()
    parser.expect_end("the end of the predictor")
    return Predictor(node.name.text, node.centering)
