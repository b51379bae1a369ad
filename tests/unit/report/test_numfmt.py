"""HLM 6's number formats, checked against strings HLM printed (seminar output, HLM 6.08)."""

from __future__ import annotations

import math

import pytest

from openhlm.report import numfmt


@pytest.mark.parametrize("value,expected", [
    # "The value of the likelihood function at iteration k = ..." lines of the seminar, with
    # the value = -deviance/2 of the printed deviance
    (-47116.793477 / 2, "-2.355840E+004"),
    (-46959.446959 / 2, "-2.347972E+004"),
    (-46501.875643 / 2, "-2.325094E+004"),
    (-46567.491225 / 2, "-2.328375E+004"),
    (-46473.216028 / 2, "-2.323661E+004"),
    (-46712.398925 / 2, "-2.335620E+004"),
    (0.0, "0.000000E+000"),
    (1.5e-7, "1.500000E-007"),
    (9.9999996, "1.000000E+001"),   # rounding carries into the exponent
    (-3156.312, "-3.156312E+003"),  # HLM 7 example (YEH)
])
def test_fortran_e(value, expected):
    assert numfmt.fortran_e(value) == expected


def test_fortran_e_digits_and_missing():
    assert numfmt.fortran_e(12345.678, digits=3) == "1.235E+004"
    assert numfmt.fortran_e(12345.678, exponent_digits=2) == "1.234568E+04"
    assert numfmt.fortran_e(float("nan")) == ""
    assert numfmt.fortran_e(None) == ""
    assert numfmt.fortran_e(math.inf) == "Inf"


@pytest.mark.parametrize("value,decimals,expected", [
    (39.148306, 5, "39.14831"),
    (12.6369716, 6, "12.636972"),
    (-1.640954, 6, "-1.640954"),
    (51.703674, 3, "51.704"),
    (-0.0000001, 3, "0.000"),     # no negative zero
    (-0.0004, 3, "0.000"),
    (-0.0005001, 3, "-0.001"),
    (47116.793477, 6, "47116.793477"),
])
def test_fixed(value, decimals, expected):
    assert numfmt.fixed(value, decimals) == expected


def test_fixed_missing():
    assert numfmt.fixed(None, 3) == ""
    assert numfmt.fixed(float("nan"), 3) == ""
    assert numfmt.fixed(-math.inf, 3) == "-Inf"


@pytest.mark.parametrize("p,expected", [
    (2.4e-101, "0.000"),       # HLM 6 prints 0.000 for tiny p (HLM 7: <0.001)
    (0.0, "0.000"),
    (0.00049, "0.000"),
    (0.0005, "0.001"),         # half-up on the printed digits
    (0.000836, "0.001"),       # Model 4, G12: t = 3.419 on 157 d.f.
    (0.0025777, "0.003"),      # Model 3, SES slope chi-square 213.43769 on 159 d.f.
    (0.3692642, "0.369"),
    (1.0, "1.000"),
    (1.0000000002, "1.000"),   # clipped to [0, 1]
])
def test_p_value(p, expected):
    assert numfmt.p_value(p) == expected


def test_p_value_decimals_and_missing():
    assert numfmt.p_value(2.3e-14, decimals=6) == "0.000000"   # "P-value = 0.000000" (GLH)
    assert numfmt.p_value(0.0061234, decimals=6) == "0.006123"
    assert numfmt.p_value(None) == ""
    assert numfmt.p_value(float("nan")) == ""


@pytest.mark.parametrize("p,expected", [
    (0.58, ">.500"),           # "P-value = >.500" (variance-covariance components test)
    (0.5000001, ">.500"),
    (0.5, "0.500"),
    (0.4128553, "0.413"),
    (1.4e-84, "0.000"),
])
def test_chi2_p_value(p, expected):
    assert numfmt.chi2_p_value(p) == expected


def test_integer():
    assert numfmt.integer(157) == "157"
    assert numfmt.integer(7179.0) == "7179"
    assert numfmt.integer(None) == ""
    assert numfmt.integer(float("nan")) == ""


def test_rjust_keeps_columns_apart():
    assert numfmt.rjust("0.244412", 11) == "   0.244412"
    assert numfmt.rjust("123456789012", 11) == " 123456789012"
    assert numfmt.rjust("12345678901", 11) == " 12345678901"
