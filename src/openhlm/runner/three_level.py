"""The runner of three-level models (HLM3): data -> MDM3 -> ModelSpec3 -> design -> exact
REML/ML -> HLM3Results.  :func:`openhlm.runner.run` sends here an :class:`MDM3`, a ``level3=``
table or a two-name ``id=``.
"""

from __future__ import annotations

import os
from typing import Any

import pandas as pd

from openhlm.data.mdm3 import MDM3, build_mdm3
from openhlm.errors import SpecError
from openhlm.estimation.three_level.design import build_design3
from openhlm.estimation.three_level.em import estimate3_hlm
from openhlm.estimation.three_level.fit import estimate3
from openhlm.estimation.three_level.heterogeneous import estimate3_heterogeneous
from openhlm.estimation.three_level.identification import check_design3
from openhlm.estimation.three_level.weighting import weighted_design3
from openhlm.inference.exploratory3 import with_exploratory3
from openhlm.inference.heterogeneous3 import heterogeneous_sigma2_3
from openhlm.inference.homogeneity3 import homogeneity_test3
from openhlm.inference.hypotheses import hypotheses_requested
from openhlm.inference.three_level import deviance_test3, glh3, infer3
from openhlm.results.heterogeneous import EXTRA_KEY as HETEROGENEOUS_KEY
from openhlm.results.three_level import HLM3Results
from openhlm.runner.imputed3 import data_sets3, pool_results3
from openhlm.spec.equations3 import parse_model3
from openhlm.spec.model3 import ModelSpec3
from openhlm.spec.options import FitOptions

__all__ = ["as_mdm3", "as_spec3", "is_three_level", "refuse_unsupported3", "run3"]


def is_three_level(data: Any, id: Any = None, level3: Any = None) -> bool:
    """Whether the runner's inputs describe three-level data."""
    return (isinstance(data, MDM3) or level3 is not None
            or (id is not None and not isinstance(id, str)))


def as_mdm3(data: Any, *, id: Any = None, level2: Any = None,
            level3: Any = None) -> MDM3:
    if isinstance(data, MDM3):
        return data
    if isinstance(data, (pd.DataFrame, str, os.PathLike)):
        if id is None or isinstance(id, str):
            raise SpecError("three-level data need id=(level-2 ID, level-3 ID), e.g. "
                            "id=('childid', 'schoolid')")
        return build_mdm3(data, level2, level3, id=tuple(id))
    raise SpecError(f"data must be an openhlm MDM3, a pandas DataFrame or a file path, not "
                    f"{type(data).__name__}")


def as_spec3(model: str | ModelSpec3, mdm: MDM3, constraints: Any = ()) -> ModelSpec3:
    """Parse HLM3 equation text (or take a ModelSpec3) and add ``constraints``."""
    constraints = tuple(constraints)
    if isinstance(model, ModelSpec3):
        if not constraints:
            return model
        model = str(model)     # the text of a ModelSpec3 reads back into the same model
    if not isinstance(model, str):
        raise SpecError(f"model must be equation text or a ModelSpec3, not "
                        f"{type(model).__name__}")
    return parse_model3(model, level1_variables=mdm.level1_variables,
                        level2_variables=mdm.level2_variables,
                        level3_variables=mdm.level3_variables,
                        constraints=tuple(str(c) for c in constraints))


def _unsupported(options: FitOptions) -> list[str]:
    out = []
    special = [what for what, used in (
        ("mode='hlm'", options.mode == "hlm"),
        ("heterogeneous sigma^2", bool(options.heterogeneous_sigma2)),
        ("the homogeneity test of sigma^2", options.tests.homogeneity)) if used]
    plain = [what for what, used in (
        ("constraints", bool(tuple(options.constraints))),
        ("weights", options.weights.used),
        ("multiply imputed data", options.imputation.requested)) if used]
    if special and plain:
        out.append(f"{special[0]} together with {plain[0]} (fit with one of them)")
    if options.heterogeneous_sigma2 and options.mode == "hlm":
        out.append("heterogeneous sigma^2 in mode='hlm' (use mode='exact')")
    if not options.outcome.normal:   # was silently fitted as a linear model
        out.append(f"distribution={options.outcome.distribution!r} (three-level HGLMs; "
                   "fit a linear model, or a two-level HGLM)")
    return out


def refuse_unsupported3(options: FitOptions) -> None:
    """SpecError naming the options three-level models do not take yet (before any parsing)."""
    missing = _unsupported(options)
    if missing:
        raise SpecError("not available for three-level models yet: " + ", ".join(missing))


def run3(model: str | ModelSpec3, data: Any, options: FitOptions | None = None, *,
         id: Any = None, level2: Any = None, level3: Any = None) -> HLM3Results:
    """Fit a three-level model (exact REML or ML) and compute HLM3's report."""
    options = FitOptions() if options is None else options
    refuse_unsupported3(options)
    if isinstance(data, (list, tuple)) or options.imputation.requested:
        return _run_imputed3(model, data, options, id=id, level2=level2, level3=level3)
    mdm = as_mdm3(data, id=id, level2=level2, level3=level3)
    return _run_one3(as_spec3(model, mdm, options.constraints), mdm, options)


def _run_one3(spec: ModelSpec3, mdm: MDM3, options: FitOptions) -> HLM3Results:
    design = build_design3(spec, mdm)
    check_design3(design)
    if options.weights.used:
        design = weighted_design3(design, options.weights)
    if options.mode == "hlm":
        if options.method != "ml":
            raise SpecError("mode='hlm' imitates HLM3, which estimates three-level models by "
                            "full maximum likelihood only: pass method='ml' (TOML: "
                            "[estimation] method = \"ml\")")
        est = estimate3_hlm(design, max_iterations=options.max_iterations,
                            tolerance=options.tolerance)
    elif options.heterogeneous_sigma2:
        est = estimate3_heterogeneous(design, tuple(options.heterogeneous_sigma2),
                                      method=options.method,
                                      max_iterations=options.max_iterations)
    else:
        est = estimate3(design, method=options.method, max_iterations=options.max_iterations,
                        tolerance=None)
    results = infer3(est, mode=options.mode)
    if "heterogeneous" in est.extras:
        results.extras[HETEROGENEOUS_KEY] = heterogeneous_sigma2_3(est)
    if options.tests.homogeneity:
        results.extras["homogeneity"] = homogeneity_test3(est)
    if hypotheses_requested(options.tests.hypotheses):
        results.extras["glh"] = glh3(results, options.tests.hypotheses)
    if options.tests.deviance_test is not None:
        prior = dict(options.tests.deviance_test)
        results.extras["deviance_test"] = deviance_test3(
            results, deviance=prior["deviance"], n_parameters=prior["n_parameters"],
            convention=prior.get("convention", "standard"))
    for key, level2, level3 in (("exploratory", options.exploratory, None),
                                ("exploratory3", None, options.exploratory3)):
        if level2 is None and level3 is None:
            continue
        try:
            results = with_exploratory3(results, level2, level3)
        except SpecError as exc:
            where = options.sources.get(key)
            if where is None:
                raise
            raise SpecError(f"{where}: {exc}") from None
    return results


def _run_imputed3(model: str | ModelSpec3, data: Any, options: FitOptions, *, id: Any,
                  level2: Any, level3: Any) -> HLM3Results:
    """Fit each completed data set (or plausible value) and pool (Rubin's rules for the
    fixed effects, averages for the rest, as for two-level models)."""
    tests = options.tests
    if hypotheses_requested(tests.hypotheses) or tests.deviance_test is not None:
        raise SpecError("hypothesis tests (hypotheses=, deviance_test=) are not pooled over "
                        "imputed data sets; fit each data set on its own")
    if options.exploratory is not None or options.exploratory3 is not None:
        raise SpecError("the exploratory analysis (exploratory=, exploratory3=) is not pooled "
                        "over imputed data sets; run openhlm.inference.exploratory3."
                        "exploratory3 on the fit of each data set")
    imp = options.imputation
    pairs, labels, kind = data_sets3(
        model, data, imputation=imp.column, plausible_values=imp.plausible_values or None,
        id=id, level2=level2, level3=level3, constraints=options.constraints)
    fits = [_run_one3(spec, mdm, options) for spec, mdm in pairs]
    return pool_results3(fits, labels, kind=kind)
