"""Grand-mean centring at level 2 against a published HLM run.

Source: UCLA Statistical Consulting, "HLM FAQ: centering" (HLM, full ML, HS&B), as transcribed
in docs/statistics.md sections 0 and 18: MATHACH with group-centred SES as a fixed slope and the
schools' sample mean of SES, grand-mean centred, on the intercept.  HLM printed
G00 12.647291 (SE .148414, t 85.216, df 158), G01 5.865601 (.359373, 16.322, 158),
G10 2.191172 (.108660, 20.165, 7182).  The run reproduces HLM only when the level-2 variable is
centred on the unweighted mean over the 160 schools (the case-weighted mean gives G00 12.684).
HLM stopped its EM short of the optimum, so the SEs agree to 1e-5 (the gammas to 2e-6).
"""

from __future__ import annotations

import pandas as pd
import pytest

import openhlm

pytestmark = pytest.mark.reference

PRINTED = [("G00", 12.647291, 0.148414, 85.216, 158),
           ("G01", 5.865601, 0.359373, 16.322, 158),
           ("G10", 2.191172, 0.108660, 20.165, 7182)]


def test_level2_grand_mean_centring_is_over_units():
    l1 = pd.read_csv(openhlm.datasets.path("hsb1.csv"))
    l2 = pd.read_csv(openhlm.datasets.path("hsb2.csv"))
    l2 = l2.merge(l1.groupby("id").ses.mean().rename("sesmean").reset_index(), on="id")
    mdm = openhlm.build_mdm(l1, l2, id="id")
    res = openhlm.fit("mathach = B0 + B1*group(ses) + R; B0 = G00 + G01*grand(sesmean) + U0;"
                      " B1 = G10", mdm, method="ml")
    for gamma, est, se, t, df in PRINTED:
        row = res.fixed[gamma]
        assert row.estimate == pytest.approx(est, abs=2e-6)
        assert row.se == pytest.approx(se, abs=1e-5)
        assert row.t == pytest.approx(t, abs=5e-3)
        assert row.df == df
    # the unweighted mean over the 160 schools, not over the 7,185 students
    assert res.data.centering_means["level2:sesmean"] == pytest.approx(l2.sesmean.mean())
