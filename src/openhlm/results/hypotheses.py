"""Results of hypothesis tests: general linear hypotheses, deviance tests, homogeneity of
level-1 variance.

Computed in :mod:`openhlm.inference.glh`, :mod:`openhlm.inference.deviance` and
:mod:`openhlm.inference.homogeneity` (the formulas are documented there); ``str()`` of each
gives the report's block, through the hook of :mod:`openhlm.results.hooks`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from openhlm.results.hooks import render

__all__ = [
    "GLH_TITLE",
    "MODEL_COMPARISON_TITLE",
    "RULE",
    "VC_TEST_TITLE",
    "DevianceTest",
    "GLHResult",
    "HomogeneityTest",
    "LinearHypothesis",
    "WaldStatistic",
]

GLH_TITLE = "Results of General Linear Hypothesis Testing"
#: HLM 6.08's title of the deviance test under REML (only variance components can differ) ...
VC_TEST_TITLE = "Variance-Covariance components test"
#: ... and under full ML (the seed's heterogeneous-sigma^2 run prints this one).
MODEL_COMPARISON_TITLE = "Model comparison test"

#: The rule of the homogeneity test (see :mod:`openhlm.inference.homogeneity`).
RULE = ("unit OLS on the full level-1 design; units with full column rank, f_j = n_j - P >= 1 "
        "and s_j^2 > 0; s_j^2 = SSE_j/f_j; Lbar weighted by f_j")


@dataclass(frozen=True)
class WaldStatistic:
    """A chi-square statistic with its degrees of freedom and upper-tail p-value."""

    chi2: float
    df: int
    p: float


@dataclass(frozen=True)
class LinearHypothesis:
    """One tested hypothesis C gamma = d (r rows).

    ``contrast`` is r x F' over the printed gammas (``GLHResult.gammas``); ``estimate`` is
    C g - d; ``se`` / ``robust_se`` are sqrt(diag(C V C')) with the model-based / robust V.
    ``chi2``, ``df`` and ``p`` are those of the primary version (``primary``: ``"robust"``,
    as HLM 6 prints, or ``"model"``).
    """

    label: str
    rows: tuple[str, ...]
    contrast: np.ndarray
    rhs: np.ndarray
    estimate: np.ndarray
    se: np.ndarray
    robust_se: np.ndarray
    model: WaldStatistic
    robust: WaldStatistic
    primary: Literal["robust", "model"] = "robust"

    @property
    def statistic(self) -> WaldStatistic:
        return self.robust if self.primary == "robust" else self.model

    @property
    def chi2(self) -> float:
        return self.statistic.chi2

    @property
    def df(self) -> int:
        return self.statistic.df

    @property
    def p(self) -> float:
        return self.statistic.p

    def to_frame(self) -> pd.DataFrame:
        """One row per contrast row: the row, its estimate, model-based and robust SEs."""
        return pd.DataFrame({"row": list(self.rows), "estimate": self.estimate, "se": self.se,
                             "robust_se": self.robust_se})


@dataclass(frozen=True)
class GLHResult:
    """General linear hypothesis tests on one fitted model (HLM's GLH block).

    The gammas are the printed ones, in the printed order (a gamma constrained equal to an
    earlier one is represented by that one); ``coefficients``, ``coefficient_codes`` and
    ``predictors`` label them as the fixed-effects table does.
    """

    gammas: tuple[str, ...]
    coefficients: tuple[str, ...]
    coefficient_codes: tuple[str, ...]
    predictors: tuple[str, ...]
    estimates: np.ndarray
    hypotheses: tuple[LinearHypothesis, ...]

    def __iter__(self) -> Iterator[LinearHypothesis]:
        return iter(self.hypotheses)

    def __len__(self) -> int:
        return len(self.hypotheses)

    def __getitem__(self, i: int) -> LinearHypothesis:
        return self.hypotheses[i]

    def _single(self) -> LinearHypothesis:
        if len(self.hypotheses) != 1:
            raise AttributeError(f"{len(self.hypotheses)} hypotheses were tested: use "
                                 f"result[k].chi2 (k = 0 .. {len(self.hypotheses) - 1})")
        return self.hypotheses[0]

    @property
    def chi2(self) -> float:
        """Chi-square of the only hypothesis (primary version)."""
        return self._single().chi2

    @property
    def df(self) -> int:
        return self._single().df

    @property
    def p(self) -> float:
        return self._single().p

    def to_frame(self) -> pd.DataFrame:
        """One row per hypothesis: chi-square, d.f. and p, model-based and robust."""
        return pd.DataFrame([{
            "hypothesis": h.label, "df": h.model.df,
            "chi2": h.model.chi2, "p": h.model.p,
            "robust_chi2": h.robust.chi2, "robust_p": h.robust.p,
        } for h in self.hypotheses])

    def __str__(self) -> str:
        text: str = render("text", self)
        return text


@dataclass(frozen=True)
class DevianceTest:
    """A deviance (likelihood-ratio) test: chi2 = |D - D_other| on |p - p_other| d.f.

    ``deviance``/``n_parameters`` are the model the test is reported with (the current model,
    or ``a`` in :func:`compare`); ``other_*`` the model compared with (typed in, or ``b``).
    ``convention`` says which deviance convention both numbers are in (``"standard"``:
    -2 log-likelihood as lme4, Stata, SAS; ``"hlm"``: HLM 6.08's printed value).
    """

    chi2: float
    df: int
    p: float
    deviance: float
    n_parameters: int
    other_deviance: float
    other_n_parameters: int
    method: str
    convention: str
    title: str
    labels: tuple[str, str] = ("current model", "prior model")
    notes: tuple[str, ...] = ()

    def __str__(self) -> str:
        text: str = render("text", self)
        return text


@dataclass(frozen=True)
class HomogeneityTest:
    """H statistic of the test of homogeneity of level-1 variance."""

    chi2: float
    df: int
    p: float
    units_used: int
    n_units: int
    unused_units: tuple[str, ...]
    rule: str = RULE

    @property
    def H(self) -> float:
        return self.chi2

    def __str__(self) -> str:
        text: str = render("text", self)
        return text
