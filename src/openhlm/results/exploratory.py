"""Result of HLM's exploratory analysis of potential level-2 (and, for three-level models,
level-3) predictors.

Computed by :func:`openhlm.inference.exploratory.exploratory` (what is and is not known about
HLM's formula is documented there) and, for three-level models, by
:func:`openhlm.inference.exploratory3.exploratory3`: one block per level of candidates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from openhlm.results.hooks import render

__all__ = ["EXPLORATORY_TITLE", "ExploratoryAnalysis", "exploratory_title"]

#: HLM 6's heading of the block (docs/statistics.md 12.3).
EXPLORATORY_TITLE = ("Exploratory Analysis: estimated level-2 coefficients and their standard "
                     "errors obtained by regressing EB residuals on level-2 predictors selected "
                     "for possible inclusion in subsequent HLM runs")


def exploratory_title(level: int) -> str:
    """The block's heading for candidates of ``level`` (2: HLM 6's heading; 3: the same with
    level-3 coefficients and predictors, for HLM3's level-3 block)."""
    return EXPLORATORY_TITLE if level == 2 else EXPLORATORY_TITLE.replace("level-2", "level-3")


@dataclass(frozen=True)
class ExploratoryAnalysis:
    """Simple OLS regressions of each random coefficient's EB residuals on each candidate.

    Arrays are (R, K): one row per random coefficient (``coefficients``, in the model's
    order), one column per candidate (``candidates``, in the order asked, spelled as in the
    MDM).  Every regression uses the ``n_units`` = J units of the analysis, on ``df`` = J - 2
    degrees of freedom.

    Three-level models (:func:`openhlm.inference.exploratory3.exploratory3`) have one block
    per level of candidates: ``level`` 2 (the level-2 EB residuals r of each random pi against
    level-2 candidates, over the J level-2 units) or 3 (the level-3 EB residuals u of each
    random beta against level-3 candidates, over the K level-3 units), with HLM3's row labels
    (``row_labels``: "INTRCPT1,P0", "INTRCPT1/INTRCPT2,B00") and random effects
    (``effects``: "R0", "U00").  Two-level blocks leave these at their defaults.
    """

    coefficients: tuple[str, ...]      # "INTRCPT1", "SES"
    coefficient_indices: tuple[int, ...]  # q of Bq / Uq
    candidates: tuple[str, ...]        # "pracad", "disclim"
    estimate: np.ndarray               # (R, K) slope b
    se: np.ndarray                     # (R, K) SE(b)
    t: np.ndarray                      # (R, K) b / SE(b)
    intercept: np.ndarray              # (R, K) a
    n_units: int                       # J, units in the analysis
    #: three-level models: the candidates' level (2 or 3), HLM3's row labels and random
    #: effects; empty for a two-level block (labels "INTRCPT1,B0", effects "U0")
    level: int = 2
    row_labels: tuple[str, ...] = ()
    effects: tuple[str, ...] = ()

    @property
    def three_level(self) -> bool:
        """Whether the block is of a three-level model."""
        return bool(self.row_labels)

    @property
    def title(self) -> str:
        """HLM's heading of the block."""
        return exploratory_title(self.level)

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
        """HLM's row labels of the random coefficients: "INTRCPT1,B0", "SES,B1" (three-level:
        "INTRCPT1,P0" at level 2, "INTRCPT1/INTRCPT2,B00" at level 3)."""
        if self.row_labels:
            return self.row_labels
        return tuple(f"{c},B{q}" for c, q in zip(self.coefficients, self.coefficient_indices))

    def to_frame(self) -> pd.DataFrame:
        """One row per (random coefficient, candidate): estimate, se, t, df, p, n_units."""
        R, K = self.estimate.shape
        return pd.DataFrame({
            "coefficient": np.repeat(self.coefficients, K),
            "random_effect": np.repeat(list(self.effects) if self.effects else
                                       [f"U{q}" for q in self.coefficient_indices], K),
            "candidate": np.tile(self.candidates, R),
            "estimate": self.estimate.ravel(), "se": self.se.ravel(), "t": self.t.ravel(),
            "df": self.df, "p": self.p.ravel(),
            "intercept": self.intercept.ravel(), "n_units": self.n_units,
        })

    def __str__(self) -> str:
        text: str = render("text", self)
        return text
