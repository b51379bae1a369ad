"""What the reports say about convergence: one source of truth for every mention.

The text header ("Mode:"), the iterations line before the variance estimates, the HTML
summary and the notes all derive their wording from ``results.convergence.converged`` and
``stop_reason`` here, so a report can never say both "fully converged" and "stopped BEFORE
convergence".

What the iteration count means depends on the mode:

* ``hlm``: HLM 6's EM iterations (the printed ``ITERATION n``).
* ``exact``: the iterations of the (quasi-)Newton optimiser that minimises the profiled
  deviance (openhlm's exact mode).  They are not EM iterations and are not comparable with
  HLM's count; a fit that stopped before convergence says so everywhere.
* ``fixed``: none (statistics evaluated at given variance components).
"""

from __future__ import annotations

from openhlm.results import HLMResults

__all__ = ["ITERATIONS_COUNTED", "html_status", "iteration_lines", "mode_lines"]

#: what "iterations" counts, per mode (for notes and documentation)
ITERATIONS_COUNTED = {
    "hlm": "EM iterations, as HLM 6 counts them",
    "exact": "iterations of the optimiser of the profiled deviance",
    "fixed": "none (evaluated at given variance components)",
}


def mode_lines(results: HLMResults) -> tuple[str, str]:
    """The two lines after ``Mode:`` in the text report's header."""
    if results.mode == "hlm":
        return ("hlm mode: this run imitates HLM 6's iterations (starting values, EM",
                "steps and stopping rule), so its estimates follow HLM 6's printed values.")
    if results.mode == "fixed":
        return ("evaluated at given variance components: every statistic below is computed",
                "at the sigma^2 and tau supplied (no estimation of them, no iterations).")
    if results.convergence.converged:
        return ("exact mode: the estimates are fully converged (openhlm's exact mode)",
                "and may differ from HLM 6's printed values in the last digits.")
    return ("exact mode: the optimiser stopped BEFORE convergence; the estimates below",
            "are not at the maximum of the likelihood (see the iterations line).")


def iteration_lines(results: HLMResults) -> list[str]:
    """The iterations line(s) printed before the variance estimates."""
    conv = results.convergence
    if results.mode == "hlm":
        return [conv.stop_reason, f"******* ITERATION {conv.iterations} *******"]
    if results.mode == "fixed":
        return [conv.stop_reason]
    if conv.converged:
        return [(f"Iterations stopped at the maximum of the likelihood after "
                 f"{conv.iterations} iterations (openhlm exact mode)")]
    return [(f"Iterations stopped BEFORE convergence after {conv.iterations} iterations "
             f"({conv.stop_reason})")]


def html_status(results: HLMResults) -> str:
    """The convergence phrase of the HTML summary line."""
    conv = results.convergence
    if results.mode == "fixed":
        return "evaluated at given variance components, no iterations"
    return ("converged" if conv.converged else "NOT converged") + f", {conv.iterations} iterations"
