"""``openhlm.fit(..., mode="hlm")`` end to end against the seminar's HLM 6.08 printout.

Models 1 and 2 stop where HLM stops and print HLM's numbers; the remaining gaps are measured
and pinned here (docs/hlm-iterations.md has the research log; Models 3 and 4, which HLM stopped
early for reasons not yet reproduced, are in tests/unit/estimation/test_hlm_mode.py).
"""

from __future__ import annotations

import pytest

import openhlm

pytestmark = pytest.mark.reference


@pytest.fixture(scope="module")
def mdm():
    return openhlm.datasets.hsb()


def printed(value: float, text: str, slack: float = 0.0) -> bool:
    decimals = len(text.split(".")[1])
    return abs(value - float(text)) <= 0.5 * 10.0 ** -decimals + slack


def test_model1(mdm):
    res = openhlm.fit("mathach = B0 + R; B0 = G00 + U0", mdm, mode="hlm")
    assert res.iterations == 4
    assert res.convergence.stop_reason.startswith("Iterations stopped due to small change")
    assert printed(res.sigma2, "39.14831") and printed(res.tau[0, 0], "8.61431")
    assert printed(res.reliability["INTRCPT1"], "0.901")
    g00 = res.fixed["G00"]
    assert printed(g00.estimate, "12.636972") and printed(g00.robust_se, "0.243628")
    # HLM prints 0.244412; ours is 0.2444115 (on the rounding boundary; hlm-statistics.md 0)
    assert printed(g00.se, "0.244412", slack=1e-6)
    assert printed(res.variance["U0"].chi2, "1660.23259")
    # single-precision data (as HLM stores them) bring the deviance to 2e-6 of the printout
    assert printed(res.deviance_hlm, "47116.793477", slack=2.5e-6)


def test_model2(mdm):
    res = openhlm.fit("mathach = B0 + R; B0 = G00 + G01*meanses + U0", mdm, mode="hlm")
    assert res.iterations == 6
    assert printed(res.sigma2, "39.15708")
    assert printed(res.tau[0, 0], "2.63870", slack=1e-5)     # ours 2.63871
    assert printed(res.reliability["INTRCPT1"], "0.740")
    for gamma, est, se, rse in [("G00", "12.649436", "0.149280", "0.148377"),
                                ("G01", "5.863538", "0.361457", "0.320211")]:
        row = res.fixed[gamma]
        assert printed(row.estimate, est, slack=1.5e-6)
        assert printed(row.se, se, slack=1.5e-6)
        assert printed(row.robust_se, rse, slack=1.5e-6)
    assert printed(res.variance["U0"].chi2, "633.51744", slack=5e-5)
    assert printed(res.deviance_hlm, "46959.446959", slack=1e-6)
