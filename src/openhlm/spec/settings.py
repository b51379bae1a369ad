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
    "ENGINES",
    "METHODS",
    "MODES",
    "NORMALIZATIONS",
    "Imputation",
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
    """Design weights at levels 1 and 2 and level-1 precision weights (variable names).

    ``normalize`` is one of :data:`NORMALIZATIONS` (``True`` is read as ``"within"``, ``False``
    as ``"none"``); precision weights are never normalised.
    """

    level1: str | None = None
    level2: str | None = None
    precision: str | None = None
    normalize: bool | str = DEFAULT_NORMALIZATION

    def __post_init__(self) -> None:
        for key, what in (("level1", "level1_weight"), ("level2", "level2_weight"),
                          ("precision", "precision_weight")):
            variable_name(getattr(self, key), what)
        object.__setattr__(self, "normalize", normalization_mode(self.normalize))

    @property
    def used(self) -> bool:
        """Is any weight variable named?"""
        return any(v is not None for v in (self.level1, self.level2, self.precision))


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

    def __post_init__(self) -> None:
        for key in ("level1", "level2"):
            value = getattr(self, key)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, key, Path(value))
        object.__setattr__(self, "extra_level1", variable_names(self.extra_level1, "extra_level1"))
        object.__setattr__(self, "extra_level2", variable_names(self.extra_level2, "extra_level2"))

    @property
    def requested(self) -> bool:
        return self.level1 is not None or self.level2 is not None


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
