"""What the window holds: the model being built by clicks, the settings dialogs, the runs.

No statistics here.  :meth:`ModelState.fit_kwargs` turns the window into exactly the keyword
arguments of :func:`openhlm.fit`, and :func:`run_fit` is the one place that fits (the door into
the library that the CLI and the API use too).  :func:`model_file_text` and
:func:`command_file_text` write the window as a TOML model file / HLM command file with the
library's writers, and :meth:`ModelState.restore` reads either back into the window.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openhlm.errors import OpenHLMError, SpecError
from openhlm.spec.model import Centering, Coefficient, Level2Equation, ModelSpec, Predictor

__all__ = [
    "Coef",
    "ModelState",
    "Settings",
    "command_file_text",
    "fit_options",
    "model_file_text",
    "place_predictor",
    "place_term",
    "prior_model",
    "restore_from_file",
    "run_fit",
    "settings_fit_kwargs",
    "without_term",
]

CENTRINGS = {"none": Centering.NONE, "group": Centering.GROUP, "grand": Centering.GRAND}
RESIDUAL_FORMATS = ("csv", "sav", "dta", "xpt", "xlsx", "parquet")
#: HLM's "Distribution of outcome variable" (Basic Settings): choice -> (distribution, needs)
SAMPLING = {
    "normal": ("normal", None),
    "bernoulli": ("bernoulli", None),
    "poisson": ("poisson", None),
    "binomial": ("binomial", "trials"),
    "poisson_exposure": ("poisson", "exposure"),
}
HGLM_METHODS = ("pql", "laplace", "agq")


@dataclass
class Coef:
    """One level-1 coefficient: its level-1 predictor (``None``: the intercept), the level-2
    predictors of its equation, whether it has a random term ``Uq`` and a ``Gq0``."""

    predictor: Predictor | None
    level2: list[Predictor] = field(default_factory=list)
    random: bool = False
    intercept2: bool = True


@dataclass
class Settings:
    """Basic Settings and Other Settings, as HLM's dialogs hold them."""

    title: str = ""
    method: str = "reml"
    # the level-1 sampling model (HGLM): a key of SAMPLING, its variable, the HGLM estimation
    sampling: str = "normal"
    sampling_variable: str | None = None  # number of trials (binomial) / exposure (Poisson)
    overdispersion: bool = False
    hglm_method: str = "pql"
    quadrature_points: int | None = None
    mode: str = "exact"
    max_iterations: int | None = None
    tolerance: float | None = None
    # HLM-mode PQL's iteration settings (HLM's MACROIT, MICROIT, STOPMACRO, STOPMICRO)
    macro_iterations: int | None = None
    micro_iterations: int | None = None
    stop_macro: float | None = None
    stop_micro: float | None = None
    # residual files
    resid1: bool = False
    resid2: bool = False
    resid3: bool = False  # three-level models
    resid_format: str = "csv"
    resid1_extra: list[str] = field(default_factory=list)
    resid2_extra: list[str] = field(default_factory=list)
    # hypothesis testing
    glh: list[list[str]] = field(default_factory=list)
    homogeneity: bool = False
    deviance_source: str = "none"  # "none", "typed" or "run:N"
    deviance_value: float | None = None
    deviance_parameters: int | None = None
    deviance_convention: str = "standard"  # of a typed deviance: "standard" or "hlm"
    # estimation settings
    heterogeneous: list[str] = field(default_factory=list)
    level1_weight: str | None = None
    level2_weight: str | None = None
    level3_weight: str | None = None  # three-level models
    precision_weight: str | None = None
    normalize: str = "within"
    imputation: str = "none"  # "none", "files" or "plausible"
    plausible_values: list[str] = field(default_factory=list)
    exploratory: list[str] = field(default_factory=list)
    exploratory3: list[str] = field(default_factory=list)  # three-level: level-3 candidates

    @property
    def distribution(self) -> str:
        return SAMPLING.get(self.sampling, ("normal", None))[0]

    @property
    def normal(self) -> bool:
        return self.distribution == "normal"

    def outcome_kwargs(self) -> dict[str, Any]:
        """The :func:`openhlm.fit` keywords of the sampling model (none for a normal outcome):
        ``distribution``, ``method``, ``trials`` / ``exposure``, ``quadrature_points``,
        ``overdispersion``."""
        if self.normal:
            return {}
        kw: dict[str, Any] = {"distribution": self.distribution, "method": self.hglm_method}
        needs = SAMPLING[self.sampling][1]
        if needs is not None:
            if not self.sampling_variable:
                what = "number of trials" if needs == "trials" else "exposure"
                raise SpecError(f"distribution of the outcome: choose the {what} variable "
                                "(a level-1 variable) in Basic Settings")
            kw[needs] = self.sampling_variable
        if self.hglm_method == "pql" and self.method == "ml":
            kw["pql_likelihood"] = "ml"   # full PQL (HLM: ML with a non-normal outcome)
        if self.hglm_method == "agq" and self.quadrature_points is not None:
            kw["quadrature_points"] = int(self.quadrature_points)
        if self.overdispersion:
            kw["overdispersion"] = True
        return kw

    def pql_iterations(self) -> dict[str, Any]:
        """HLM-mode PQL's macro / micro iteration settings that are set (fields of
        :class:`~openhlm.spec.settings.Outcome`; no ``openhlm.fit`` keyword holds them)."""
        if self.normal or self.hglm_method != "pql" or self.mode != "hlm":
            return {}
        values = {"macro_iterations": self.macro_iterations,
                  "micro_iterations": self.micro_iterations,
                  "stop_macro": self.stop_macro, "stop_micro": self.stop_micro}
        return {k: v for k, v in values.items() if v is not None}

    def set_outcome_from(self, distribution: str, trials: str | None, exposure: str | None,
                         method: str | None, points: int | None, overdispersion: bool) -> None:
        """The sampling-model settings of a model file's ``[model]`` / ``[estimation]``."""
        if distribution == "normal":
            self.sampling, self.sampling_variable = "normal", None
            return
        if distribution == "poisson" and exposure:
            self.sampling, self.sampling_variable = "poisson_exposure", exposure
        else:
            self.sampling, self.sampling_variable = distribution, trials
        self.hglm_method = method if method in HGLM_METHODS else "pql"
        self.quadrature_points, self.overdispersion = points, bool(overdispersion)


# -- shared by the two- and three-level windows (gui/state3.py) --------------------------------

def settings_fit_kwargs(s: Settings, constraints: list[str], prior: dict[str, Any] | None, *,
                        weight_levels: tuple[int, ...]) -> dict[str, Any]:
    """The keyword arguments of :func:`openhlm.fit` that the two- and three-level windows set
    alike from their settings: method, mode, constraints, iteration limit, the design weights
    of ``weight_levels`` and their normalisation, precision weight, heterogeneous sigma^2,
    plausible values, hypotheses, homogeneity test, deviance test against ``prior`` and the
    level-2 exploratory analysis (only what differs from :func:`openhlm.fit`'s defaults)."""
    kw: dict[str, Any] = {"method": s.method, "mode": s.mode}
    if constraints:
        kw["constraints"] = list(constraints)
    if s.max_iterations is not None:
        kw["max_iterations"] = int(s.max_iterations)
    weights = [f"level{level}_weight" for level in weight_levels]
    for key in weights:
        if getattr(s, key):
            kw[key] = getattr(s, key)
    if s.precision_weight:
        kw["precision_weight"] = s.precision_weight
    if any(getattr(s, key) for key in weights) and s.normalize != "within":
        kw["normalize_weights"] = s.normalize
    if s.heterogeneous:
        kw["heterogeneous_sigma2"] = list(s.heterogeneous)
    if s.imputation == "plausible" and s.plausible_values:
        kw["plausible_values"] = list(s.plausible_values)
    if s.glh:
        kw["hypotheses"] = ["; ".join(rows) for rows in s.glh]
    if s.homogeneity:
        kw["homogeneity"] = True
    if prior is not None:
        kw["deviance_test"] = prior
    if s.exploratory:
        kw["exploratory"] = list(s.exploratory)
    return kw


def place_term(terms: list[Any], pred: Predictor, new: Callable[[Predictor], Any]) -> None:
    """Give the term of ``terms`` (items with a ``predictor``) whose predictor is named like
    ``pred`` that predictor (a new centring), or append ``new(pred)``."""
    for term in terms:
        if term.predictor is not None and term.predictor.name == pred.name:
            term.predictor = pred
            return
    terms.append(new(pred))


def without_term(terms: list[Any], name: str) -> list[Any]:
    """``terms`` (items with a ``predictor``) without the one whose predictor is ``name``."""
    return [t for t in terms if t.predictor is None or t.predictor.name != name]


def place_predictor(predictors: list[Predictor], pred: Predictor) -> None:
    """Replace the predictor of ``predictors`` named like ``pred`` (a new centring), or append
    ``pred``."""
    for i, p in enumerate(predictors):
        if p.name == pred.name:
            predictors[i] = pred
            return
    predictors.append(pred)


@dataclass
class ModelState:
    """The model in HLM's window: the outcome, the level-1 coefficients with their level-2
    equations and random terms, the constraints, and the settings."""

    outcome: str | None = None
    coefs: list[Coef] = field(default_factory=lambda: [Coef(None, random=True)])
    constraints: list[str] = field(default_factory=list)
    settings: Settings = field(default_factory=Settings)

    # -- clicks in the model window ------------------------------------------------------
    def set_outcome(self, name: str) -> None:
        self.remove_level1(name)
        self.outcome = name

    def add_level1(self, name: str, centring: str = "none") -> None:
        """Add ``name`` to the level-1 equation (or change its centring); slopes start fixed,
        as in HLM."""
        if name == self.outcome:
            self.outcome = None
        place_term(self.coefs, Predictor(name, CENTRINGS[centring]), Coef)

    def remove_level1(self, name: str) -> None:
        if name == self.outcome:
            self.outcome = None
        self.coefs = without_term(self.coefs, name)

    def add_level2(self, q: int, name: str, centring: str = "none") -> None:
        place_predictor(self.coefs[q].level2, Predictor(name, CENTRINGS[centring]))

    def remove_level2(self, q: int, name: str) -> None:
        self.coefs[q].level2 = [p for p in self.coefs[q].level2 if p.name != name]

    def toggle_random(self, q: int) -> None:
        self.coefs[q].random = not self.coefs[q].random

    def toggle_intercept(self) -> None:
        """Add or remove the level-1 intercept (HLM's INTRCPT1)."""
        if self.coefs and self.coefs[0].predictor is None:
            self.coefs.pop(0)
        else:
            self.coefs.insert(0, Coef(None, random=True))

    # -- the spec ------------------------------------------------------------------------
    def spec(self) -> ModelSpec:
        """The :class:`ModelSpec` of the window (no constraints: they go in the keywords)."""
        if self.outcome is None:
            raise SpecError("choose the outcome variable: click a level-1 variable and "
                            "'outcome variable'")
        if not self.coefs:
            raise SpecError("the level-1 equation has no coefficient")
        coefs = []
        for q, c in enumerate(self.coefs):
            coefs.append(Coefficient(q, c.predictor, Level2Equation(
                c.intercept2, tuple(c.level2), c.random)))
        return ModelSpec(self.outcome, tuple(coefs))

    def equations_text(self) -> str:
        """The equation text of the window (openhlm's equation format), constraints below."""

        if self.outcome is None:
            return ""
        return "\n".join([self.equations_only(), *self.constraints])

    def load_spec(self, spec: ModelSpec) -> None:
        """Set the window from a parsed spec (typed equations, a model file)."""
        self.outcome = spec.outcome
        self.coefs = [Coef(c.predictor, list(c.equation.predictors), c.equation.random,
                           c.equation.intercept) for c in spec.coefficients]
        self.constraints = [str(c) for c in spec.constraints]

    def apply_text(self, text: str, level1: tuple[str, ...], level2: tuple[str, ...]) -> None:
        """Parse typed equations (and constraint lines) into the window; raises the parser's
        pointed :class:`SpecError` and leaves the window as it was on error."""
        from openhlm.spec.equations import parse_model

        spec = parse_model(text, level1_variables=level1, level2_variables=level2,
                           residual=self.settings.normal)
        self.load_spec(spec)

    def set_constraints(self, rows: list[str], level1: tuple[str, ...],
                        level2: tuple[str, ...]) -> None:
        """Constraints of gammas (``G02 = G12``), checked by the library's parser first."""
        from openhlm.spec.equations import parse_model

        rows = [r.strip() for r in rows if r.strip()]
        parse_model(self.equations_only(), level1_variables=level1, level2_variables=level2,
                    constraints=rows, residual=self.settings.normal)
        self.constraints = rows

    def equations_only(self) -> str:
        """The equations without the constraint lines (constraints go in the keywords); an
        HGLM's level-1 equation has no ``R`` (no level-1 variance: HLM's window shows none)."""
        from openhlm.spec.printing import format_equations

        text = format_equations(self.spec())
        if not self.settings.normal:
            first, _, rest = text.partition("\n")
            text = "\n".join([first.removesuffix(" + R"), rest]) if rest else \
                first.removesuffix(" + R")
        return text

    # -- the one function that the runner switch replaces --------------------------------
    def fit_kwargs(self, runs: list[Any] | None = None) -> dict[str, Any]:
        """Exactly the keyword arguments of :func:`openhlm.fit` for this window.

        ``runs`` is the session's run history (for a deviance test against a previous run).
        Only settings that differ from :func:`openhlm.fit`'s defaults are included.
        """
        s = self.settings
        kw = settings_fit_kwargs(s, self.constraints, self.prior_model(runs or []),
                                 weight_levels=(1, 2))
        kw.update(s.outcome_kwargs())
        if s.tolerance is not None:
            kw["tolerance"] = float(s.tolerance)
        return kw

    def report_options(self) -> dict[str, Any]:
        """Keywords of ``HLMResults.report()`` (the problem title; the runner's output
        options at merge)."""
        return {"title": self.settings.title} if self.settings.title else {}

    def prior_model(self, runs: list[Any]) -> dict[str, Any] | None:
        return prior_model(self.settings, runs)

    def restore(self, model_file: Any, level1: tuple[str, ...], level2: tuple[str, ...]
                ) -> None:
        """Set the window from a :class:`~openhlm.spec.modelfile.ModelFile`."""
        spec = model_file.model_spec(level1, level2)
        weights = model_file.resolved_weights(level1, level2)
        mf = model_file
        new = ModelState()
        new.load_spec(spec)
        s = new.settings
        s.title = mf.title
        s.method, s.mode = mf.estimation.method, mf.estimation.mode
        m = mf.model
        s.set_outcome_from(m.distribution, m.trials, m.exposure, mf.estimation.method,
                           mf.estimation.quadrature_points, m.overdispersion)
        if not s.normal:   # reml / ml of an HGLM: restricted / full PQL
            s.method = (mf.estimation.method if mf.estimation.method in ("reml", "ml")
                        else "reml")
        s.max_iterations = (mf.estimation.max_iterations
                            if mf.estimation.max_iterations != 100 else None)
        s.tolerance = mf.estimation.tolerance if mf.estimation.tolerance != 1e-6 else None
        s.heterogeneous = list(spec.variance_predictors)
        s.level1_weight, s.level2_weight = weights.level1, weights.level2
        s.precision_weight = weights.precision
        s.normalize = normalize_choice(weights.normalize)
        s.glh = [list(rows) for rows in mf.hypotheses.glh]
        s.homogeneity = mf.hypotheses.homogeneity
        if mf.hypotheses.deviance_test is not None:
            s.deviance_source = "typed"
            s.deviance_value = mf.hypotheses.deviance_test.deviance
            s.deviance_parameters = mf.hypotheses.deviance_test.parameters
            s.deviance_convention = mf.hypotheses.deviance_test.convention
        s.resid1 = mf.output.level1_residuals is not None
        s.resid2 = mf.output.level2_residuals is not None
        s.resid_format = mf.output.format
        s.exploratory = list(mf.output.exploratory)
        self.outcome, self.coefs, self.constraints = new.outcome, new.coefs, new.constraints
        self.settings = s


def normalize_value(choice: str) -> bool | str:
    """The window's "normalized" choice as a model file's ``normalize`` value."""
    return "overall" if choice == "overall" else choice != "none"


def normalize_choice(value: bool | str) -> str:
    """A model file's ``normalize`` value as the window's choice."""
    if isinstance(value, str):
        return value if value in ("within", "overall", "none") else "within"
    return "within" if value else "none"


def prior_model(s: Settings, runs: list[Any]) -> dict[str, Any] | None:
    """The prior model of the deviance test the settings ask for (typed, or an earlier run)."""
    if s.deviance_source == "typed":
        if s.deviance_value is None or s.deviance_parameters is None:
            raise SpecError("deviance test: type the prior model's deviance and its "
                            "number of parameters")
        prior = {"deviance": float(s.deviance_value), "n_parameters": int(s.deviance_parameters)}
        if s.deviance_convention == "hlm":   # the deviance as HLM prints it
            prior["convention"] = "hlm"
        return prior
    if s.deviance_source.startswith("run:"):
        number = int(s.deviance_source[4:])
        for run in runs:
            if run.number == number and run.results is not None:
                if run.results.deviance is None:
                    raise SpecError(f"deviance test: run {number} has no deviance (PQL); "
                                    "fit it with Laplace or adaptive quadrature")
                return {"deviance": float(run.results.deviance),
                        "n_parameters": int(run.results.n_parameters)}
        raise SpecError(f"deviance test: run {number} has no results")
    return None


def run_fit(state: Any, data: Any, runs: list[Any] | None = None) -> Any:
    """Fit the window's model to ``data`` (an MDM, a three-level MDM3 with a
    :class:`~openhlm.gui.state3.Model3State`, or a list of MDMs for multiply imputed data sets)
    through the library's one runner: the GUI's only door into the statistics.

    The window's settings become one :class:`~openhlm.spec.options.FitOptions` (the same
    object ``openhlm.fit``, the TOML and command-file readers and every CLI command build), and
    :func:`openhlm.runner.run` fits it, so the GUI, the CLI and the API give identical results
    for the same model.
    """
    from openhlm.runner import run

    return run(state.equations_only(), data, fit_options(state, runs))


def fit_options(state: Any, runs: list[Any] | None = None) -> Any:
    """The window's :class:`~openhlm.spec.options.FitOptions`: those of :meth:`fit_kwargs`
    (``openhlm.fit``'s keywords), with HLM-mode PQL's macro / micro iteration settings in the
    outcome (as an HLM command file's ``macroit``/``microit``/``stopmacro``/``stopmicro``)."""
    from openhlm.spec.options import FitOptions

    options = FitOptions.from_kwargs(**state.fit_kwargs(runs))
    extra = state.settings.pql_iterations()
    if extra:
        options = options.replace(outcome=dataclasses.replace(options.outcome, **extra))
    return options


def model_file_text(state: ModelState, data_names: dict[str, str | None], id: str | None,
                    missing: str = "analysis", runs: list[Any] | None = None) -> str:
    """The window as a TOML model file (the library's writer); ``data_names``: the uploaded
    file names (``level1``, ``level2``, ``mdm``), written as names relative to the file."""
    from openhlm.spec import modelfile as mf

    s = state.settings
    prior = state.prior_model(runs or [])
    deviance = (mf.DevianceTest(prior["deviance"], prior["n_parameters"],
                                prior.get("convention", "standard"))
                if prior is not None else None)

    def name(key: str) -> Path | None:
        value = data_names.get(key)
        return Path(value) if value else None

    fmt = s.resid_format
    hglm = s.outcome_kwargs()
    model_file = mf.ModelFile(
        path=None,
        title=s.title,
        data=mf.DataSection(level1=name("level1"), level2=name("level2"), mdm=name("mdm"),
                            id=id, missing=missing if missing in ("analysis", "listwise")
                            else "analysis"),
        model=mf.ModelSection(equations=state.equations_only() + "\n",
                              constraints=tuple(state.constraints),
                              heterogeneous_sigma2=tuple(s.heterogeneous),
                              distribution=s.distribution, trials=hglm.get("trials"),
                              exposure=hglm.get("exposure"),
                              overdispersion=bool(hglm.get("overdispersion"))),
        estimation=mf.EstimationSection(
            # full PQL is method "ml" in the file (restricted PQL: "pql", HLM's default)
            "ml" if hglm.get("pql_likelihood") == "ml" else hglm.get("method", s.method),
            s.mode,  # type: ignore[arg-type]
            s.max_iterations or 100, s.tolerance or 1e-6, hglm.get("quadrature_points")),
        weights=mf.WeightsSection(s.level1_weight, s.level2_weight, s.precision_weight,
                                  normalize_value(s.normalize)),
        hypotheses=mf.HypothesesSection(tuple(tuple(r) for r in s.glh), s.homogeneity,
                                        deviance),
        output=mf.OutputSection(
            level1_residuals=Path(f"resid1.{fmt}") if s.resid1 else None,
            level2_residuals=Path(f"resid2.{fmt}") if s.resid2 else None,
            format=fmt, exploratory=tuple(s.exploratory)),
    )
    return mf.format_model_file(model_file)


def command_file_text(state: ModelState, mdm_name: str = "model.mdm",
                      runs: list[Any] | None = None) -> str:
    """The window as an HLM 6 command file (the library's writer)."""
    from openhlm.spec.commandfile import CommandOptions, write_command_file
    from openhlm.spec.contrasts import parse_hypothesis
    from openhlm.spec.model import Constraint

    s = state.settings
    if not s.normal and s.hglm_method != "pql":
        raise SpecError("an HLM 6 command file holds PQL only (HLM's HGLM estimation); use the "
                        "TOML model file for Laplace or adaptive quadrature")
    if not s.normal and s.overdispersion:
        raise SpecError("over-dispersion is not written to HLM 6 command files; use the TOML "
                        "model file")
    hglm = s.outcome_kwargs()
    spec = state.spec()
    spec = dataclasses.replace(spec, constraints=tuple(
        Constraint(tuple(p.strip() for p in c.split("="))) for c in state.constraints),
        variance_predictors=tuple(s.heterogeneous))
    lines = []
    for number, rows in enumerate(s.glh, start=1):
        for row in parse_hypothesis(rows, spec.gamma_labels(), where=f"hypothesis {number}"):
            if row.rhs != 0:
                raise SpecError("an HLM command file holds hypotheses with right-hand side 0 "
                                "only; use the TOML model file")
            lines.append(f"gamma{number}:" + ",".join(f"{v:g}" for v in row.row))
    fmt = {"sav": "spss", "dta": "stata", "xpt": "sas"}.get(s.resid_format, s.resid_format)
    prior = state.prior_model(runs or [])
    deviance = prior["deviance"] if prior is not None else None
    parameters = prior["n_parameters"] if prior is not None else None
    options = CommandOptions(
        method=s.method,  # type: ignore[arg-type]
        max_iterations=s.max_iterations or 100, tolerance=s.tolerance or 1e-6,
        homvar=s.homogeneity, hypoth=bool(lines), hypotheses=tuple(lines),
        deviance=deviance, df=parameters,
        level1_weight=s.level1_weight, level2_weight=s.level2_weight,
        variance_known=s.precision_weight,
        resfil1=s.resid1, resfil1_name=f"resid1.{s.resid_format}" if s.resid1 else None,
        resfil1_variables=tuple(s.resid1_extra),
        resfil2=s.resid2, resfil2_name=f"resid2.{s.resid_format}" if s.resid2 else None,
        resfil2_variables=tuple(s.resid2_extra),
        resfil_type=fmt if (s.resid1 or s.resid2) else None,
        title=s.title or "no title",
        # an HGLM: nonlin: (trials / exposure), mlf: (full PQL) and HLM's PQL iterations
        distribution=s.distribution, trials=hglm.get("trials"), exposure=hglm.get("exposure"),
        macro_iterations=s.macro_iterations, micro_iterations=s.micro_iterations,
        stop_macro=s.stop_macro, stop_micro=s.stop_micro,
    )
    return write_command_file(spec, options, mdm=mdm_name)


def restore_from_file(state: ModelState, name: str, text: str, level1: tuple[str, ...],
                      level2: tuple[str, ...]) -> None:
    """Re-open a TOML model file or an HLM command file (``.hlm``/``.cmd``) into the window.

    Paths in the file are not read: the data are the session's.  Raises the library's
    :class:`~openhlm.errors.CommandFileError` for a file that cannot be read.
    """
    from openhlm.spec.commandfile import parse_command_file
    from openhlm.spec.modelfile import DataSection, model_file_from_command_file, parse_model_file

    if name.lower().endswith(".toml"):
        model_file = parse_model_file(text, path=None)
        mode = model_file.estimation.mode
    else:
        command = parse_command_file(text if "\n" in text else text + "\n",
                                     level1_variables=level1, level2_variables=level2)
        model_file = model_file_from_command_file(command, DataSection(), mode="exact")
        mode = "exact"
        resid_extra = (list(command.options.resfil1_variables),
                       list(command.options.resfil2_variables))
    state.restore(model_file, level1, level2)
    state.settings.mode = mode
    if not name.lower().endswith(".toml"):
        st = state.settings
        st.resid1_extra, st.resid2_extra = resid_extra
        o = command.options
        if o.distribution != "normal":   # nonlin: an HGLM fitted by PQL (mlf: full PQL)
            st.set_outcome_from(o.distribution, o.trials, o.exposure, "pql", None, False)
            st.method = o.method
            st.macro_iterations, st.micro_iterations = o.macro_iterations, o.micro_iterations
            st.stop_macro, st.stop_micro = o.stop_macro, o.stop_micro


def is_user_error(exc: BaseException) -> bool:
    return isinstance(exc, (OpenHLMError, ValueError))
