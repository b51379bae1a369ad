"""General linear hypotheses on the fixed effects (HLM's "Results of General Linear Hypothesis
Testing"; docs/statistics.md 8.1): H0: C gamma = d with C an r x F' contrast matrix over the
printed gammas,

    chi2 = (C g - d)' (C V C')^-1 (C g - d)  on r d.f.,

with V the model-based covariance of the gammas or HLM's robust (CR0 sandwich) covariance.
Both are computed.  **HLM 6.08 uses the robust covariance** when it prints robust standard
errors (always, for two-level linear models): the seed's G01 = G11 = 0 test on Model 4 prints
chi-square 60.596880; at HLM's printed sigma^2, Tau and gammas our robust version gives
60.596838 and the model-based one 66.148 (see ``tests/reference/test_hypotheses_reference.py``).
So the *primary* statistic (``LinearHypothesis.chi2``) is the robust one unless
``robust=False``.  The result types are in :mod:`openhlm.results.hypotheses`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from scipy import special

from openhlm.errors import HypothesisError
from openhlm.results.hypotheses import GLHResult, LinearHypothesis, WaldStatistic

if TYPE_CHECKING:
    from openhlm.results import HLMResults

__all__ = ["glh", "parse_hypothesis_rows", "wald_test"]

_RANK_TOL = 1e-10


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
    from openhlm.estimation.design import constraint_matrix

    return constraint_matrix(results.spec)


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
