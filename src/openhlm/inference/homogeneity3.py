"""Test of homogeneity of level-1 variance for a three-level model (HLM3: level-1 units within
level-2 units).

The two-level test (:mod:`openhlm.inference.homogeneity`; Raudenbush & Bryk 2002, pp.
263-265; docs/statistics.md 9) applied to the level-2 units: for each level-2 unit j with
sufficient data, OLS of Y on the model's level-1 design (the a_p of every level-1 coefficient
pi_p, centred as the model enters them; P columns) gives SSE_j on f_j = n_j - P d.f., and

    H = sum_j (f_j / 2) (ln s_j^2 - Lbar)^2,  s_j^2 = SSE_j / f_j,
    Lbar = sum_j f_j ln s_j^2 / sum_j f_j,

on J'' - 1 d.f. (J'' units used: full-rank design, f_j >= ``min_df``, SSE_j > 0).  The level-3
units play no part: under the model every level-2 unit's residuals have variance sigma^2
whatever its level-3 unit.  One pass over the rows (``np.add.reduceat``), batched solves.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from openhlm.errors import HypothesisError
from openhlm.estimation.three_level.em import level1_ols
from openhlm.estimation.three_level.fit import Estimates3
from openhlm.inference.homogeneity import homogeneity_statistic
from openhlm.results.hypotheses import HomogeneityTest

__all__ = ["homogeneity_test3"]


def homogeneity_test3(est: Estimates3, *, min_df: int = 1) -> HomogeneityTest:
    """The homogeneity test of level-1 variance over the level-2 units of ``est``'s data."""
    if min_df < 1:
        raise HypothesisError(f"min_df must be at least 1, not {min_df}")
    design = est.design
    ok, sse, n, P = level1_ols(design)
    f = (n - P).astype(float)
    y = design.y
    scale = np.bincount(design.unit_index, weights=(y - y.mean()) ** 2, minlength=design.n2)
    with np.errstate(invalid="ignore"):
        use = ok & (f >= min_df) & (sse > 1e-12 * np.maximum(scale, 1e-300))
    J2 = int(use.sum())
    if J2 < 2:
        raise HypothesisError(
            f"the homogeneity test needs at least two level-2 units with more than "
            f"{P + min_df - 1} level-1 records and a full-rank level-1 design; only {J2} of "
            f"{design.n2} have")
    H, df = homogeneity_statistic(sse[use], f[use])
    ids = np.asarray(design.mdm.unit_ids)
    return HomogeneityTest(chi2=H, df=df, p=float(special.chdtrc(df, H)), units_used=J2,
                           n_units=design.n2,
                           unused_units=tuple(str(u) for u in ids[~use]))
