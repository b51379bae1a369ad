"""The three-level model as HLM3 users write it, as frozen data.

HLM3 notation (Raudenbush & Bryk 2002, ch. 8)::

    Level 1:  Y_ijk   = sum_p pi_pjk a_pijk + e_ijk,           e ~ N(0, sigma^2)
    Level 2:  pi_pjk  = sum_q beta_pqk X_qjk + r_pjk,          r_jk ~ N(0, T_pi)
    Level 3:  beta_pqk = sum_s gamma_pqs W_sk + u_pqk,         u_k ~ N(0, T_beta)

Conventions (as for the two-level :class:`~openhlm.spec.model.ModelSpec`): ``P0`` is the
level-1 intercept (INTRCPT1), ``Pp`` the p-th level-1 slope; in the equation of ``Pp``,
``Bp0`` is the level-2 intercept (INTRCPT2) and ``Bpq`` the q-th level-2 predictor; ``Rp``
makes ``Pp`` random at level 2.  In the equation of ``Bpq``, ``Gpq0`` is the level-3 intercept
(INTRCPT3), ``Gpqs`` the s-th level-3 predictor, ``Upq`` makes ``Bpq`` random at level 3.
Fixed effects are ordered pi by pi, beta by beta, then as written: G000, G001, G010, G100 ...
"""

from __future__ import annotations

from dataclasses import dataclass

from openhlm.spec.model import Centering, Constraint, Predictor

__all__ = [
    "BetaCoefficient",
    "Centering",
    "Level3Equation",
    "ModelSpec3",
    "PiCoefficient",
    "Predictor",
]


@dataclass(frozen=True, slots=True)
class Level3Equation:
    """Right-hand side of ``Bpq = ...``: INTRCPT3 (``Gpq0``), level-3 predictors, ``Upq``."""

    intercept: bool = True
    predictors: tuple[Predictor, ...] = ()
    random: bool = False

    @property
    def n_gammas(self) -> int:
        return int(self.intercept) + len(self.predictors)


@dataclass(frozen=True, slots=True)
class BetaCoefficient:
    """``Bpq``: the q-th term of the equation of ``Pp`` (q = 0: INTRCPT2)."""

    p: int
    q: int
    predictor: Predictor | None
    equation: Level3Equation = Level3Equation()

    @property
    def name(self) -> str:
        return f"B{self.p}{self.q}"

    @property
    def label(self) -> str:
        """HLM3's label: ``INTRCPT2`` or the level-2 variable in capitals."""
        return "INTRCPT2" if self.predictor is None else self.predictor.name.upper()

    def gamma_labels(self) -> tuple[str, ...]:
        labels = [f"G{self.p}{self.q}0"] if self.equation.intercept else []
        labels += [f"G{self.p}{self.q}{s}" for s in range(1, len(self.equation.predictors) + 1)]
        return tuple(labels)


@dataclass(frozen=True, slots=True)
class PiCoefficient:
    """``Pp``: a level-1 coefficient with its level-2 equation (its betas) and ``Rp``."""

    index: int
    predictor: Predictor | None
    betas: tuple[BetaCoefficient, ...]
    random: bool = False

    @property
    def name(self) -> str:
        return f"P{self.index}"

    @property
    def label(self) -> str:
        """``INTRCPT1`` or ``YEAR slope``."""
        return "INTRCPT1" if self.predictor is None else f"{self.predictor.name.upper()} slope"

    @property
    def short_label(self) -> str:
        return "INTRCPT1" if self.predictor is None else self.predictor.name.upper()


@dataclass(frozen=True, slots=True)
class ModelSpec3:
    """A complete three-level model."""

    outcome: str
    pis: tuple[PiCoefficient, ...]
    #: equality constraints on gammas (``G010 = G100``): the named gammas share one estimate
    constraints: tuple[Constraint, ...] = ()

    @property
    def betas(self) -> tuple[BetaCoefficient, ...]:
        return tuple(b for p in self.pis for b in p.betas)

    @property
    def random_pis(self) -> tuple[PiCoefficient, ...]:
        return tuple(p for p in self.pis if p.random)

    @property
    def random_betas(self) -> tuple[BetaCoefficient, ...]:
        return tuple(b for b in self.betas if b.equation.random)

    def gamma_labels(self) -> tuple[str, ...]:
        return tuple(g for b in self.betas for g in b.gamma_labels())

    def level1_variables(self) -> tuple[str, ...]:
        return tuple(p.predictor.name for p in self.pis if p.predictor is not None)

    def level2_variables(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(b.predictor.name for b in self.betas
                                   if b.predictor is not None))

    def level3_variables(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.name for b in self.betas for s in b.equation.predictors))

    def __str__(self) -> str:
        terms = [p.name if p.predictor is None else f"{p.name}*{p.predictor}" for p in self.pis]
        lines = [f"{self.outcome} = " + " + ".join([*terms, "E"])]
        for p in self.pis:
            rhs = [b.name if b.predictor is None else f"{b.name}*{b.predictor}" for b in p.betas]
            lines.append(f"{p.name} = " + " + ".join(rhs + ([f"R{p.index}"] if p.random else [])))
        for b in self.betas:
            eq = b.equation
            rhs = [f"G{b.p}{b.q}0"] if eq.intercept else []
            rhs += [f"G{b.p}{b.q}{s}*{x}" for s, x in enumerate(eq.predictors, start=1)]
            rhs += [f"U{b.p}{b.q}"] if eq.random else []
            lines.append(f"{b.name} = " + " + ".join(rhs))
        lines += [str(c) for c in self.constraints]
        return "\n".join(lines)
