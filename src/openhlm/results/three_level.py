"""The results of a fitted three-level model (HLM3): immutable, typed, numbers only.

Computed once in :mod:`openhlm.inference.three_level`; printed by :mod:`openhlm.report.text3`
through the hook of :mod:`openhlm.results.hooks` (``str``, ``report()``, ``to_dict()``,
``to_json()``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from openhlm.errors import SpecError
from openhlm.results.hooks import render
from openhlm.results.output import RenderedResults
from openhlm.spec.model3 import ModelSpec3

__all__ = ["FixedEffect3", "HLM3Results", "VarianceComponent3"]


@dataclass(frozen=True)
class FixedEffect3:
    """One row of HLM3's "Final estimation of fixed effects"."""

    pi: str                 # "INTRCPT1", "YEAR slope"
    beta: str               # "INTRCPT2", "BLACK"
    predictor: str          # "INTRCPT3", "LOWINC"
    gamma: str              # "G001"
    estimate: float
    se: float
    t: float
    df: float               # whole numbers; Barnard-Rubin d.f. when pooled over imputations
    p: float
    robust_se: float
    robust_t: float
    robust_p: float


@dataclass(frozen=True)
class VarianceComponent3:
    """One row of "Final estimation of level-1/2/3 variance components"."""

    level: int
    effect: str             # "e", "R0", "U00"
    label: str              # "INTRCPT1", "INTRCPT1/INTRCPT2", "level-1"
    sd: float
    variance: float
    df: int | None = None
    chi2: float | None = None
    p: float | None = None


@dataclass(frozen=True, eq=False)
class HLM3Results(RenderedResults):
    """Everything HLM3 prints for one model."""

    spec: ModelSpec3
    method: str
    mode: str
    n_level1: int
    n_level2: int
    n_level3: int
    deleted_rows: int
    sources: tuple[str, ...]
    fixed: tuple[FixedEffect3, ...]
    covariance: np.ndarray
    robust_covariance: np.ndarray
    sigma2: float
    tau_pi: np.ndarray
    tau_pi_labels: tuple[str, ...]     # "INTRCPT1", "YEAR"
    tau_beta: np.ndarray
    tau_beta_labels: tuple[str, ...]   # "INTRCPT1/INTRCPT2", "YEAR/INTRCPT2"
    variance_components: tuple[VarianceComponent3, ...]
    reliability_level2: tuple[float, ...]
    reliability_level3: tuple[float, ...]
    deviance: float
    n_parameters: int
    converged: bool
    iterations: int
    id_names: tuple[str, str] = ("", "")
    extras: dict[str, Any] = field(default_factory=dict)
    #: empirical Bayes estimates: level-2 units (IDs, their level-3 unit, records, r_hat (J, R2))
    #: and level-3 units (IDs, level-2 units, u_hat (K, R3), fixed part of each random beta)
    level2_ids: tuple[str, ...] = ()
    level2_level3: tuple[str, ...] = ()
    level2_n: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    eb_level2: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    level3_ids: tuple[str, ...] = ()
    level3_n: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    eb_level3: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    fixed_level3: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    #: level-1 records analysed: level-2 unit of each (index into level2_ids), fitted values
    #: with the EB coefficients (A gamma + Z3 u_k + Z2 r_j) and the raw outcome and level-1
    #: predictors of the model
    level1_unit: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    level1_fitted: np.ndarray = field(default_factory=lambda: np.zeros(0))
    level1_data: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: for the model graph: the predictors as they enter the model (columns ``name|centring``)
    #: over the level-1 records, level-2 and level-3 units, and the raw level-2 and level-3
    #: predictors of the model
    level1_design: pd.DataFrame = field(default_factory=pd.DataFrame)
    level2_design: pd.DataFrame = field(default_factory=pd.DataFrame)
    level3_design: pd.DataFrame = field(default_factory=pd.DataFrame)
    level2_data: pd.DataFrame = field(default_factory=pd.DataFrame)
    level3_data: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: posterior (co)variances: of r_j (J, R2, R2) and u_k (K, R3, R3) -- REML: with gamma's
    #: uncertainty, ML: given gamma -- and of the EB coefficients G_k gamma + u_k (K, R3, R3),
    #: with gamma's uncertainty under both methods
    posterior_level2: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0)))
    posterior_level3: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0)))
    posterior_coef_level3: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0)))
    #: asymptotic SEs of sigma^2, tau(pi), tau(beta) (inverse information of the deviance)
    sigma2_se: float = float("nan")
    tau_pi_se: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    tau_beta_se: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    #: residual-file columns (as the two-level file, docs/three-level.md): Mahalanobis
    #: distances of the EB residuals and the chi-square quantiles of their ranks, level 2 and 3;
    #: OLS (level 2) and GLS-given-level-2 (level 3) residuals of the random coefficients;
    #: per level-2 unit ln SDs of the outcome, of the unit OLS residuals, of the EB residuals
    mdist_level2: np.ndarray = field(default_factory=lambda: np.zeros(0))
    chipct_level2: np.ndarray = field(default_factory=lambda: np.zeros(0))
    mdist_level3: np.ndarray = field(default_factory=lambda: np.zeros(0))
    chipct_level3: np.ndarray = field(default_factory=lambda: np.zeros(0))
    ols_level2: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    ols_level3: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    lntotvar_level2: np.ndarray = field(default_factory=lambda: np.zeros(0))
    olsrsvar_level2: np.ndarray = field(default_factory=lambda: np.zeros(0))
    mdrsvar_level2: np.ndarray = field(default_factory=lambda: np.zeros(0))
    #: the analysed data of the three levels (for extra variables in the residual files)
    data_frames: tuple = ()
    #: the deviance in HLM's printed convention (HLM2's rule: the standard value minus
    #: log(2 pi), except under REML with one free fixed effect; docs/three-level.md)
    deviance_hlm: float = float("nan")
    #: the weighting used (names, normalisation; ``None``: unweighted) and report notes
    weighting: Any = None
    notes: tuple[str, ...] = ()

    # ------------------------------------------------------------------ views
    @property
    def gamma(self) -> pd.Series:
        return pd.Series([r.estimate for r in self.fixed], index=[r.gamma for r in self.fixed],
                         name="gamma")

    @property
    def fixed_effects(self) -> pd.DataFrame:
        return pd.DataFrame([r.__dict__ for r in self.fixed])

    @property
    def variance_table(self) -> pd.DataFrame:
        return pd.DataFrame([r.__dict__ for r in self.variance_components])

    @staticmethod
    def correlations(tau: np.ndarray) -> np.ndarray:
        """Correlations of a tau matrix (NaN where a variance is 0)."""
        sd = np.sqrt(np.clip(np.diag(tau), 0, None))
        with np.errstate(invalid="ignore", divide="ignore"):
            return tau / np.outer(sd, sd)

    def _extra_columns(self, frame: pd.DataFrame, names: Any, level: int) -> None:
        """Append the extra variables ``names`` (of this level or a higher one) to ``frame``
        (the two-level files' "other variables"); unknown names are a SpecError."""
        names = [names] if isinstance(names, str) else list(names or ())
        if not names:
            return
        if len(self.data_frames) != 3:
            raise SpecError("these results carry no data (loaded from JSON?): refit the model "
                            "to write extra variables")
        l1, l2, l3 = self.data_frames
        unit = np.asarray(self.level1_unit)
        ids3 = np.asarray(self.level3_ids, dtype=object)
        l3_of_l2 = pd.Index(ids3).get_indexer(np.asarray(self.level2_level3, dtype=object))
        # (frame, row index mapping the frame's rows to this file's rows)
        sources = {1: [(l1, None), (l2, unit), (l3, l3_of_l2[unit])],
                   2: [(l2, None), (l3, l3_of_l2)],
                   3: [(l3, None)]}[level]
        present = {str(c).lower() for c in frame.columns}
        for name in names:
            for data, index in sources:
                lower = {str(c).lower(): c for c in data.columns}
                column = lower.get(str(name).lower())
                if column is not None:
                    if str(column).lower() not in present:
                        values = data[column].to_numpy()
                        frame[str(column)] = values if index is None else values[index]
                        present.add(str(column).lower())
                    break
            else:
                available = sorted({str(c) for d, _ in sources for c in d.columns})
                raise SpecError(f"extra variable '{name}' for the level-{level} residual file "
                                f"is not in the data (available: {', '.join(available)})")

    def level2_residuals(self, extra: Any = ()) -> pd.DataFrame:
        """One row per level-2 unit: ``L2ID``, ``L3ID``, ``NJ``, ``CHIPCT`` and ``MDIST``
        (Mahalanobis distance of the EB residuals r and the chi-square quantile of its rank),
        ``LNTOTVAR``, ``OLSRSVAR``, ``MDRSVAR`` (ln SDs of the outcome, of the unit's OLS
        residuals and of its residuals with the EB coefficients), ``EBRp`` (the EB estimate of
        ``r_p`` for each random ``Pp``), ``OLRp`` (its OLS counterpart, the unit's OLS
        coefficient minus the fixed part and the level-3 EB effects; empty without enough
        rows), ``PVp_p'`` (posterior (co)variances of r), the model's level-2 predictors
        (raw) and the ``extra`` variables."""
        frame = pd.DataFrame({"L2ID": list(self.level2_ids), "L3ID": list(self.level2_level3),
                              "NJ": np.asarray(self.level2_n)})
        J = len(frame)
        for name, values in (("CHIPCT", self.chipct_level2), ("MDIST", self.mdist_level2),
                             ("LNTOTVAR", self.lntotvar_level2),
                             ("OLSRSVAR", self.olsrsvar_level2),
                             ("MDRSVAR", self.mdrsvar_level2)):
            if len(values) == J:
                frame[name] = values
        pis = self.spec.random_pis
        for i, pi in enumerate(pis):
            frame[f"EBR{pi.index}"] = self.eb_level2[:, i]
        if self.ols_level2.shape == (J, len(pis)):
            for i, pi in enumerate(pis):
                frame[f"OLR{pi.index}"] = self.ols_level2[:, i]
        if len(self.posterior_level2):
            for a in range(len(pis)):
                for b in range(a + 1):
                    frame[f"PV{pis[b].index}_{pis[a].index}"] = self.posterior_level2[:, b, a]
        for column in self.level2_data.columns:
            if column not in frame.columns:
                frame[column] = self.level2_data[column].to_numpy()
        self._extra_columns(frame, extra, 2)
        return frame

    def level1_residuals(self, extra: Any = ()) -> pd.DataFrame:
        """One row per level-1 record analysed: ``L2ID``, ``L3ID``, ``FITVAL`` (fitted value
        with the EB coefficients, ``A gamma + Z3 u_k + Z2 r_j``), ``L1RESID`` (outcome -
        FITVAL), ``SIGMA`` (sqrt(sigma^2)), the outcome and the level-1 predictors (raw) and
        the ``extra`` variables (of any level)."""
        unit = np.asarray(self.level1_unit)
        ids2 = np.asarray(self.level2_ids, dtype=object)
        ids3 = np.asarray(self.level2_level3, dtype=object)
        y = self.level1_data[self.spec.outcome].to_numpy(dtype=float)
        frame = pd.DataFrame({"L2ID": ids2[unit], "L3ID": ids3[unit],
                              "FITVAL": np.asarray(self.level1_fitted),
                              "L1RESID": y - np.asarray(self.level1_fitted),
                              "SIGMA": np.full(len(y), np.sqrt(self.sigma2))})
        for column in self.level1_data.columns:
            frame[column] = self.level1_data[column].to_numpy()
        self._extra_columns(frame, extra, 1)
        return frame

    def level3_residuals(self, extra: Any = ()) -> pd.DataFrame:
        """One row per level-3 unit: ``L3ID``, ``NK`` (level-2 units), ``CHIPCT`` and
        ``MDIST`` (of the EB residuals u), and, for each random ``Bpq``, ``FVBpq`` (fixed
        part), ``EBUpq`` (EB estimate of u), ``ECBpq`` (their sum, the EB coefficient) and
        ``OLUpq`` (the unit's GLS estimate given level 2 minus the fixed part), then
        ``PVpq_p'q'`` (posterior (co)variances of u), ``PVCpq_p'q'`` (of the EB
        coefficients), the model's level-3 predictors and the ``extra`` variables."""
        frame = pd.DataFrame({"L3ID": list(self.level3_ids), "NK": np.asarray(self.level3_n)})
        K = len(frame)
        for name, values in (("CHIPCT", self.chipct_level3), ("MDIST", self.mdist_level3)):
            if len(values) == K:
                frame[name] = values
        for i, beta in enumerate(self.spec.random_betas):
            frame[f"FVB{beta.p}{beta.q}"] = self.fixed_level3[:, i]
            frame[f"EBU{beta.p}{beta.q}"] = self.eb_level3[:, i]
            frame[f"ECB{beta.p}{beta.q}"] = self.fixed_level3[:, i] + self.eb_level3[:, i]
        if self.ols_level3.shape == (K, len(self.spec.random_betas)):
            for i, beta in enumerate(self.spec.random_betas):
                frame[f"OLU{beta.p}{beta.q}"] = self.ols_level3[:, i]
        betas = [f"{b.p}{b.q}" for b in self.spec.random_betas]
        for key, cov in (("PV", self.posterior_level3), ("PVC", self.posterior_coef_level3)):
            if len(cov):
                for a in range(len(betas)):
                    for b in range(a + 1):
                        frame[f"{key}{betas[b]}_{betas[a]}"] = cov[:, b, a]
        for column in self.level3_data.columns:
            if column not in frame.columns:
                frame[column] = self.level3_data[column].to_numpy()
        self._extra_columns(frame, extra, 3)
        return frame

    def _gamma_of(self, label: str) -> float:
        """The estimate of gamma ``label``; a constrained gamma takes its shared estimate."""
        values = {r.gamma: r.estimate for r in self.fixed}
        if label in values:
            return values[label]
        for c in self.spec.constraints:
            if label in c.gammas:
                shared = [values[g] for g in c.gammas if g in values]
                if shared:
                    return shared[0]
        raise KeyError(label)

    def eb_coefficients_level2(self) -> pd.DataFrame:
        """One row per level-2 unit: ``L2ID``, ``L3ID`` and ``ECPp``, the EB estimate of each
        level-1 coefficient ``pi_pjk = sum_q X_qjk (sum_s gamma_pqs W_sk + u*_pqk) + r*_pjk``
        (u* and r* the EB residuals, 0 for a coefficient not random at that level), with the
        predictors in the model's metric (as centred).  ``sum_p ECPp a_pijk`` is each record's
        ``FITVAL``; the level-1 equations graph draws these lines."""
        l2, l3 = self.level2_design, self.level3_design
        ids3 = pd.Index(np.asarray(self.level3_ids, dtype=object))
        k_of_j = ids3.get_indexer(np.asarray(self.level2_level3, dtype=object))
        J = len(self.level2_ids)
        random_pis = [pi.index for pi in self.spec.random_pis]
        random_betas = [(b.p, b.q) for b in self.spec.random_betas]
        frame = pd.DataFrame({"L2ID": list(self.level2_ids), "L3ID": list(self.level2_level3)})
        for pi in self.spec.pis:
            coef = np.zeros(J)
            for beta in pi.betas:
                eq = beta.equation
                level3 = np.zeros(len(ids3))
                preds = ([None] if eq.intercept else []) + list(eq.predictors)
                for pred, label in zip(preds, beta.gamma_labels(), strict=True):
                    w = 1.0 if pred is None else l3[
                        f"{pred.name}|{pred.centering.value}"].to_numpy(dtype=float)
                    level3 = level3 + self._gamma_of(label) * w
                if (beta.p, beta.q) in random_betas:
                    level3 = level3 + self.eb_level3[:, random_betas.index((beta.p, beta.q))]
                x = 1.0 if beta.predictor is None else l2[
                    f"{beta.predictor.name}|{beta.predictor.centering.value}"].to_numpy(float)
                coef = coef + x * level3[k_of_j]
            if pi.index in random_pis:
                coef = coef + self.eb_level2[:, random_pis.index(pi.index)]
            frame[f"ECP{pi.index}"] = coef
        return frame

    def write_residuals(self, level2: str | Path | None = None, level3: str | Path | None = None,
                        format: str | None = None, level1: str | Path | None = None, *,
                        extra_level1: Any = (), extra_level2: Any = (),
                        extra_level3: Any = ()) -> dict[str, Path]:
        """Write the level-1, level-2 and/or level-3 residual files (format from the suffix,
        as for two-level models), with extra variables; ``{"level1": path, ...}``."""
        written: dict[str, Path] = render("write_residuals", self, level2, level3, format,
                                          level1=level1, extra_level1=extra_level1,
                                          extra_level2=extra_level2, extra_level3=extra_level3)
        return written

    # to_dict, to_json, report, str() and _repr_html_: RenderedResults (results/output.py)
    def __repr__(self) -> str:
        return (f"HLM3Results(method={self.method!r}, deviance={self.deviance:.6f}, "
                f"n_level1={self.n_level1}, n_level2={self.n_level2}, "
                f"n_level3={self.n_level3})")
