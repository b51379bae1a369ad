"""How to run a model, as frozen data: :class:`FitOptions`.

Every door into a fit builds one of these and hands it, with the model and the data, to
:func:`openhlm.runner.run`:

* :func:`openhlm.fit` and :func:`openhlm.fit_imputed`: :meth:`FitOptions.from_kwargs`;
* a TOML model file (``openhlm fit MODEL.toml``): :meth:`FitOptions.from_model_file`;
* an HLM 6 command file (``openhlm fit FILE.hlm``): :meth:`FitOptions.from_command_file`;
* command-line options of ``openhlm fit|residuals|plot``: :meth:`FitOptions.with_overrides`.

:meth:`FitOptions.to_toml` and :meth:`FitOptions.to_command_file` write the options back.  The
defaults are written once, in :mod:`openhlm.spec.defaults` (iteration limits per mode) and
in :mod:`openhlm.spec.settings` (the parts: weights, tests, residual files, output, imputation);
``docs/options.md`` lists the fields and how each door fills them.

Iteration limits: ``max_iterations``/``tolerance`` ``None`` mean the mode's default (HLM mode
100 / 1e-6, exact mode 1000 / 1e-10); :attr:`FitOptions.limits` is what the run uses.  In a
model file or a command file, HLM's values (100 / 1e-6) mean "the mode's default" too, and a
command file's ``numit``/``stopval`` (HLM's EM settings) count in HLM mode only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openhlm.errors import SpecError
from openhlm.spec.commandfile import CommandFile, CommandOptions, write_command_file
from openhlm.spec.contrasts import parse_hypothesis
from openhlm.spec.defaults import HLM_LIMITS, IterationLimits, iteration_limits
from openhlm.spec.model import Constraint, ModelSpec
from openhlm.spec.modelfile import (
    DataSection,
    DevianceTest,
    EstimationSection,
    HypothesesSection,
    ModelFile,
    ModelSection,
    OutputSection,
    WeightsSection,
    format_model_file,
    model_file_from_command_file,
)
from openhlm.spec.names import close_matches, did_you_mean
from openhlm.spec.printing import format_equations
from openhlm.spec.settings import (
    DEFAULT_NORMALIZATION,
    DEFAULT_OLS_UNITS,
    ENGINES,
    METHODS,
    MODES,
    NORMALIZATIONS,
    Imputation,
    Outcome,
    Output,
    Residuals,
    Tests,
    Weights,
    normalization_mode,
    variable_names,
)

__all__ = [
    "DEFAULT_NORMALIZATION",
    "DEFAULT_OLS_UNITS",
    "METHODS",
    "MODES",
    "NORMALIZATIONS",
    "FitOptions",
    "Imputation",
    "Outcome",
    "Output",
    "Residuals",
    "Tests",
    "Weights",
    "normalization_mode",
]

#: ``openhlm.fit`` keywords (besides model and data) -> how :meth:`FitOptions.from_kwargs` reads
#: them.
_KWARGS = ("method", "mode", "constraints", "max_iterations", "tolerance", "ols_units",
           "level1_weight", "level2_weight", "normalize_weights", "precision_weight",
           "level3_weight", "imputation", "plausible_values", "heterogeneous_sigma2", "hypotheses",
           "homogeneity",
           "deviance_test", "exploratory", "exploratory3", "distribution", "trials", "exposure",
           "quadrature_points", "overdispersion", "pql_likelihood", "macro_iterations",
           "micro_iterations", "stop_macro", "stop_micro", "engine", "scheduler", "quiet")
#: Fields of :class:`Outcome` :meth:`FitOptions.with_overrides` accepts by name.
_OUTCOME = ("distribution", "trials", "exposure", "quadrature_points", "overdispersion",
            "pql_likelihood", "macro_iterations", "micro_iterations", "stop_macro", "stop_micro")
#: Flat names :meth:`FitOptions.with_overrides` accepts for fields of the parts.
_FLAT = {"ols_units": "output", "full": "output", "title": "output", "report": "output",
         "json": "output", "html": "output"}


def _hglm_method(oc: Outcome, linear_method: str) -> str:
    """An HGLM's ``[estimation] method`` in a TOML file: laplace / agq, or ``"pql"``
    (restricted PQL, HLM's default) or ``"ml"`` (full PQL), so that reading it back keeps the
    likelihood of the linearised model."""
    if oc.method != "pql":
        return str(oc.method)
    return "ml" if (oc.pql_likelihood or linear_method) == "ml" else "pql"


@dataclass(frozen=True)
class FitOptions:
    """Everything about a run besides the model and the data.

    Attributes
    ----------
    method : {"reml", "ml"}
        Of the linear model (for an HGLM, ``outcome.method`` is the estimation method).
    mode : {"exact", "hlm"}
    max_iterations, tolerance : int, float or None
        ``None``: the mode's default (:attr:`limits`).
    constraints : tuple of str or Constraint
        Equality constraints added to the model (``"G02 = G12"``).
    heterogeneous_sigma2 : tuple of str
        Level-1 variables of a log-linear model for sigma^2 (full ML only).
    weights : Weights
    imputation : Imputation
    tests : Tests
    exploratory : tuple of str, str or None
        Level-2 variables for HLM's exploratory analysis (``None``: not run).
    exploratory3 : tuple of str, str or None
        Three-level models: level-3 variables for HLM3's exploratory analysis of potential
        level-3 predictors (``None``: not run; ``exploratory`` holds the level-2 candidates).
    output : Output
    residuals : Residuals
    outcome : Outcome
        The level-1 sampling model (``distribution``, ``trials``, ``exposure``, the HGLM
        ``method``, ``quadrature_points``, ``overdispersion``); default normal = linear model.
    engine : {"memory", "duckdb", "dask"}
        What computes the per-unit statistics (``docs/scale.md``): the rows in memory (the
        default), DuckDB over Parquet/CSV files out of core, or Dask.
    scheduler : str or None
        ``engine="dask"``: the address of a running Dask scheduler (``"tcp://host:8786"``);
        ``None``: the current ``distributed.Client`` if any, else Dask's default scheduler.
    quiet : bool
        No progress lines on standard error during the pass over the data.
    sources : mapping, not compared
        Where settings came from, for error messages and the report header: ``"tests"``,
        ``"exploratory"``, ``"command_file"``.
    """

    method: str = "reml"
    mode: str = "exact"
    max_iterations: int | None = None
    tolerance: float | None = None
    constraints: tuple[str | Constraint, ...] = ()
    heterogeneous_sigma2: tuple[str, ...] = ()
    weights: Weights = field(default_factory=Weights)
    imputation: Imputation = field(default_factory=Imputation)
    tests: Tests = field(default_factory=Tests)
    exploratory: tuple[str, ...] | str | None = None
    exploratory3: tuple[str, ...] | str | None = None
    output: Output = field(default_factory=Output)
    residuals: Residuals = field(default_factory=Residuals)
    outcome: Outcome = field(default_factory=Outcome)
    engine: str = "memory"
    scheduler: str | None = None
    quiet: bool = False
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for key, allowed in (("method", METHODS), ("mode", MODES), ("engine", ENGINES)):
            value = getattr(self, key)
            if not isinstance(value, str) or value.lower() not in allowed:
                raise SpecError(f"{key} must be {' or '.join(map(repr, allowed))}, not {value!r}")
            object.__setattr__(self, key, value.lower())
        given: Any = self.constraints
        constraints = (given,) if isinstance(given, (str, Constraint)) else tuple(given or ())
        for c in constraints:
            if not isinstance(c, (str, Constraint)):
                raise SpecError(f"constraints must be text such as 'G02 = G12', not "
                                f"{type(c).__name__}")
        object.__setattr__(self, "constraints", constraints)
        object.__setattr__(self, "heterogeneous_sigma2",
                           variable_names(self.heterogeneous_sigma2, "heterogeneous_sigma2"))
        for key in ("exploratory", "exploratory3"):
            value = getattr(self, key)
            if value is not None and not isinstance(value, str):
                object.__setattr__(self, key, tuple(value))
        object.__setattr__(self, "sources", dict(self.sources))

    # -- derived ---------------------------------------------------------------------------

    @property
    def limits(self) -> IterationLimits:
        """The iteration limit and convergence criterion the run uses (mode's default for
        ``None``)."""
        return iteration_limits(self.mode, self.max_iterations, self.tolerance)

    # -- building ----------------------------------------------------------------------------

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> FitOptions:
        """The options of :func:`openhlm.fit`'s keyword arguments (its defaults for the rest).

        Raises
        ------
        SpecError
            An unknown keyword (with close matches) or a value of the wrong kind.
        """
        unknown = [k for k in kwargs if k not in _KWARGS]
        if unknown:
            hint = did_you_mean(close_matches(unknown[0], _KWARGS))
            raise SpecError(f"unknown fit option '{unknown[0]}'{hint}")
        k = kwargs.get
        distribution = k("distribution") or "normal"
        method = k("method")
        glmm_method = None
        if not (isinstance(distribution, str) and distribution.lower() == "normal") and not (
                isinstance(method, str) and method.lower() in ("reml", "ml")):
            # an HGLM's method is pql / laplace / agq; reml / ml there mean PQL with the
            # linearised model fitted by that likelihood (restricted / full PQL, as in HLM)
            glmm_method, method = method, None
        outcome = Outcome(distribution, k("trials"), k("exposure"), glmm_method,
                          k("quadrature_points"), bool(k("overdispersion", False)),
                          k("pql_likelihood"), k("macro_iterations"), k("micro_iterations"),
                          k("stop_macro"), k("stop_micro"))
        return cls(
            method=method or "reml", mode=k("mode", "exact"), outcome=outcome,
            max_iterations=k("max_iterations"), tolerance=k("tolerance"),
            constraints=k("constraints", ()), heterogeneous_sigma2=k("heterogeneous_sigma2", ()),
            weights=Weights(k("level1_weight"), k("level2_weight"), k("precision_weight"),
                            k("normalize_weights", True), k("level3_weight")),
            imputation=Imputation(k("imputation"), k("plausible_values") or ()),
            tests=Tests(k("hypotheses"), k("homogeneity", False), k("deviance_test")),
            exploratory=k("exploratory"), exploratory3=k("exploratory3"),
            output=Output(ols_units=k("ols_units", DEFAULT_OLS_UNITS)),
            engine=k("engine", "memory"), scheduler=k("scheduler"), quiet=bool(k("quiet", False)))

    def to_kwargs(self) -> dict[str, Any]:
        """The :func:`openhlm.fit` keywords of these options (files and display left out)."""
        w, t, i, oc = self.weights, self.tests, self.imputation, self.outcome
        hglm: dict[str, Any] = {} if oc.normal else {
            "distribution": oc.distribution, "trials": oc.trials, "exposure": oc.exposure,
            "quadrature_points": oc.quadrature_points, "overdispersion": oc.overdispersion,
            "pql_likelihood": oc.pql_likelihood or (None if self.method == "reml"
                                                    else self.method),
            "macro_iterations": oc.macro_iterations, "micro_iterations": oc.micro_iterations,
            "stop_macro": oc.stop_macro, "stop_micro": oc.stop_micro}
        return {**hglm, "method": self.method if oc.normal else oc.method, "mode": self.mode,
                "constraints": self.constraints,
                "max_iterations": self.max_iterations, "tolerance": self.tolerance,
                "ols_units": self.output.ols_units, "level1_weight": w.level1,
                "level2_weight": w.level2, "normalize_weights": w.normalize,
                "precision_weight": w.precision, "level3_weight": w.level3,
                "imputation": i.column,
                "plausible_values": i.plausible_values or None,
                "heterogeneous_sigma2": self.heterogeneous_sigma2, "hypotheses": t.hypotheses,
                "homogeneity": t.homogeneity, "deviance_test": t.deviance_test,
                "exploratory": self.exploratory, "exploratory3": self.exploratory3,
                "engine": self.engine,
                "scheduler": self.scheduler, "quiet": self.quiet}

    def replace(self, **changes: Any) -> FitOptions:
        """A copy with fields replaced (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)

    def with_overrides(self, **overrides: Any) -> FitOptions:
        """A copy with the given settings replaced; ``None`` means "not given" (keep).

        Takes the field names of :class:`FitOptions` and, for the parts of :class:`Output`,
        their own names (``ols_units``, ``full``, ``title``, ``report``, ``json``, ``html``), as
        command-line options give them.
        """
        top: dict[str, Any] = {}
        parts: dict[str, dict[str, Any]] = {}
        names = {f.name for f in dataclasses.fields(self)}
        overrides = dict(overrides)
        changes = {k: overrides.pop(k) for k in _OUTCOME if overrides.get(k) is not None}
        for k in _OUTCOME:
            overrides.pop(k, None)
        distribution = changes.get("distribution", self.outcome.distribution)
        if (overrides.get("method") is not None and distribution != "normal"
                and str(overrides["method"]).lower() not in ("reml", "ml")):
            changes["method"] = overrides.pop("method")
        if changes:
            current = dataclasses.asdict(self.outcome)
            if distribution == "normal":
                current.update(method=None, quadrature_points=None, overdispersion=False)
            elif (changes.get("method", current["method"]) != "agq"
                  and "quadrature_points" not in changes):
                current["quadrature_points"] = None
            top["outcome"] = Outcome(**{**current, **changes})
        for key, value in overrides.items():
            if value is None:
                continue
            if key in _FLAT:
                parts.setdefault(_FLAT[key], {})[key] = value
            elif key in names:
                top[key] = value
            else:
                hint = did_you_mean(close_matches(key, sorted(names | set(_FLAT)
                                                          | set(_OUTCOME))))
                raise SpecError(f"unknown fit option '{key}'{hint}")
        for part, values in parts.items():
            top[part] = dataclasses.replace(top.get(part, getattr(self, part)), **values)
        return dataclasses.replace(self, **top) if top else self

    @classmethod
    def from_model_file(cls, mf: ModelFile, *, level1_variables: Iterable[str] | None = None,
                        level2_variables: Iterable[str] | None = None,
                        **overrides: Any) -> FitOptions:
        """The options of a TOML model file (``[estimation]``, ``[weights]``, ``[hypotheses]``,
        ``[output]``, ``[model]`` constraints and heterogeneous sigma^2), then ``overrides``
        (:meth:`with_overrides`).

        With the MDM's variable names, the weight variables are checked and spelled as in the
        MDM (errors point into the file).
        """
        est = mf.estimation
        mode = overrides.get("mode") or est.mode
        weights = mf.weights
        if level1_variables is not None and level2_variables is not None:
            weights = mf.resolved_weights(level1_variables, level2_variables)
        h = mf.hypotheses
        deviance = None
        if h.deviance_test is not None:
            deviance = {"deviance": h.deviance_test.deviance,
                        "n_parameters": h.deviance_test.parameters,
                        "convention": h.deviance_test.convention}
        o = mf.output
        sources = {"tests": mf.source}
        for key in ("exploratory", "exploratory3"):
            if getattr(o, key):
                sources[key] = f"{mf.source}: [output] {key}"
        m = mf.model
        hglm = m.distribution != "normal"
        # an HGLM's [estimation] method is pql / laplace / agq, or reml / ml (the default
        # reml included): then PQL, the linearised model fitted by that likelihood
        linear_method = est.method in ("reml", "ml")
        try:
            outcome = Outcome(m.distribution, m.trials, m.exposure,
                              est.method if hglm and not linear_method else None,
                              est.quadrature_points, m.overdispersion, None,
                              est.macro_iterations, est.micro_iterations, est.stop_macro,
                              est.stop_micro)
        except SpecError as exc:
            raise SpecError(f"{mf.source}: {exc}") from None
        options = cls(
            method=est.method if linear_method else "reml", mode=mode, outcome=outcome,
            max_iterations=_file_limit(est.max_iterations, HLM_LIMITS.max_iterations),
            tolerance=_file_limit(est.tolerance, HLM_LIMITS.tolerance),
            constraints=mf.model.constraints, heterogeneous_sigma2=mf.model.heterogeneous_sigma2,
            weights=Weights(weights.level1, weights.level2, weights.precision, weights.normalize,
                            weights.level3),
            tests=Tests(h.glh or None, h.homogeneity, deviance),
            exploratory=o.exploratory or None, exploratory3=o.exploratory3 or None,
            output=Output(report=o.report, json=o.json, html=o.html, title=mf.title or None),
            # csv is [output]'s default format: then each file's suffix decides
            residuals=Residuals(o.level1_residuals, o.level2_residuals,
                                None if o.format == "csv" else o.format,
                                level3=o.level3_residuals),
            engine=mf.data.engine, scheduler=mf.data.scheduler, sources=sources)
        return options.with_overrides(**overrides)

    @classmethod
    def from_command_file(cls, cf: CommandFile, **overrides: Any) -> FitOptions:
        """The options of an HLM 6 command file, then ``overrides`` (:meth:`with_overrides`).

        ``numit``/``stopval`` are HLM's EM settings: they count in HLM mode only (the mode is
        not part of a command file: ``"exact"`` unless ``overrides`` say ``mode="hlm"``).
        HLM 6 normalises design weights within units; a command file's ``deviance:`` is the
        value HLM prints (convention ``"hlm"``).
        """
        o = cf.options
        mode = overrides.get("mode") or "exact"
        hlm = mode == "hlm"
        # contrast rows as text ("G01 - G11 = 0"), as in a TOML file: the same hypotheses
        # whichever file they come from
        glh = model_file_from_command_file(cf, DataSection()).hypotheses.glh
        deviance = None
        if o.deviance is not None and o.df is not None:
            deviance = {"deviance": o.deviance, "n_parameters": o.df, "convention": "hlm"}
        residuals = Residuals()
        if o.resfil1 or o.resfil2:
            suffix = {"spss": ".sav", "stata": ".dta", "sas": ".xpt"}.get(o.resfil_type or "",
                                                                           ".csv")
            residuals = Residuals(
                level1=Path(o.resfil1_name or f"resfil1{suffix}") if o.resfil1 else None,
                level2=Path(o.resfil2_name or f"resfil2{suffix}") if o.resfil2 else None,
                format=o.resfil_type,  # HLM: resfiltype decides, whatever the file's name
                extra_level1=o.resfil1_variables, extra_level2=o.resfil2_variables)
        outcome = Outcome()
        if o.distribution != "normal":   # nonlin: (openhlm.spec.commandfile_hglm)
            outcome = Outcome(o.distribution, o.trials, o.exposure, "pql",
                              macro_iterations=o.macro_iterations,
                              micro_iterations=o.micro_iterations, stop_macro=o.stop_macro,
                              stop_micro=o.stop_micro)
        options = cls(
            method=o.method, mode=mode, outcome=outcome,
            max_iterations=_file_limit(o.max_iterations, HLM_LIMITS.max_iterations) if hlm
            else None,
            tolerance=_file_limit(o.tolerance, HLM_LIMITS.tolerance) if hlm else None,
            constraints=tuple(str(c) for c in cf.spec.constraints),
            heterogeneous_sigma2=cf.spec.variance_predictors,
            weights=Weights(o.level1_weight, o.level2_weight, o.variance_known),
            tests=Tests(glh or None, o.homvar, deviance),
            output=Output(ols_units=o.lev1ols, full=o.fulloutput, title=o.title),
            residuals=residuals,
            sources={"tests": cf.source, "command_file": cf.source})
        return options.with_overrides(**overrides)

    # -- writing -----------------------------------------------------------------------------

    def to_model_file(self, model: str | ModelSpec, data: DataSection, *,
                      path: str | Path | None = None) -> ModelFile:
        """A :class:`~openhlm.spec.modelfile.ModelFile` running ``model`` on ``data`` with
        these options (:meth:`from_model_file` reads it back to them).

        Raises
        ------
        SpecError
            Settings a TOML model file cannot hold: multiple imputation, contrast matrices or
            dicts as hypotheses, residual extra variables, a non-default number of OLS units or
            full output.
        """
        if self.imputation.requested:
            raise SpecError("a TOML model file cannot hold multiple imputation settings")
        if self.residuals.extra_level1 or self.residuals.extra_level2:
            raise SpecError("a TOML model file cannot hold extra residual-file variables")
        if self.output.ols_units != DEFAULT_OLS_UNITS or self.output.full:
            raise SpecError("a TOML model file cannot hold ols_units or full output")
        if isinstance(model, ModelSpec):
            equations = format_equations(ModelSpec(model.outcome, model.coefficients)) + "\n"
            constraints = tuple(dict.fromkeys(
                [str(c) for c in model.constraints] + [str(c) for c in self.constraints]))
            variance = self.heterogeneous_sigma2 or model.variance_predictors
        else:
            equations, variance = str(model), self.heterogeneous_sigma2
            constraints = tuple(str(c) for c in self.constraints)
        dev = self.tests.deviance_test
        deviance = None
        if dev is not None:
            n = dev.get("n_parameters", dev.get("parameters", dev.get("df")))
            deviance = DevianceTest(float(dev["deviance"]), int(n),
                                    dev.get("convention", "standard"))
        if self.engine != "memory" or self.scheduler is not None:   # [data] engine, scheduler
            data = dataclasses.replace(data, engine=self.engine, scheduler=self.scheduler)
        w, o, r = self.weights, self.output, self.residuals
        mode = str(w.normalize)
        normalize: bool | str = {"within": True, "none": False}.get(mode, mode)
        oc = self.outcome
        return ModelFile(
            path=Path(path) if path is not None else None, title=o.title or "", data=data,
            model=ModelSection(equations, constraints, tuple(variance),
                               distribution=oc.distribution, trials=oc.trials,
                               exposure=oc.exposure, overdispersion=oc.overdispersion),
            estimation=EstimationSection(
                self.method if oc.normal else _hglm_method(oc, self.method),  # type: ignore[arg-type]
                self.mode,  # type: ignore[arg-type]
                HLM_LIMITS.max_iterations if self.max_iterations is None
                else self.max_iterations,
                HLM_LIMITS.tolerance if self.tolerance is None else self.tolerance,
                oc.quadrature_points if oc.method == "agq" else None,
                oc.macro_iterations, oc.micro_iterations, oc.stop_macro, oc.stop_micro),
            weights=WeightsSection(w.level1, w.level2, w.precision, normalize, w.level3),
            hypotheses=HypothesesSection(_text_hypotheses(self.tests.hypotheses),
                                         self.tests.homogeneity, deviance),
            output=OutputSection(
                report=o.report, json=o.json, html=o.html, level1_residuals=r.level1,
                level2_residuals=r.level2, format=r.format or "csv", level3_residuals=r.level3,
                exploratory=(self.exploratory,) if isinstance(self.exploratory, str)
                else tuple(self.exploratory or ()),
                exploratory3=(self.exploratory3,) if isinstance(self.exploratory3, str)
                else tuple(self.exploratory3 or ())))

    def to_toml(self, model: str | ModelSpec, data: DataSection, *,
                path: str | Path | None = None) -> str:
        """The TOML model-file text of :meth:`to_model_file`."""
        return format_model_file(self.to_model_file(model, data, path=path))

    def to_command_file(self, spec: ModelSpec, *, mdm: str = "model.mdm") -> str:
        """An HLM 6 command file running ``spec`` with these options
        (:meth:`from_command_file` reads it back to them, with ``mode`` given as an override).

        ``spec`` is the model as fitted (``results.spec``): it carries the constraints and
        heterogeneous sigma^2 variables that a command file writes with the model.

        Raises
        ------
        SpecError
            Settings a command file cannot hold: multiple imputation, weights not normalised
            within units, exploratory variables, report files, a deviance test in the standard
            convention, hypotheses with a right-hand side other than 0.
        """
        if self.constraints and not spec.constraints:
            raise SpecError("pass the fitted model (results.spec), which carries the constraints")
        if self.heterogeneous_sigma2 and not spec.variance_predictors:
            raise SpecError("pass the fitted model (results.spec), which carries the "
                            "heterogeneous sigma^2 variables")
        problems = [what for what, bad in (
            ("multiple imputation", self.imputation.requested),
            ("weights not normalised within units", self.weights.normalize != "within"),
            ("an exploratory analysis", bool(self.exploratory) or bool(self.exploratory3)),
            ("report files", any(v is not None for v in (self.output.report, self.output.json,
                                                         self.output.html))),
        ) if bad]
        dev = self.tests.deviance_test
        if dev is not None and dev.get("convention", "standard") != "hlm":
            problems.append("a deviance test in the standard convention (command files hold "
                            "HLM's printed deviance)")
        if problems:
            raise SpecError(f"an HLM command file cannot hold {', '.join(problems)}")
        limits = self.limits if self.mode == "hlm" else HLM_LIMITS
        oc = self.outcome
        if not oc.normal and (oc.method != "pql" or oc.overdispersion
                              or oc.pql_likelihood not in (None, self.method)):
            raise SpecError("an HLM command file holds PQL fits (restricted or full PQL as "
                            "mlf says) without over-dispersion only")
        hglm: dict[str, Any] = {} if oc.normal else {
            "distribution": oc.distribution, "trials": oc.trials, "exposure": oc.exposure,
            "macro_iterations": oc.macro_iterations, "micro_iterations": oc.micro_iterations,
            "stop_macro": oc.stop_macro, "stop_micro": oc.stop_micro}
        n = None if dev is None else dev.get("n_parameters", dev.get("parameters", dev.get("df")))
        r, o = self.residuals, self.output
        options = CommandOptions(
            method=self.method,  # type: ignore[arg-type]
            max_iterations=limits.max_iterations, tolerance=limits.tolerance,
            lev1ols=o.ols_units, fulloutput=o.full, homvar=self.tests.homogeneity,
            hypoth=self.tests.hypotheses is not None,
            hypotheses=_gamma_lines(self.tests.hypotheses, spec),
            deviance=None if dev is None else float(dev["deviance"]),
            df=None if n is None else int(n), level1_weight=self.weights.level1,
            level2_weight=self.weights.level2, variance_known=self.weights.precision,
            resfil1=r.level1 is not None, resfil1_name=None if r.level1 is None else str(r.level1),
            resfil1_variables=r.extra_level1, resfil2=r.level2 is not None,
            resfil2_name=None if r.level2 is None else str(r.level2),
            resfil2_variables=r.extra_level2, resfil_type=r.format,
            title=o.title or "no title", **hglm)
        return write_command_file(spec, options, mdm=mdm)


def _file_limit(value: Any, hlm_default: Any) -> Any:
    """A file's iteration setting: HLM's default value means "the mode's default"."""
    return None if value == hlm_default else value


def _hypothesis_rows(h: Any) -> tuple[Any, ...]:
    if isinstance(h, str):
        return tuple(r.strip() for r in h.split(";") if r.strip())
    return tuple(h)


def _split(hypotheses: Any) -> tuple[Any, ...]:
    if hypotheses is None:
        return ()
    if isinstance(hypotheses, str):
        return (hypotheses,)
    if isinstance(hypotheses, Mapping):
        raise SpecError("hypotheses given as dicts cannot be written to a file; write them as "
                        "text ('G01 = 0; G11 = 0')")
    items = tuple(hypotheses)
    if items and all(isinstance(r, (int, float)) for r in items):
        return ((items,),)  # one hypothesis of one row
    if items and all(isinstance(r, tuple) and r and all(isinstance(v, (int, float)) for v in r)
                     for r in items):
        return (items,)  # one hypothesis of numeric rows
    return items


def _text_hypotheses(hypotheses: Any) -> tuple[tuple[str, ...], ...]:
    out = []
    for h in _split(hypotheses):
        rows = _hypothesis_rows(h)
        if not rows or not all(isinstance(r, str) for r in rows):
            raise SpecError("a TOML model file holds hypotheses as text ('G01 = 0'), not "
                            "contrast matrices; write them as text")
        out.append(rows)
    return tuple(out)


def _gamma_lines(hypotheses: Any, spec: ModelSpec) -> tuple[str, ...]:
    """Hypotheses as a command file's ``gammaN:`` lines (rows over ``spec.gamma_labels()``)."""
    gammas = spec.gamma_labels()
    lines = []
    for number, h in enumerate(_split(hypotheses), start=1):
        rows = _hypothesis_rows(h)
        if rows and all(isinstance(r, str) for r in rows):
            parsed = parse_hypothesis(rows, gammas, where=f"hypothesis {number}")
            if any(p.rhs != 0 for p in parsed):
                raise SpecError("an HLM command file cannot hold a hypothesis with a right-hand "
                                "side other than 0")
            rows = tuple(p.row for p in parsed)
        for row in rows:
            if not (isinstance(row, tuple) and len(row) == len(gammas)):
                raise SpecError(f"hypothesis {number}: a contrast row needs one number per gamma "
                                f"({', '.join(gammas)})")
            lines.append(f"gamma{number}:" + ",".join(f"{float(v):.15g}" for v in row))
    return tuple(lines)
