"""(ModelSpec3, MDM3) -> the arrays of the three-level mixed model.

Mixed form of HLM3's model (Raudenbush & Bryk 2002, eq. 8.9)::

    y = A gamma + Z3 u + Z2 r + e

* ``A`` (N x F): the column of ``gamma_pqs`` is ``a_p * X_q * W_s`` (level-1 predictor of
  ``Pp`` times level-2 predictor of ``Bpq`` times level-3 predictor ``s``; 1 for intercepts);
* ``Z2`` (N x R2): ``a_p`` for each ``Pp`` random at level 2 (``Rp``);
* ``Z3`` (N x R3): ``a_p * X_q`` for each ``Bpq`` random at level 3 (``Upq``).

Centring: ``group(x)`` at level 1 subtracts the level-2 unit's mean (of the rows analysed), at
level 2 the level-3 unit's mean (unweighted over its level-2 units); ``grand(x)`` the mean over
the N rows, the J level-2 units or the K level-3 units.  Rows with a missing value in a variable
of the model are deleted first (``MDM3.subset_complete``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from openhlm.data.mdm3 import MDM3
from openhlm.errors import EstimationError, SpecError
from openhlm.spec.model import Centering, Predictor
from openhlm.spec.model3 import ModelSpec3

__all__ = ["Design3", "build_design3", "constraint_matrix3", "level1_values", "level2_values",
           "level3_values"]


@dataclass(frozen=True, eq=False)
class Design3:
    spec: ModelSpec3
    mdm: MDM3
    y: np.ndarray            # (N,)
    A: np.ndarray            # (N, F)
    Z2: np.ndarray           # (N, R2)
    Z3: np.ndarray           # (N, R3)
    unit_index: np.ndarray   # (N,) level-2 unit of each row
    level3_index: np.ndarray  # (J,) level-3 unit of each level-2 unit
    gamma_labels: tuple[str, ...]   # of the free fixed effects (a shared one: its first gamma)
    deleted_rows: int = 0
    #: gamma = K theta (F x F'): equality constraints; identity without constraints.  ``A``
    #: holds the columns of theta, ``A_full K``.
    constraint_matrix: np.ndarray | None = None
    all_gamma_labels: tuple[str, ...] = ()
    #: design weights (normalised) of the rows (N,), level-2 units (J,) and level-3 units (K,),
    #: and level-1 precision weights (N,); None when not used
    row_weights: np.ndarray | None = None
    unit_weights: np.ndarray | None = None
    level3_weights: np.ndarray | None = None
    precision_weights: np.ndarray | None = None
    weighting: object | None = None

    @property
    def n1(self) -> int:
        return len(self.y)

    @property
    def n2(self) -> int:
        return len(self.level3_index)

    @property
    def n3(self) -> int:
        return int(self.level3_index.max()) + 1 if len(self.level3_index) else 0

    @property
    def n_fixed(self) -> int:
        return self.A.shape[1]

    @property
    def row_level3_index(self) -> np.ndarray:
        return self.level3_index[self.unit_index]


def _group_mean(values: np.ndarray, groups: np.ndarray, n: int) -> np.ndarray:
    counts = np.bincount(groups, minlength=n)
    return (np.bincount(groups, weights=values, minlength=n) / counts)[groups]


def _level1(mdm: MDM3, pred: Predictor | None, unit_index: np.ndarray, n2: int) -> np.ndarray:
    if pred is None:
        return np.ones(len(unit_index))
    x = mdm.level1[pred.name].to_numpy(dtype=np.float64)
    if pred.centering is Centering.GROUP:
        return x - _group_mean(x, unit_index, n2)
    if pred.centering is Centering.GRAND:
        return x - x.mean()
    return x.copy()


def _level2(mdm: MDM3, pred: Predictor | None) -> np.ndarray:
    if pred is None:
        return np.ones(mdm.n_level2)
    x = mdm.level2[pred.name].to_numpy(dtype=np.float64)
    if pred.centering is Centering.GROUP:
        return x - _group_mean(x, mdm.level3_index, mdm.n_level3)
    if pred.centering is Centering.GRAND:
        return x - x.mean()
    return x.copy()


def _level3(mdm: MDM3, pred: Predictor | None) -> np.ndarray:
    if pred is None:
        return np.ones(mdm.n_level3)
    x = mdm.level3[pred.name].to_numpy(dtype=np.float64)
    if pred.centering is Centering.GRAND:
        return x - x.mean()
    return x.copy()


def level3_values(mdm: MDM3, pred: Predictor | None) -> np.ndarray:
    """A level-3 predictor as it enters the model (centred as written), shape (K,); ones for
    INTRCPT3."""
    return _level3(mdm, pred)


def level1_values(mdm: MDM3, pred: Predictor | None, unit_index: np.ndarray,
                  n2: int) -> np.ndarray:
    """A level-1 predictor as it enters the model, shape (N,) (``mdm`` already subset)."""
    return _level1(mdm, pred, unit_index, n2)


def level2_values(mdm: MDM3, pred: Predictor | None) -> np.ndarray:
    """A level-2 predictor as it enters the model, shape (J,)."""
    return _level2(mdm, pred)


def constraint_matrix3(spec: ModelSpec3) -> np.ndarray:
    """K (F x F') with gamma = K theta: each set of gammas equated by a constraint shares one
    column (at the position of its first gamma), as the two-level
    :func:`openhlm.estimation.design.constraint_matrix`."""
    labels = spec.gamma_labels()
    index = {g: i for i, g in enumerate(labels)}
    group = list(range(len(labels)))
    for constraint in spec.constraints:
        missing = [g for g in constraint.gammas if g not in index]
        if missing:
            raise SpecError(f"constraint '{constraint}' names {', '.join(missing)}, not a "
                            f"gamma of the model (fixed effects: {', '.join(labels)})")
        first = group[index[constraint.gammas[0]]]
        for g in constraint.gammas[1:]:
            old = group[index[g]]
            group = [first if k == old else k for k in group]
    free = sorted(set(group), key=group.index)
    K = np.zeros((len(labels), len(free)))
    for f, gr in enumerate(group):
        K[f, free.index(gr)] = 1.0
    return K


def build_design3(spec: ModelSpec3, mdm: MDM3) -> Design3:
    """The arrays of the mixed form (module docstring); weights are added by
    :func:`openhlm.estimation.three_level.weighting.weighted_design3`."""
    variables = [spec.outcome, *spec.level1_variables()]
    mdm, deleted = mdm.subset_complete(variables)
    unit = np.asarray(mdm.unit_index)
    n2 = mdm.n_level2
    row3 = np.asarray(mdm.level3_index)[unit]
    y = mdm.level1[spec.outcome].to_numpy(dtype=np.float64).copy()
    a = {p.index: _level1(mdm, p.predictor, unit, n2) for p in spec.pis}
    columns, labels, z2, z3 = [], [], [], []
    for pi in spec.pis:
        ap = a[pi.index]
        if pi.random:
            z2.append(ap)
        for beta in pi.betas:
            apx = ap * _level2(mdm, beta.predictor)[unit]
            if beta.equation.random:
                z3.append(apx)
            eq = beta.equation
            preds = ([None] if eq.intercept else []) + list(eq.predictors)
            for pred, label in zip(preds, beta.gamma_labels(), strict=True):
                columns.append(apx * _level3(mdm, pred)[row3])
                labels.append(label)
    n = len(y)
    A = np.column_stack(columns) if columns else np.zeros((n, 0))
    K = constraint_matrix3(spec)
    if spec.constraints:
        A = A @ K
    if A.shape[1] and np.linalg.matrix_rank(A) < A.shape[1]:
        raise EstimationError("the fixed effects are not identified (the columns of the fixed "
                              "part are linearly dependent); remove a predictor")
    first = [int(np.flatnonzero(K[:, k])[0]) for k in range(K.shape[1])]
    return Design3(
        spec=spec, mdm=mdm, y=y, A=A,
        Z2=np.column_stack(z2) if z2 else np.zeros((n, 0)),
        Z3=np.column_stack(z3) if z3 else np.zeros((n, 0)),
        unit_index=unit, level3_index=np.asarray(mdm.level3_index),
        gamma_labels=tuple(labels[f] for f in first), deleted_rows=deleted,
        constraint_matrix=K, all_gamma_labels=tuple(labels))
