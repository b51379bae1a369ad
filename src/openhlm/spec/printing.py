"""Printing a :class:`ModelSpec` back: equation format, HLM 6's summary, mixed form, markers.

:func:`format_equations` writes openhlm's equation format (read back by
:func:`openhlm.spec.equations.parse_model`); :func:`format_hlm_equations` the body of HLM 6's
"Summary of the model specified (in equation format)"; :func:`format_mixed` the single (mixed)
equation; :func:`centering_marker` / :func:`centering_notes` HLM 6's '*', '%' and '$' markers.
"""

from __future__ import annotations

from openhlm.spec.model import Centering, ModelSpec, Predictor

__all__ = [
    "centering_marker",
    "centering_notes",
    "format_equations",
    "format_hlm_equations",
    "format_mixed",
]


def format_equations(spec: ModelSpec) -> str:
    """The model in equation format; :func:`parse_model` reads it back to the same spec.

    Every coefficient gets its level-2 equation (``B1 = G10`` for a fixed one) and each
    constraint a line of its own (``G02 = G12``).  ``variance_predictors`` are not part of the
    equation format.
    """
    return str(spec)


def format_hlm_equations(spec: ModelSpec) -> str:
    """The body of HLM 6's "Summary of the model specified (in equation format)".

    Level-1 names are printed upper-case, level-2 names as stored in the MDM, constraints as
    HLM 6 prints them (``02G = 12G``)::

        Level-1 Model

        \\tY = B0 + B1*(SES) + R

        Level-2 Model
        \\tB0 = G00 + G01*(SECTOR) + G02*(meanses) + U0
    """
    level1 = [
        "B0" if c.predictor is None else f"B{c.index}*({c.predictor.name.upper()})"
        for c in spec.coefficients
    ]
    lines = ["Level-1 Model", "", "\tY = " + " + ".join(level1 + ["R"]), "", "Level-2 Model"]
    for coef in spec.coefficients:
        terms = coef.equation.terms(coef.index, lambda p: f"({p.name})")
        lines.append(f"\tB{coef.index} = " + " + ".join(terms))
    if spec.constraints:
        lines.append("")
        for con in spec.constraints:
            lines.append("\t" + " = ".join(f"{g[1:]}G" for g in con.gammas))
    return "\n".join(lines)


def format_mixed(spec: ModelSpec) -> str:
    """The single (mixed) equation, HLM 7 style.

    ``MATHACH = G00 + G01*SECTOR + G10*SES + G11*SECTOR*SES + u0 + u1*SES + r``: for every
    coefficient its gammas times the level-2 predictor times the level-1 predictor, then the
    random effects ``uq`` times the level-1 predictor, then ``r``.
    """

    def product(*factors: str | None) -> str:
        return "*".join(f for f in factors if f)

    fixed: list[str] = []
    random: list[str] = []
    for coef in spec.coefficients:
        q = coef.index
        x = coef.predictor.name.upper() if coef.predictor else None
        eq = coef.equation
        if eq.intercept:
            fixed.append(product(f"G{q}0", x))
        for s, w in enumerate(eq.predictors, start=1):
            fixed.append(product(f"G{q}{s}", w.name.upper(), x))
        if eq.random:
            random.append(product(f"u{q}", x))
    return f"{spec.outcome.upper()} = " + " + ".join(fixed + random + ["r"])


_NOTES = {
    "*": "'*' - This level-1 predictor has been centered around its group mean.",
    "%": "'%' - This level-1 predictor has been centered around its grand mean.",
    "$": "'$' - This level-2 predictor has been centered around its grand mean.",
}


def centering_marker(predictor: Predictor | None, level: int) -> str:
    """HLM 6's marker for a centred predictor: ``'*'`` group (level 1), ``'%'`` grand
    (level 1), ``'$'`` grand (level 2), ``''`` uncentred or intercept."""
    if predictor is None or predictor.centering is Centering.NONE:
        return ""
    if level == 1:
        return "*" if predictor.centering is Centering.GROUP else "%"
    return "$"


def centering_notes(spec: ModelSpec) -> tuple[str, ...]:
    """HLM 6's footnotes for the centring markers used in ``spec`` (``*``, ``%``, ``$``)."""
    used = {centering_marker(c.predictor, 1) for c in spec.coefficients}
    used |= {centering_marker(p, 2) for c in spec.coefficients for p in c.equation.predictors}
    return tuple(_NOTES[m] for m in ("*", "%", "$") if m in used)
