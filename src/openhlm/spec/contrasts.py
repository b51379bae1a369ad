"""Rows of general linear hypotheses on the gammas, written as equations.

A hypothesis is a list of rows tested jointly; each row is a linear equation in the gammas::

    G01 = 0                 ->  (0, 1, 0, 0, 0, 0) . gamma = 0
    G01 - G11 = 0           ->  (0, 1, 0, 0, -1, 0) . gamma = 0
    G02 = G12               ->  the same as G02 - G12 = 0
    2*G02 + 0.5*G12 = 1     ->  (0, 0, 2, 0, 0, 0.5) . gamma = 1

This is the text form of the ``[hypotheses] glh`` rows of TOML model files and of the rows
that :func:`openhlm.spec.modelfile.model_file_from_command_file` writes for HLM 6's
``gammaN:`` lines.  HLM tests ``C gamma = 0`` (Raudenbush & Bryk 2002, sec. 3.x); a non-zero
right-hand side is kept in :attr:`ContrastRow.rhs`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from openhlm.errors import HypothesisError
from openhlm.spec.grammar import END, NAME, NUMBER, OP, Lexicon, Parser, Token, tokenize
from openhlm.spec.names import close_matches, did_you_mean

__all__ = ["CONTRAST_LEXICON", "ContrastParser", "ContrastRow", "parse_contrast",
           "parse_hypothesis"]

#: Contrast rows: names (gammas), numbers and ``= + - *``.
CONTRAST_LEXICON = Lexicon(operators="=+-*", numbers=True)


@dataclass(frozen=True, slots=True)
class ContrastRow:
    """One row: ``sum(row[i] * gamma[i]) = rhs``, ``row`` in ``ModelSpec.gamma_labels()`` order."""

    row: tuple[float, ...]
    rhs: float = 0.0


class ContrastParser(Parser):
    """``row := side '=' side``; ``side := term (('+' | '-') term)*``;
    ``term := ('+' | '-')* (NUMBER ['*' GAMMA] | GAMMA)``."""

    noun = "row"

    def __init__(self, text: str, gammas: Sequence[str], where: str):
        super().__init__(tokenize(text, where=where, lexicon=CONTRAST_LEXICON,
                                  error=HypothesisError))
        self.labels = [g.upper() for g in gammas]
        self.coefs = [0.0] * len(self.labels)
        self.constant = 0.0
        self.seen_gamma = False

    def fail(self, message: str, token: Token, hint: str = "") -> Exception:
        return self.statement.error_at(message, token, hint)

    def row(self) -> ContrastRow:
        """The whole row, moved to the left: ``coefs . gamma = rhs``."""
        seen_equals = False
        side = 1.0  # +1 left of '=', -1 right of it
        while True:
            self.term(side)
            tok = self.current
            if tok.kind == END:
                break
            if tok.kind == OP and tok.text in "+-":
                continue  # the sign is read with the next term
            if tok.is_op("="):
                if seen_equals:
                    raise self.fail("a row has one '='", tok)
                seen_equals, side = True, -1.0
                self.advance()
                continue
            raise self.fail(f"unexpected '{tok.text}'", tok)
        tokens = self.statement.tokens
        if not seen_equals:
            raise self.fail("a row is an equation", tokens[-1], " (write it as 'G01 = 0')")
        if not self.seen_gamma or not any(self.coefs):
            raise self.fail("the row does not involve any gamma", tokens[0])
        return ContrastRow(tuple(c + 0.0 for c in self.coefs), -self.constant + 0.0)

    def term(self, side: float) -> None:
        """One signed term: a gamma, a number times a gamma, or a constant."""
        sign = 1.0
        while self.current.kind == OP and self.current.text in "+-":
            sign *= -1.0 if self.advance().text == "-" else 1.0
        tok = self.current
        if tok.kind == END:
            raise self.fail("the row ends where a term is expected", tok)
        factor = 1.0
        if tok.kind == NUMBER:
            factor = float(self.advance().text)
            if not self.accept("*"):
                self.constant += side * sign * factor
                return
            tok = self.current
            if tok.kind != NAME:
                raise self.fail("expected a gamma after '*'", tok)
        if tok.kind != NAME:
            raise self.fail("expected a gamma such as G01 or a number", tok)
        label = tok.text.upper()
        if label not in self.labels:
            hint = did_you_mean(close_matches(label, self.labels, n=2))
            raise self.fail(f"unknown gamma '{tok.text}'", tok,
                            f"{hint} (the model's gammas are {', '.join(self.labels) or 'none'})")
        self.coefs[self.labels.index(label)] += side * sign * factor
        self.seen_gamma = True
        self.advance()


def parse_contrast(
    text: str, gammas: Sequence[str], *, where: str = "hypothesis row"
) -> ContrastRow:
    """Parse one row such as ``"G01 - G11 = 0"`` against the model's gamma labels.

    Raises
    ------
    HypothesisError
        Quoting the row: syntax errors, unknown gammas (with close matches), rows without a
        gamma or without exactly one ``=``.
    """
    return ContrastParser(text, gammas, where).row()


def parse_hypothesis(rows: Sequence[str], gammas: Sequence[str], *,
                     where: str = "hypothesis") -> tuple[ContrastRow, ...]:
    """Parse the rows of one multivariate hypothesis (tested jointly)."""
    if not rows:
        raise HypothesisError(f"{where} has no rows; write e.g. ['G01 = 0', 'G11 = 0']")
    return tuple(
        parse_contrast(row, gammas, where=f"row {i} of {where}")
        for i, row in enumerate(rows, start=1)
    )
