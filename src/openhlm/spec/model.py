"""The two-level model as HLM users write it, as frozen data.

HLM notation (Raudenbush & Bryk 2002, ch. 2-3)::

    Level 1:  Y_ij  = sum_q beta_qj X_qij + r_ij,          r_ij ~ N(0, sigma^2)
    Level 2:  beta_qj = sum_s gamma_qs W_sj + u_qj,         u_j ~ N(0, T)

Conventions
-----------
* Level-1 coefficients are numbered as the user wrote them: ``B0`` is the intercept
  (``INTRCPT1``), ``B1``, ``B2`` ... the slopes.  Without ``B0`` the model has no level-1
  intercept and the slopes keep their numbers.
* In the equation of ``Bq`` the level-2 intercept is ``Gq0`` (``INTRCPT2``) and the s-th level-2
  predictor is ``Gqs`` (s = 1, 2, ... in the order written).  Leaving out ``Gq0`` removes the
  level-2 intercept; the predictors keep their numbers.
* ``Uq`` marks ``Bq`` as random.  A coefficient whose equation has gammas but no ``Uq`` is fixed
  (only ``Gq0``) or non-randomly varying (with level-2 predictors).  ``Bq = Uq`` is random with no
  fixed part (its mean is constrained to 0).
* The fixed effects are ordered coefficient by coefficient and, within a coefficient, as written:
  that is the order of gamma in every results table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

__all__ = [
    "Centering",
    "Coefficient",
    "Constraint",
    "Level2Equation",
    "ModelSpec",
    "Predictor",
]


class Centering(str, Enum):
    """How a predictor is centred before entering the model."""

    NONE = "none"
    GROUP = "group"  # group-mean centring (level 1 only): X_ij - mean_j(X)
    GRAND = "grand"  # grand-mean centring: level 1 over all N rows, level 2 over the J units


@dataclass(frozen=True, slots=True)
class Predictor:
    """A variable entering an equation, with its centring.

    ``name`` is the variable name as stored in the MDM (original case).
    """

    name: str
    centering: Centering = Centering.NONE

    def __post_init__(self) -> None:
        if not isinstance(self.centering, Centering):
            object.__setattr__(self, "centering", Centering(self.centering))

    def __str__(self) -> str:
        if self.centering is Centering.NONE:
            return self.name
        return f"{self.centering.value}({self.name})"


@dataclass(frozen=True, slots=True)
class Level2Equation:
    """Right-hand side of ``Bq = ...``.

    ``intercept``: whether ``Gq0`` (INTRCPT2) is present.  ``predictors``: the level-2 predictors
    ``Gq1``, ``Gq2``, ... in order.  ``random``: whether ``Uq`` is present.
    """

    intercept: bool = True
    predictors: tuple[Predictor, ...] = ()
    random: bool = False

    @property
    def n_gammas(self) -> int:
        """F_q, the number of fixed effects in this equation."""
        return int(self.intercept) + len(self.predictors)

    @property
    def kind(self) -> str:
        """``"random"``, ``"random-only"``, ``"fixed"`` or ``"nonrandomly-varying"``."""
        if self.random:
            return "random" if self.n_gammas else "random-only"
        return "nonrandomly-varying" if self.predictors else "fixed"

    def terms(self, q: int, show: Callable[[Predictor], str] = str) -> list[str]:
        """The terms of ``Bq = ...`` in equation format: ``["G10", "G11*sector", "U1"]``
        (``show`` writes a predictor)."""
        terms = [f"G{q}0"] if self.intercept else []
        terms += [f"G{q}{s}*{show(p)}" for s, p in enumerate(self.predictors, start=1)]
        if self.random:
            terms.append(f"U{q}")
        return terms


@dataclass(frozen=True, slots=True)
class Coefficient:
    """One level-1 coefficient ``Bq`` with its level-2 equation.

    ``predictor`` is ``None`` for the level-1 intercept (``B0``, INTRCPT1).
    """

    index: int
    predictor: Predictor | None
    equation: Level2Equation = field(default_factory=Level2Equation)

    @property
    def is_intercept(self) -> bool:
        return self.predictor is None

    @property
    def label(self) -> str:
        """HLM's label in the fixed-effects and variance tables: ``INTRCPT1`` or ``SES slope``."""
        return "INTRCPT1" if self.predictor is None else f"{self.predictor.name.upper()} slope"

    @property
    def short_label(self) -> str:
        """HLM's label in the Tau and reliability tables: ``INTRCPT1`` or ``SES``."""
        return "INTRCPT1" if self.predictor is None else self.predictor.name.upper()

    def gamma_labels(self) -> tuple[str, ...]:
        """``("G10", "G11", ...)`` for this coefficient's fixed effects, in order."""
        q = self.index
        labels = [f"G{q}0"] if self.equation.intercept else []
        labels += [f"G{q}{s}" for s in range(1, len(self.equation.predictors) + 1)]
        return tuple(labels)


@dataclass(frozen=True, slots=True)
class Constraint:
    """Equality constraint: all named gammas share one estimate (``G02 = G12``)."""

    gammas: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "gammas", tuple(g.upper() for g in self.gammas))
        if len(self.gammas) < 2:
            raise ValueError("a constraint needs at least two gammas")

    def __str__(self) -> str:
        return " = ".join(self.gammas)


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A complete two-level model.

    ``coefficients`` are in the order of their index (B0 first when present).
    ``variance_predictors`` are the variables of a log-linear model for sigma^2 (heterogeneous
    level-1 variance, empty = homogeneous sigma^2).
    """

    outcome: str
    coefficients: tuple[Coefficient, ...]
    constraints: tuple[Constraint, ...] = ()
    variance_predictors: tuple[str, ...] = ()

    # -- derived views -------------------------------------------------------------------
    @property
    def has_intercept(self) -> bool:
        return any(c.is_intercept for c in self.coefficients)

    @property
    def random_coefficients(self) -> tuple[Coefficient, ...]:
        return tuple(c for c in self.coefficients if c.equation.random)

    def gamma_labels(self) -> tuple[str, ...]:
        """All fixed effects in table order."""
        return tuple(g for c in self.coefficients for g in c.gamma_labels())

    def level1_variables(self) -> tuple[str, ...]:
        return tuple(c.predictor.name for c in self.coefficients if c.predictor is not None)

    def level2_variables(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for c in self.coefficients:
            for p in c.equation.predictors:
                seen.setdefault(p.name, None)
        return tuple(seen)

    def __str__(self) -> str:
        """The model in equation format (:func:`openhlm.spec.printing.format_equations`)."""
        level1 = [
            "B0" if c.predictor is None else f"B{c.index}*{c.predictor}" for c in self.coefficients
        ]
        lines = [f"{self.outcome} = " + " + ".join(level1 + ["R"])]
        for coef in self.coefficients:
            lines.append(f"B{coef.index} = " + " + ".join(coef.equation.terms(coef.index)))
        lines += [str(con) for con in self.constraints]
        return "\n".join(lines)
