"""Three-level designs the data cannot identify are refused before estimation, one line each
(before: a numpy warning, 'the objective is not finite', or a 'fit' with deviance -134383)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import openhlm
from openhlm.errors import DataError, EstimationError

EG = Path(__file__).parents[2] / "reference" / "data" / "egsingle.csv"
GROWTH = "math = P0 + P1*year + E\nP0 = B00 + R0\nP1 = B10 + R1\nB00 = G000 + U00\nB10 = G100 + U10"


@pytest.fixture(scope="module")
def eg() -> pd.DataFrame:
    return pd.read_csv(EG)


def _fit(d: pd.DataFrame, model: str = GROWTH, **kw):
    mdm = openhlm.build_mdm(d, id=("childid", "schoolid"),
                            level1_variables=[c for c in ("year", "math", "x") if c in d],
                            level2_variables=[], level3_variables=["lowinc"])
    return openhlm.fit(model, mdm, **kw)


@pytest.mark.parametrize(("change", "error", "message"), [
    (lambda d: d[d["schoolid"] == d["schoolid"].iloc[0]], DataError, "only one level-3 unit"),
    (lambda d: d.assign(math=5.0), DataError, "is constant"),
    (lambda d: d.assign(math=d.groupby("childid")["math"].transform("mean")), DataError,
     "constant within every level-2 unit"),
    (lambda d: d.assign(year=d.groupby("childid")["year"].transform("first")),
     EstimationError, r"random slope of 'year' \(P1\) is not identified"),
    (lambda d: d.groupby("childid").head(1), EstimationError, "sigma\\^2 is not identified"),
])
@pytest.mark.parametrize("mode", [{}, {"mode": "hlm", "method": "ml"}])
def test_unidentified_designs_are_refused(eg, change, error, message, mode):
    with pytest.raises(error, match=message) as info:
        _fit(change(eg), **mode)
    assert "\n" not in str(info.value)


def test_a_level3_random_slope_constant_within_every_level3_unit(eg):
    """x is a level-1 variable that takes one value per school: its level-3 variance has no
    information (it is a level-3 predictor)."""
    d = eg.assign(x=eg.groupby("schoolid")["year"].transform("first"))
    model = ("math = P0 + P1*x + E\nP0 = B00 + R0\nP1 = B10\nB00 = G000 + U00\n"
             "B10 = G100 + U10")
    with pytest.raises(EstimationError, match="B10 is not identified"):
        _fit(d, model)
