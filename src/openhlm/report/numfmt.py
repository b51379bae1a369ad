"""Every number openhlm prints, formatted the way HLM 6 prints it.

HLM 6 is a Fortran program; its output uses fixed-decimal fields (``F12.5`` and the like), a
scaled ``E`` format for the log-likelihood (``-2.355840E+004``: one digit before the point, six
after, a signed three-digit exponent) and two special spellings of p-values: ``0.000`` for
p < .0005 (plain rounding) and ``>.500`` for the chi-square tests of variance components.

All report modules (text, HTML) format numbers only through this module, so that the same
number always looks the same.  Missing values (``None`` or NaN) format as an empty string.

Small estimates (:func:`estimate`): HLM's fixed decimals print a coefficient of a predictor
measured in large units (a gamma of 7.4e-12 with t = 7.4) as ``0.000000``.  Estimates,
standard errors, variances and standard deviations therefore keep HLM's fixed layout whenever
it shows at least three significant digits, and switch to scientific notation with as many
significant digits as the field has decimals (``7.40000E-12`` in a 6-decimal field) when it
would show fewer -- i.e. for 0 < |x| < 10**(2 - decimals): below 1e-4 with 6 decimals, below
1e-3 with 5.  Exact zeros, t-ratios, chi-squares, p-values, reliabilities and correlations keep
fixed decimals (their last digits carry no information).  Ordinary values print exactly as
HLM prints them, so reports of ordinary models are unchanged.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = [
    "chi2_p_value",
    "estimate",
    "fixed",
    "fortran_e",
    "integer",
    "is_missing",
    "p_value",
    "rjust",
]


def is_missing(value: Any) -> bool:
    """True for ``None`` and for a float NaN."""
    if value is None:
        return True
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError):
        return False


def fixed(value: float | None, decimals: int) -> str:
    """``value`` with ``decimals`` digits after the point (Fortran ``F`` format).

    A value that rounds to zero prints without a minus sign (``0.000``, never ``-0.000``);
    missing values print as ``""``; infinities as ``Inf`` / ``-Inf``.

    >>> fixed(39.148306, 5)
    '39.14831'
    >>> fixed(-0.0000001, 3)
    '0.000'
    """
    if is_missing(value):
        return ""
    x = float(value)  # type: ignore[arg-type]
    if math.isinf(x):
        return "Inf" if x > 0 else "-Inf"
    text = f"{x:.{decimals}f}"
    if text.startswith("-") and float(text) == 0.0:
        text = text[1:]
    return text


#: ``estimate`` shows at least this many significant digits
MIN_SIGNIFICANT = 3


def estimate(value: float | None, decimals: int) -> str:
    """An estimate in HLM's fixed ``decimals`` layout, or in scientific notation when the fixed
    layout would show fewer than :data:`MIN_SIGNIFICANT` significant digits.

    >>> estimate(12.095997, 6)
    '12.095997'
    >>> estimate(0.000150, 6)
    '0.000150'
    >>> estimate(7.4e-12, 6)
    '7.40000E-12'
    >>> estimate(-0.0000123456, 5)
    '-1.2346E-05'
    >>> estimate(0.0, 6)
    '0.000000'
    """
    if is_missing(value):
        return ""
    x = float(value)  # type: ignore[arg-type]
    if x == 0.0 or math.isinf(x) or abs(x) >= 10.0 ** (MIN_SIGNIFICANT - 1 - decimals):
        return fixed(x, decimals)
    return f"{x:.{max(decimals - 1, 0)}E}"


def fortran_e(value: float | None, digits: int = 6, exponent_digits: int = 3) -> str:
    """HLM's E format: ``-23558.40`` -> ``-2.355840E+004``.

    One non-zero digit before the point, ``digits`` after, ``E``, the exponent's sign and
    ``exponent_digits`` digits (HLM 6 prints three).

    >>> fortran_e(-23558.40)
    '-2.355840E+004'
    >>> fortran_e(0.0)
    '0.000000E+000'
    """
    if is_missing(value):
        return ""
    x = float(value)  # type: ignore[arg-type]
    if math.isinf(x):
        return "Inf" if x > 0 else "-Inf"
    mantissa, _, exponent = f"{x:.{digits}E}".partition("E")
    exp = int(exponent)
    sign = "-" if exp < 0 else "+"
    return f"{mantissa}E{sign}{abs(exp):0{exponent_digits}d}"


def integer(value: float | None) -> str:
    """An integer count (degrees of freedom, units); missing -> ``""``."""
    if is_missing(value):
        return ""
    return str(round(float(value)))  # type: ignore[arg-type]


def p_value(p: float | None, decimals: int = 3) -> str:
    """A p-value as HLM 6 prints it in the fixed-effects tables: rounded to ``decimals``.

    Values below half a unit in the last place print as ``0.000`` (HLM 6; HLM 7 would print
    ``<0.001``).

    >>> p_value(4.2e-111)
    '0.000'
    >>> p_value(0.00049)
    '0.000'
    >>> p_value(0.0005)
    '0.001'
    """
    if is_missing(p):
        return ""
    x = min(max(float(p), 0.0), 1.0)  # type: ignore[arg-type]
    # Round half up on the printed digits (Fortran rounding of a decimal value), not banker's
    # rounding of the binary value: 0.0005 prints 0.001 as in HLM.
    scaled = math.floor(x * 10**decimals + 0.5 + 1e-9)
    return f"{scaled / 10**decimals:.{decimals}f}"


def chi2_p_value(p: float | None, decimals: int = 3) -> str:
    """A p-value of a chi-square test as HLM 6 prints it: ``>.500`` above one half.

    >>> chi2_p_value(0.7)
    '>.500'
    >>> chi2_p_value(0.3694)
    '0.369'
    """
    if is_missing(p):
        return ""
    if float(p) > 0.5:  # type: ignore[arg-type]
        return ">.500"
    return p_value(p, decimals)


def rjust(text: str, width: int) -> str:
    """Right-justify ``text`` in ``width`` columns, keeping one blank before it when it would
    otherwise fill or overflow the field (so adjacent columns never run together)."""
    if len(text) >= width:
        return " " + text
    return text.rjust(width)
