"""The sections of a TOML model file as frozen data, and :class:`ModelFile`.

Reading is in :mod:`openhlm.spec.modelfile_reader`, writing in
:mod:`openhlm.spec.modelfile_writer`; :mod:`openhlm.spec.modelfile` is the public face.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from openhlm.errors import CommandFileError, HypothesisError, SpecError
from openhlm.spec.contrasts import ContrastRow, parse_hypothesis
from openhlm.spec.defaults import HLM_LIMITS
from openhlm.spec.equation_reader import parse_model
from openhlm.spec.model import ModelSpec
from openhlm.spec.names import NameProblem, VariableNames

__all__ = [
    "RESIDUAL_FORMATS",
    "DataSection",
    "DevianceTest",
    "EstimationSection",
    "HypothesesSection",
    "ModelFile",
    "ModelSection",
    "OutputSection",
    "WeightsSection",
]

RESIDUAL_FORMATS = ("csv", "sav", "dta", "xpt", "xlsx", "parquet")


@dataclass(frozen=True, slots=True)
class DataSection:
    """``[data]``: the level-1 and level-2 files (or a saved MDM), the unit id, missing data.

    Paths are relative to the TOML file's folder (already joined to it when the file was
    loaded from disk).  ``missing``: ``"analysis"`` deletes incomplete level-1 records when
    running the analysis (only the variables in the model count), ``"listwise"`` when making
    the MDM (all variables count), as in HLM's MDM dialog.  ``engine``: what computes the
    per-unit statistics (``"memory"``, ``"duckdb"``: ``level1`` may then be a glob or a folder of
    Parquet/CSV files read out of core, ``"dask"``); ``scheduler``: a Dask scheduler address
    (``docs/scale.md``).
    """

    level1: Path | None = None
    level2: Path | None = None
    mdm: Path | None = None
    id: str | None = None
    missing: Literal["analysis", "listwise"] = "analysis"
    #: three-level models (HLM3): the level-3 file and the level-3 ID (``id = ["childid",
    #: "schoolid"]`` in the file: the IDs from level 2 upward)
    level3: Path | None = None
    id3: str | None = None
    engine: str = "memory"
    scheduler: str | None = None

    @property
    def three_level(self) -> bool:
        return self.level3 is not None or self.id3 is not None


@dataclass(frozen=True, slots=True)
class ModelSection:
    """``[model]``: equations as written, constraints, heterogeneous sigma^2 variables.

    ``equations_line`` is the line of the TOML file holding the first line of ``equations``,
    so that equation errors point into the TOML file.
    """

    equations: str
    constraints: tuple[str, ...] = ()
    heterogeneous_sigma2: tuple[str, ...] = ()
    equations_line: int = field(default=1, compare=False)
    #: the level-1 sampling model (HGLM: ``docs/hglm.md``); ``"normal"`` = linear model
    distribution: str = "normal"
    trials: str | None = None
    exposure: str | None = None
    overdispersion: bool = False


@dataclass(frozen=True, slots=True)
class EstimationSection:
    """``[estimation]``: REML or ML; ``mode`` ``"exact"`` (to convergence) or ``"hlm"``
    (HLM 6's iteration and stopping rule)."""

    method: Literal["reml", "ml", "pql", "laplace", "agq"] = "reml"
    mode: Literal["exact", "hlm"] = "exact"
    max_iterations: int = HLM_LIMITS.max_iterations
    tolerance: float = HLM_LIMITS.tolerance
    quadrature_points: int | None = None
    #: HLM-mode PQL's iteration settings (HGLM; ``None``: HLM's defaults)
    macro_iterations: int | None = None
    micro_iterations: int | None = None
    stop_macro: float | None = None
    stop_micro: float | None = None


@dataclass(frozen=True, slots=True)
class WeightsSection:
    """``[weights]``: design weights (level 1, level 2; level 3 for three-level models),
    precision (V-known) variable."""

    level1: str | None = None
    level2: str | None = None
    precision: str | None = None
    normalize: bool | str = True
    level3: str | None = None


@dataclass(frozen=True, slots=True)
class DevianceTest:
    """A prior model to compare against: its deviance and number of parameters.

    ``convention``: ``"standard"`` (-2 log-likelihood, as openhlm, R, Stata, SAS report it) or
    ``"hlm"`` (the deviance as HLM 6.08 prints it; see :func:`openhlm.deviance_test`).
    """

    deviance: float
    parameters: int
    convention: Literal["standard", "hlm"] = "standard"


@dataclass(frozen=True, slots=True)
class HypothesesSection:
    """``[hypotheses]``: general linear hypotheses (each a list of rows such as
    ``"G01 = 0"``), the homogeneity-of-sigma^2 test, a deviance test against a prior model."""

    glh: tuple[tuple[str, ...], ...] = ()
    homogeneity: bool = False
    deviance_test: DevianceTest | None = None


@dataclass(frozen=True, slots=True)
class OutputSection:
    """``[output]``: files to write (``None`` = not written), the residual-file format, and
    ``exploratory``: level-2 variables not in the model for HLM's "Exploratory Analysis" block
    (:func:`openhlm.exploratory`); ``exploratory3``: three-level models, level-3 variables
    not in the model for HLM3's level-3 block."""

    report: Path | None = None
    json: Path | None = None
    html: Path | None = None
    level1_residuals: Path | None = None
    level2_residuals: Path | None = None
    format: str = "csv"
    #: three-level models: the level-3 residual file
    level3_residuals: Path | None = None
    exploratory: tuple[str, ...] = ()
    exploratory3: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ModelFile:
    """A loaded TOML model file."""

    path: Path | None
    title: str
    data: DataSection
    model: ModelSection
    estimation: EstimationSection = field(default_factory=EstimationSection)
    weights: WeightsSection = field(default_factory=WeightsSection)
    hypotheses: HypothesesSection = field(default_factory=HypothesesSection)
    output: OutputSection = field(default_factory=OutputSection)
    _lines: tuple[tuple[tuple[str, ...], int], ...] = field(default=(), repr=False, compare=False)

    @classmethod
    def from_sections(
        cls, path: Path | None, title: str, data: DataSection, model: ModelSection,
        estimation: EstimationSection, weights: WeightsSection, hypotheses: HypothesesSection,
        output: OutputSection, *, key_lines: Mapping[tuple[str, ...], int] | None = None,
    ) -> ModelFile:
        """A model file from its sections; ``key_lines`` maps each key (``("model",
        "constraints")``) to its line in the TOML text, for error messages."""
        return cls(path, title, data, model, estimation, weights, hypotheses, output,
                   tuple((key_lines or {}).items()))

    @property
    def source(self) -> str:
        return str(self.path) if self.path is not None else "<text>"

    def _line_of(self, *key: str) -> int | None:
        return dict(self._lines).get(key)

    def model_spec(
        self, level1_variables: Iterable[str], level2_variables: Iterable[str]
    ) -> ModelSpec:
        """Parse ``[model]`` against the MDM's variable names.

        Raises
        ------
        CommandFileError
            Quoting the equation (with its line in the TOML file) or naming the constraint /
            heterogeneous-sigma^2 entry at fault.
        """
        # an MDM's name tuples are kept as they are: they carry what the MDM left out
        level1 = level1_variables if isinstance(level1_variables, tuple) \
            else tuple(level1_variables)
        level2 = level2_variables if isinstance(level2_variables, tuple) \
            else tuple(level2_variables)
        m = self.model
        try:
            parse_model(
                m.equations, level1_variables=level1, level2_variables=level2,
                source=self.source, first_line=m.equations_line,
                residual=m.distribution == "normal",
            )
        except SpecError as exc:
            raise CommandFileError(f"[model] equations: {exc}") from None
        try:
            parse_model(
                m.equations, level1_variables=level1, level2_variables=level2,
                constraints=m.constraints, source=self.source, first_line=m.equations_line,
                residual=m.distribution == "normal",
            )
        except SpecError as exc:
            raise CommandFileError(f"{self._where('model', 'constraints')}: {exc}") from None
        try:
            return parse_model(
                m.equations, level1_variables=level1, level2_variables=level2,
                constraints=m.constraints, variance_predictors=m.heterogeneous_sigma2,
                source=self.source, first_line=m.equations_line,
                residual=m.distribution == "normal",
            )
        except SpecError as exc:
            detail = str(exc).removeprefix("heterogeneous sigma^2: ")
            raise CommandFileError(
                f"{self._where('model', 'heterogeneous_sigma2')}: {detail}"
            ) from None

    def glh_contrasts(self, spec: ModelSpec) -> tuple[tuple[ContrastRow, ...], ...]:
        """``[hypotheses] glh`` as contrast rows over ``spec.gamma_labels()``.

        Raises
        ------
        CommandFileError
            Naming the hypothesis and row, quoting the row.
        """
        gammas = spec.gamma_labels()
        out = []
        for number, rows in enumerate(self.hypotheses.glh, start=1):
            try:
                out.append(parse_hypothesis(rows, gammas, where=f"hypothesis {number}"))
            except HypothesisError as exc:
                raise CommandFileError(f"{self._where('hypotheses', 'glh')}: {exc}") from None
        return tuple(out)

    def resolved_weights(
        self, level1_variables: Iterable[str], level2_variables: Iterable[str]
    ) -> WeightsSection:
        """``[weights]`` with the variable names spelled as in the MDM (and checked)."""
        names = VariableNames(level1_variables, level2_variables)
        w = self.weights
        resolved: dict[str, str | None] = {}
        for key, level in (("level1", 1), ("level2", 2), ("precision", 1)):
            value = getattr(w, key)
            if value is None:
                resolved[key] = None
                continue
            try:
                resolved[key] = names.resolve(value, level)
            except NameProblem as problem:
                extra = f" (a level-{level} variable is needed)" if problem.kind == "wrong-level" \
                    else problem.hint
                raise CommandFileError(
                    f"{self._where('weights', key)}: {problem.message}{extra}"
                ) from None
        return WeightsSection(resolved["level1"], resolved["level2"], resolved["precision"],
                              w.normalize)

    def _where(self, *key: str) -> str:
        line = self._line_of(*key)
        table = ".".join(key[:-1])
        at = f", line {line}" if line else ""
        return f"{self.source}{at}: [{table}] {key[-1]}"
