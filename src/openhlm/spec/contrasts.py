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

import re
from collections.abc import Sequence
from dataclasses import dataclass

from openhlm.errors import HypothesisError
from openhlm.spec._names import close_matches, did_you_mean
from openhlm.spec.equations import _pointed

__all__ = ["ContrastRow", "parse_contrast", "parse_hypothesis"]

_TOKEN = re.compile(
    r"(?P<ws>\s+)|(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<gamma>[A-Za-z]\w*)"
    r"|(?P<op>[-+*=])"
)


@dataclass(frozen=True, slots=True)
class ContrastRow:
    """One row: ``sum(row[i] * gamma[i]) = rhs``, ``row`` in ``ModelSpec.gamma_labels()`` order."""

    row: tuple[float, ...]
    rhs: float = 0.0


def _tokens(text: str, where: str) -> list[tuple[str, str, int]]:
    out = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise HypothesisError(_pointed(f"unexpected character '{text[pos]}'", where, text,
                                           pos, 1))
        if m.lastgroup != "ws":
            out.append((m.lastgroup or "", m.group(), pos))
        pos = m.end()
    out.append(("end", "", len(text.rstrip())))
    return out


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
    labels = [g.upper() for g in gammas]
    tokens = _tokens(text, where)

    def fail(message: str, token: tuple[str, str, int], hint: str = "") -> HypothesisError:
        return HypothesisError(_pointed(message, where, text, token[2], max(len(token[1]), 1),
                                        hint))

    coefs = [0.0] * len(labels)
    constant = 0.0
    side = 1.0  # +1 left of '=', -1 right of it
    seen_equals = False
    seen_gamma = False
    i = 0
    expect_term = True
    sign = 1.0
    while True:
        kind, value, _ = token = tokens[i]
        if expect_term:
            if kind == "end":
                raise fail("the row ends where a term is expected", token)
            if kind == "op" and value in "+-":
                sign *= -1.0 if value == "-" else 1.0
                i += 1
                continue
            factor = 1.0
            if kind == "number":
                factor = float(value)
                nxt = tokens[i + 1]
                if nxt[0] == "op" and nxt[1] == "*":
                    i += 2
                    kind, value, _ = token = tokens[i]
                    if kind != "gamma":
                        raise fail("expected a gamma after '*'", token)
                else:
                    constant += side * sign * factor
                    i += 1
                    expect_term, sign = False, 1.0
                    continue
            if kind != "gamma":
                raise fail("expected a gamma such as G01 or a number", token)
            label = value.upper()
            if label not in labels:
                hint = did_you_mean(close_matches(label, labels, n=2))
                raise fail(f"unknown gamma '{value}'", token,
                           f"{hint} (the model's gammas are {', '.join(labels) or 'none'})")
            coefs[labels.index(label)] += side * sign * factor
            seen_gamma = True
            i += 1
            expect_term, sign = False, 1.0
            continue
        if kind == "end":
            break
        if kind == "op" and value in "+-":
            expect_term = True
            continue
        if kind == "op" and value == "=":
            if seen_equals:
                raise fail("a row has one '='", token)
            seen_equals, side, expect_term = True, -1.0, True
            i += 1
            continue
        raise fail(f"unexpected '{value}'", token)
    if not seen_equals:
        raise fail("a row is an equation", tokens[-1], " (write it as 'G01 = 0')")
    if not seen_gamma or not any(coefs):
        raise fail("the row does not involve any gamma", tokens[0])
    return ContrastRow(tuple(c + 0.0 for c in coefs), -constant + 0.0)


def parse_hypothesis(rows: Sequence[str], gammas: Sequence[str], *,
                     where: str = "hypothesis") -> tuple[ContrastRow, ...]:
    """Parse the rows of one multivariate hypothesis (tested jointly)."""
    if not rows:
        raise HypothesisError(f"{where} has no rows; write e.g. ['G01 = 0', 'G11 = 0']")
    return tuple(
        parse_contrast(row, gammas, where=f"row {i} of {where}")
        for i, row in enumerate(rows, start=1)
    )
