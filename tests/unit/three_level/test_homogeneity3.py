"""The test of homogeneity of level-1 variance for three-level models (level-1 units within
level-2 units) against an independent computation: a per-child least-squares loop and
Raudenbush & Bryk's (2002, pp. 263-265) formula written out."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

import openhlm
from openhlm.errors import HypothesisError


def _direct(df, outcome, predictors, unit="childid", min_df=1):
    d_j, f_j = [], []
    for _, g in df.groupby(unit, sort=False):
        X = np.column_stack([np.ones(len(g))] + [g[p].to_numpy(float) for p in predictors])
        y = g[outcome].to_numpy(float)
        if len(g) - X.shape[1] < min_df or np.linalg.matrix_rank(X) < X.shape[1]:
            continue
        b, *_ = np.linalg.lstsq(X, y, rcond=None)
        sse = float(np.sum((y - X @ b) ** 2))
        if sse <= 1e-12 * float(np.sum((y - df[outcome].mean()) ** 2)):
            continue
        f = len(g) - X.shape[1]
        d_j.append(math.log(sse / f))
        f_j.append(f)
    d_j, f_j = np.array(d_j), np.array(f_j, dtype=float)
    lbar = np.sum(f_j * d_j) / np.sum(f_j)
    H = float(np.sum(((d_j - lbar) / np.sqrt(2.0 / f_j)) ** 2))
    return H, len(d_j) - 1, len(d_j)


@pytest.mark.parametrize("eq,preds", [
    ("math = P0 + E\nP0 = B00 + R0\nB00 = G000 + U00", []),
    (("math = P0 + P1*year + E\nP0 = B00 + B01*female + R0\nP1 = B10 + R1\n"
     "B00 = G000 + G001*lowinc + U00\nB10 = G100 + U10"), ["year"]),
    (("math = P0 + P1*group(year) + P2*grade + E\nP0 = B00 + R0\nP1 = B10\nP2 = B20\n"
     "B00 = G000 + U00"), ["year", "grade"]),
])
def test_homogeneity_against_direct_computation(egsingle, eg_mdm, eq, preds):
    res = openhlm.fit(eq, eg_mdm, method="ml", homogeneity=True)
    block = res.extras["homogeneity"]
    H, df, used = _direct(egsingle, "math", preds)
    assert block.chi2 == pytest.approx(H, rel=1e-9)
    assert block.df == df and block.units_used == used
    assert block.n_units == 1721
    assert block.p == pytest.approx(sps.chi2.sf(H, df), rel=1e-6, abs=1e-300)
    assert len(block.unused_units) == 1721 - used
    text = str(res)
    assert "Test of homogeneity of level-1 variance" in text
    assert f"{H:12.5f}" in text
    assert res.to_dict()["homogeneity"]["df"] == df


def test_homogeneity_needs_two_units(eg_mdm):
    eq = ("math = P0 + P1*year + P2*grade + P3*retained + E\nP0 = B00 + R0\nP1 = B10\n"
          "P2 = B20\nP3 = B30\nB00 = G000 + U00")
    with pytest.raises(HypothesisError, match="at least two level-2 units"):
        from openhlm.estimation.three_level.design import build_design3
        from openhlm.estimation.three_level.fit import estimate3
        from openhlm.inference.homogeneity3 import homogeneity_test3
        from openhlm.spec.equations3 import parse_model3

        spec = parse_model3(eq, level1_variables=eg_mdm.level1_variables,
                            level2_variables=eg_mdm.level2_variables,
                            level3_variables=eg_mdm.level3_variables)
        est = estimate3(build_design3(spec, eg_mdm), method="ml")
        homogeneity_test3(est, min_df=10)
