"""``mode="hlm"`` out of core: HLM's EM on the per-unit statistics (``docs/scale.md``).

The in-memory HLM mode (:func:`openhlm.estimation.fit.estimate`, ``mode="hlm"``) differs from
exact mode in two ways: the data are rounded to single precision first, as HLM stores them
(:func:`openhlm.runner.inputs.hlm_single_precision`), and (sigma^2, T) come from HLM's moment
starting values and EM with its stopping rule (:mod:`openhlm.estimation.em`), all in double
precision.  Both are possible from the statistics:

* the engines round every value they read to float32 before aggregating (``single_precision``
  of :mod:`openhlm.scale.duck`, :mod:`openhlm.scale.dask_engine`,
  :func:`openhlm.scale.partial.partial_from_frame`), and the level-2 table is rounded in
  memory, so the statistics are those of the same rounded data;
* starting values and EM read only per-unit cross-products X_j'X_j, X_j'y_j, y_j'y_j
  (:class:`~openhlm.estimation.sufficient.UnitStats`), formed here from the moments as
  C_j + W_j m_j m_j' (:func:`~openhlm.estimation.sufficient.stats_from_raw`).

What differs from the in-memory HLM mode: the in-memory fit sums the products of the rows
directly; here they come from the centred moments, so each cross-product differs by a few
roundings (about 1e-16 relative), and so do the EM iterates.  The stopping rule compares the
relative change of the log-likelihood with 1e-8, far above that, so the two fits stop at the
same iteration unless a change falls within ~1e-13 of the threshold, and reach the same
estimates to well within the EM's own tolerance (the test suite checks 1e-8).
"""

from __future__ import annotations

import numpy as np

from openhlm.estimation.design import Design
from openhlm.estimation.estimates import Estimates
from openhlm.estimation.exact import working_basis
from openhlm.estimation.fit import check_max_iterations, check_tolerance, estimate_hlm_from
from openhlm.estimation.statistics import UnitMoments
from openhlm.estimation.sufficient import stats_from_raw
from openhlm.scale.design import check_identified_from_moments

__all__ = ["hlm_from_moments"]


def hlm_from_moments(design: Design, mom: UnitMoments, *, method: str = "reml",
                     max_iterations: int | None = None,
                     tolerance: float | None = None) -> Estimates:
    """HLM-mode estimates from the per-unit moments of [X, y] (module docstring).

    The model is checked as an exact-mode fit from moments is
    (:func:`openhlm.scale.design.check_identified_from_moments`), then HLM's starting values
    and EM run on the original-basis statistics (:func:`estimate_hlm_from`).
    """
    reml = method.lower() == "reml"
    check_max_iterations(max_iterations)
    check_tolerance(tolerance)
    uw = (np.ones(design.n_level2) if design.unit_weights is None
          else np.asarray(design.unit_weights, dtype=float))
    stats = stats_from_raw(mom.raw(), design.G(), design.random_columns, mom.n, mom.sum_log_w, uw)
    wstats = working_basis(design, mom).stats(mom, design.random_columns, uw)
    check_identified_from_moments(design, mom, wstats)
    return estimate_hlm_from(design, stats, reml, max_iterations=max_iterations,
                             tolerance=tolerance, stacklevel=4)
