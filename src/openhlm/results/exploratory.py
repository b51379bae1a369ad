"""Result of HLM's exploratory analysis of potential level-2 predictors.

Computed by :func:`openhlm.inference.exploratory.exploratory` (what is and is not known about
HLM's formula is documented there).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from openhlm.results.hooks import render

__all__ = ["EXPLORATORY_TITLE", "ExploratoryAnalysis"]

#: HLM 6's heading of the block (docs/statistics.md 12.3).
EXPLORATORY_TITLE = ("Exploratory Analysis: estimated level-2 coefficients and their standard "
                     "errors obtained by regressing EB residuals on level-2 predictors selected "
                     "for possible inclusion in subsequent HLM runs")


@dataclass(frozen=True)
class ExploratoryAnalysis:
    """Simple OLS regressions of each random coefficient's EB residuals on each candidate.

    Arrays are (R, K): one row per random coefficient (``coefficients``, in the model's
    order), one column per candidate (``candidates``, in the order asked, spelled as in the
    MDM).  Every regression uses the ``n_units`` = J units of the analysis, on ``df`` = J - 2
    degrees of freedom.
    """

    coefficients: tuple[str, ...]      # "INTRCPT1", "SES"
    coefficient_indices: tuple[int, ...]  # q of Bq / Uq
    candidates: tuple[str, ...]        # "pracad", "disclim"
    estimate: np.ndarray               # (R, K) slope b
    se: np.ndarray                     # (R, K) SE(b)
    t: np.ndarray                      # (R, K) b / SE(b)
    intercept: np.ndarray              # (R, K) a
    n_units: int                       # J, units in the analysis

    @property
    def df(self) -> int:
        """Residual degrees of freedom of every regression, J - 2."""
        return self.n_units - 2

    @property
    def p(self) -> np.ndarray:
        """(R, K) two-sided p-values of t on J - 2 d.f. (not printed by HLM)."""
        return 2.0 * special.stdtr(float(self.df), -np.abs(self.t))

    @property
    def labels(self) -> tuple[str, ...]:
        """HLM's row labels of the random coefficients: "INTRCPT1,B0", "SES,B1"."""
        return tuple(f"{c},B{q}" for c, q in zip(self.coefficients, self.coefficient_indices))

    def to_frame(self) -> pd.DataFrame:
        """One row per (random coefficient, candidate): estimate, se, t, df, p, n_units."""
        R, K = self.estimate.shape
        return pd.DataFrame({
            "coefficient": np.repeat(self.coefficients, K),
            "random_effect": np.repeat([f"U{q}" for q in self.coefficient_indices], K),
            "candidate": np.tile(self.candidates, R),
            "estimate": self.estimate.ravel(), "se": self.se.ravel(), "t": self.t.ravel(),
            "df": self.df, "p": self.p.ravel(),
            "intercept": self.intercept.ravel(), "n_units": self.n_units,
        })

    def __str__(self) -> str:
        text: str = render("text", self)
        return text
