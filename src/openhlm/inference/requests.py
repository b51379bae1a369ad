"""The tests a fit asks for (``fit(..., hypotheses=, homogeneity=, deviance_test=)``, a TOML
model file's ``[hypotheses]``, an HLM command file's hypothesis settings): reading the requests
and computing the blocks stored in ``HLMResults.extras`` (``"glh"``, ``"homogeneity"``,
``"deviance_test"``, in this order).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from openhlm.errors import HypothesisError
from openhlm.inference.deviance import deviance_test as _deviance_test
from openhlm.inference.glh import glh
from openhlm.inference.homogeneity import homogeneity_test

if TYPE_CHECKING:
    from openhlm.results import HLMResults

__all__ = ["hypotheses_requested", "requested_blocks", "requested_tests", "with_tests"]


def _prior_model(spec: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(spec, Mapping):
        raise HypothesisError("deviance_test must be a dict like {'deviance': 46502.95, "
                              "'n_parameters': 2}")
    keys = {"deviance", "n_parameters", "parameters", "df", "convention"}
    unknown = set(spec) - keys
    if unknown:
        raise HypothesisError(f"deviance_test: unknown key(s) {', '.join(sorted(unknown))} "
                              f"(use deviance, n_parameters and optionally convention)")
    n = spec.get("n_parameters", spec.get("parameters", spec.get("df")))
    if "deviance" not in spec or n is None:
        raise HypothesisError("deviance_test needs the prior model's 'deviance' and "
                              "'n_parameters'")
    return {"deviance": spec["deviance"], "n_parameters": n,
            "convention": spec.get("convention", "standard")}


def hypotheses_requested(hypotheses: Any) -> bool:
    """Does ``hypotheses`` (as :func:`glh` reads it) ask for a test?  ``None`` and an empty
    list or tuple do not; anything else does (never takes the truth value of an array)."""
    if hypotheses is None:
        return False
    return not (isinstance(hypotheses, (list, tuple)) and len(hypotheses) == 0)


def requested_blocks(results: HLMResults, *, hypotheses: Any = None, homogeneity: bool = False,
                     deviance_test: Mapping[str, Any] | None = None,
                     robust: bool | None = None) -> dict[str, Any]:
    """The requested tests of ``results``, as the blocks of ``results.extras``.

    Keys, in this order: ``"glh"`` (:class:`~openhlm.results.GLHResult`), ``"homogeneity"``
    (:class:`~openhlm.results.HomogeneityTest`), ``"deviance_test"``
    (:class:`~openhlm.results.DevianceTest`); the report prints them at the end, in this order.
    :func:`openhlm.inference.infer.infer` stores them when it builds the results.
    """
    # (the blocks hold numpy arrays: compare nothing with ``==``, just note what was added)
    added: dict[str, Any] = {}
    if hypotheses_requested(hypotheses):
        added["glh"] = glh(results, hypotheses, robust=robust)
    if homogeneity:
        added["homogeneity"] = homogeneity_test(results)
    if deviance_test is not None:
        added["deviance_test"] = _deviance_test(results, **_prior_model(deviance_test))
    return added


def with_tests(results: HLMResults, *, hypotheses: Any = None, homogeneity: bool = False,
               deviance_test: Mapping[str, Any] | None = None,
               robust: bool | None = None) -> HLMResults:
    """``results`` with the requested tests (:func:`requested_blocks`) added to
    ``results.extras`` (the same object when nothing is requested).  For results already
    built; a fit asks :func:`openhlm.inference.infer.infer` for them instead."""
    added = requested_blocks(results, hypotheses=hypotheses, homogeneity=homogeneity,
                             deviance_test=deviance_test, robust=robust)
    if not added:
        return results
    return replace(results, extras={**results.extras, **added})


def requested_tests(source: Any) -> dict[str, Any]:
    """The tests a TOML model file or an HLM command file asks for, as ``fit`` keywords.

    Parameters
    ----------
    source : openhlm.spec.modelfile.ModelFile or openhlm.spec.commandfile.CommandFile

    Returns
    -------
    dict
        ``hypotheses`` (or ``None``), ``homogeneity`` (bool), ``deviance_test`` (dict or
        ``None``).  A command file's ``deviance:`` is HLM's printed value, so its convention is
        ``"hlm"``; a TOML file's is ``"standard"``.
    """
    from openhlm.spec.commandfile import CommandFile
    from openhlm.spec.modelfile import ModelFile

    if isinstance(source, ModelFile):
        h = source.hypotheses
        dev = None
        if h.deviance_test is not None:
            dev = {"deviance": h.deviance_test.deviance,
                   "n_parameters": h.deviance_test.parameters,
                   "convention": getattr(h.deviance_test, "convention", "standard")}
        return {"hypotheses": [list(rows) for rows in h.glh] or None,
                "homogeneity": bool(h.homogeneity), "deviance_test": dev}
    if isinstance(source, CommandFile):
        o = source.options
        contrasts = [np.array(c, dtype=float) for c in source.contrasts()]
        dev = None
        if o.deviance is not None and o.df is not None:
            dev = {"deviance": o.deviance, "n_parameters": o.df, "convention": "hlm"}
        return {"hypotheses": contrasts if (o.hypoth or contrasts) and contrasts else None,
                "homogeneity": bool(o.homvar), "deviance_test": dev}
    raise HypothesisError(f"requested_tests() reads a ModelFile or a CommandFile, not "
                          f"{type(source).__name__}")
