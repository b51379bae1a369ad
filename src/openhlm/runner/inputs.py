"""The model and the data as the doors accept them: equation text or a ModelSpec; an MDM, a
DataFrame or a file.

Used by the runner (:mod:`openhlm.runner`) and by the multiple-imputation helpers
(:mod:`openhlm.runner.imputed`); re-exported by :mod:`openhlm.api`.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from openhlm.data import MDM
from openhlm.errors import SpecError
from openhlm.spec.constraints import parse_constraint
from openhlm.spec.equations import parse_model, validate_spec
from openhlm.spec.model import Constraint, ModelSpec

__all__ = ["as_mdm", "as_spec", "hlm_single_precision"]


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


def as_spec(model: str | ModelSpec, mdm: MDM, constraints: Iterable[str | Constraint] = (),
            *, residual: bool = True) -> ModelSpec:
    """Parse equation text against the MDM's variables (or validate a ModelSpec).

    ``constraints`` are added to the model; one the model already has is not added twice.
    ``residual=False`` (non-normal outcomes) makes the level-1 ``R`` optional.
    """
    constraints = tuple(constraints)
    if isinstance(model, ModelSpec):
        if constraints:
            extra = tuple(c if isinstance(c, Constraint) else parse_constraint(c)
                          for c in constraints)
            extra = tuple(c for c in dict.fromkeys(extra) if c not in model.constraints)
            model = ModelSpec(model.outcome, model.coefficients, model.constraints + extra,
                              model.variance_predictors)
        return validate_spec(model, level1_variables=mdm.level1_variables,
                             level2_variables=mdm.level2_variables)
    if not isinstance(model, str):
        raise SpecError(f"model must be equation text or a ModelSpec, not {type(model).__name__}")
    try:
        return _parse_cached(model, mdm.level1_variables, mdm.level2_variables, constraints,
                             residual)
    except TypeError:   # an unhashable constraint: parse without the cache
        return parse_model(model, level1_variables=mdm.level1_variables,
                           level2_variables=mdm.level2_variables, constraints=constraints,
                           residual=residual)


@functools.lru_cache(maxsize=128)
def _parse_cached(model: str, level1_variables: tuple[str, ...],
                  level2_variables: tuple[str, ...],
                  constraints: tuple[str | Constraint, ...], residual: bool = True) -> ModelSpec:
    """:func:`parse_model`, remembered: a ModelSpec is frozen data and parsing is a pure
    function of the text and the variable names (a refit of the same model skips it)."""
    return parse_model(model, level1_variables=level1_variables,
                       level2_variables=level2_variables, constraints=constraints,
                       residual=residual)


def hlm_single_precision(mdm: MDM) -> MDM:
    """The MDM with its values rounded to single precision, as HLM 6 stores them.

    Evidence (docs/hlm-iterations.md, section E): at HLM's own final iterates, data rounded to
    float32 reproduce the printed deviances of the seminar's Models 1, 2 and 4b to 1-5e-6,
    against 7-17e-6 with the double-precision values.  ``mode="hlm"`` fits use this copy.
    """
    return dataclasses.replace(mdm, level1=mdm.level1.astype(np.float32).astype(np.float64),
                               level2=mdm.level2.astype(np.float32).astype(np.float64))
