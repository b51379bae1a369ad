"""``openhlm.fit(..., mode="hlm")`` end to end against the seminar's HLM 6.08 printout.

Models 1, 2 and 4 stop where HLM stops and print HLM's numbers; the remaining gaps are measured
and pinned here (docs/hlm-iterations.md has the research log, section G the stop rule; Model 3,
which we stop one iteration early, is in tests/unit/estimation/test_hlm_mode.py).
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
    # HLM prints 0.244412; ours is 0.2444115 (on the rounding boundary; docs/statistics.md 0)
    assert printed(g00.se, "0.244412", slack=1e-6)
    assert printed(res.variance["U0"].chi2, "1660.23259")
    # single-precision data (as HLM stores them) and the likelihood of the last E-step (as HLM
    # prints it) give the printed deviance to every digit
    assert printed(res.deviance_hlm, "47116.793477")


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


def test_model4(mdm):
    """Model 4 (two random coefficients): HLM stops at 61 with EM still gaining 2.3e-4 per step;
    the relative stop rule and the capped accelerator reproduce the printout."""
    res = openhlm.fit("""mathach = B0 + B1*group(ses) + R
        B0 = G00 + G01*sector + G02*meanses + U0
        B1 = G10 + G11*sector + G12*meanses + U1""", mdm, mode="hlm")
    assert res.iterations == 61
    assert res.convergence.stop_reason.startswith("Iterations stopped due to small change")
    assert printed(res.sigma2, "36.70313")
    assert printed(res.tau[0, 0], "2.37996") and printed(res.tau[1, 1], "0.14892")
    assert printed(res.tau[0, 1], "0.19058", slack=1.5e-5)      # ours 0.190600
    assert printed(res.reliability["INTRCPT1"], "0.733")
    assert printed(res.reliability["SES"], "0.073")
    for gamma, est, se, rse in [("G00", "12.096006", "0.198734", "0.173699"),
                                ("G01", "1.226384", "0.306272", "0.308484"),
                                ("G02", "5.333056", "0.369161", "0.334600"),
                                ("G10", "2.937981", "0.157135", "0.147620"),
                                ("G11", "-1.640954", "0.242905", "0.237401"),
                                ("G12", "1.034427", "0.302566", "0.332785")]:
        row = res.fixed[gamma]
        assert printed(row.estimate, est, slack=5e-7)            # measured gaps <= 8.0e-7
        assert printed(row.se, se, slack=5e-7)
        assert printed(row.robust_se, rse, slack=5e-7)
    assert printed(res.variance["U0"].chi2, "605.29503", slack=3e-5)   # ours 605.29500
    assert printed(res.variance["U1"].chi2, "162.30867", slack=1e-5)
