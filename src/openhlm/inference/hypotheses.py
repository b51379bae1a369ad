"""General linear hypotheses on the fixed effects and deviance (likelihood-ratio) tests.

General linear hypothesis (hlm-statistics.md 8.1; HLM's "Results of General Linear Hypothesis
Testing"): H0: C gamma = d with C an r x F' contrast matrix over the printed gammas,

    chi2 = (C g - d)' (C V C')^-1 (C g - d)  on r d.f.,

with V the model-based covariance of the gammas or HLM's robust (CR0 sandwich) covariance.
Both are computed.  **HLM 6.08 uses the robust covariance** when it prints robust standard
errors (always, for two-level linear models): the seed's G01 = G11 = 0 test on Model 4 prints
chi-square 60.596880; at HLM's printed sigma^2, Tau and gammas our robust version gives
60.596838 and the model-based one 66.148 (see ``tests/reference/test_hypotheses_reference.py``).
So the *primary* statistic (``LinearHypothesis.chi2``) is the robust one unless
``robust=False``.

Deviance tests (hlm-statistics.md 8.2): chi2 = |D_a - D_b| on |p_a - p_b| d.f., naive chi-square
reference (no boundary mixture).  :func:`compare` refuses comparisons that are not valid
(different data, REML fits with different fixed effects, REML vs ML, equal parameter counts);
:func:`deviance_test` compares with a deviance typed in from a previous run (HLM's
``deviance:``/``df:``), in either the standard or HLM's printed convention.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from scipy import special

from openhlm.errors import HypothesisError

if TYPE_CHECKING:
    from openhlm.results import HLMResults

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
    "requested_tests",
    "wald_test",
    "with_tests",
]

GLH_TITLE = "Results of General Linear Hypothesis Testing"
#: HLM 6.08's title of the deviance test under REML (only variance components can differ) ...
VC_TEST_TITLE = "Variance-Covariance components test"
#: ... and under full ML (the seed's heterogeneous-sigma^2 run prints this one).
MODEL_COMPARISON_TITLE = "Model comparison test"

_RANK_TOL = 1e-10


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------

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
        from openhlm.report.hypothesis_sections import glh_text

        return "\n".join(glh_text(self, None))


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
        from openhlm.report.hypothesis_sections import deviance_test_text

        return "\n".join(deviance_test_text(self, None))


# ---------------------------------------------------------------------------------------------
# Reading hypotheses
# ---------------------------------------------------------------------------------------------

def _gamma_index(name: str, row: str, gammas: Mapping[str, int]) -> int:
    key = name.upper()
    if key not in gammas:
        raise HypothesisError(f"the hypothesis row {row!r} names {name}, which is not a fixed "
                              f"effect of this model (fixed effects: {', '.join(gammas)})")
    return gammas[key]


def parse_hypothesis_rows(text: str | Sequence[str], gammas: Sequence[str]
                          ) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Read text rows such as ``"G01 = 0; G11 = 0"``, ``"G01 - G11 = 0"`` or ``"G02 = G12"``.

    Rows are separated by ``;`` or new lines (or given as a list); each row is one linear
    equation in the gammas, read by :func:`openhlm.spec.contrasts.parse_contrast` (the grammar
    of TOML model files' ``glh`` rows: ``2*G10 + G11 = 1``).

    Parameters
    ----------
    text : str or sequence of str
    gammas : sequence of str
        The gamma labels, in column order.

    Returns
    -------
    (C, d, rows)
        Contrast matrix (r x len(gammas)), right-hand side (r,), the rows as written.
    """
    from openhlm.spec.contrasts import parse_contrast

    pieces = [text] if isinstance(text, str) else list(text)
    rows: list[str] = []
    for piece in pieces:
        if not isinstance(piece, str):
            raise HypothesisError(f"a hypothesis row must be text like 'G01 = 0', not "
                                  f"{type(piece).__name__}")
        rows += [r.strip() for r in re.split(r"[;\n]", piece) if r.strip()]
    if not rows:
        raise HypothesisError("the hypothesis is empty: write rows like 'G01 = 0; G11 = 0'")
    parsed = [parse_contrast(row, gammas) for row in rows]
    C = np.array([p.row for p in parsed], dtype=float).reshape(len(rows), len(gammas))
    d = np.array([p.rhs for p in parsed], dtype=float)
    return C, d, tuple(" ".join(r.split()) for r in rows)


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)


def _is_numeric_row(x: Any) -> bool:
    """A 1-D sequence of numbers (one contrast row)."""
    return (isinstance(x, (list, tuple, np.ndarray)) and np.ndim(x) == 1 and len(x) > 0
            and all(_is_number(v) for v in x))


def _split_hypotheses(hypotheses: Any) -> list[Any]:
    """One hypothesis or a list of them -> a list of single hypotheses (see :func:`glh`)."""
    if isinstance(hypotheses, (str, Mapping, np.ndarray)):
        return [hypotheses]
    if isinstance(hypotheses, (list, tuple)):
        items = list(hypotheses)
        if not items:
            raise HypothesisError("no hypothesis given: pass e.g. 'G01 = 0; G11 = 0'")
        if all(_is_number(v) for v in items) or all(_is_numeric_row(v) for v in items) \
                or all(isinstance(v, Mapping) for v in items):
            return [items]
        return items
    raise HypothesisError(f"cannot read a hypothesis from {type(hypotheses).__name__}: give "
                          f"text ('G01 = 0; G11 = 0'), a dict {{'G01': 1}}, a list of dicts or "
                          f"a contrast matrix")


def _contrast(h: Any, labels: tuple[str, ...], K: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """One hypothesis -> (C over all F gammas, d, row labels)."""
    if isinstance(h, str) or (isinstance(h, (list, tuple)) and h
                              and all(isinstance(r, str) for r in h)):
        return parse_hypothesis_rows(h, labels)
    if isinstance(h, Mapping) or (isinstance(h, (list, tuple)) and h
                                  and all(isinstance(r, Mapping) for r in h)):
        rows_in = [h] if isinstance(h, Mapping) else list(h)
        index = {g.upper(): i for i, g in enumerate(labels)}
        C = np.zeros((len(rows_in), len(labels)))
        row_names = []
        for k, row in enumerate(rows_in):
            if not row:
                raise HypothesisError("a hypothesis row given as a dict is empty: write "
                                      "{'G01': 1} for G01 = 0")
            terms = []
            for gamma, weight in row.items():
                if not _is_number(weight):
                    raise HypothesisError(f"the weight of {gamma} must be a number, not "
                                          f"{weight!r}")
                C[k, _gamma_index(str(gamma), str(dict(row)), index)] += float(weight)
                terms.append(f"{float(weight):+g}*{str(gamma).upper()}")
            row_names.append(" ".join(terms).lstrip("+") + " = 0")
        return C, np.zeros(len(rows_in)), tuple(row_names)
    try:
        C = np.atleast_2d(np.asarray(h, dtype=float))
    except (TypeError, ValueError):
        raise HypothesisError(f"cannot read a contrast matrix from {h!r}: give numbers, one "
                              f"column per gamma") from None
    if C.ndim != 2 or C.size == 0:
        raise HypothesisError(f"a contrast matrix must have rows x gammas, got shape {C.shape}")
    if not np.isfinite(C).all():
        raise HypothesisError("the contrast matrix contains NaN or infinite values")
    F, Fp = K.shape
    printed = [labels[int(np.flatnonzero(K[:, k])[0])] for k in range(Fp)]
    if C.shape[1] == Fp:   # printed gammas -> all gammas (weight on each printed gamma)
        C_all = np.zeros((C.shape[0], F))
        C_all[:, [labels.index(g) for g in printed]] = C
        C = C_all
    elif C.shape[1] != F:
        raise HypothesisError(
            f"the contrast matrix has {C.shape[1]} columns, but the model has {Fp} printed "
            f"gammas ({', '.join(printed)})" + (f" ({F} with the constrained ones)"
                                               if F != Fp else "")
            + ": give one column per gamma")
    names = tuple(" ".join(f"{w:+g}*{g}" for w, g in zip(row, labels) if w != 0).lstrip("+")
                  + " = 0" for row in C)
    return C, np.zeros(C.shape[0]), names


def _constraint_matrix_of(results: HLMResults) -> np.ndarray:
    if results.estimates is not None:
        return results.estimates.design.constraint_matrix
    from openhlm.estimation.design import _constraint_matrix

    return _constraint_matrix(results.spec)


def wald_test(estimate: np.ndarray, covariance: np.ndarray, contrast: np.ndarray,
              rhs: np.ndarray | None = None) -> WaldStatistic:
    """chi2 = (C g - d)' (C V C')^-1 (C g - d) on rows(C) d.f. (the numbers only).

    Raises
    ------
    HypothesisError
        If C V C' is singular (rows of C dependent, or a direction without variance).
    """
    C = np.atleast_2d(np.asarray(contrast, dtype=float))
    g = np.asarray(estimate, dtype=float)
    d = np.zeros(C.shape[0]) if rhs is None else np.asarray(rhs, dtype=float)
    e = C @ g - d
    CVC = C @ np.asarray(covariance, dtype=float) @ C.T
    s = np.linalg.svd(CVC, compute_uv=False)
    if s.size == 0 or s[-1] <= _RANK_TOL * max(s[0], 1e-300):
        raise HypothesisError("the contrast's covariance C V C' is singular: the rows are "
                              "linearly dependent or test a direction without sampling "
                              "variance; remove the redundant rows")
    chi2 = float(e @ np.linalg.solve(CVC, e))
    df = int(C.shape[0])
    return WaldStatistic(chi2=chi2, df=df, p=float(special.chdtrc(df, chi2)))


def glh(results: HLMResults, hypotheses: Any, *, robust: bool | None = None) -> GLHResult:
    """Test general linear hypotheses C gamma = d on a fitted model's fixed effects.

    Parameters
    ----------
    results : HLMResults
    hypotheses
        One hypothesis, or a list of hypotheses.  A hypothesis is

        * text: rows separated by ``;`` — ``"G01 = 0; G11 = 0"``, ``"G01 - G11 = 0"``,
          ``"G02 = G12"``, ``"2*G10 + G11 = 1"``; or a list of such row strings *inside* an
          outer list (``[["G01 = 0", "G11 = 0"]]``, as in TOML model files);
        * a dict ``{"G01": 1, "G11": -1}`` (one row) or a list of dicts (several rows);
        * a contrast matrix (numpy array or nested lists), rows x gammas, over the printed
          gammas in the printed order (or over all gammas in ``spec.gamma_labels()`` order,
          HLM's command-file layout, when equality constraints make the two differ).

        A top-level list of strings is a list of hypotheses (one per string); a top-level list
        of numbers, of numeric rows or of dicts is a single hypothesis.
    robust : bool or None
        Which covariance gives the primary chi-square: ``None`` (default) and ``True`` the
        robust (CR0) one, as HLM 6 prints; ``False`` the model-based one.  Both versions are
        always computed (``.model``, ``.robust``).

    Returns
    -------
    GLHResult

    Raises
    ------
    HypothesisError
        Unknown gamma, unreadable row, wrong number of columns, a zero or linearly dependent
        row, or a row that is identically zero under the model's equality constraints.
    """
    rows = results.fixed.rows
    K = _constraint_matrix_of(results)
    labels = tuple(results.spec.gamma_labels())
    g = np.array([r.estimate for r in rows])
    V, Vr = results.fixed.covariance, results.fixed.robust_covariance
    primary: Literal["robust", "model"] = "model" if robust is False else "robust"
    out = []
    for h in _split_hypotheses(hypotheses):
        C_all, d, names = _contrast(h, labels, K)
        C = C_all @ K   # all gammas -> printed (free) gammas
        for k, row in enumerate(C):
            if not np.any(np.abs(row) > 1e-12):
                why = (" under the model's equality constraints "
                       f"({'; '.join(str(c) for c in results.spec.constraints)})"
                       if np.any(C_all[k]) else "")
                raise HypothesisError(f"the hypothesis row '{names[k]}' is identically zero"
                                      f"{why}: it tests nothing; remove it")
        rank = np.linalg.matrix_rank(C)
        if rank < C.shape[0]:
            raise HypothesisError(f"the {C.shape[0]} rows of the hypothesis "
                                  f"'{'; '.join(names)}' are linearly dependent (rank {rank}): "
                                  f"remove the redundant rows")
        model, rob = wald_test(g, V, C, d), wald_test(g, Vr, C, d)
        out.append(LinearHypothesis(
            label="; ".join(names), rows=names, contrast=C, rhs=d, estimate=C @ g - d,
            se=np.sqrt(np.diag(C @ V @ C.T)), robust_se=np.sqrt(np.diag(C @ Vr @ C.T)),
            model=model, robust=rob, primary=primary))
    return GLHResult(gammas=tuple(r.gamma for r in rows),
                     coefficients=tuple(r.coefficient for r in rows),
                     coefficient_codes=tuple(f"B{r.coefficient_index}" for r in rows),
                     predictors=tuple(r.predictor for r in rows), estimates=g,
                     hypotheses=tuple(out))


# ---------------------------------------------------------------------------------------------
# Deviance tests
# ---------------------------------------------------------------------------------------------

def _p(chi2: float, df: int) -> float:
    return float(special.chdtrc(df, chi2))


def _refuse_pooled(results: HLMResults) -> None:
    if "multiple_imputation" in results.extras:
        raise HypothesisError(
            "the deviance of results pooled over imputed data sets is an average over the "
            "fits, not a likelihood: a deviance test on it is not valid; compare the models "
            "on each completed data set, or test fixed effects with openhlm.glh")


def _title(method: str) -> str:
    return VC_TEST_TITLE if method == "reml" else MODEL_COMPARISON_TITLE


def _data_key(results: HLMResults) -> tuple[Any, ...]:
    """What identifies the data a model was fitted to (rows, units, outcome values)."""
    est = results.estimates
    if est is None:
        return (results.data.outcome.lower(), results.n_level1, results.n_level2)
    d = est.design
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(d.y).tobytes())
    h.update(np.ascontiguousarray(d.unit).tobytes())
    h.update("\x00".join(map(str, d.unit_ids)).encode())
    return (results.data.outcome.lower(), results.n_level1, results.n_level2, h.hexdigest())


def _same_fixed_effects(a: HLMResults, b: HLMResults) -> bool:
    """Do the two models span the same fixed-effects design (same columns up to reparametrisation)?"""
    if a.estimates is None or b.estimates is None:
        def terms(r: HLMResults) -> tuple[Any, ...]:
            return tuple(sorted((f.coefficient, f.predictor, f.centering) for f in r.fixed.rows))
        return terms(a) == terms(b)
    A, B = a.estimates.design.A(), b.estimates.design.A()
    ra, rb = np.linalg.matrix_rank(A), np.linalg.matrix_rank(B)
    return bool(ra == rb == np.linalg.matrix_rank(np.hstack([A, B])))


def _describe(r: HLMResults) -> str:
    return f"{r.method.upper()}, N = {r.n_level1}, J = {r.n_level2}, outcome {r.data.outcome}"


def compare(a: HLMResults, b: HLMResults, *, labels: tuple[str, str] = ("model a", "model b")
            ) -> DevianceTest:
    """Deviance (likelihood-ratio) test between two fitted models.

    chi2 = |D_a - D_b| (standard deviances), d.f. = |p_a - p_b| (HLM's parameter counts),
    p from the chi-square upper tail (printed ``>.500`` above one half, as HLM does).

    Raises
    ------
    HypothesisError
        If the models were fitted to different data (outcome, records or units), with
        different methods, under REML with different fixed effects (refit both with
        ``method='ml'``), or have the same number of parameters.
    """
    from openhlm.results import HLMResults

    for r, name in ((a, "first"), (b, "second")):
        if not isinstance(r, HLMResults):
            raise HypothesisError(f"compare() needs two fitted models (openhlm.fit results); "
                                  f"the {name} argument is a {type(r).__name__}")
    _refuse_pooled(a)
    _refuse_pooled(b)
    if _data_key(a) != _data_key(b):
        raise HypothesisError(
            f"the two models were fitted to different data ({_describe(a)} vs {_describe(b)}"
            f"{'' if (a.n_level1, a.n_level2) != (b.n_level1, b.n_level2) else ', different records or outcome values'}"
            f"): a deviance test needs both fitted to the same records; delete incomplete rows "
            f"before building the MDM so that both models use the same data")
    if a.method != b.method:
        raise HypothesisError(
            f"cannot compare a {a.method.upper()} deviance with a {b.method.upper()} one: refit "
            f"both with the same method (method='ml' if the fixed effects differ)")
    if a.method == "reml" and not _same_fixed_effects(a, b):
        raise HypothesisError(
            "REML deviances of models with different fixed effects are not comparable: refit "
            "both with method='ml' (full maximum likelihood) to test fixed effects, or use "
            "openhlm.glh for a Wald test within one model")
    if a.n_parameters == b.n_parameters:
        raise HypothesisError(
            f"both models have {a.n_parameters} estimated parameters: a deviance test compares "
            f"nested models with different numbers of parameters")
    chi2 = abs(a.deviance - b.deviance)
    df = abs(a.n_parameters - b.n_parameters)
    notes = []
    small, large = (a, b) if a.n_parameters < b.n_parameters else (b, a)
    if large.deviance > small.deviance + 1e-6:
        notes.append("The model with more parameters has the larger deviance: the models are "
                     "not nested, or one fit did not converge.")
    return DevianceTest(chi2=chi2, df=df, p=_p(chi2, df), deviance=a.deviance,
                        n_parameters=a.n_parameters, other_deviance=b.deviance,
                        other_n_parameters=b.n_parameters, method=a.method,
                        convention="standard", title=_title(a.method), labels=labels,
                        notes=tuple(notes))


def deviance_test(results: HLMResults, *, deviance: float, n_parameters: int,
                  convention: Literal["standard", "hlm"] = "standard") -> DevianceTest:
    """Deviance test against a prior model typed in (HLM's ``deviance:`` / ``df:``).

    Parameters
    ----------
    results : HLMResults
        The current model.
    deviance : float
        The prior model's deviance.
    n_parameters : int
        The prior model's number of estimated parameters.
    convention : {"standard", "hlm"}
        The convention of the typed-in deviance: ``"standard"`` (-2 log-likelihood, as
        openhlm's ``results.deviance``, R, Stata, SAS) or ``"hlm"`` (the value HLM 6.08
        prints: the standard one minus log(2 pi) = 1.837877, except for a REML model with a
        single fixed effect; hlm-statistics.md 20).  The current model's deviance is taken in
        the same convention, so like is compared with like.  (A REML null model typed in from
        HLM's output is printed in the standard convention: type it with
        ``convention="standard"`` unless the current model is a REML null model too.)

    Raises
    ------
    HypothesisError
        Non-finite deviance, a parameter count below 1, equal parameter counts, or an unknown
        convention.
    """
    if convention not in ("standard", "hlm"):
        raise HypothesisError(f"convention must be 'standard' or 'hlm', not {convention!r}")
    _refuse_pooled(results)
    try:
        prior = float(deviance)
    except (TypeError, ValueError):
        raise HypothesisError(f"the prior model's deviance must be a number, not "
                              f"{deviance!r}") from None
    if not math.isfinite(prior):
        raise HypothesisError(f"the prior model's deviance must be a finite number, not {prior}")
    try:
        count = float(n_parameters)
    except (TypeError, ValueError):
        count = float("nan")
    if isinstance(n_parameters, bool) or not count.is_integer() or count < 1:
        raise HypothesisError(f"the prior model's number of parameters must be a whole number "
                              f"of at least 1, not {n_parameters!r}")
    prior_parameters = int(count)
    if prior_parameters == results.n_parameters:
        raise HypothesisError(
            f"the prior model has as many parameters as this one ({prior_parameters}): a "
            f"deviance test compares nested models with different numbers of parameters")
    current = results.deviance_hlm if convention == "hlm" else results.deviance
    chi2 = abs(prior - current)
    df = abs(prior_parameters - results.n_parameters)
    return DevianceTest(chi2=chi2, df=df, p=_p(chi2, df), deviance=current,
                        n_parameters=results.n_parameters, other_deviance=prior,
                        other_n_parameters=prior_parameters, method=results.method,
                        convention=convention, title=_title(results.method),
                        labels=("current model", "prior model"))


_deviance_test = deviance_test


# ---------------------------------------------------------------------------------------------
# Attaching tests to results (fit(..., hypotheses=, homogeneity=, deviance_test=))
# ---------------------------------------------------------------------------------------------

def _prior_model(spec: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(spec, Mapping):
        raise HypothesisError("deviance_test must be a dict like {'deviance': 46502.95, "
                              "'n_parameters': 2}")
    keys = {"deviance", "n_parameters", "parameters", "df", "convention"}
    unknown = set(spec) - keys
    if unknown:
        raise HypothesisError(f"deviance_test: unknown key(s) {', '.join(sorted(unknown))} "
                              f"(use deviance, n_parameters and optionally convention)")
    n = spec.get("n_parameters", spec.get("parameters", spec.get("df")))
    if "deviance" not in spec or n is None:
        raise HypothesisError("deviance_test needs the prior model's 'deviance' and "
                              "'n_parameters'")
    return {"deviance": spec["deviance"], "n_parameters": n,
            "convention": spec.get("convention", "standard")}


def hypotheses_requested(hypotheses: Any) -> bool:
    """Does ``hypotheses`` (as :func:`glh` reads it) ask for a test?  ``None`` and an empty
    list or tuple do not; anything else does (never takes the truth value of an array)."""
    if hypotheses is None:
        return False
    return not (isinstance(hypotheses, (list, tuple)) and len(hypotheses) == 0)


def with_tests(results: HLMResults, *, hypotheses: Any = None, homogeneity: bool = False,
               deviance_test: Mapping[str, Any] | None = None,
               robust: bool | None = None) -> HLMResults:
    """``results`` with the requested tests stored in ``results.extras``.

    Keys: ``"glh"`` (:class:`GLHResult`), ``"homogeneity"``
    (:class:`~openhlm.inference.homogeneity.HomogeneityTest`), ``"deviance_test"``
    (:class:`DevianceTest`); the report prints them at the end, in this order.
    """
    # (the blocks hold numpy arrays: compare nothing with ``==``, just note what was added)
    added: dict[str, Any] = {}
    if hypotheses_requested(hypotheses):
        added["glh"] = glh(results, hypotheses, robust=robust)
    if homogeneity:
        from openhlm.inference.homogeneity import homogeneity_test

        added["homogeneity"] = homogeneity_test(results)
    if deviance_test is not None:
        added["deviance_test"] = _deviance_test(results, **_prior_model(deviance_test))
    if not added:
        return results
    extras = {**results.extras, **added}

    return replace(results, extras=extras)


def requested_tests(source: Any) -> dict[str, Any]:
    """The tests a TOML model file or an HLM command file asks for, as ``fit`` keywords.

    Parameters
    ----------
    source : openhlm.spec.modelfile.ModelFile or openhlm.spec.commandfile.CommandFile

    Returns
    -------
    dict
        ``hypotheses`` (or ``None``), ``homogeneity`` (bool), ``deviance_test`` (dict or
        ``None``).  A command file's ``deviance:`` is HLM's printed value, so its convention is
        ``"hlm"``; a TOML file's is ``"standard"``.
    """
    from openhlm.spec.commandfile import CommandFile
    from openhlm.spec.modelfile import ModelFile

    if isinstance(source, ModelFile):
        h = source.hypotheses
        dev = None
        if h.deviance_test is not None:
            dev = {"deviance": h.deviance_test.deviance,
                   "n_parameters": h.deviance_test.parameters,
                   "convention": getattr(h.deviance_test, "convention", "standard")}
        return {"hypotheses": [list(rows) for rows in h.glh] or None,
                "homogeneity": bool(h.homogeneity), "deviance_test": dev}
    if isinstance(source, CommandFile):
        o = source.options
        contrasts = [np.array(c, dtype=float) for c in source.contrasts()]
        dev = None
        if o.deviance is not None and o.df is not None:
            dev = {"deviance": o.deviance, "n_parameters": o.df, "convention": "hlm"}
        return {"hypotheses": contrasts if (o.hypoth or contrasts) and contrasts else None,
                "homogeneity": bool(o.homvar), "deviance_test": dev}
    raise HypothesisError(f"requested_tests() reads a ModelFile or a CommandFile, not "
                          f"{type(source).__name__}")

