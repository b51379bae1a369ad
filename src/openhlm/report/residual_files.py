"""HLM's level-1 and level-2 residual files: tables with HLM's names and labels, and writers.

The numbers are ``results.eb`` (:class:`openhlm.results.EBEstimates`, computed once by
:func:`openhlm.inference.residuals.eb_estimates` when the model is fitted); this module only
reads, names, labels and writes them (docs/statistics.md section 12; docs/residual-files.md lists every
column).  Column names follow HLM 6 (8 characters: ``L2ID``, ``NJ``, ``CHIPCT``, ``MDIST``,
``LNTOTVAR``, ``OLSRSVAR``, ``MDRSVAR``, ``EB``/``OL``/``FV``/``EC`` + the first six characters
of the coefficient's name, ``PVq_q'``, ``PVCq_q'``; level 1: ``L2ID``, ``FITVAL``, ``L1RESID``,
``SIGMA``), then the model's predictors and the extra variables asked for.

Formats: CSV, SPSS ``.sav``, Stata ``.dta``, SAS transport ``.xpt`` (version 5: names of at most
8 characters, labels of at most 40), Parquet (labels as field metadata ``label``) and Excel
``.xlsx`` (labels on a second sheet).  An explicit ``format`` wins over the file's suffix.  Names are
made valid and unique within each format's limits; labels are written wherever the format has
them.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from openhlm.errors import DataError, EstimationError, SpecError
from openhlm.estimation.glmm.estimates import GLMMEstimates
from openhlm.results.glmm import GLMMResults
from openhlm.results.residuals import NO_RANDOM_COEFFICIENTS, EBEstimates

if TYPE_CHECKING:
    from openhlm.results import HLMResults

__all__ = [
    "FORMATS",
    "HLM_FILE_TYPES",
    "STREAMED_FORMATS",
    "Level1Column",
    "ResidualTable",
    "glmm_level1_residual_table",
    "glmm_level2_residual_table",
    "id_column",
    "level1_residual_columns",
    "level1_residual_table",
    "level2_residual_table",
    "residual_format",
    "write_residuals",
    "write_table",
]

#: Formats and their usual suffixes.
FORMATS: dict[str, str] = {"csv": ".csv", "sav": ".sav", "dta": ".dta", "xpt": ".xpt",
                           "parquet": ".parquet", "xlsx": ".xlsx"}
_SUFFIXES = {".csv": "csv", ".txt": "csv", ".dat": "csv", ".sav": "sav", ".dta": "dta",
             ".xpt": "xpt", ".parquet": "parquet", ".pq": "parquet", ".xlsx": "xlsx"}
#: HLM's ``resfiltype`` values (and friendly aliases) -> format.
HLM_FILE_TYPES: dict[str, str] = {
    "spss": "sav", "sav": "sav", "stata": "dta", "dta": "dta", "sas": "xpt", "xpt": "xpt",
    "ascii": "csv", "text": "csv", "csv": "csv", "systat": "csv", "parquet": "parquet",
    "xlsx": "xlsx", "excel": "xlsx",
}
_NAME_LIMIT = {"csv": None, "parquet": None, "xlsx": None, "sav": 64, "dta": 32, "xpt": 8}
_LABEL_LIMIT = {"csv": None, "parquet": None, "xlsx": None, "sav": 255, "dta": 80, "xpt": 40}


@dataclass(frozen=True)
class ResidualTable:
    """A residual file before writing: the data and a label for every column."""

    frame: pd.DataFrame
    labels: dict[str, str]
    level: int

    def to_frame(self) -> pd.DataFrame:
        """A copy of the data with the labels in ``frame.attrs["labels"]``."""
        out = self.frame.copy()
        out.attrs["labels"] = dict(self.labels)
        return out


# -- names and labels --------------------------------------------------------------------------
def _stem(label: str) -> str:
    """The coefficient part of an HLM residual name: INTRCPT1 -> INTRCP, SES -> SES."""
    return re.sub(r"[^A-Z0-9_]", "", label.upper())[:6]


def _eb(results: HLMResults) -> EBEstimates:
    """The EB estimates stored in the results (the writer computes nothing)."""
    if results.estimates is None:
        raise EstimationError("these results carry no estimates (loaded from JSON?); refit the "
                              "model to compute residuals")
    if results.eb is None:
        if results.estimates.design.n_random == 0:
            raise EstimationError(NO_RANDOM_COEFFICIENTS)
        raise EstimationError("these results carry no empirical Bayes estimates: build them "
                              "with openhlm.inference.infer.infer (or refit with openhlm.fit)")
    return results.eb


def _variable_labels(results: HLMResults) -> dict[str, str]:
    labels = getattr(results.data, "variable_labels", None) or {}
    return {str(k).lower(): str(v) for k, v in dict(labels).items()}


def _lookup(frame: pd.DataFrame, name: str) -> str | None:
    if name in frame.columns:
        return name
    lower = {str(c).lower(): c for c in frame.columns}
    return lower.get(name.lower())


def id_column(ids: np.ndarray) -> pd.Series:
    """The L2ID column: the unit IDs, as numbers when every ID is one."""
    return _id_column(ids)


def _id_column(ids: np.ndarray) -> pd.Series:
    values = pd.Series(np.asarray(ids).astype(str))
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.notna().all() and (numeric.astype(str).str.replace(r"\.0$", "", regex=True)
                                  == values).all():
        return numeric
    return values


def _add(columns: dict[str, Any], labels: dict[str, str], name: str, values: Any,
         label: str) -> None:
    base, k = name, 1
    while name in columns:           # a predictor called NJ, MDIST, ... keeps its data
        k += 1
        name = f"{base[:7]}{k}" if len(base) >= 8 else f"{base}{k}"
    columns[name] = values
    labels[name] = label


def _variable(results: HLMResults, name: str, *, level: int, centring: str | None = None
              ) -> str:
    text = _variable_labels(results).get(name.lower(), "")
    where = "level-1" if level == 1 else "level-2"
    base = f"{name}: {text}" if text else f"{name} ({where} variable)"
    return (f"{name} (raw; {centring}-centred in the model): {text}" if centring
            else base)


def _extras(frames: list[tuple[pd.DataFrame, np.ndarray | None]], names: Iterable[str],
            level: int) -> list[tuple[str, np.ndarray]]:
    out = []
    for name in names:
        for frame, index in frames:
            column = _lookup(frame, str(name))
            if column is not None:
                values = frame[column].to_numpy()
                out.append((str(column), values if index is None else values[index]))
                break
        else:
            available = sorted({str(c) for f, _ in frames for c in f.columns})
            raise SpecError(f"extra variable '{name}' for the level-{level} residual file is not "
                            f"in the data (available: {', '.join(available)})")
    return out


def level2_residual_table(results: HLMResults, extra: Iterable[str] = ()) -> ResidualTable:
    """HLM's level-2 residual file: one row per unit.

    Parameters
    ----------
    results : HLMResults
    extra : iterable of str
        Further level-2 variables to include (HLM's "other level-2 variables").
    """
    eb = _eb(results)
    d = results.estimates.design
    cols: dict[str, Any] = {}
    labels: dict[str, str] = {}
    _add(cols, labels, "L2ID", _id_column(eb.unit_ids).to_numpy(), "Level-2 unit ID")
    _add(cols, labels, "NJ", eb.n.astype(float), "Level-1 records in the unit (n_j)")
    R = len(eb.random_positions)
    _add(cols, labels, "CHIPCT", eb.chipct,
         f"Chi-square({R}) quantile of MDIST's rank")
    _add(cols, labels, "MDIST", eb.mdist, "Mahalanobis distance of EB residuals")
    _add(cols, labels, "LNTOTVAR", eb.lntotvar, "ln total SD of the outcome in the unit")
    _add(cols, labels, "OLSRSVAR", eb.olsrsvar, "ln residual SD of the unit OLS fit")
    _add(cols, labels, "MDRSVAR", eb.mdrsvar,
         "ln residual SD of the fitted model (EB)")
    rl = eb.random_labels
    for k, label in enumerate(rl):
        _add(cols, labels, f"EB{_stem(label)}", eb.eb_residuals[:, k],
             f"EB residual U{eb.random_indices[k]} of {label}")
    for k, label in enumerate(rl):
        _add(cols, labels, f"OL{_stem(label)}", eb.ols_residuals[:, k],
             f"OLS residual of {label}")
    for p, label in enumerate(eb.coefficient_labels):
        _add(cols, labels, f"FV{_stem(label)}", eb.fitted[:, p],
             f"Fitted {label} from level-2 model")
    for p, label in enumerate(eb.coefficient_labels):
        _add(cols, labels, f"EC{_stem(label)}", eb.eb_coefficients[:, p],
             f"EB coefficient {label} (FV + EB)")
    idx = eb.random_indices
    which = "REML" if eb.method == "reml" else "ML"
    for a in range(R):
        for b in range(a + 1):
            what = f"var U{idx[a]}" if a == b else f"cov U{idx[b]},U{idx[a]}"
            _add(cols, labels, f"PV{idx[b]}_{idx[a]}", eb.posterior_cov[:, b, a],
                 f"Posterior {what} ({which})")
    for a in range(R):
        for b in range(a + 1):
            what = (f"var EC of {rl[a]}" if a == b else f"cov EC of {rl[b]},{rl[a]}")
            _add(cols, labels, f"PVC{idx[b]}_{idx[a]}", eb.coefficient_cov[:, b, a],
                 f"Posterior {what}")
    level2 = d.level2_data
    centring = {p.name: p.centering.value for c in d.spec.coefficients
                for p in c.equation.predictors}
    for name in d.spec.level2_variables():
        column = _lookup(level2, name) or name
        cent = centring.get(name)
        _add(cols, labels, str(column), level2[column].to_numpy(dtype=float),
             _variable(results, str(column), level=2,
                       centring=cent if cent not in (None, "none") else None))
    in_model = {n.lower() for n in d.spec.level2_variables()}
    for name, values in _extras([(level2, None)], extra, 2):
        if name.lower() not in in_model:
            _add(cols, labels, name, values, _variable(results, name, level=2))
    return ResidualTable(frame=pd.DataFrame(cols), labels=labels, level=2)


@dataclass(frozen=True)
class Level1Column:
    """One column of the level-1 residual file: its name, label and where its values come from:
    ``"L2ID"``, ``"FITVAL"``, ``"L1RESID"``, ``"SIGMA"``, ``"outcome"``, or a variable of the
    level-1 rows (``level=1``) or of the unit (``level=2``) named ``variable``."""

    name: str
    label: str
    source: str
    variable: str | None = None
    level: int = 0


def level1_residual_columns(results: HLMResults, extra: Iterable[str] = ()
                            ) -> tuple[Level1Column, ...]:
    """The columns of the level-1 residual file (names, labels, sources), without the values:
    what :func:`level1_residual_table` fills from the rows in memory and an out-of-core fit
    streams from its files (:mod:`openhlm.scale.residuals`)."""
    _eb(results)
    d = results.estimates.design
    cols: dict[str, Any] = {}
    labels: dict[str, str] = {}
    _add(cols, labels, "L2ID", ("L2ID", None, 0), "Level-2 unit ID")
    _add(cols, labels, "FITVAL", ("FITVAL", None, 0), "Fitted value with EB coefficients")
    _add(cols, labels, "L1RESID", ("L1RESID", None, 0), "Level-1 residual: outcome - FITVAL")
    _add(cols, labels, "SIGMA", ("SIGMA", None, 0), "Level-1 residual SD, sqrt(sigma^2_ij)")
    level1, level2 = d.level1_data, d.level2_data
    outcome = _lookup(level1, d.spec.outcome) or d.spec.outcome
    _add(cols, labels, str(outcome), ("outcome", str(outcome), 1),
         _variable(results, str(outcome), level=1))
    for coef in d.spec.coefficients:
        if coef.predictor is None:
            continue
        column = _lookup(level1, coef.predictor.name) or coef.predictor.name
        cent = coef.predictor.centering.value
        _add(cols, labels, str(column), ("level1", str(column), 1),
             _variable(results, str(column), level=1, centring=None if cent == "none" else cent))
    for name in d.spec.level2_variables():
        column = _lookup(level2, name) or name
        _add(cols, labels, str(column), ("level2", str(column), 2),
             _variable(results, str(column), level=2))
    present = {c.lower() for c in cols}
    for name in extra:
        where = next(((lv, _lookup(f, str(name))) for lv, f in ((1, level1), (2, level2))
                      if _lookup(f, str(name)) is not None), None)
        if where is None:
            available = sorted({str(c) for f in (level1, level2) for c in f.columns})
            raise SpecError(f"extra variable '{name}' for the level-1 residual file is not "
                            f"in the data (available: {', '.join(available)})")
        level, column = where
        if str(column).lower() in present:
            continue
        _add(cols, labels, str(column), (f"extra{level}", str(column), level),
             _variable(results, str(column), level=level))
        present.add(str(column).lower())
    return tuple(Level1Column(name=k, label=labels[k], source=v[0], variable=v[1], level=v[2])
                 for k, v in cols.items())


def level1_residual_table(results: HLMResults, extra: Iterable[str] = ()) -> ResidualTable:
    """HLM's level-1 residual file: one row per level-1 record used in the analysis.

    Parameters
    ----------
    results : HLMResults
    extra : iterable of str
        Further level-1 or level-2 variables to include.
    """
    plan = level1_residual_columns(results, extra)
    eb = _eb(results)
    d = results.estimates.design
    if not getattr(d, "rows_in_memory", True):
        raise SpecError("the level-1 rows of an out-of-core fit are not in memory: write the "
                        "level-1 residual file with results.write_residuals(level1="
                        "'res1.parquet' or 'res1.csv'), streamed in a second pass")
    level1, level2 = d.level1_data, d.level2_data

    def values(c: Level1Column) -> Any:
        if c.source in ("level1", "extra1"):
            return level1[c.variable].to_numpy(dtype=float if c.source == "level1" else None)
        if c.source in ("level2", "extra2"):
            return level2[c.variable].to_numpy(
                dtype=float if c.source == "level2" else None)[d.unit]
        return {"L2ID": lambda: _id_column(eb.unit_ids).to_numpy()[d.unit],
                "FITVAL": lambda: eb.level1_fitted, "L1RESID": lambda: eb.level1_residuals,
                "SIGMA": lambda: eb.level1_sigma, "outcome": lambda: d.y}[c.source]()

    cols = {c.name: values(c) for c in plan}
    return ResidualTable(frame=pd.DataFrame(cols), labels={c.name: c.label for c in plan},
                         level=1)


# -- HGLM (binary, binomial, count outcomes) ----------------------------------------------------
def _glmm_estimates(results: GLMMResults) -> GLMMEstimates:
    if "multiple_imputation" in results.extras:
        raise SpecError("a fit pooled over imputed data sets has no residual files of its own: "
                        "write those of each fit, results.extras['multiple_imputation']"
                        ".fits[k].write_residuals(...)")
    if results.estimates is None:
        raise EstimationError("these HGLM results carry no estimates (loaded from JSON?); refit "
                              "the model to write residual files")
    return results.estimates


def _glmm_kind(results: GLMMResults) -> tuple[str, str, str]:
    """(column suffix of the tables, 4-letter file stem, word) for the probability or rate."""
    if results.link == "logit":
        return "probability", "PROB", "probability"
    return "rate", "RATE", "rate per unit of exposure"


def _plain_label(name: str, level: int, centring: str | None = None) -> str:
    where = "level-1" if level == 1 else "level-2"
    return (f"{name} (raw; {centring}-centred in the model)" if centring
            else f"{name} ({where} variable)")


def glmm_level2_residual_table(results: GLMMResults, extra: Iterable[str] = ()
                               ) -> ResidualTable:
    """HLM's level-2 residual file of an HGLM: one row per unit.

    ``L2ID``, ``NJ``; ``CHIPCT``, ``MDIST`` (the Mahalanobis distance of the EB estimates
    and its chi-square(R) plotting position, as for linear models, on the model linearised at
    the modes); ``EB``/``FV``/``EC`` + coefficient (EB residual, fitted value from the
    level-2 model and EB coefficient, all on the linear-predictor scale: logit or log);
    ``PVq_q'`` (posterior (co)variances of the random effects); ``PREDPROB`` / ``PREDRATE``
    (inverse link of the unit's linear predictor at its mean level-1 predictors),
    ``MEANPROB`` / ``MEANRATE`` (the mean of its records' predicted probabilities / rates),
    ``OBSPROB`` / ``OBSRATE`` (observed successes / trials, or counts / exposure); then the
    model's level-2 variables and ``extra``.
    """
    est = _glmm_estimates(results)
    d = est.data.design
    eb = results.eb
    suffix, stem, word = _glmm_kind(results)
    cols: dict[str, Any] = {}
    labels: dict[str, str] = {}
    _add(cols, labels, "L2ID", _id_column(eb["unit"].to_numpy()).to_numpy(), "Level-2 unit ID")
    _add(cols, labels, "NJ", eb["n"].to_numpy(dtype=float), "Level-1 records in the unit (n_j)")
    R = sum(1 for c in d.spec.coefficients if c.equation.random)
    _add(cols, labels, "CHIPCT", eb["chipct"].to_numpy(),
         f"Chi-square({R}) quantile of MDIST's rank")
    _add(cols, labels, "MDIST", eb["mdist"].to_numpy(),
         "Mahalanobis distance of EB residuals (linearised at the modes)")
    scale = "logit" if results.link == "logit" else "log"
    coefs = d.spec.coefficients
    random = [c for c in coefs if c.equation.random]
    for c in random:
        name = c.short_label.lower()
        _add(cols, labels, f"EB{_stem(c.short_label)}", eb[f"eb_{name}"].to_numpy(),
             f"EB residual U{c.index} of {c.short_label} ({scale} scale)")
    for c in coefs:
        _add(cols, labels, f"FV{_stem(c.short_label)}",
             eb[f"fv_{c.short_label.lower()}"].to_numpy(),
             f"Fitted {c.short_label} from level-2 model ({scale} scale)")
    for c in coefs:
        _add(cols, labels, f"EC{_stem(c.short_label)}",
             eb[f"b_{c.short_label.lower()}"].to_numpy(),
             f"EB coefficient {c.short_label} (FV + EB, {scale} scale)")
    idx = [c.index for c in random]
    for a in range(len(idx)):
        for b in range(a + 1):
            what = f"var U{idx[a]}" if a == b else f"cov U{idx[b]},U{idx[a]}"
            _add(cols, labels, f"PV{idx[b]}_{idx[a]}", eb[f"pv_{idx[b]}_{idx[a]}"].to_numpy(),
                 f"Posterior {what} ({results.method.upper()})")
    _add(cols, labels, f"PRED{stem}", eb[f"{suffix}_at_means"].to_numpy(),
         f"Predicted {word} at the unit's mean predictors")
    _add(cols, labels, f"MEAN{stem}", eb[f"mean_{suffix}"].to_numpy(),
         f"Mean predicted {word} of the unit's records")
    _add(cols, labels, f"OBS{stem}", eb[f"observed_{suffix}"].to_numpy(),
         f"Observed {word} in the unit")
    level2 = d.level2_data
    centring = {p.name: p.centering.value for c in coefs for p in c.equation.predictors}
    for name in d.spec.level2_variables():
        column = _lookup(level2, name) or name
        cent = centring.get(name)
        _add(cols, labels, str(column), level2[column].to_numpy(dtype=float),
             _plain_label(str(column), 2, cent if cent not in (None, "none") else None))
    in_model = {n.lower() for n in d.spec.level2_variables()}
    for name, values in _extras([(level2, None)], extra, 2):
        if name.lower() not in in_model:
            _add(cols, labels, name, values, _plain_label(name, 2))
    return ResidualTable(frame=pd.DataFrame(cols), labels=labels, level=2)


def glmm_level1_residual_table(results: GLMMResults, extra: Iterable[str] = ()
                               ) -> ResidualTable:
    """HLM's level-1 residual file of an HGLM: one row per record in the analysis.

    ``L2ID``; ``ETA`` (the unit-specific linear predictor with the EB coefficients, without
    the offset); ``PREDPROB`` / ``PREDRATE`` (its inverse link: the predicted probability, or
    rate per unit of exposure); ``FITVAL`` (the expected outcome: trials x probability or
    exposure x rate); ``L1RESID`` (outcome - FITVAL); ``ETAFIXED`` (linear predictor with the
    random effects at 0); the outcome, trials / exposure, level-1 predictors, level-2
    variables and ``extra``.
    """
    est = _glmm_estimates(results)
    d = est.data.design
    lv1 = results.level1
    suffix, stem, word = _glmm_kind(results)
    cols: dict[str, Any] = {}
    labels: dict[str, str] = {}
    _add(cols, labels, "L2ID", _id_column(lv1["unit"].to_numpy()).to_numpy(), "Level-2 unit ID")
    scale = "logit" if results.link == "logit" else "log"
    _add(cols, labels, "ETA", lv1["eta"].to_numpy(),
         f"Linear predictor with EB coefficients ({scale} scale)")
    _add(cols, labels, f"PRED{stem}", lv1[suffix].to_numpy(), f"Predicted {word}")
    _add(cols, labels, "FITVAL", lv1["fitted"].to_numpy(), "Expected outcome (fitted value)")
    _add(cols, labels, "L1RESID", lv1["outcome"].to_numpy() - lv1["fitted"].to_numpy(),
         "Level-1 residual: outcome - FITVAL")
    _add(cols, labels, "ETAFIXED", lv1["eta_fixed"].to_numpy(),
         f"Linear predictor with the random effects at 0 ({scale} scale)")
    level1, level2 = d.level1_data, d.level2_data
    names = [d.spec.outcome] + [n for n in (results.trials, results.exposure) if n]
    for name in names:
        column = _lookup(level1, name) or name
        _add(cols, labels, str(column), level1[column].to_numpy(dtype=float),
             _plain_label(str(column), 1))
    for coef in d.spec.coefficients:
        if coef.predictor is None:
            continue
        column = _lookup(level1, coef.predictor.name) or coef.predictor.name
        if str(column) in cols:
            continue
        cent = coef.predictor.centering.value
        _add(cols, labels, str(column), level1[column].to_numpy(dtype=float),
             _plain_label(str(column), 1, None if cent == "none" else cent))
    for name in d.spec.level2_variables():
        column = _lookup(level2, name) or name
        _add(cols, labels, str(column), level2[column].to_numpy(dtype=float)[d.unit],
             _plain_label(str(column), 2))
    present = {c.lower() for c in cols}
    for name, values in _extras([(level1, None), (level2, d.unit)], extra, 1):
        if name.lower() not in present:
            level = 1 if _lookup(level1, name) is not None else 2
            _add(cols, labels, name, values, _plain_label(name, level))
    return ResidualTable(frame=pd.DataFrame(cols), labels=labels, level=1)


# -- writers -----------------------------------------------------------------------------------
def residual_format(path: str | Path, format: str | None = None) -> str:
    """The format to write ``path`` in: ``format`` (an openhlm or HLM name), else the suffix
    (CSV when the name has none)."""
    if format is not None:
        key = str(format).strip().lower().lstrip(".")
        if key not in HLM_FILE_TYPES:
            raise SpecError(f"unknown residual file type {format!r}: use one of "
                            f"{', '.join(sorted(HLM_FILE_TYPES))}")
        return HLM_FILE_TYPES[key]
    suffix = Path(path).suffix.lower()
    if not suffix:
        return "csv"      # HLM's ASCII residual file
    if suffix not in _SUFFIXES:
        raise SpecError(f"cannot tell the format of residual file '{path}' from its suffix: use "
                        f"{', '.join(sorted(_SUFFIXES))} or give the format")
    return _SUFFIXES[suffix]


def _safe_names(columns: list[str], limit: int | None, ascii_only: bool = False) -> list[str]:
    out: list[str] = []
    taken: set[str] = set()
    for col in columns:
        name = str(col)
        if ascii_only:  # SAS transport names: letters without accents ("sés" -> "ses")
            name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
        name = re.sub(r"\W", "_", name)
        if not re.match(r"[A-Za-z]", name):
            name = "V" + name
        if limit is not None:
            name = name[:limit]
        base, k = name, 1
        while name.lower() in taken:
            k += 1
            tail = str(k)
            name = (base[: limit - len(tail)] if limit else base) + tail
        taken.add(name.lower())
        out.append(name)
    return out


def _shorten(text: str, limit: int | None) -> str:
    if limit is None or len(text) <= limit:
        return text
    return text[: limit - 3].rstrip() + "..."


def write_table(table: ResidualTable, path: str | Path, format: str | None = None) -> Path:
    """Write a residual table in the format of ``path``'s suffix (or ``format``).

    Returns
    -------
    pathlib.Path
        The file written.
    """
    path = Path(path)
    fmt = residual_format(path, format)
    frame = table.frame.copy()
    names = _safe_names([str(c) for c in frame.columns], _NAME_LIMIT[fmt], fmt == "xpt")
    label_list = [_shorten(table.labels.get(c, ""), _LABEL_LIMIT[fmt]) for c in frame.columns]
    frame.columns = names
    labels = dict(zip(names, label_list))
    file_label = f"openhlm level-{table.level} residual file"
    try:
        # like the report, JSON and HTML files of `openhlm fit`: a missing folder is created
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "csv":
            frame.to_csv(path, index=False, na_rep="")
        elif fmt == "parquet":
            _write_parquet(frame, labels, path, file_label)
        elif fmt == "xlsx":
            _write_xlsx(frame, labels, path)
        else:
            import pyreadstat

            if fmt == "sav":
                pyreadstat.write_sav(frame, path, file_label=file_label, column_labels=labels)
            elif fmt == "dta":
                pyreadstat.write_dta(frame, path, file_label=file_label, column_labels=labels)
            else:
                pyreadstat.write_xport(frame, path, file_label=file_label[:40],
                                       column_labels=labels, table_name="RESID",
                                       file_format_version=5)
    except OSError as exc:
        raise DataError(f"cannot write residual file '{path}': {exc.strerror or exc}; check "
                        "that the folder exists and is writable") from exc
    except Exception as exc:  # pyreadstat/pyarrow raise their own types
        raise DataError(f"cannot write residual file '{path}' as {fmt}: {exc}") from exc
    return path


def _write_parquet(frame: pd.DataFrame, labels: Mapping[str, str], path: Path,
                   file_label: str) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise DataError("writing Parquet needs pyarrow: pip install 'openhlm[formats]'") from exc
    table = pa.Table.from_pandas(frame, preserve_index=False)
    fields = [f.with_metadata({"label": labels.get(f.name, "")}) for f in table.schema]
    meta = dict(table.schema.metadata or {})
    meta[b"openhlm.labels"] = json.dumps(dict(labels)).encode()
    meta[b"openhlm.file_label"] = file_label.encode()
    pq.write_table(table.cast(pa.schema(fields, metadata=meta)), path)


def _write_xlsx(frame: pd.DataFrame, labels: Mapping[str, str], path: Path) -> None:
    """Data on the first sheet, a "labels" sheet with each variable's label."""
    try:
        import openpyxl  # noqa: F401
    except ImportError as exc:
        raise DataError("writing .xlsx needs openpyxl: pip install 'openhlm[formats]'") from exc
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        frame.to_excel(writer, sheet_name="residuals", index=False)
        pd.DataFrame({"variable": list(labels), "label": list(labels.values())}).to_excel(
            writer, sheet_name="labels", index=False)


def write_residuals(results: HLMResults | GLMMResults, level2: str | Path | None = None,
                    level1: str | Path | None = None, *, extra_level2: Iterable[str] = (),
                    extra_level1: Iterable[str] = (), format: str | None = None
                    ) -> dict[str, Path]:
    """Write the level-2 and/or level-1 residual files of ``results``.

    Parameters
    ----------
    level2, level1 : path, optional
        Files to write; the format follows each suffix unless ``format`` is given
        (``"csv"``, ``"sav"``, ``"dta"``, ``"xpt"``, ``"parquet"`` or HLM's ``"spss"``,
        ``"stata"``, ``"sas"``).
    extra_level2, extra_level1 : str or iterable of str
        Extra variables to include (a string is one name).

    Returns
    -------
    dict
        ``{"level2": path, "level1": path}`` for the files written.
    """
    if level2 is None and level1 is None:
        raise SpecError("name a level-2 and/or a level-1 residual file to write")
    if level2 is not None and level1 is not None and \
            Path(level2).resolve() == Path(level1).resolve():
        raise SpecError(f"the level-2 and the level-1 residual files are the same file "
                        f"'{level2}': give them different names")
    # a single name is one variable, not a sequence of one-letter names
    if isinstance(extra_level2, str):
        extra_level2 = [extra_level2]
    if isinstance(extra_level1, str):
        extra_level1 = [extra_level1]
    written: dict[str, Path] = {}
    hglm = isinstance(results, GLMMResults)
    table2 = glmm_level2_residual_table if hglm else level2_residual_table
    table1 = glmm_level1_residual_table if hglm else level1_residual_table
    if level2 is not None:
        written["level2"] = write_table(table2(results, extra_level2), level2,  # type: ignore
                                        format)
    if level1 is not None:
        design = getattr(results.estimates, "design", None) if not hglm else None
        if design is not None and not getattr(design, "rows_in_memory", True):
            written["level1"] = _stream_level1(results, design, Path(level1), extra_level1,
                                               format)
        else:
            written["level1"] = write_table(table1(results, extra_level1), level1,  # type: ignore
                                            format)
    return written


#: level-1 residual formats written row group by row group (out-of-core fits)
STREAMED_FORMATS = ("parquet", "csv")


def _stream_level1(results: HLMResults, design: Any, path: Path, extra: Iterable[str],
                   format: str | None) -> Path:
    """The level-1 residual file of a fit whose rows are not in memory (openhlm.scale): the
    columns of :func:`level1_residual_columns`, streamed by the engine's second pass over the
    rows (``design.level1_rows``)."""
    fmt = residual_format(path, format)
    if fmt not in STREAMED_FORMATS:
        raise SpecError(f"the level-1 residual file '{path}' of an out-of-core fit is streamed "
                        f"to Parquet or CSV; {fmt} needs the whole table in memory: name it "
                        ".parquet or .csv (or fit with engine='memory')")
    plan = level1_residual_columns(results, extra)
    rows = getattr(design, "level1_rows", None)
    if rows is None:
        raise SpecError("these results do not say where their level-1 rows are: refit the "
                        "model to write the level-1 residual file")
    names = _safe_names([c.name for c in plan], _NAME_LIMIT[fmt])
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot write residual file '{path}': {exc.strerror or exc}") from exc
    rows.write_level1_residuals(results, plan, names, path, fmt,
                                file_label="openhlm level-1 residual file")
    return path
