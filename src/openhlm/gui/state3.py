"""The three-level model window (HLM3) as data: pi's with their level-2 equations (betas), each
beta with its level-3 equation, the ``R`` and ``U`` terms, and the settings.

No statistics here.  :meth:`Model3State.fit_kwargs` gives the keyword arguments of
:func:`openhlm.fit` and :func:`openhlm.gui.state.run_fit` fits through the runner
(:func:`openhlm.runner.run` sends an MDM3 to :func:`openhlm.runner.three_level.run3`).
The equation text is :class:`~openhlm.spec.model3.ModelSpec3`'s own (HLM3's P/B/G format),
read back by :func:`openhlm.spec.equations3.parse_model3`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openhlm.errors import SpecError
from openhlm.gui.state import (
    CENTRINGS,
    Settings,
    normalize_choice,
    normalize_value,
    place_predictor,
    place_term,
    prior_model,
    settings_fit_kwargs,
    without_term,
)
from openhlm.spec.model import Predictor
from openhlm.spec.model3 import BetaCoefficient, Level3Equation, ModelSpec3, PiCoefficient

__all__ = ["Beta", "Model3State", "Pi", "model_file_text3", "restore_from_file3"]


@dataclass
class Beta:
    """``Bpq``: a level-2 predictor of the equation of ``Pp`` (``None``: INTRCPT2), the
    level-3 predictors of its own equation, ``Upq`` and ``Gpq0``."""

    predictor: Predictor | None
    level3: list[Predictor] = field(default_factory=list)
    random: bool = False
    intercept3: bool = True


@dataclass
class Pi:
    """``Pp``: a level-1 predictor (``None``: INTRCPT1), its betas and ``Rp``."""

    predictor: Predictor | None
    betas: list[Beta] = field(default_factory=lambda: [Beta(None)])
    random: bool = False


def _new_intercept() -> list[Pi]:
    """HLM3's new window: ``P0 = B00 + R0``, ``B00 = G000 + U00``."""
    return [Pi(None, [Beta(None, random=True)], random=True)]


@dataclass
class Model3State:
    """The model in HLM3's window."""

    outcome: str | None = None
    pis: list[Pi] = field(default_factory=_new_intercept)
    constraints: list[str] = field(default_factory=list)
    settings: Settings = field(default_factory=Settings)
    three_level = True

    # -- clicks --------------------------------------------------------------------------
    def set_outcome(self, name: str) -> None:
        self.remove_level1(name)
        self.outcome = name

    def add_level1(self, name: str, centring: str = "none") -> None:
        """Add ``name`` to the level-1 equation (or change its centring): ``Pp = Bp0``, fixed
        at levels 2 and 3, as HLM3 adds it."""
        if name == self.outcome:
            self.outcome = None
        place_term(self.pis, Predictor(name, CENTRINGS[centring]), Pi)

    def remove_level1(self, name: str) -> None:
        if name == self.outcome:
            self.outcome = None
        self.pis = without_term(self.pis, name)

    def add_level2(self, p: int, name: str, centring: str = "none") -> None:
        place_term(self.pis[p].betas, Predictor(name, CENTRINGS[centring]), Beta)

    def remove_level2(self, p: int, name: str) -> None:
        self.pis[p].betas = without_term(self.pis[p].betas, name)

    def add_level3(self, p: int, q: int, name: str, centring: str = "none") -> None:
        if centring == "group":
            raise SpecError("level-3 variables are uncentred or grand-mean centred")
        place_predictor(self.pis[p].betas[q].level3, Predictor(name, CENTRINGS[centring]))

    def remove_level3(self, p: int, q: int, name: str) -> None:
        beta = self.pis[p].betas[q]
        beta.level3 = [w for w in beta.level3 if w.name != name]

    def toggle_r(self, p: int) -> None:
        self.pis[p].random = not self.pis[p].random

    def toggle_u(self, p: int, q: int) -> None:
        beta = self.pis[p].betas[q]
        beta.random = not beta.random

    # -- indices as HLM3 numbers them ------------------------------------------------------
    def pi_index(self, position: int) -> int:
        """The ``p`` of the pi at ``position`` (P0 is INTRCPT1; without it the slopes start at
        P1)."""
        return position + (0 if self.pis and self.pis[0].predictor is None else 1)

    def beta_index(self, position: int, q_position: int) -> int:
        betas = self.pis[position].betas
        return q_position + (0 if betas and betas[0].predictor is None else 1)

    # -- the spec ------------------------------------------------------------------------
    def spec(self) -> ModelSpec3:
        if self.outcome is None:
            raise SpecError("choose the outcome variable: click a level-1 variable and "
                            "'outcome variable'")
        if not self.pis:
            raise SpecError("the level-1 equation has no coefficient")
        pis = []
        for i, pi in enumerate(self.pis):
            p = self.pi_index(i)
            betas = tuple(
                BetaCoefficient(p, self.beta_index(i, j), b.predictor,
                                Level3Equation(b.intercept3, tuple(b.level3), b.random))
                for j, b in enumerate(pi.betas))
            pis.append(PiCoefficient(p, pi.predictor, betas, pi.random))
        return ModelSpec3(self.outcome, tuple(pis))

    def equations_only(self) -> str:
        """HLM3's equation format (``math = P0 + P1*year + E``, ``P0 = B00 + R0``, ...)."""
        return str(self.spec())

    def equations_text(self) -> str:
        """The equation text of the window, the constraint lines below."""
        return "" if self.outcome is None else "\n".join([self.equations_only(),
                                                         *self.constraints])

    def load_spec(self, spec: ModelSpec3) -> None:
        self.outcome = spec.outcome
        self.pis = [Pi(p.predictor, [Beta(b.predictor, list(b.equation.predictors),
                                          b.equation.random, b.equation.intercept)
                                     for b in p.betas], p.random) for p in spec.pis]
        self.constraints = [str(c) for c in spec.constraints]

    def set_constraints(self, rows: list[str], level1: tuple[str, ...],
                        level2: tuple[str, ...], level3: tuple[str, ...] = ()) -> None:
        """Constraints of gammas (``G001 = G010``), checked by the library's parser first."""
        from openhlm.spec.equations3 import parse_model3

        rows = [r.strip() for r in rows if r.strip()]
        parse_model3(self.equations_only(), level1_variables=level1, level2_variables=level2,
                     level3_variables=level3, constraints=rows)
        self.constraints = rows

    def apply_text(self, text: str, level1: tuple[str, ...], level2: tuple[str, ...],
                   level3: tuple[str, ...] = ()) -> None:
        """Parse typed HLM3 equations into the window (the parser's pointed error on a typo;
        the window keeps its model then)."""
        from openhlm.spec.equations3 import parse_model3

        self.load_spec(parse_model3(text, level1_variables=level1, level2_variables=level2,
                                    level3_variables=level3))

    # -- the keywords of openhlm.fit -------------------------------------------------------
    def fit_kwargs(self, runs: list[Any] | None = None) -> dict[str, Any]:
        """Exactly the keyword arguments of :func:`openhlm.fit` for this window."""
        s = self.settings
        kw = settings_fit_kwargs(s, self.constraints, self.prior_model(runs or []),
                                 weight_levels=(1, 2, 3))
        if s.exploratory3:
            kw["exploratory3"] = list(s.exploratory3)
        return kw

    def report_options(self) -> dict[str, Any]:
        return {"title": self.settings.title} if self.settings.title else {}

    def prior_model(self, runs: list[Any]) -> dict[str, Any] | None:
        return prior_model(self.settings, runs)


def model_file_text3(state: Model3State, data_names: dict[str, str | None],
                     ids: tuple[str, str], missing: str = "analysis",
                     runs: list[Any] | None = None) -> str:
    """The three-level window as a TOML model file (the library's writer)."""
    from openhlm.spec import modelfile as mf

    s = state.settings
    prior = state.prior_model(runs or [])
    deviance = (mf.DevianceTest(prior["deviance"], prior["n_parameters"],
                                prior.get("convention", "standard"))
                if prior is not None else None)

    def name(key: str) -> Path | None:
        value = data_names.get(key)
        return Path(value) if value else None

    model_file = mf.ModelFile(
        path=None, title=s.title,
        data=mf.DataSection(level1=name("level1"), level2=name("level2"), mdm=name("mdm"),
                            level3=name("level3"), id=ids[0], id3=ids[1],
                            missing=missing if missing in ("analysis", "listwise")
                            else "analysis"),
        model=mf.ModelSection(equations=state.equations_only() + "\n",
                              constraints=tuple(state.constraints),
                              heterogeneous_sigma2=tuple(s.heterogeneous)),
        estimation=mf.EstimationSection(s.method, s.mode,  # type: ignore[arg-type]
                                        s.max_iterations or 100),
        weights=mf.WeightsSection(s.level1_weight, s.level2_weight, s.precision_weight,
                                  normalize_value(s.normalize),
                                  s.level3_weight),
        hypotheses=mf.HypothesesSection(tuple(tuple(r) for r in s.glh), s.homogeneity,
                                        deviance),
        output=mf.OutputSection(exploratory=tuple(s.exploratory),
                                exploratory3=tuple(s.exploratory3)),
    )
    return mf.format_model_file(model_file)


def restore_from_file3(state: Model3State, name: str, text: str, level1: tuple[str, ...],
                       level2: tuple[str, ...], level3: tuple[str, ...]) -> None:
    """Re-open a TOML model file of a three-level model into the window (its equations,
    constraints, method, mode, iteration limit, title, weights, heterogeneous sigma^2 and
    hypotheses; paths in the file are not read)."""
    from openhlm.spec.modelfile import parse_model_file

    if not name.lower().endswith(".toml"):
        raise SpecError(f"{name}: HLM 6 command files for HLM3 are not read; open a TOML "
                        "model file")
    mf = parse_model_file(text, path=None)
    new = Model3State()
    new.apply_text(mf.model.equations, level1, level2, level3)
    new.set_constraints(list(mf.model.constraints), level1, level2, level3)
    s = new.settings
    s.title = mf.title
    s.method = mf.estimation.method if mf.estimation.method in ("reml", "ml") else "reml"
    s.mode = mf.estimation.mode
    w = mf.weights
    s.level1_weight, s.level2_weight, s.level3_weight = w.level1, w.level2, w.level3
    s.precision_weight = w.precision
    s.normalize = normalize_choice(w.normalize)
    s.heterogeneous = list(mf.model.heterogeneous_sigma2)
    s.homogeneity = mf.hypotheses.homogeneity
    s.exploratory = list(mf.output.exploratory)
    s.exploratory3 = list(mf.output.exploratory3)
    s.max_iterations = (mf.estimation.max_iterations
                        if mf.estimation.max_iterations != 100 else None)
    s.glh = [list(rows) for rows in mf.hypotheses.glh]
    if mf.hypotheses.deviance_test is not None:
        s.deviance_source = "typed"
        s.deviance_value = mf.hypotheses.deviance_test.deviance
        s.deviance_parameters = mf.hypotheses.deviance_test.parameters
        s.deviance_convention = mf.hypotheses.deviance_test.convention
    state.outcome, state.pis, state.settings = new.outcome, new.pis, s
    state.constraints = new.constraints
