"""Regression: variable names the equation parser could not take.

* Names with non-ASCII letters (``sés``, common in French/Spanish/German data) were rejected
  with "unexpected character 'é'" although the MDM held them.
* A variable name with a space (``math ach``, common in CSV/Excel headers) failed with
  "unexpected 'ach' where '=' is expected" and no hint of the cause; ``B1 ses`` (a forgotten
  ``*``) likewise gave no hint.
"""

from __future__ import annotations

import pytest

from openhlm.errors import SpecError
from openhlm.spec import parse_model
from openhlm.spec.model import Centering

L1 = ("minority", "sés", "math ach", "mathach", "Élève_ID")
L2 = ("sector", "moyenne_sés")


def test_unicode_names_parse_and_resolve_case_insensitively():
    spec = parse_model("MATHACH = B0 + B1*group(SÉS) + B2*élève_id + R\n"
                       "B0 = G00 + G01*Moyenne_SÉS + U0",
                       level1_variables=L1, level2_variables=L2)
    assert spec.outcome == "mathach"
    predictors = [c.predictor for c in spec.coefficients[1:]]
    assert [(p.name, p.centering) for p in predictors] == [("sés", Centering.GROUP),
                                                           ("Élève_ID", Centering.NONE)]
    assert spec.coefficients[0].equation.predictors[0].name == "moyenne_sés"


def test_digits_still_cannot_start_a_name():
    with pytest.raises(SpecError, match="unexpected character '2'"):
        parse_model("mathach = B0 + 2ses + R", level1_variables=L1, level2_variables=L2)


def test_name_with_space_is_explained():
    with pytest.raises(SpecError) as info:
        parse_model("mathach = B0 + B1*math ach + R", level1_variables=L1, level2_variables=L2)
    first = str(info.value).splitlines()[0]
    assert "the variable 'math ach' has a space in its name" in first
    assert "'math_ach'" in first


def test_missing_star_is_explained():
    with pytest.raises(SpecError, match=r"\(write B1\*minority\)"):
        parse_model("mathach = B0 + B1 minority + R", level1_variables=L1, level2_variables=L2)
