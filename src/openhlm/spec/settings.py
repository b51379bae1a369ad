"""The parts of :class:`~openhlm.spec.options.FitOptions`, as frozen data: weights, tests,
residual files, output, multiple imputation; and the vocabularies of method, mode and weight
normalisation (written once, here)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from openhlm.errors import SpecError

__all__ = [
    "DEFAULT_NORMALIZATION",
    "DEFAULT_OLS_UNITS",
    "DEFAULT_QUADRATURE_POINTS",
    "DISTRIBUTIONS",
    "ENGINES",
    "GLMM_METHODS",
    "LATER_DISTRIBUTIONS",
    "METHODS",
    "MODES",
    "NORMALIZATIONS",
    "Imputation",
    "Outcome",
    "Output",
    "Residuals",
    "Tests",
    "Weights",
    "normalization_mode",
]

#: Estimation methods: restricted (HLM's default) or full maximum likelihood.
METHODS = ("reml", "ml")
#: ``"exact"``: to the maximum of the likelihood; ``"hlm"``: HLM 6's EM, start and stop rule.
MODES = ("exact", "hlm")
#: What computes the per-unit statistics: the rows in memory (``"memory"``), DuckDB over
#: Parquet/CSV files out of core (``"duckdb"``) or Dask (``"dask"``); docs/scale.md.
ENGINES = ("memory", "duckdb", "dask")
#: Accepted normalisations of design weights (``docs/weights-and-imputation.md``).
NORMALIZATIONS = ("within", "overall", "none")
#: What ``normalize_weights=True`` means.
DEFAULT_NORMALIZATION = "within"
#: Units shown in HLM's level-1 OLS table.
DEFAULT_OLS_UNITS = 10


def normalization_mode(normalize: bool | str | None) -> str:
    """``normalize_weights`` as one of :data:`NORMALIZATIONS` (True -> ``"within"``)."""
    if normalize is True:
        return DEFAULT_NORMALIZATION
    if normalize is False or normalize is None:
        return "none"
    if isinstance(normalize, str) and normalize.lower() in NORMALIZATIONS:
        return normalize.lower()
    if isinstance(normalize, str) and normalize.lower() in ("raw", "no", "false"):
        return "none"
    raise SpecError(f"normalize_weights must be True, False, 'within', 'overall' or 'none', "
                    f"not {normalize!r}")


def variable_name(value: Any, what: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise SpecError(f"{what} must be a variable name, not {type(value).__name__}")


def variable_names(value: Any, what: str) -> tuple[str, ...]:
    items = (value,) if isinstance(value, str) else tuple(value or ())
    for item in items:
        if not isinstance(item, str):
            raise SpecError(f"{what} must be variable names, not {type(item).__name__}")
    return items


def _frozen(value: Any) -> Any:
    """Lists and arrays as tuples (so that options compare and print as data)."""
    if isinstance(value, np.ndarray):
        return _frozen(value.tolist())
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, Mapping):
        return {k: _frozen(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class Weights:
    """Design weights at levels 1 and 2 (and 3, three-level models) and level-1 precision
    weights (variable names).

    ``normalize`` is one of :data:`NORMALIZATIONS` (``True`` is read as ``"within"``, ``False``
    as ``"none"``); precision weights are never normalised.
    """

    level1: str | None = None
    level2: str | None = None
    precision: str | None = None
    normalize: bool | str = DEFAULT_NORMALIZATION
    level3: str | None = None

    def __post_init__(self) -> None:
        for key, what in (("level1", "level1_weight"), ("level2", "level2_weight"),
                          ("precision", "precision_weight"), ("level3", "level3_weight")):
            variable_name(getattr(self, key), what)
        object.__setattr__(self, "normalize", normalization_mode(self.normalize))

    @property
    def used(self) -> bool:
        """Is any weight variable named?"""
        return any(v is not None for v in (self.level1, self.level2, self.precision,
                                           self.level3))


@dataclass(frozen=True)
class Tests:
    """HLM's "Hypothesis Testing" settings, tested after the fit.

    ``hypotheses``: as :func:`openhlm.glh` reads them (lists and arrays are kept as tuples); a
    file's are a tuple of hypotheses, each a tuple of text rows (``"G01 = 0"``; a command
    file's contrast rows are written so, ``"G01 - G11 = 0"``).
    ``deviance_test``: ``{"deviance": ..., "n_parameters": ..., "convention": ...}``.
    """

    __test__: ClassVar[bool] = False  # not a test class for pytest, whatever its name

    hypotheses: Any = None
    homogeneity: bool = False
    deviance_test: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "hypotheses", _frozen(self.hypotheses))
        object.__setattr__(self, "homogeneity", bool(self.homogeneity))
        if self.deviance_test is not None:
            object.__setattr__(self, "deviance_test", _frozen(self.deviance_test))

    @property
    def requested(self) -> bool:
        return (self.hypotheses not in (None, ()) or self.homogeneity
                or self.deviance_test is not None)


@dataclass(frozen=True)
class Residuals:
    """Residual files to write (``None``: not written), their format (``None``: from each
    file's suffix; HLM's spss, stata, sas work too) and extra variables to copy into them."""

    level1: Path | None = None
    level2: Path | None = None
    format: str | None = None
    extra_level1: tuple[str, ...] = ()
    extra_level2: tuple[str, ...] = ()
    #: three-level models: the level-3 residual file and its extra (level-3) variables
    level3: Path | None = None
    extra_level3: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for key in ("level1", "level2", "level3"):
            value = getattr(self, key)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, key, Path(value))
        object.__setattr__(self, "extra_level1", variable_names(self.extra_level1, "extra_level1"))
        object.__setattr__(self, "extra_level2", variable_names(self.extra_level2, "extra_level2"))
        object.__setattr__(self, "extra_level3", variable_names(self.extra_level3, "extra_level3"))

    @property
    def requested(self) -> bool:
        return self.level1 is not None or self.level2 is not None or self.level3 is not None


@dataclass(frozen=True)
class Output:
    """What to show and write: report files (``None``: not written; ``"-"``: standard output),
    units of the level-1 OLS table (computed and shown), full output (the iteration history),
    the problem title."""

    report: Path | None = None
    json: Path | None = None
    html: Path | None = None
    ols_units: int = DEFAULT_OLS_UNITS
    full: bool = False
    title: str | None = None

    def __post_init__(self) -> None:
        for key in ("report", "json", "html"):
            value = getattr(self, key)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, key, Path(value))
        if isinstance(self.ols_units, bool) or not isinstance(self.ols_units, (int, np.integer)):
            raise SpecError(f"ols_units must be a whole number, not {self.ols_units!r}")
        object.__setattr__(self, "ols_units", max(int(self.ols_units), 0))


@dataclass(frozen=True)
class Imputation:
    """Multiply imputed data: an imputation-number ``column`` of one stacked data set, or
    ``plausible_values`` (several outcome variables).  A list of data sets needs neither."""

    column: str | None = None
    plausible_values: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        variable_name(self.column, "imputation")
        object.__setattr__(self, "plausible_values",
                           variable_names(self.plausible_values, "plausible_values"))

    @property
    def requested(self) -> bool:
        return self.column is not None or bool(self.plausible_values)


#: Level-1 sampling models: ``"normal"`` is the linear model; the others are HGLMs.
DISTRIBUTIONS = ("normal", "bernoulli", "binomial", "poisson")
#: HLM's other HGLM sampling models, refused for now.
LATER_DISTRIBUTIONS = ("ordinal", "multinomial", "negative_binomial")
#: Estimation of an HGLM: penalised quasi-likelihood (HLM's default), Laplace, adaptive
#: Gauss-Hermite quadrature.
GLMM_METHODS = ("pql", "laplace", "agq")
#: Gauss-Hermite nodes per random effect when ``method="agq"`` gives none.
DEFAULT_QUADRATURE_POINTS = 10


@dataclass(frozen=True)
class Outcome:
    """The level-1 sampling model: normal (linear model) or an HGLM.

    ``trials`` names the number-of-trials variable (binomial), ``exposure`` the exposure
    variable (Poisson, optional); ``method`` is ``"pql"``, ``"laplace"`` or ``"agq"`` (HGLMs
    only), ``quadrature_points`` the nodes per random effect (``agq``); ``overdispersion``
    estimates a level-1 scale sigma^2 (PQL, binomial and Poisson only);
    ``pql_likelihood`` is the likelihood of PQL's linearised model: ``None`` follows the
    linear model's method as HLM does (restricted PQL under REML, HLM2's default; full PQL
    under ML), ``"ml"`` (MASS::glmmPQL) or ``"reml"`` override it.  ``macro_iterations``,
    ``micro_iterations``, ``stop_macro``, ``stop_micro``: HLM-mode PQL's iteration settings
    (HLM's MACROIT, MICROIT, STOPMACRO, STOPMICRO; ``None``: HLM's defaults, docs/hglm.md).
    """

    distribution: str = "normal"
    trials: str | None = None
    exposure: str | None = None
    method: str | None = None
    quadrature_points: int | None = None
    overdispersion: bool = False
    pql_likelihood: str | None = None
    macro_iterations: int | None = None
    micro_iterations: int | None = None
    stop_macro: float | None = None
    stop_micro: float | None = None

    def __post_init__(self) -> None:
        d = self.distribution
        if not isinstance(d, str):
            raise SpecError(f"distribution must be text such as 'bernoulli', not {d!r}")
        d = d.lower().replace("-", "_")
        if d in LATER_DISTRIBUTIONS:
            raise SpecError(f"distribution '{d}' is not supported yet (openhlm fits "
                            f"{', '.join(DISTRIBUTIONS)}); fit a binary or count model instead")
        if d not in DISTRIBUTIONS:
            raise SpecError(f"distribution must be one of {', '.join(DISTRIBUTIONS)}, "
                            f"not {self.distribution!r}")
        object.__setattr__(self, "distribution", d)
        variable_name(self.trials, "trials")
        variable_name(self.exposure, "exposure")
        if self.trials is not None and d != "binomial":
            raise SpecError(f"trials= is for distribution='binomial' (the number of trials), "
                            f"not '{d}'")
        if d == "binomial" and self.trials is None:
            raise SpecError("distribution='binomial' needs trials= (the level-1 variable "
                            "holding each row's number of trials); for 0/1 outcomes use "
                            "'bernoulli'")
        if self.exposure is not None and d != "poisson":
            raise SpecError(f"exposure= is for distribution='poisson', not '{d}'")
        if not isinstance(self.overdispersion, (bool, np.bool_)):
            raise SpecError(f"overdispersion must be True or False, not {self.overdispersion!r}")
        q = self.quadrature_points
        if q is not None and (isinstance(q, bool) or not isinstance(q, (int, np.integer))
                              or q < 1):
            raise SpecError(f"quadrature_points must be a positive integer, not {q!r}")
        if self.pql_likelihood not in (None, "ml", "reml"):
            raise SpecError(f"pql_likelihood must be 'ml' or 'reml', not "
                            f"{self.pql_likelihood!r}")
        for name in ("macro_iterations", "micro_iterations"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer))
                                  or v < 1):
                raise SpecError(f"{name} must be a positive whole number, not {v!r}")
        for name in ("stop_macro", "stop_micro"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))
                                  or not np.isfinite(v) or v <= 0):
                raise SpecError(f"{name} must be a positive number, not {v!r}")
        if d == "normal":
            bad = [name for name, v in (("method", self.method),
                                        ("quadrature_points", q),
                                        ("overdispersion", self.overdispersion or None),
                                        ("macro_iterations", self.macro_iterations),
                                        ("micro_iterations", self.micro_iterations),
                                        ("stop_macro", self.stop_macro),
                                        ("stop_micro", self.stop_micro))
                   if v is not None]
            if bad:
                raise SpecError(f"{bad[0]}= applies to non-normal outcomes only (give "
                                "distribution='bernoulli', 'binomial' or 'poisson')")
            return
        method = (self.method or "pql")
        if not isinstance(method, str) or method.lower() not in GLMM_METHODS:
            raise SpecError(f"with distribution='{d}', method must be 'pql', 'laplace' or "
                            f"'agq', not {self.method!r}")
        method = method.lower()
        object.__setattr__(self, "method", method)
        if q is not None and method != "agq":
            raise SpecError(f"quadrature_points= applies to method='agq', not '{method}'")
        if method == "agq" and q is None:
            object.__setattr__(self, "quadrature_points", DEFAULT_QUADRATURE_POINTS)
        if method == "agq" and q == 1:
            object.__setattr__(self, "method", "laplace")
        if self.overdispersion and method != "pql":
            raise SpecError("overdispersion=True is available with method='pql' only (as in "
                            "HLM); Laplace and AGQ fit the likelihood without a scale")
        if self.overdispersion and d == "bernoulli":
            raise SpecError("overdispersion is not identified for a Bernoulli (0/1) outcome; "
                            "use it with 'binomial' or 'poisson'")

    @property
    def normal(self) -> bool:
        return self.distribution == "normal"

    @property
    def nodes(self) -> int:
        """Gauss-Hermite nodes per dimension: 1 for Laplace, 0 for PQL."""
        if self.method == "laplace":
            return 1
        return int(self.quadrature_points or 0) if self.method == "agq" else 0
