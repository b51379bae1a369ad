"""The run settings' defaults, written once: iteration limits per mode and the stop reasons.

Everything that needs one of these numbers or sentences imports it from here: the fit options
(:mod:`openhlm.spec.options`), the TOML model-file and HLM command-file readers (whose
``max_iterations``/``tolerance`` and ``numit``/``stopval`` default to HLM's values), and the
estimators (:mod:`openhlm.estimation.fit`, :mod:`openhlm.estimation.heterogeneous`).

* ``mode="hlm"`` reproduces HLM 6's EM: at most ``numit`` = 100 iterations, stopping when the
  log-likelihood changes by less than ``stopval`` = 1e-6 (read as a percentage of |l|, see
  :mod:`openhlm.estimation.em`).
* ``mode="exact"`` iterates to the maximum of the likelihood: at most 1000 optimiser iterations,
  and 1e-10 as the convergence criterion of the final Newton steps.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "EXACT_LIMITS",
    "HLM_LIMITS",
    "HLM_PQL_LIMITS",
    "ITERATION_LIMITS",
    "STOP_EXACT",
    "STOP_MAX_ITERATIONS",
    "STOP_PQL_MAX_MACRO",
    "STOP_PQL_SMALL_CHANGE",
    "STOP_SMALL_CHANGE",
    "IterationLimits",
    "PQLLimits",
    "iteration_limits",
]


@dataclass(frozen=True, slots=True)
class IterationLimits:
    """An iteration limit and a convergence criterion."""

    max_iterations: int
    tolerance: float


#: HLM 6's EM (``numit:100``, ``stopval:0.000001``).
HLM_LIMITS = IterationLimits(max_iterations=100, tolerance=1e-6)
#: openhlm's exact mode (the optimiser of :mod:`openhlm.estimation.exact`).
EXACT_LIMITS = IterationLimits(max_iterations=1000, tolerance=1e-10)
#: The default limits of each estimation mode.
ITERATION_LIMITS = {"hlm": HLM_LIMITS, "exact": EXACT_LIMITS}

#: Why an HLM-mode run stopped, as HLM prints it.
STOP_SMALL_CHANGE = "Iterations stopped due to small change in likelihood function"
STOP_MAX_ITERATIONS = "Iterations stopped due to reaching the maximum number of iterations"
#: Why an HLM-mode PQL run (HGLM) stopped.
STOP_PQL_SMALL_CHANGE = "Iterations stopped due to small change in the estimates"
STOP_PQL_MAX_MACRO = ("Iterations stopped due to reaching the maximum number of macro "
                      "iterations")
#: Why an exact-mode run stopped.
STOP_EXACT = "Converged to the maximum of the likelihood (exact mode)"


@dataclass(frozen=True, slots=True)
class PQLLimits:
    """HLM-mode PQL's iteration settings (HLM's MACROIT, MICROIT, STOPMACRO, STOPMICRO)."""

    max_macro: int
    max_micro: int
    stop_macro: float     # largest absolute change in the estimates between macro iterations
    stop_micro: float     # EM's likelihood criterion, in percent (as stopval)


#: HLM's PQL defaults (docs/hglm.md, "PQL in HLM mode", says where each comes from).
HLM_PQL_LIMITS = PQLLimits(max_macro=100, max_micro=14, stop_macro=1e-4, stop_micro=1e-6)


def iteration_limits(mode: str, max_iterations: int | None = None,
                     tolerance: float | None = None) -> IterationLimits:
    """The limits a run in ``mode`` uses: the given values, the mode's default for ``None``."""
    default = ITERATION_LIMITS[mode]
    return IterationLimits(
        default.max_iterations if max_iterations is None else int(max_iterations),
        default.tolerance if tolerance is None else float(tolerance))
