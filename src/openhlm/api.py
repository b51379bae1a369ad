"""The one-call API: ``openhlm.fit(model, data)``.

Runs HLM's workflow end to end: (MDM) -> specification -> design -> estimation -> inference.
Each step is also public on its own (:func:`openhlm.data.build_mdm`,
:func:`openhlm.spec.equations.parse_model`, :func:`openhlm.estimation.design.build_design`,
:func:`openhlm.estimation.fit.estimate`, :func:`openhlm.inference.infer.infer`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from openhlm.data import MDM
from openhlm.errors import SpecError
from openhlm.estimation.fit import estimate
from openhlm.estimation.weights import weighted_design, with_weighting
from openhlm.inference.infer import infer
from openhlm.results import HLMResults
from openhlm.spec.equations import parse_model, validate_spec
from openhlm.spec.model import Constraint, ModelSpec

__all__ = ["fit", "as_mdm", "as_spec"]


def as_mdm(data: Any, *, id: str | None = None, level2: Any = None) -> MDM:
    """``data`` as an MDM: an MDM is returned as is; a DataFrame or a path needs ``id=``."""
    if isinstance(data, MDM):
        return data
    if isinstance(data, (pd.DataFrame, str, os.PathLike)):
        if id is None:
            raise SpecError("to fit a model to a DataFrame or a file, name the level-2 ID "
                            "variable with id=... (or build an MDM with openhlm.build_mdm)")
        return MDM.from_tables(data, level2, id=id)
    raise SpecError(f"data must be an openhlm MDM, a pandas DataFrame or a file path, not "
                    f"{type(data).__name__}")


def as_spec(model: str | ModelSpec, mdm: MDM, constraints: Iterable[str | Constraint] = ()
            ) -> ModelSpec:
    """Parse equation text against the MDM's variables (or validate a ModelSpec)."""
    constraints = tuple(constraints)
    if isinstance(model, ModelSpec):
        if constraints:
            extra = tuple(c if isinstance(c, Constraint) else _parse_constraint(c)
                          for c in constraints)
            model = ModelSpec(model.outcome, model.coefficients, model.constraints + extra,
                              model.variance_predictors)
        return validate_spec(model, level1_variables=mdm.level1_variables,
                             level2_variables=mdm.level2_variables)
    if not isinstance(model, str):
        raise SpecError(f"model must be equation text or a ModelSpec, not {type(model).__name__}")
    return parse_model(model, level1_variables=mdm.level1_variables,
                       level2_variables=mdm.level2_variables, constraints=constraints)


def hlm_single_precision(mdm: MDM) -> MDM:
    """The MDM with its values rounded to single precision, as HLM 6 stores them.

    Evidence (docs/hlm-iterations.md, section E): at HLM's own final iterates, data rounded to
    float32 reproduce the printed deviances of the seminar's Models 1, 2 and 4b to 1-5e-6,
    against 7-17e-6 with the double-precision values.  ``mode="hlm"`` fits use this copy.
    """
    return dataclasses.replace(mdm, level1=mdm.level1.astype(np.float32).astype(np.float64),
                               level2=mdm.level2.astype(np.float32).astype(np.float64))


def _parse_constraint(text: str) -> Constraint:
    parts = [p.strip().upper() for p in text.split("=")]
    if len(parts) < 2 or not all(parts):
        raise SpecError(f"cannot read the constraint {text!r}: write it as 'G02 = G12'")
    return Constraint(tuple(parts))


def fit(model: str | ModelSpec, data: Any, *, method: Literal["reml", "ml"] = "reml",
        mode: Literal["exact", "hlm"] = "exact", constraints: Iterable[str | Constraint] = (),
        max_iterations: int | None = None, tolerance: float | None = None,
        id: str | None = None, level2: Any = None, ols_units: int = 10,
        level1_weight: str | None = None, level2_weight: str | None = None,
        normalize_weights: bool | str = True, precision_weight: str | None = None,
        imputation: str | None = None, plausible_values: str | Sequence[str] | None = None,
        heterogeneous_sigma2: str | Iterable[str] = (), hypotheses: Any = None,
        homogeneity: bool = False, deviance_test: Mapping[str, Any] | None = None,
        exploratory: Iterable[str] | None = None) -> HLMResults:
    """Fit a two-level hierarchical linear model and compute everything HLM2 prints.

    Parameters
    ----------
    model : str or ModelSpec
        HLM's equation format, e.g. ``"mathach = B0 + B1*group(ses) + R;
        B0 = G00 + G01*sector + U0; B1 = G10 + U1"``.
    data : MDM, DataFrame or path
        An :class:`openhlm.MDM`; a DataFrame or file path needs ``id=`` (and optionally a
        ``level2=`` table).
    method : {"reml", "ml"}
        Restricted (HLM's default) or full maximum likelihood.
    mode : {"exact", "hlm"}
        ``"exact"`` maximises the likelihood to convergence; ``"hlm"`` reproduces HLM 6's EM
        iterations, starting values and stopping rule (and so its printed numbers).
    constraints : iterable of str
        Equality constraints on fixed effects, e.g. ``["G02 = G12"]``.
    max_iterations, tolerance :
        Iteration limit and convergence criterion (HLM mode: change in log-likelihood,
        default 100 and 1e-6).
    level1_weight, level2_weight : str, optional
        Design (sampling) weight variables at level 1 / level 2 (pseudo-maximum likelihood;
        see :mod:`openhlm.estimation.weights` and ``docs/weights-and-imputation.md``).
    normalize_weights : bool or {"within", "overall", "none"}
        HLM's "Normalized?": True (= ``"within"``, the default) rescales level-1 weights to sum
        to n_j within each unit and level-2 weights to sum to J; ``"overall"`` rescales level-1
        weights to sum to N; False (= ``"none"``) uses the raw weights.
    precision_weight : str, optional
        Level-1 variable of known relative precisions, Var(r_ij) = sigma^2 / p_ij (HLM's
        ``varianceknown``; never normalised).
    imputation, plausible_values :
        Multiply imputed data: ``data`` may be a list of data sets, or one data set with an
        imputation-number column ``imputation=``, or ``plausible_values=["pv1", ...]`` naming
        several outcome variables; the fits are pooled by :func:`openhlm.fit_imputed`.
    heterogeneous_sigma2 : str or iterable of str
        Level-1 variables of a log-linear model for the level-1 variance,
        ln sigma^2_ij = alpha_0 + sum_k alpha_k C_kij (HLM's "Heterogeneous sigma^2"; full ML
        only, so pass ``method="ml"``).  The alpha table and the comparison with the
        homogeneous model are in ``results.extras["heterogeneous_sigma2"]``.
    hypotheses, homogeneity, deviance_test :
        Tests printed at the end of the report (HLM's "Hypothesis Testing" settings):
        general linear hypotheses on the gammas (``["G01 = 0; G11 = 0"]``, see
        :func:`openhlm.glh`), the test of homogeneity of level-1 variance, and a deviance test
        against a prior model (``{"deviance": 46502.95, "n_parameters": 2}``, optionally
        ``"convention": "hlm"``; see :func:`openhlm.deviance_test`).  Stored in
        ``results.extras["glh"]``, ``["homogeneity"]`` and ``["deviance_test"]``.
    exploratory : iterable of str, optional
        Level-2 variables of the MDM not in the model, e.g. ``["pracad", "disclim"]``: HLM's
        "Exploratory Analysis" of potential level-2 predictors (the EB residuals of each random
        coefficient regressed on each variable; see :func:`openhlm.exploratory`), stored in
        ``results.extras["exploratory"]`` and printed at the end of the report.

    Returns
    -------
    HLMResults
    """
    if isinstance(data, (list, tuple)) or imputation is not None or plausible_values is not None:
        if heterogeneous_sigma2:
            raise SpecError("heterogeneous_sigma2 is not supported with multiply imputed data or "
                            "plausible values yet; fit each data set with openhlm.fit")
        from openhlm.imputation import fit_imputed
        from openhlm.inference.hypotheses import hypotheses_requested

        if hypotheses_requested(hypotheses) or homogeneity or deviance_test is not None:
            raise SpecError("hypothesis tests (hypotheses=, homogeneity=, deviance_test=) are not "
                            "pooled over imputed data sets; fit each data set on its own")
        if exploratory is not None:
            raise SpecError("the exploratory analysis (exploratory=) is not pooled over imputed "
                            "data sets; run openhlm.exploratory on the fit of each data set")
        return fit_imputed(model, data, imputation=imputation,
                           plausible_values=plausible_values, method=method, mode=mode,
                           constraints=constraints, max_iterations=max_iterations,
                           tolerance=tolerance, id=id, level2=level2, ols_units=ols_units,
                           level1_weight=level1_weight, level2_weight=level2_weight,
                           normalize_weights=normalize_weights,
                           precision_weight=precision_weight,
                           heterogeneous_sigma2=heterogeneous_sigma2)
    mdm = as_mdm(data, id=id, level2=level2)
    spec = as_spec(model, mdm, constraints)
    if mode == "hlm":
        mdm = hlm_single_precision(mdm)
    if heterogeneous_sigma2:
        extra = ((heterogeneous_sigma2,) if isinstance(heterogeneous_sigma2, str)
                 else tuple(heterogeneous_sigma2))
        spec = validate_spec(dataclasses.replace(spec, variance_predictors=extra),
                             level1_variables=mdm.level1_variables,
                             level2_variables=mdm.level2_variables)
    design, weighting = weighted_design(spec, mdm, level1_weight=level1_weight,
                                        level2_weight=level2_weight,
                                        precision_weight=precision_weight,
                                        normalize=normalize_weights)
    est = estimate(design, method=method, mode=mode, max_iterations=max_iterations,
                   tolerance=tolerance)
    results = infer(est, ols_units=ols_units, sources=tuple(getattr(mdm, "sources", ())))
    labels = dict(getattr(mdm, "variable_labels", None) or {})
    if labels:  # variable labels travel with the results (plots' axes, residual files)
        results = dataclasses.replace(
            results, data=dataclasses.replace(results.data, variable_labels=labels))
    results = with_weighting(results, weighting)
    if hypotheses is not None or homogeneity or deviance_test is not None:
        from openhlm.inference.hypotheses import with_tests

        results = with_tests(results, hypotheses=hypotheses, homogeneity=homogeneity,
                             deviance_test=deviance_test)
    if exploratory is not None:
        from openhlm.inference.exploratory import with_exploratory

        results = with_exploratory(results, exploratory)
    return results
