"""Models built in code: :func:`validate_spec` checks a :class:`ModelSpec` against the data,
:func:`build_model` builds one without writing the level-1 equation.

Both are importable from :mod:`openhlm.spec.equations`.  Their errors name the coefficient or
constraint at fault (there is no text to point into).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from openhlm.errors import SpecError
from openhlm.spec.equation_reader import parse_model, resolve_variance_predictors
from openhlm.spec.equation_syntax import LABEL, equation_statement, parse_predictor
from openhlm.spec.grammar import NAME
from openhlm.spec.model import (
    Centering,
    Coefficient,
    Constraint,
    Level2Equation,
    ModelSpec,
    Predictor,
)
from openhlm.spec.names import NameProblem, VariableNames, close_matches, did_you_mean

__all__ = ["build_model", "validate_spec"]


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
    variance = resolve_variance_predictors(spec.variance_predictors, names)
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
        l2_names = [t.text for t in equation_statement(rhs, 0, len(rhs), "level 2").tokens
                    if t.kind == NAME and not LABEL.match(t.text)
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
