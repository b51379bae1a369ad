"""From a model specification and an MDM to the design of the mixed model.

The two-level model of :mod:`openhlm.spec.model` is, in combined form (RB02 eq. 2.x;
docs/statistics.md section 1.2),

    Y_j = A_j gamma + Z_j u_j + r_j,

where column f of A_j is X_q(f) * W_s(f)j (a level-1 column times a level-2 value; the level-2
value is 1 for the level-2 intercept) and Z_j holds the level-1 columns of the random
coefficients.  We never materialise A: the design keeps the level-1 matrix X (N x P), the
level-2 value of every gamma per unit, W (J x F), and the level-1 column each gamma multiplies.
Equality constraints on gammas (gamma = K beta) are a matrix K (F x F').

Run-time deletion: rows missing any level-1 variable the model uses are deleted here and counted
(HLM's "delete missing data when running analyses").  Group-mean centring uses the rows that
remain; level-1 grand-mean centring the mean over all remaining rows; level-2 grand-mean centring
the unweighted mean over the units that remain (verified against HLM, docs/statistics.md 1.3).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from openhlm.errors import DataError, EstimationError, SpecError
from openhlm.estimation.weighting import WeightingSpec, design_weights
from openhlm.spec.model import Centering, ModelSpec, Predictor

if TYPE_CHECKING:
    from openhlm.data import MDM
    from openhlm.spec.options import Weights

__all__ = ["Design", "build_design"]


@dataclass(frozen=True)
class Design:
    """Everything the estimator needs, in arrays; rows grouped by unit.

    Conventions
    -----------
    * ``X[:, p]`` is the level-1 column of ``spec.coefficients[p]`` (ones for INTRCPT1).
    * ``W[j, f]`` is the level-2 value multiplying gamma f in unit j; ``gamma_column[f]`` is the
      position p of the level-1 column it multiplies.  Gammas are in ``spec.gamma_labels()`` order.
    * ``random_columns`` are the positions p of the random coefficients, in coefficient order.
    * ``constraint_matrix`` K maps the free fixed-effect parameters to gamma: gamma = K beta.
    * Weights (:mod:`openhlm.estimation.weights`): ``row_weights`` are level-1 design (sampling)
      weights d_ij, entering the pseudo-likelihood as the power of each row's density (an
      integer d_ij is the same as the row repeated d_ij times in its unit); ``unit_weights`` are
      level-2 design weights w_j multiplying each unit's contribution; ``precision_weights``
      p_ij are known relative level-1 precisions, Var(r_ij) = sigma^2 / p_ij (HLM's
      ``varianceknown``).  ``None`` means all ones.  ``weighting`` summarises the weights the
      design builder applied (``None``: no weight variable).
    """

    spec: ModelSpec
    y: np.ndarray
    X: np.ndarray
    unit: np.ndarray
    unit_ids: np.ndarray
    n_per_unit: np.ndarray
    W: np.ndarray
    gamma_column: np.ndarray
    gamma_labels: tuple[str, ...]
    random_columns: np.ndarray
    constraint_matrix: np.ndarray
    row_weights: np.ndarray | None = None
    unit_weights: np.ndarray | None = None
    precision_weights: np.ndarray | None = None
    level2_data: pd.DataFrame = field(default_factory=pd.DataFrame)
    level1_data: pd.DataFrame = field(default_factory=pd.DataFrame)
    centering_means: dict[str, float] = field(default_factory=dict)
    deleted_rows: int = 0
    dropped_units: tuple[str, ...] = ()
    weighting: WeightingSpec | None = None

    @property
    def n_level1(self) -> int:
        return int(self.y.shape[0])

    @cached_property
    def unit_starts(self) -> np.ndarray | None:
        """First row of every unit when the rows are grouped by unit in the order 0..J-1 with
        every unit present (as :func:`build_design` makes them), else None."""
        unit, J = self.unit, self.n_level2
        if unit.size == 0 or unit[0] != 0 or unit[-1] != J - 1:
            return None
        steps = np.diff(unit)
        if np.any((steps != 0) & (steps != 1)):
            return None
        starts = np.concatenate([[0], np.flatnonzero(steps) + 1])
        return starts if starts.size == J else None

    @property
    def n_level2(self) -> int:
        return int(self.n_per_unit.shape[0])

    @property
    def n_gammas(self) -> int:
        return int(self.W.shape[1])

    @property
    def n_free_gammas(self) -> int:
        return int(self.constraint_matrix.shape[1])

    @property
    def n_random(self) -> int:
        return int(self.random_columns.shape[0])

    @property
    def coefficient_labels(self) -> tuple[str, ...]:
        return tuple(c.label for c in self.spec.coefficients)

    def G(self) -> np.ndarray:
        """Per-unit map from level-1 coefficients to free gammas, (J, P, F').

        A_j = X_j G_j, so A_j'A_j = G_j' (X_j'X_j) G_j.
        """
        J, P = self.n_level2, self.X.shape[1]
        G = np.zeros((J, P, self.n_gammas))
        G[:, self.gamma_column, np.arange(self.n_gammas)] = self.W
        return G if self.unconstrained else G @ self.constraint_matrix

    @cached_property
    def unconstrained(self) -> bool:
        """No equality constraints: K is the identity (gamma = beta)."""
        K = self.constraint_matrix
        return K.shape[0] == K.shape[1] and bool(np.array_equal(K, np.eye(K.shape[0])))

    def A(self) -> np.ndarray:
        """The fixed-effects design A (N x F'), materialised (for residuals and tests only)."""
        return (self.X[:, self.gamma_column] * self.W[self.unit]) @ self.constraint_matrix

    def Z(self) -> np.ndarray:
        return self.X[:, self.random_columns]


def _centre_level1(values: np.ndarray, centering: Centering, unit: np.ndarray, J: int,
                   weights: np.ndarray | None) -> tuple[np.ndarray, float | None]:
    if centering is Centering.NONE:
        return values, None
    if centering is Centering.GRAND:
        mean = float(values.mean())
        return values - mean, mean
    counts = np.bincount(unit, minlength=J)
    sums = np.bincount(unit, weights=values, minlength=J)
    return values - (sums / counts)[unit], None


def _level2_column(values: np.ndarray, predictor: Predictor,
                   means: dict[str, float]) -> np.ndarray:
    if predictor.centering is Centering.GRAND:
        mean = float(values.mean())
        means[f"level2:{predictor.name}"] = mean
        return values - mean
    if predictor.centering is Centering.GROUP:
        raise SpecError(f"group-mean centring applies to level-1 predictors only, not to "
                        f"level-2 variable '{predictor.name}'")
    return values


def constraint_matrix(spec: ModelSpec) -> np.ndarray:
    labels = spec.gamma_labels()
    index = {g: i for i, g in enumerate(labels)}
    F = len(labels)
    group_of = list(range(F))
    for constraint in spec.constraints:
        unknown = [g for g in constraint.gammas if g not in index]
        if unknown:
            raise SpecError(f"constraint '{constraint}' names {', '.join(unknown)}, which "
                            f"{'is' if len(unknown) == 1 else 'are'} not in the model "
                            f"(fixed effects: {', '.join(labels)})")
        first = group_of[index[constraint.gammas[0]]]
        for g in constraint.gammas[1:]:
            old = group_of[index[g]]
            group_of = [first if k == old else k for k in group_of]
    free = sorted(set(group_of), key=group_of.index)
    K = np.zeros((F, len(free)))
    for f, group in enumerate(group_of):
        K[f, free.index(group)] = 1.0
    return K


def _refuse_infinite(values: np.ndarray, names: list[str], units: Callable[[], np.ndarray],
                     level: str) -> None:
    """An infinite value cannot be estimated with: name the variable and the units.

    ``units`` gives the unit ID of every row of ``values`` (called only to name them)."""
    bad = np.isinf(values)
    if not bad.any():
        return
    k = int(np.flatnonzero(bad.any(axis=0))[0])
    where = list(dict.fromkeys(str(u) for u in units()[bad[:, k]]))
    raise DataError(
        f"{level} variable '{names[k]}' has infinite values in unit(s) "
        f"{', '.join(where[:10])}{' ...' if len(where) > 10 else ''}; recode them as missing or "
        "fix the data")


class _Columns:
    """The float64 columns of a DataFrame by name (exact, else case-insensitive), as numpy
    views: no pandas indexing in the design build (an MDM's frames are one read-only float64
    block, so ``to_numpy`` is a view)."""

    def __init__(self, frame: pd.DataFrame, level: str) -> None:
        self.frame, self.level = frame, level
        self.values = frame.to_numpy(dtype=float)
        self.names = [str(c) for c in frame.columns]
        self.position = {c: k for k, c in enumerate(self.names)}

    def index(self, name: str) -> int:
        k = self.position.get(name)
        if k is None:
            lower = {c.lower(): i for i, c in enumerate(self.names)}
            if name.lower() not in lower:
                raise SpecError(f"variable '{name}' is not a {self.level} variable of the MDM "
                                f"(available: {', '.join(map(str, self.frame.columns))})")
            k = lower[name.lower()]
        return k

    def column(self, name: str, rows: np.ndarray | None) -> np.ndarray:
        values = self.values[:, self.index(name)]
        return values if rows is None else values[rows]


def build_design(spec: ModelSpec, mdm: MDM, *, weights: Weights | None = None,
                 row_weights: str | np.ndarray | None = None,
                 unit_weights: str | np.ndarray | None = None,
                 precision_weights: np.ndarray | None = None) -> Design:
    """Build the :class:`Design` of ``spec`` on ``mdm``, deleting incomplete level-1 rows.

    The analysis rows (complete on every level-1 variable the model uses) are decided here,
    once; the weights are then checked and normalised on those rows and units.

    Parameters
    ----------
    spec : ModelSpec
    mdm : openhlm.data.MDM
    weights : openhlm.spec.options.Weights, optional
        Weight variables and their normalisation: checked and normalised by the pure functions
        of :mod:`openhlm.estimation.weighting` (errors name the variable and the units); the
        summary is ``design.weighting``.
    row_weights, unit_weights : variable name or array, optional
        Level-1 and level-2 design weights, already normalised as the caller wants (instead of
        ``weights``).
    precision_weights : array, optional
        Known level-1 precisions (one per MDM level-1 row, positive).
    """
    requested = weights is not None and weights.used
    if requested and any(w is not None for w in (row_weights, unit_weights, precision_weights)):
        raise SpecError("give the weights either as weights=Weights(...) or as arrays, not both")
    level1 = mdm.level1
    level2 = mdm.level2
    cols1, cols2 = _Columns(level1, "level-1"), _Columns(level2, "level-2")
    unit_all = np.asarray(mdm.unit_index, dtype=np.int64)
    all_ids = np.asarray(mdm.unit_ids)

    l1_names = [spec.outcome, *spec.level1_variables(), *spec.variance_predictors]
    if isinstance(row_weights, str):
        l1_names.append(row_weights)
    l1_names = [n for n in dict.fromkeys(l1_names) if n in cols1.position]
    used = cols1.values[:, [cols1.position[n] for n in l1_names]]
    _refuse_infinite(used, l1_names, lambda: all_ids[unit_all], "level-1")
    l2_names = [n for n in spec.level2_variables() if n in cols2.position]
    _refuse_infinite(cols2.values[:, [cols2.position[n] for n in l2_names]], l2_names,
                     lambda: all_ids, "level-2")
    keep = ~np.isnan(used).any(axis=1)
    if isinstance(row_weights, np.ndarray):
        keep &= ~np.isnan(row_weights)
    if precision_weights is not None:
        keep &= ~np.isnan(np.asarray(precision_weights, dtype=float))
    deleted = int((~keep).sum())
    rows = None if deleted == 0 else keep     # None: every row is kept (no copies)

    unit_kept = unit_all if rows is None else unit_all[rows]
    J_all = len(all_ids)
    alive = np.bincount(unit_kept, minlength=J_all) > 0
    present = np.flatnonzero(alive)
    dropped = tuple(str(u) for u in all_ids[~alive])
    if present.size == 0:
        raise EstimationError("no level-1 rows are left after deleting rows with missing values "
                              f"in {', '.join(l1_names)}")
    J = int(present.size)
    if J == J_all:
        unit = unit_kept.copy() if rows is None else unit_kept
        units = None                           # None: every unit is kept
    else:
        remap = np.full(J_all, -1, dtype=np.int64)
        remap[present] = np.arange(J)
        unit = remap[unit_kept]
        units = present
    l1 = level1 if rows is None else level1.loc[keep].reset_index(drop=True)
    l2 = level2 if units is None else level2.iloc[present].reset_index(drop=True)
    unit_ids = all_ids.copy() if units is None else all_ids[present]

    means: dict[str, float] = {}
    y = cols1.column(spec.outcome, rows)
    columns = []
    for coef in spec.coefficients:
        if coef.predictor is None:
            columns.append(np.ones(len(y)))
            continue
        raw = cols1.column(coef.predictor.name, rows)
        centred, mean = _centre_level1(raw, coef.predictor.centering, unit, J, None)
        if mean is not None:
            means[f"level1:{coef.predictor.name}"] = mean
        columns.append(centred)
    X = np.column_stack(columns) if columns else np.empty((len(y), 0))

    w_cols, gamma_column = [], []
    for p, coef in enumerate(spec.coefficients):
        eq = coef.equation
        if eq.intercept:
            w_cols.append(np.ones(J))
            gamma_column.append(p)
        for pred in eq.predictors:
            w_cols.append(_level2_column(cols2.column(pred.name, units), pred, means))
            gamma_column.append(p)
    W = np.column_stack(w_cols) if w_cols else np.empty((J, 0))
    random_columns = np.array([p for p, c in enumerate(spec.coefficients) if c.equation.random],
                              dtype=np.int64)
    rw = None
    if row_weights is not None:
        rw = (cols1.column(row_weights, rows) if isinstance(row_weights, str)
              else np.asarray(row_weights, dtype=float)[keep])
    uw = None
    if unit_weights is not None:
        uw = (cols2.column(unit_weights, units) if isinstance(unit_weights, str)
              else np.asarray(unit_weights, dtype=float)[present])
    pw = None if precision_weights is None else np.asarray(precision_weights, dtype=float)[keep]
    weighting = None
    if requested:
        assert weights is not None
        applied = design_weights(weights, mdm, keep, unit, present)
        rw, uw, pw = applied.row_weights, applied.unit_weights, applied.precision_weights
        weighting = applied.summary

    return Design(
        spec=spec, y=y, X=X, unit=unit, unit_ids=unit_ids,
        n_per_unit=np.bincount(unit, minlength=J), W=W,
        gamma_column=np.asarray(gamma_column, dtype=np.int64),
        gamma_labels=spec.gamma_labels(), random_columns=random_columns,
        constraint_matrix=constraint_matrix(spec), row_weights=rw, unit_weights=uw,
        precision_weights=pw,
        level2_data=l2, level1_data=l1, centering_means=means, deleted_rows=deleted,
        dropped_units=dropped, weighting=weighting,
    )
