"""Results as plain JSON data, with a stable, versioned schema (``docs/json-schema.md``).

``results_to_dict(results)`` returns only JSON types (dict, list, str, int, float, bool, None);
NaN and infinities become ``None`` so that ``json.dumps(..., allow_nan=False)`` succeeds.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from openhlm.report.extras import renderer_for, to_jsonable
from openhlm.results import JSON_SCHEMA_VERSION, HLMResults

__all__ = ["KEYS", "results_to_dict"]

#: The top-level keys, in order (optional ``extras`` blocks follow under their own keys).
KEYS = (
    "schema_version", "openhlm_version", "method", "mode", "converged", "iterations",
    "n_level1", "n_level2", "outcome", "equations", "sigma2", "sigma2_se", "tau",
    "reliability", "fixed_effects", "variance_components", "deviance", "deviance_hlm",
    "n_parameters", "units_used_for_chi2", "notes",
)


def _num(x: Any) -> float | None:
    if x is None:
        return None
    v = float(x)
    return v if math.isfinite(v) else None


def _int(x: Any) -> int | None:
    if x is None:
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return int(v) if math.isfinite(v) else None


def _matrix(m: Any) -> list[list[float | None]]:
    a = np.atleast_2d(np.asarray(m, dtype=float)) if np.size(m) else np.empty((0, 0))
    return [[_num(v) for v in row] for row in a]


def _fixed_effects(results: HLMResults) -> list[dict[str, Any]]:
    return [{
        "coefficient": fe.coefficient,
        "predictor": fe.predictor,
        "gamma": fe.gamma,
        "estimate": _num(fe.estimate),
        "se": _num(fe.se),
        "t": _num(fe.t),
        "df": _int(fe.df),
        "p": _num(fe.p),
        "robust_se": _num(fe.robust_se),
        "robust_t": _num(fe.robust_t),
        "robust_p": _num(fe.robust_p),
        "constrained": bool(fe.constrained),
    } for fe in results.fixed.rows]


def _variance_components(results: HLMResults) -> list[dict[str, Any]]:
    return [{
        "effect": vc.effect,
        "coefficient": vc.coefficient,
        "sd": _num(vc.sd),
        "variance": _num(vc.variance),
        "df": _int(vc.df),
        "chi2": _num(vc.chi2),
        "p": _num(vc.p),
    } for vc in results.variance.rows]


def results_to_dict(results: HLMResults) -> dict[str, Any]:
    """``results`` as a JSON-compatible dict (schema: ``docs/json-schema.md``).

    Parameters
    ----------
    results : HLMResults

    Returns
    -------
    dict
        The keys of :data:`KEYS` in order, then one key per entry of ``results.extras``
        (converted by its registered JSON renderer, or generically).
    """
    from openhlm.spec.printing import format_equations

    out: dict[str, Any] = {
        "schema_version": JSON_SCHEMA_VERSION,
        "openhlm_version": results.version,
        "method": results.method,
        "mode": results.mode,
        "converged": bool(results.converged),
        "iterations": int(results.iterations),
        "n_level1": int(results.n_level1),
        "n_level2": int(results.n_level2),
        "outcome": results.spec.outcome,
        "equations": format_equations(results.spec),
        "sigma2": _num(results.sigma2),
        "sigma2_se": _num(results.sigma2_se),
        "tau": {
            "labels": list(results.tau_labels),
            "matrix": _matrix(results.tau),
            "se": _matrix(results.tau_se),
            "correlations": _matrix(results.tau_correlations),
        },
        "reliability": {str(k): _num(v) for k, v in results.reliability.items()},
        "fixed_effects": _fixed_effects(results),
        "variance_components": _variance_components(results),
        "deviance": _num(results.deviance),
        "deviance_hlm": _num(results.deviance_hlm),
        "n_parameters": int(results.n_parameters),
        "units_used_for_chi2": int(results.variance.units_used),
        "notes": list(results.notes),
    }
    for key, block in results.extras.items():
        if key in out:
            raise ValueError(f"results.extras key {key!r} clashes with a standard JSON key")
        renderer = renderer_for(key).json
        out[key] = to_jsonable(renderer(block, results) if renderer else block)
    return out
