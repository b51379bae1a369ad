"""Deviance (likelihood-ratio) tests (docs/statistics.md 8.2).

chi2 = |D_a - D_b| on |p_a - p_b| d.f., naive chi-square reference (no boundary mixture).
:func:`compare` refuses comparisons that are not valid (different data, REML fits with
different fixed effects, REML vs ML, equal parameter counts); :func:`deviance_test` compares
with a deviance typed in from a previous run (HLM's ``deviance:``/``df:``), in either the
standard or HLM's printed convention.  The result type is
:class:`openhlm.results.hypotheses.DevianceTest`.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any, Literal

import numpy as np
from scipy import special

from openhlm.errors import HypothesisError
from openhlm.results.hlm import HLMResults
from openhlm.results.hypotheses import MODEL_COMPARISON_TITLE, VC_TEST_TITLE, DevianceTest

__all__ = ["compare", "deviance_test"]


def _p(chi2: float, df: int) -> float:
    return float(special.chdtrc(df, chi2))


def _refuse_pooled(results: HLMResults) -> None:
    if "multiple_imputation" in results.extras:
        raise HypothesisError(
            "the deviance of results pooled over imputed data sets is an average over the "
            "fits, not a likelihood: a deviance test on it is not valid; compare the models "
            "on each completed data set, or test fixed effects with openhlm.glh")


def _title(method: str) -> str:
    return VC_TEST_TITLE if method == "reml" else MODEL_COMPARISON_TITLE


def _in_memory(results: HLMResults) -> bool:
    est = results.estimates
    return est is None or getattr(est.design, "rows_in_memory", True)


def _data_key(results: HLMResults, *, summary: bool = False) -> tuple[Any, ...]:
    """What identifies the data a model was fitted to (rows, units, outcome values).

    ``summary``: the units and their counts only (a fit out of core has no rows; its outcome
    values are compared per unit in :func:`compare`, :func:`_outcome_summary`).
    """
    est = results.estimates
    if est is None:
        return (results.data.outcome.lower(), results.n_level1, results.n_level2)
    d = est.design
    h = hashlib.sha256()
    if summary:
        h.update(b"summary")
        h.update(np.ascontiguousarray(d.n_per_unit, dtype=np.int64).tobytes())
    else:
        h.update(np.ascontiguousarray(d.y).tobytes())
        h.update(np.ascontiguousarray(d.unit).tobytes())
    h.update("\x00".join(map(str, d.unit_ids)).encode())
    return (results.data.outcome.lower(), results.n_level1, results.n_level2, h.hexdigest())


def _outcome_summary(results: HLMResults) -> np.ndarray | None:
    """(J, 2) per-unit mean and centred sum of squares of the outcome: an out-of-core fit's
    ``outcome_moments``, or the same two numbers from an in-memory design's rows."""
    if results.estimates is None:
        return None
    d = results.estimates.design
    given = getattr(d, "outcome_moments", None)
    if given is not None or not getattr(d, "rows_in_memory", True):
        return given
    n = np.maximum(np.bincount(d.unit, minlength=d.n_level2), 1)
    mean = np.bincount(d.unit, weights=d.y, minlength=d.n_level2) / n
    ss = np.bincount(d.unit, weights=(d.y - mean[d.unit]) ** 2, minlength=d.n_level2)
    return np.column_stack([mean, ss])


def _same_fixed_effects(a: HLMResults, b: HLMResults) -> bool:
    """Do the two models span the same fixed-effects design (same columns up to reparametrisation)?"""
    no_rows = any(not getattr(r.estimates.design, "rows_in_memory", True)
                  for r in (a, b) if r.estimates is not None)
    if a.estimates is None or b.estimates is None or no_rows:
        def terms(r: HLMResults) -> tuple[Any, ...]:
            return tuple(sorted((f.coefficient, f.predictor, f.centering) for f in r.fixed.rows))
        return terms(a) == terms(b)
    A, B = a.estimates.design.A(), b.estimates.design.A()
    ra, rb = np.linalg.matrix_rank(A), np.linalg.matrix_rank(B)
    return bool(ra == rb == np.linalg.matrix_rank(np.hstack([A, B])))


def _describe(r: HLMResults) -> str:
    return f"{r.method.upper()}, N = {r.n_level1}, J = {r.n_level2}, outcome {r.data.outcome}"


def compare(a: HLMResults, b: HLMResults, *, labels: tuple[str, str] = ("model a", "model b")
            ) -> DevianceTest:
    """Deviance (likelihood-ratio) test between two fitted models.

    chi2 = |D_a - D_b| (standard deviances), d.f. = |p_a - p_b| (HLM's parameter counts),
    p from the chi-square upper tail (printed ``>.500`` above one half, as HLM does).

    Raises
    ------
    HypothesisError
        If the models were fitted to different data (outcome, records or units), with
        different methods, under REML with different fixed effects (refit both with
        ``method='ml'``), or have the same number of parameters.
    """
    for r, name in ((a, "first"), (b, "second")):
        if not isinstance(r, HLMResults):
            raise HypothesisError(f"compare() needs two fitted models (openhlm.fit results); "
                                  f"the {name} argument is a {type(r).__name__}")
    _refuse_pooled(a)
    _refuse_pooled(b)
    summary = not (_in_memory(a) and _in_memory(b))   # a fit out of core: per-unit checks
    if _data_key(a, summary=summary) != _data_key(b, summary=summary):
        raise HypothesisError(
            f"the two models were fitted to different data ({_describe(a)} vs {_describe(b)}"
            f"{'' if (a.n_level1, a.n_level2) != (b.n_level1, b.n_level2) else ', different records or outcome values'}"
            f"): a deviance test needs both fitted to the same records; delete incomplete rows "
            f"before building the MDM so that both models use the same data")
    ya, yb = (_outcome_summary(r) if summary else None for r in (a, b))
    if ya is not None and yb is not None and not np.allclose(
            ya, yb, rtol=1e-9, atol=1e-12 * float(np.abs(ya).max())):
        raise HypothesisError(
            f"the two models were fitted to different data ({_describe(a)} vs {_describe(b)}, "
            "different outcome values): a deviance test needs both fitted to the same records")
    if a.method != b.method:
        raise HypothesisError(
            f"cannot compare a {a.method.upper()} deviance with a {b.method.upper()} one: refit "
            f"both with the same method (method='ml' if the fixed effects differ)")
    if a.method == "reml" and not _same_fixed_effects(a, b):
        raise HypothesisError(
            "REML deviances of models with different fixed effects are not comparable: refit "
            "both with method='ml' (full maximum likelihood) to test fixed effects, or use "
            "openhlm.glh for a Wald test within one model")
    if a.n_parameters == b.n_parameters:
        raise HypothesisError(
            f"both models have {a.n_parameters} estimated parameters: a deviance test compares "
            f"nested models with different numbers of parameters")
    chi2 = abs(a.deviance - b.deviance)
    df = abs(a.n_parameters - b.n_parameters)
    notes = []
    small, large = (a, b) if a.n_parameters < b.n_parameters else (b, a)
    if large.deviance > small.deviance + 1e-6:
        notes.append("The model with more parameters has the larger deviance: the models are "
                     "not nested, or one fit did not converge.")
    return DevianceTest(chi2=chi2, df=df, p=_p(chi2, df), deviance=a.deviance,
                        n_parameters=a.n_parameters, other_deviance=b.deviance,
                        other_n_parameters=b.n_parameters, method=a.method,
                        convention="standard", title=_title(a.method), labels=labels,
                        notes=tuple(notes))


def deviance_test(results: HLMResults, *, deviance: float, n_parameters: int,
                  convention: Literal["standard", "hlm"] = "standard") -> DevianceTest:
    """Deviance test against a prior model typed in (HLM's ``deviance:`` / ``df:``).

    Parameters
    ----------
    results : HLMResults
        The current model.
    deviance : float
        The prior model's deviance.
    n_parameters : int
        The prior model's number of estimated parameters.
    convention : {"standard", "hlm"}
        The convention of the typed-in deviance: ``"standard"`` (-2 log-likelihood, as
        openhlm's ``results.deviance``, R, Stata, SAS) or ``"hlm"`` (the value HLM 6.08
        prints: the standard one minus log(2 pi) = 1.837877, except for a REML model with a
        single fixed effect; docs/statistics.md 20).  The current model's deviance is taken in
        the same convention, so like is compared with like.  (A REML null model typed in from
        HLM's output is printed in the standard convention: type it with
        ``convention="standard"`` unless the current model is a REML null model too.)

    Raises
    ------
    HypothesisError
        Non-finite deviance, a parameter count below 1, equal parameter counts, or an unknown
        convention.
    """
    if convention not in ("standard", "hlm"):
        raise HypothesisError(f"convention must be 'standard' or 'hlm', not {convention!r}")
    _refuse_pooled(results)
    try:
        prior = float(deviance)
    except (TypeError, ValueError):
        raise HypothesisError(f"the prior model's deviance must be a number, not "
                              f"{deviance!r}") from None
    if not math.isfinite(prior):
        raise HypothesisError(f"the prior model's deviance must be a finite number, not {prior}")
    try:
        count = float(n_parameters)
    except (TypeError, ValueError):
        count = float("nan")
    if isinstance(n_parameters, bool) or not count.is_integer() or count < 1:
        raise HypothesisError(f"the prior model's number of parameters must be a whole number "
                              f"of at least 1, not {n_parameters!r}")
    prior_parameters = int(count)
    if prior_parameters == results.n_parameters:
        raise HypothesisError(
            f"the prior model has as many parameters as this one ({prior_parameters}): a "
            f"deviance test compares nested models with different numbers of parameters")
    current = results.deviance_hlm if convention == "hlm" else results.deviance
    chi2 = abs(prior - current)
    df = abs(prior_parameters - results.n_parameters)
    return DevianceTest(chi2=chi2, df=df, p=_p(chi2, df), deviance=current,
                        n_parameters=results.n_parameters, other_deviance=prior,
                        other_n_parameters=prior_parameters, method=results.method,
                        convention=convention, title=_title(results.method),
                        labels=("current model", "prior model"))

