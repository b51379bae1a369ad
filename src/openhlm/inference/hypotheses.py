"""General linear hypotheses on the fixed effects and deviance (likelihood-ratio) tests.

General linear hypothesis (docs/statistics.md 8.1; HLM's "Results of General Linear Hypothesis
Testing"): H0: C gamma = d with C an r x F' contrast matrix over the printed gammas,

    chi2 = (C g - d)' (C V C')^-1 (C g - d)  on r d.f.,

with V the model-based covariance of the gammas or HLM's robust (CR0 sandwich) covariance.
Both are computed.  **HLM 6.08 uses the robust covariance** when it prints robust standard
errors (always, for two-level linear models): the seed's G01 = G11 = 0 test on Model 4 prints
chi-square 60.596880; at HLM's printed sigma^2, Tau and gammas our robust version gives
60.596838 and the model-based one 66.148 (see ``tests/reference/test_hypotheses_reference.py``).
So the *primary* statistic (``LinearHypothesis.chi2``) is the robust one unless
``robust=False``.

Deviance tests (docs/statistics.md 8.2): chi2 = |D_a - D_b| on |p_a - p_b| d.f., naive chi-square
reference (no boundary mixture).  :func:`compare` refuses comparisons that are not valid
(different data, REML fits with different fixed effects, REML vs ML, equal parameter counts);
:func:`deviance_test` compares with a deviance typed in from a previous run (HLM's
``deviance:``/``df:``), in either the standard or HLM's printed convention.
"""

from __future__ import annotations

from openhlm.inference.deviance import compare, deviance_test
from openhlm.inference.glh import glh, parse_hypothesis_rows, wald_test
from openhlm.inference.requests import (
    hypotheses_requested,
    requested_blocks,
    requested_tests,
    with_tests,
)
from openhlm.results.hypotheses import (
    GLH_TITLE,
    MODEL_COMPARISON_TITLE,
    VC_TEST_TITLE,
    DevianceTest,
    GLHResult,
    LinearHypothesis,
    WaldStatistic,
)

__all__ = [
    "GLH_TITLE",
    "MODEL_COMPARISON_TITLE",
    "VC_TEST_TITLE",
    "DevianceTest",
    "GLHResult",
    "LinearHypothesis",
    "WaldStatistic",
    "compare",
    "deviance_test",
    "glh",
    "hypotheses_requested",
    "parse_hypothesis_rows",
    "requested_blocks",
    "requested_tests",
    "wald_test",
    "with_tests",
]
