"""The HGLM keys of HLM 6 command files: ``nonlin:`` and PQL's iteration settings.

* ``nonlin:n`` is a linear model.  ``nonlin:bernoulli`` a Bernoulli (0/1) outcome;
  ``nonlin:binomial,TRIALS`` a binomial outcome with its number-of-trials variable;
  ``nonlin:poisson`` a Poisson count with constant exposure and ``nonlin:poisson,EXPOSURE``
  one with a variable exposure.  The distribution names are HLM's; how HLM 6 itself writes
  the trials / exposure variable into a command file is not documented in any source we could
  read, so the ``,VARIABLE`` suffix is **openhlm's form** (as ``constrain:`` and
  ``heterol1var:`` are).  ``nonlin:multinomial`` / ``nonlin:ordinal`` are refused for now.
* ``macroit`` (most macro iterations), ``microit`` (most micro iterations per macro
  iteration), ``stopmacro`` (stop the macro iterations when the estimates change by less) and
  ``stopmicro`` (the micro iterations' likelihood criterion) are HLM's PQL settings; they
  count in HLM mode (``mode="hlm"``), as ``numit``/``stopval`` do for linear models.  With
  ``nonlin:n`` they are ignored.
* ``fixsigma2:1`` (sigma^2 fixed at 1) is what an HGLM without over-dispersion is, so it is
  accepted with an HGLM; any other value is refused.

``mlf:y`` chooses full PQL (the linearised model by full ML), ``mlf:n`` restricted PQL.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from openhlm.spec.commandfile_model import CommandLine, resolve_name
from openhlm.spec.names import VariableNames

__all__ = ["HGLM_SETTINGS", "HGLMKeys", "read_fixsigma2", "read_hglm_settings", "read_nonlin"]

#: PQL iteration keys -> CommandOptions fields
HGLM_SETTINGS = {"macroit": "macro_iterations", "microit": "micro_iterations",
                 "stopmacro": "stop_macro", "stopmicro": "stop_micro"}


@dataclass(frozen=True)
class HGLMKeys:
    """What ``nonlin:`` says: the distribution and its trials / exposure variable."""

    distribution: str = "normal"
    trials: str | None = None
    exposure: str | None = None

    @property
    def hglm(self) -> bool:
        return self.distribution != "normal"


def read_nonlin(line: CommandLine, names: VariableNames) -> HGLMKeys:
    """``nonlin:n | bernoulli | binomial,TRIALS | poisson[,EXPOSURE]``."""
    kind, comma, rest = line.value.partition(",")
    kind = kind.strip().lower()
    variable = rest.strip()
    col = line.value_start
    var_col = (line.value_start + line.value.find(",") + 1 + len(rest) - len(rest.lstrip())
               if comma else col)
    if kind in ("n", "no", ""):
        return HGLMKeys()
    if kind in ("multinomial", "ordinal"):
        raise line.error(f"{kind} outcomes (nonlin:{line.value.strip()}) are not supported yet",
                         col, len(kind), " (openhlm fits bernoulli, binomial and poisson "
                                         "outcomes)")
    if kind not in ("bernoulli", "binomial", "poisson"):
        raise line.error(f"nonlin: unknown sampling model '{kind}'", col, len(kind) or 1,
                         " (expected n, bernoulli, binomial,TRIALS or poisson[,EXPOSURE])")
    if kind == "bernoulli":
        if variable:
            raise line.error("nonlin:bernoulli takes no variable", var_col, len(variable),
                             " (a binomial outcome with trials is nonlin:binomial,TRIALS)")
        return HGLMKeys("bernoulli")
    if kind == "binomial":
        if not variable:
            raise line.error("nonlin:binomial needs the number-of-trials variable", col,
                             len(kind), " (write nonlin:binomial,TRIALS; for 0/1 outcomes "
                                        "nonlin:bernoulli)")
        return HGLMKeys("binomial", trials=resolve_name(line, names, variable, 1, var_col))
    exposure = resolve_name(line, names, variable, 1, var_col) if variable else None
    return HGLMKeys("poisson", exposure=exposure)


def read_hglm_settings(lines: dict[str, CommandLine]) -> dict[str, int | float]:
    """``macroit``/``microit`` (positive whole numbers), ``stopmacro``/``stopmicro``
    (positive numbers) -> CommandOptions fields."""
    out: dict[str, int | float] = {}
    for key, field in HGLM_SETTINGS.items():
        line = lines.get(key)
        if line is None:
            continue
        text = line.value.strip()
        integer = key in ("macroit", "microit")
        try:
            value: int | float = int(text) if integer else float(text)
        except ValueError:
            value = 0
        if not value > 0 or not math.isfinite(value):
            what = "a positive whole number" if integer else "a positive number"
            raise line.error(f"{key}: expected {what}, found '{text}'")
        out[field] = value
    return out


def read_fixsigma2(line: CommandLine, hglm: bool) -> None:
    """``fixsigma2``: off, or 1 with an HGLM (no over-dispersion); anything else refused."""
    text = line.value.strip()
    try:
        one = float(text) == 1.0
    except ValueError:
        one = False
    if hglm and one:
        return
    raise line.error(f"fixing sigma^2 (fixsigma2:{text}) is not supported",
                     hint=" (remove the line or set fixsigma2:n; an HGLM's sigma^2 is 1 "
                          "unless over-dispersion is requested)")
