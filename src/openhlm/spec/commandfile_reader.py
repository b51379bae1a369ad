"""Reading HLM 6 command files (``.hlm``) into a :class:`CommandFile`.

The format is described in :mod:`openhlm.spec.commandfile`; the model lines are read by
:mod:`openhlm.spec.commandfile_model`.  Every error is a
:class:`~openhlm.errors.CommandFileError` naming the file and the line, quoting the line.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from openhlm.errors import CommandFileError
from openhlm.spec.commandfile_hglm import (
    HGLM_SETTINGS,
    HGLMKeys,
    read_fixsigma2,
    read_hglm_settings,
    read_nonlin,
)
from openhlm.spec.commandfile_model import (
    OFF_VALUES,
    CommandLine,
    build_spec,
    read_constraints,
    read_variance_predictors,
    resolve_name,
    split_command_lines,
)
from openhlm.spec.defaults import HLM_LIMITS
from openhlm.spec.model import ModelSpec
from openhlm.spec.names import VariableNames, close_matches, did_you_mean

__all__ = [
    "CommandFile",
    "CommandOptions",
    "parse_command_file",
    "read_command_file",
]


@dataclass(frozen=True, slots=True)
class CommandOptions:
    """Everything in a command file besides the model, with HLM 6's defaults.

    ``None`` for a weight or file name means "none".  ``hypotheses`` keeps the ``gammaN:``
    lines as written (``"gamma1:0,1,0,0,0,0"``); :meth:`CommandFile.contrasts` turns them into
    numbers.
    """

    method: Literal["reml", "ml"] = "reml"  # mlf:n / mlf:y
    max_iterations: int = HLM_LIMITS.max_iterations  # numit
    tolerance: float = HLM_LIMITS.tolerance  # stopval
    accel: int = 5
    lev1ols: int = 10  # units shown in the level-1 OLS table
    fulloutput: bool = False
    homvar: bool = False  # test of homogeneity of level-1 variance
    hypoth: bool = False
    hypotheses: tuple[str, ...] = ()
    deviance: float | None = None  # prior model's deviance ...
    df: int | None = None  # ... and its number of parameters
    level1_weight: str | None = None
    level2_weight: str | None = None
    variance_known: str | None = None
    level1_deletion: str = "none"
    resfil1: bool = False
    resfil1_name: str | None = None
    resfil1_variables: tuple[str, ...] = ()
    resfil2: bool = False
    resfil2_name: str | None = None
    resfil2_variables: tuple[str, ...] = ()
    resfil_type: str | None = None
    title: str = "no title"
    output: str | None = None
    # HGLM (nonlin:, macroit, microit, stopmacro, stopmicro; openhlm.spec.commandfile_hglm)
    distribution: str = "normal"
    trials: str | None = None
    exposure: str | None = None
    macro_iterations: int | None = None
    micro_iterations: int | None = None
    stop_macro: float | None = None
    stop_micro: float | None = None


@dataclass(frozen=True, slots=True)
class CommandFile:
    """A parsed HLM 6 command file.

    ``heterol1var`` and ``constrain`` live in :attr:`spec` (``variance_predictors`` and
    ``constraints``).  ``ignored_keys`` lists, in order of appearance, the keys that were read
    and deliberately not acted on (``fixtau``, ``graphgammas``, ...).
    """

    spec: ModelSpec
    options: CommandOptions = field(default_factory=CommandOptions)
    mdm: str | None = None
    source: str = "<text>"
    ignored_keys: tuple[str, ...] = ()

    def contrasts(self) -> tuple[tuple[tuple[float, ...], ...], ...]:
        """The hypotheses as contrast matrices, one per hypothesis number, in number order.

        Each row has one entry per gamma, in :meth:`ModelSpec.gamma_labels` order.
        """
        groups: dict[int, list[tuple[float, ...]]] = {}
        for line in self.options.hypotheses:
            key, _, values = line.partition(":")
            number = int(key.strip()[5:])
            groups.setdefault(number, []).append(
                tuple(float(v) for v in values.split(","))
            )
        return tuple(tuple(groups[n]) for n in sorted(groups))



# Keys read and deliberately not acted on: display, iteration bookkeeping.  (PQL's
# macroit / microit / stopmacro / stopmicro are read with an HGLM and ignored with nonlin:n.)
_COSMETIC = frozenset(
    {
        "fixtau", "graphgammas", "printvariance-covariance", "fishertype", "debug", "nobase",
        "startvals", "hetit", "dofisher", "esttau2", "vagueprior", "growthmodel", "hasmissing",
        "popavit", "taylor", "level2deletion", "pvc",
    }
)
# Keys whose "off" value (n, none, empty, n,0) is fine, and anything else is not supported.
_OFF_OR_UNSUPPORTED = {
    "laplace": "Laplace estimation (HGLM)",
    "laplace6": "Laplace estimation (HGLM)",
    "emlaplace5": "Laplace estimation (HGLM)",
    "agq": "adaptive Gauss-Hermite quadrature (HGLM)",
    "lvr": "latent variable regression",
    "lvr-beta": "latent variable regression",
    "plausvals": "plausible values",
    "autoimpute": "multiple imputation",
    "autoimputeiter": "multiple imputation",
    "autoimputekeep": "multiple imputation",
    "mimdm": "multiply imputed data",
    "diagonalizetau": "a diagonal Tau",
}
_KNOWN = (
    {"nonlin", "numit", "stopval", "level1", "level2", "level3", "accel", "lev1ols",
     "fulloutput", "homvar", "hypoth", "deviance", "df", "level1weight", "level2weight",
     "varianceknown", "level1deletion", "resfil1", "resfil1name", "resfil2", "resfil2name",
     "resfiltype", "title", "output", "mlf", "heterol1var", "constrain", "fixsigma2"}
    | set(HGLM_SETTINGS)
    | _COSMETIC
    | set(_OFF_OR_UNSUPPORTED)
)
_GAMMA_KEY = re.compile(r"^gamma(\d+)$")


def _yes_no(line: CommandLine) -> bool:
    v = line.value.strip().lower()
    if v in ("y", "yes"):
        return True
    if v in ("n", "no"):
        return False
    raise line.error(f"{line.key}: expected y or n, found '{line.value}'")


def _number(line: CommandLine, kind: Callable[[str], float | int], what: str) -> float | int:
    text = line.value.split(",")[0].strip()  # numit:100,y -> 100
    try:
        value = kind(text)
    except ValueError:
        raise line.error(f"{line.key}: expected {what}, found '{line.value}'") from None
    return value


def _positive_int(line: CommandLine) -> int:
    value = int(_number(line, int, "a whole number"))
    if value < 0:
        raise line.error(f"{line.key}: expected a whole number >= 0, found '{line.value}'")
    return value


def _variable(line: CommandLine, names: VariableNames, level: int) -> str | None:
    if line.value.strip().lower() in OFF_VALUES:
        return None
    return resolve_name(line, names, line.value.strip(), level, line.value_start)


def _residual_file(line: CommandLine, names: VariableNames,
                   level: int) -> tuple[bool, tuple[str, ...]]:
    flag, _, extra = line.value.partition("/")
    if flag.strip().lower() not in ("y", "yes", "n", "no"):
        raise line.error(f"{line.key}: expected y or n, found '{line.value}'")
    wanted = flag.strip().lower().startswith("y")
    variables = []
    col = line.value_start + len(flag) + 1
    for item in extra.split(",") if extra.strip() else []:
        variables.append(_resolve_any(line, names, item.strip(), col))
        col += len(item) + 1
    return wanted, tuple(variables)


def _resolve_any(line: CommandLine, names: VariableNames, name: str, col: int) -> str:
    level = names.level_of(name)
    return resolve_name(line, names, name, level or 1, col)

def _unknown_key(line: CommandLine) -> CommandFileError:
    hint = did_you_mean(close_matches(line.key, sorted(_KNOWN)))
    return line.error(
        f"unknown key '{line.key}'", line.text.find(line.key[:1]) if line.key else 0,
        len(line.key) or 1, hint + " (openhlm reads HLM 6 HLM2 command files)",
    )


def parse_command_file(
    path_or_text: str | Path,
    *,
    level1_variables: Iterable[str],
    level2_variables: Iterable[str],
) -> CommandFile:
    """Read an HLM 6 command file (``.hlm``).

    Parameters
    ----------
    path_or_text
        A path, or the text of the file itself (recognised by a line break or a leading
        ``#WHLM``).
    level1_variables, level2_variables
        The MDM's variable names; HLM writes names upper-case, the returned spec uses the
        MDM's spelling.

    Returns
    -------
    CommandFile

    Raises
    ------
    CommandFileError
        Naming the file and the line, quoting it: unreadable file, malformed line, unknown key
        (with close matches), unknown variable, unsupported feature (``nonlin:binomial`` ...).
    """
    text, source = _read(path_or_text)
    return _parse(text, source, VariableNames(level1_variables, level2_variables))


def _parse(text: str, source: str, names: VariableNames) -> CommandFile:
    mdm, lines = split_command_lines(text, source)
    seen: dict[str, int] = {}
    level1: CommandLine | None = None
    level2: list[CommandLine] = []
    ignored: list[str] = []
    hypotheses: list[CommandLine] = []
    later: dict[str, CommandLine] = {}
    hglm = HGLMKeys()
    for line in lines:
        key = line.key
        if _GAMMA_KEY.match(key):
            hypotheses.append(line)
            continue
        if key not in _KNOWN:
            raise _unknown_key(line)
        if key != "level2":
            if key in seen:
                raise line.error(f"key '{key}' given twice (first in line {seen[key]})",
                                 0, len(line.text[: line.text.find(':')]))
            seen[key] = line.number
        if key == "nonlin":
            hglm = read_nonlin(line, names)
        elif key == "level3":
            raise line.error("three-level models (level3:) are not supported",
                             hint=" in two-level command files (an HLM3 command file is read "
                                  "when the data are three-level: --level3 or a three-level "
                                  "MDM; docs/three-level.md)")
        elif key in _OFF_OR_UNSUPPORTED:
            if line.value.strip().lower() not in OFF_VALUES:
                raise line.error(
                    f"{_OFF_OR_UNSUPPORTED[key]} ({key}:{line.value.strip()}) is not supported",
                    hint=f" (remove the line or set {key}:n)",
                )
            ignored.append(key)
        elif key in _COSMETIC:
            ignored.append(key)
        elif key == "level1":
            level1 = line
        elif key == "level2":
            level2.append(line)
        else:
            later[key] = line
    if "fixsigma2" in later:
        line = later.pop("fixsigma2")
        if line.value.strip().lower() in OFF_VALUES:
            ignored.append("fixsigma2")
        else:
            read_fixsigma2(line, hglm.hglm)
    settings: dict[str, int | float] = {}
    if hglm.hglm:
        settings = read_hglm_settings(later)
    ignored += [k for k in later if k in HGLM_SETTINGS and not hglm.hglm]
    spec = build_spec(level1, level2, names, source)
    options = _options(later, hypotheses, spec, names)
    if hglm.hglm:
        options = dataclasses.replace(options, distribution=hglm.distribution,
                                      trials=hglm.trials, exposure=hglm.exposure, **settings)
    constraints = read_constraints(later["constrain"], spec) if "constrain" in later else ()
    variance = (read_variance_predictors(later["heterol1var"], names)
                if "heterol1var" in later else ())
    spec = ModelSpec(spec.outcome, spec.coefficients, constraints, variance)
    return CommandFile(spec, options, mdm, source, tuple(dict.fromkeys(ignored)))


def _options(
    lines: dict[str, CommandLine], hypotheses: list[CommandLine], spec: ModelSpec,
    names: VariableNames,
) -> CommandOptions:
    values: dict[str, object] = {}

    def get(key: str) -> CommandLine | None:
        return lines.get(key)

    if (line := get("mlf")) is not None:
        values["method"] = "ml" if _yes_no(line) else "reml"
    if (line := get("numit")) is not None:
        values["max_iterations"] = _positive_int(line)
    if (line := get("stopval")) is not None:
        tol = float(_number(line, float, "a number"))
        if not tol > 0:
            raise line.error(f"stopval: expected a positive number, found '{line.value}'")
        values["tolerance"] = tol
    for key in ("accel", "lev1ols"):
        if (line := get(key)) is not None:
            values[key] = _positive_int(line)
    for key in ("fulloutput", "homvar", "hypoth"):
        if (line := get(key)) is not None:
            values[key] = _yes_no(line)
    for key, attr, level in (("level1weight", "level1_weight", 1),
                             ("level2weight", "level2_weight", 2),
                             ("varianceknown", "variance_known", 1)):
        if (line := get(key)) is not None:
            values[attr] = _variable(line, names, level)
    for n in (1, 2):
        if (line := get(f"resfil{n}")) is not None:
            values[f"resfil{n}"], values[f"resfil{n}_variables"] = _residual_file(line, names, n)
        if (line := get(f"resfil{n}name")) is not None:
            values[f"resfil{n}_name"] = line.value.strip() or None
    if (line := get("resfiltype")) is not None:
        values["resfil_type"] = line.value.strip().lower() or None
    if (line := get("title")) is not None:
        values["title"] = line.value.strip()
    if (line := get("output")) is not None:
        values["output"] = line.value.strip() or None
    if (line := get("level1deletion")) is not None:
        values["level1_deletion"] = line.value.strip() or "none"
    _prior_model(get("deviance"), get("df"), values)
    values["hypotheses"] = _hypotheses(hypotheses, spec)
    return CommandOptions(**values)  # type: ignore[arg-type]


def _prior_model(dev: CommandLine | None, df: CommandLine | None,
                 values: dict[str, object]) -> None:
    if dev is None and df is None:
        return
    if dev is None or df is None:
        present = dev or df
        assert present is not None
        raise present.error(
            "deviance: and df: go together (the prior model's deviance and its number of "
            "parameters)"
        )
    values["deviance"] = float(_number(dev, float, "a number"))
    n = _positive_int(df)
    if n < 1:
        raise df.error("df: expected a positive whole number")
    values["df"] = n


def _hypotheses(lines: list[CommandLine], spec: ModelSpec) -> tuple[str, ...]:
    n_gammas = len(spec.gamma_labels())
    out = []
    for line in lines:
        items = line.value.split(",")
        try:
            [float(v) for v in items]
        except ValueError:
            raise line.error(
                f"{line.key}: expected comma-separated numbers, one per gamma"
            ) from None
        if len(items) != n_gammas:
            raise line.error(
                f"{line.key}: {len(items)} numbers for {n_gammas} gammas",
                hint=f" (the gammas are {', '.join(spec.gamma_labels())})",
            )
        out.append(f"{line.key}:{','.join(v.strip() for v in items)}")
    return tuple(out)


def _read(path_or_text: str | Path) -> tuple[str, str]:
    if isinstance(path_or_text, str) and (
        "\n" in path_or_text or path_or_text.lstrip().upper().startswith("#WHLM")
    ):
        return path_or_text, "<text>"
    path = Path(path_or_text)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise CommandFileError(f"cannot read command file {path}: {reason}") from None
    try:
        return raw.decode("utf-8"), str(path)
    except UnicodeDecodeError:
        return raw.decode("latin-1"), str(path)  # HLM for Windows writes ANSI files


def read_command_file(
    path: str | Path, *, level1_variables: Iterable[str], level2_variables: Iterable[str]
) -> CommandFile:
    """:func:`parse_command_file` for a path only (never interpreted as text)."""
    text, source = _read(Path(path))
    return _parse(text, source, VariableNames(level1_variables, level2_variables))
