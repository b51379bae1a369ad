"""HLM's equation format: parse it into a :class:`ModelSpec`, validate and print specs.

The equation format is the multi-equation notation HLM shows in its model window::

    mathach = B0 + B1*group(ses) + R
    B0 = G00 + G01*sector + G02*meanses + U0
    B1 = G10 + G11*sector + G12*meanses + U1

Grammar (names case-insensitive; equations separated by newlines or ``;``; ``#`` starts a
comment; the lexical rules are those of :mod:`openhlm.spec.grammar`, see ``docs/grammar.md``)::

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
underlines the spot with carets (:func:`openhlm.spec.grammar.pointed`).

This module is the format's public face; the work is done in

* :mod:`openhlm.spec.equation_syntax` -- statements -> syntax trees (and :func:`parse_predictor`),
* :mod:`openhlm.spec.equation_reader` -- syntax trees -> :class:`ModelSpec` (:func:`parse_model`),
* :mod:`openhlm.spec.constraints` -- equality constraints (:func:`parse_constraint`),
* :mod:`openhlm.spec.build` -- specs built in code (:func:`validate_spec`, :func:`build_model`),
* :mod:`openhlm.spec.printing` -- printing a spec back (the ``format_*`` functions).
"""

from __future__ import annotations

from openhlm.spec.build import build_model, validate_spec
from openhlm.spec.constraints import parse_constraint
from openhlm.spec.equation_reader import parse_model
from openhlm.spec.equation_syntax import parse_predictor
from openhlm.spec.printing import (
    centering_marker,
    centering_notes,
    format_equations,
    format_hlm_equations,
    format_mixed,
)

__all__ = [
    "build_model",
    "centering_marker",
    "centering_notes",
    "format_equations",
    "format_hlm_equations",
    "format_mixed",
    "parse_constraint",
    "parse_model",
    "parse_predictor",
    "validate_spec",
]
