"""Level-1 OLS regressions and reliabilities against published HLM outputs.

* UDEL "HSB Test Run" (HLM 6.02 full output, docs/statistics.md 0 and 18): unit OLS of MATHACH on
  MINORITY, FEMALE and SES (uncentred) prints unit 1224: 12.88837 -8.72320 -3.00562 1.47322,
  1288: 13.13595 -2.86801 0.88435 2.71298, 1296: 3.68352 5.55066 -1.69086 0.91791; units 1308
  and 1317 (rank-deficient X_j) are skipped; 100 of the 160 units have a full-rank X_j.
* HLM 7 on lme4's sleepstudy (Reaction ~ Days, both random, REML; a Stack Overflow question
  quoting HLM 7's output): reliabilities 0.730 and 0.815.
"""

from __future__ import annotations

import numpy as np
import pytest

import openhlm
from tests.reference.crosscheck.models import case_mdm

pytestmark = pytest.mark.reference


def test_udel_level1_ols_table():
    res = openhlm.fit("mathach = B0 + B1*minority + B2*female + B3*ses + R; B0 = G00 + U0",
                      openhlm.datasets.hsb())
    ols = res.level1_ols
    assert ols.unit_ids[:3] == ("1224", "1288", "1296")
    assert "1308" not in ols.unit_ids and "1317" not in ols.unit_ids
    np.testing.assert_allclose(ols.coefficients[:3], [
        [12.88837, -8.72320, -3.00562, 1.47322],
        [13.13595, -2.86801, 0.88435, 2.71298],
        [3.68352, 5.55066, -1.69086, 0.91791]], atol=5e-6)
    assert ols.units_used == 100


def test_hlm7_sleepstudy_reliabilities():
    res = openhlm.fit("Reaction = B0 + B1*Days + R; B0 = G00 + U0; B1 = G10 + U1",
                      case_mdm("sleepstudy"))
    assert round(res.reliability["INTRCPT1"], 3) == 0.730
    assert round(res.reliability["DAYS"], 3) == 0.815
