"""The HGLM branch of the runner: non-normal outcomes (``options.outcome``), from the MDM to
:class:`~openhlm.results.glmm.GLMMResults`.

Same specification and design as the linear model (centring, constraints, fixed /
non-randomly varying / random / random-only coefficients, no-intercept models); the level-1
``R`` is optional.  What the HGLM path does not do yet is refused with one line.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from openhlm.data import MDM
from openhlm.errors import SpecError
from openhlm.estimation.design import build_design
from openhlm.estimation.glmm import family, fit_ml, fit_pql, fit_pql_hlm, glmm_data
from openhlm.estimation.glmm.data import auxiliary, check_outcome
from openhlm.estimation.glmm.pql_hlm import HLM_PQL_DEFAULTS
from openhlm.inference.glmm import glmm_compare, glmm_glh, infer_glmm
from openhlm.inference.hypotheses import hypotheses_requested
from openhlm.results.glmm import GLMMResults
from openhlm.runner.inputs import as_spec, hlm_single_precision
from openhlm.spec.model import ModelSpec
from openhlm.spec.options import FitOptions

__all__ = ["pql_hlm_settings", "refuse_unsupported", "run_glmm"]


def refuse_unsupported(options: FitOptions) -> None:
    oc = options.outcome
    what = [name for name, bad in (
        ("mode='hlm' with method='laplace' or 'agq' (HLM mode follows HLM's PQL iterations; "
         + "use mode='exact')", options.mode == "hlm" and oc.method != "pql"),
        ("mode='hlm' with design weights (HLM-mode PQL is unweighted; use mode='exact')",
         options.mode == "hlm" and options.weights.used),
        (("precision weights (varianceknown: a known level-1 variance has no meaning for a "
          "non-normal outcome)"), options.weights.precision is not None),
        ("heterogeneous_sigma2", bool(options.heterogeneous_sigma2)),
        (("the homogeneity test of level-1 variance (an HGLM has no level-1 variance sigma^2 "
          "to test: the level-1 variance is a function of the mean)"),
         options.tests.homogeneity),
        ("a deviance test with PQL (no deviance; use method='laplace' or 'agq')",
         options.tests.deviance_test is not None and oc.method == "pql"),
        ("the exploratory analysis", options.exploratory is not None),
    ) if bad]
    if what:
        final = "" if what[0].startswith("the homogeneity") else " yet"
        raise SpecError(f"distribution='{oc.distribution}' does not support {what[0]}{final}; "
                        "fit without it")


def pql_hlm_settings(options: FitOptions) -> dict:
    """HLM-mode PQL's iteration settings: the outcome's MACROIT / MICROIT / STOPMACRO /
    STOPMICRO, else ``max_iterations`` for the macro limit, else HLM's defaults."""
    oc = options.outcome
    out = dict(HLM_PQL_DEFAULTS)
    if options.max_iterations is not None:
        out["max_macro"] = options.max_iterations
    for key, value in (("max_macro", oc.macro_iterations), ("max_micro", oc.micro_iterations),
                       ("stop_macro", oc.stop_macro), ("stop_micro", oc.stop_micro)):
        if value is not None:
            out[key] = value
    return out


def run_glmm(model: str | ModelSpec, mdm: MDM, options: FitOptions) -> GLMMResults:
    refuse_unsupported(options)
    oc = options.outcome
    spec = as_spec(model, mdm, options.constraints, residual=False)
    if options.mode == "hlm":
        mdm = hlm_single_precision(mdm)     # HLM's MDM holds single precision, as for linear
    design = build_design(spec, mdm, weights=options.weights if options.weights.used else None)
    if design.n_random == 0:
        raise SpecError("an HGLM needs at least one random coefficient (a U term); without "
                        "one it is an ordinary GLM")
    fam = family(oc.distribution)
    trials = auxiliary(design, oc.trials, "trials")
    exposure = auxiliary(design, oc.exposure, "exposure")
    notes = check_outcome(design, fam, trials, exposure, trials_name=oc.trials,
                          exposure_name=oc.exposure)
    data = glmm_data(design, fam, trials, exposure)
    limits = options.limits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        # HLM fits PQL's linearised model with the linear model's likelihood (restricted PQL
        # under REML, HLM2's default; full PQL under ML); pql_likelihood overrides it
        reml = (oc.pql_likelihood or options.method) == "reml"
        if oc.method == "pql" and options.mode == "hlm":
            est = fit_pql_hlm(data, overdispersion=oc.overdispersion, reml=reml,
                              **pql_hlm_settings(options))
        elif oc.method == "pql":
            est = fit_pql(data, overdispersion=oc.overdispersion, reml=reml,
                          max_iterations=max(limits.max_iterations, 200)
                          if options.max_iterations is None else options.max_iterations)
        else:
            est = fit_ml(data, oc.nodes, max_iterations=limits.max_iterations)
    extra = []
    if fam.is_binomial and np.any(np.abs(est.beta) > 15):
        extra.append("Some fixed effects exceed 15 in absolute value on the logit scale: the "
                     "outcome may be (quasi-)completely separated by a predictor, so those "
                     "estimates and their standard errors are not reliable.")
    results = infer_glmm(est, trials=oc.trials, exposure=oc.exposure,
                         options=options.to_kwargs(), notes=notes + tuple(extra))
    tests = options.tests
    if hypotheses_requested(tests.hypotheses):
        results.tests["glh"] = glmm_glh(results, tests.hypotheses)
    if tests.deviance_test is not None:
        dev = dict(tests.deviance_test)
        if dev.get("convention", "standard") != "standard":
            raise SpecError("an HGLM deviance test takes the standard deviance (-2 log L)")
        n = int(dev.get("n_parameters", dev.get("parameters", dev.get("df", 0))))
        prior = dataclasses.replace(results, deviance=float(dev["deviance"]), n_parameters=n,
                                    tests={})
        results.tests["deviance_test"] = glmm_compare(results, prior,
                                                      labels=("current model", "prior model"))
    return results
