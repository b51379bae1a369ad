"""Refuse designs whose variance components or fixed effects are not identified.

A two-level model estimates sigma^2 from the variation *within* units that the random
coefficients do not absorb, and T from the variation *between* units.  When the data cannot
separate them the likelihood is flat or unbounded, and an optimiser returns a meaningless
"converged" fit (sigma^2 = tau00 when every unit has one record; sigma^2 -> 0 and a deviance
-> -infinity when the outcome is constant within every unit).  lme4 refuses the same designs
(fewer than two levels of the grouping factor; no more observations than random effects).
The checks here run before any estimation and raise one-line errors that name the cause and
say what to do.

Numerical rule (scale-free): whether a column varies within a unit is measured on per-unit
centred values -- each value minus the unit's first value (an exact subtraction for nearby
numbers), then minus the mean of those differences -- relative to the column's largest
absolute value.  So an outcome stored as 1e9 + points, or a calendar year, is not mistaken for
a constant, while values that are identical within a unit (a level-2 variable merged onto the
rows) are.  Ranks come from correlation matrices of centred columns (or of column-equilibrated
ones where no column is constant), never from raw cross-products.

All functions take the :class:`~openhlm.estimation.design.Design` arrays (``y``, ``X``,
``unit``, ``random_columns``, ``constraint_matrix``) and are vectorised over units with
``bincount``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from openhlm.errors import DataError, EstimationError
from openhlm.estimation.design import Design
from openhlm.estimation.statistics import UnitMoments

__all__ = [
    "CONSTANT_TOLERANCE",
    "RANK_TOLERANCE",
    "WithinUnit",
    "check_design",
    "check_fixed_effects",
    "fixed_effects_gram",
    "within_unit",
    "within_unit_deviations",
]

#: a within-unit deviation at most this times the column's largest |value| counts as zero
#: (~4500 ulps: rounding in the centring, never a real difference in measured data)
CONSTANT_TOLERANCE = 1e-12
#: smallest eigenvalue / largest of a correlation matrix below this: rank deficient
RANK_TOLERANCE = 1e-10


@dataclass(frozen=True)
class WithinUnit:
    """One stable pass over the rows: per-unit centred values of [X, y] and their sums.

    ``centred`` (P+1, N), column by column (X's columns, then y): each value minus its unit's
    first value and then the unit mean of those differences, with rounding-level values
    (|d| <= CONSTANT_TOLERANCE x the column's largest |value|) set to exactly 0; ``means``
    (J, P+1) the unit means; ``scale`` (P+1,) the columns' largest |value| (1 for an all-zero
    column); ``gram`` (J, P+1, P+1) the per-unit cross-products of the centred columns.
    """

    centred: np.ndarray
    means: np.ndarray
    scale: np.ndarray
    gram: np.ndarray

    def moments(self, n: np.ndarray) -> UnitMoments:
        """The unweighted per-unit moments of [X, y] (:mod:`openhlm.estimation.statistics`)
        from this pass: counts ``n``, the unit means and the centred cross-products (the same
        two-pass quantities, from values centred after subtracting each unit's first value)."""
        W = np.asarray(n, dtype=float)
        return UnitMoments(weight=W, mean=self.means, centred=self.gram, n=W,
                           sum_log_w=np.zeros(W.shape[0]))


def _unit_sums(rows: np.ndarray, unit: np.ndarray, J: int, starts: np.ndarray | None
               ) -> np.ndarray:
    """Per-unit sums (J, k) of the rows of ``rows`` (k, N): contiguous blocks when sorted."""
    if starts is not None:
        return np.add.reduceat(rows, starts, axis=1).T
    return np.column_stack([np.bincount(unit, weights=r, minlength=J) for r in rows])


def _blocks(unit: np.ndarray, J: int) -> np.ndarray | None:
    """First row of every unit when rows are grouped by unit in order 0..J-1, else None."""
    if unit.size == 0 or np.any(np.diff(unit) < 0):
        return None
    starts = np.searchsorted(unit, np.arange(J))
    return starts if np.all(unit[starts] == np.arange(J)) else None


def _first_rows(unit: np.ndarray, J: int) -> np.ndarray:
    """Index of the first row of every unit (rows need not be sorted)."""
    first = np.zeros(J, dtype=np.int64)
    idx = np.arange(unit.shape[0])
    first[unit[::-1]] = idx[::-1]
    return first


def _unit_means(rows: np.ndarray, unit: np.ndarray, J: int,
                starts: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(per-unit centred values (k, N), unit means (J, k)) of ``rows`` (k, N), stably."""
    counts = np.bincount(unit, minlength=J)
    index = starts if starts is not None else _first_rows(unit, J)
    first = rows[:, index]                                     # (k, J)
    spread = ((lambda a: np.repeat(a, counts, axis=1)) if starts is not None
              else (lambda a: a[:, unit]))
    shifted = rows - spread(first)
    means = _unit_sums(shifted, unit, J, starts).T / np.maximum(counts, 1)   # (k, J)
    shifted -= spread(means)
    return shifted, (first + means).T


def _centre_rows(rows: np.ndarray, unit: np.ndarray, J: int, starts: np.ndarray | None
                 ) -> np.ndarray:
    """:func:`_unit_means` in place: ``rows`` (k, N) become their per-unit centred values;
    returns the unit means (J, k)."""
    if starts is not None:
        counts = np.diff(np.append(starts, unit.shape[0]))
        first = rows[:, starts]
        spread = lambda a: np.repeat(a, counts, axis=1)
    else:
        counts = np.bincount(unit, minlength=J)
        first = rows[:, _first_rows(unit, J)]
        spread = lambda a: a[:, unit]
    rows -= spread(first)
    means = _unit_sums(rows, unit, J, starts).T / np.maximum(counts, 1)   # (k, J)
    rows -= spread(means)
    return (first + means).T


def within_unit_deviations(values: np.ndarray, unit: np.ndarray, J: int) -> np.ndarray:
    """Per-unit centred values of the columns of ``values`` (N,) or (N, k), numerically stable.

    Each value minus its unit's first value, then minus the unit mean of those differences.
    """
    v = np.asarray(values, dtype=float)
    rows = v[None, :] if v.ndim == 1 else np.ascontiguousarray(v.T)
    out = _unit_means(rows, unit, J)[0] if rows.shape[0] else rows.copy()
    return out[0] if v.ndim == 1 else out.T


def _scale(rows: np.ndarray) -> np.ndarray:
    """Largest |value| of each row of ``rows`` (k, N); 1 for an all-zero row."""
    if not rows.shape[1]:
        return np.ones(rows.shape[0])
    m = np.array([np.abs(r).max() for r in rows])
    return np.where(m > 0, m, 1.0)


def _gram(rows: np.ndarray, unit: np.ndarray, J: int, starts: np.ndarray | None
          ) -> np.ndarray:
    """(J, k, k) per-unit cross-products of the rows of ``rows`` (k, N)."""
    k = rows.shape[0]
    G = np.empty((J, k, k))
    for a in range(k):
        sums = _unit_sums(rows[a:] * rows[a], unit, J, starts)
        G[:, a, a:] = sums
        G[:, a:, a] = sums
    return G


def within_unit(design: Design) -> WithinUnit:
    """The :class:`WithinUnit` pass of ``design`` (shared by every check).

    The level-1 intercepts (columns of ones by construction) are constant: their centred
    values are zeros and their means ones, without a pass over the rows."""
    J = design.n_level2
    X, y, unit = design.X, design.y, design.unit
    P = X.shape[1]
    N = y.shape[0]
    ones = {p for p, c in enumerate(design.spec.coefficients) if c.predictor is None}
    vary = [p for p in range(P) if p not in ones] + [P]
    k = len(vary)
    centred = np.zeros((P + 1, N)) if k < P + 1 else np.empty((P + 1, N))
    contiguous = vary == list(range(vary[0], P + 1))
    rows = centred[vary[0]:] if contiguous else np.empty((k, N))
    for i, p in enumerate(vary):
        rows[i] = X[:, p] if p < P else y
    starts = design.unit_starts
    scale_v = _scale(rows)
    means_v = _centre_rows(rows, unit, J, starts)
    for r, tol in zip(rows, CONSTANT_TOLERANCE * scale_v):
        np.copyto(r, 0.0, where=np.abs(r) <= tol)
    if not contiguous:
        centred[vary] = rows
    gram_v = _gram(rows, unit, J, starts)
    if k == P + 1:
        return WithinUnit(centred=centred, means=means_v, scale=scale_v, gram=gram_v)
    means = np.ones((J, P + 1))
    means[:, vary] = means_v
    scale = np.ones(P + 1)
    scale[vary] = scale_v
    gram = np.zeros((J, P + 1, P + 1))
    idx = np.array(vary)
    gram[:, idx[:, None], idx[None, :]] = gram_v
    return WithinUnit(centred=centred, means=means, scale=scale, gram=gram)


def _random_parts(design: Design) -> tuple[bool, np.ndarray, list[str]]:
    """(random intercept?, positions of the random slopes' columns, their variable names)."""
    coefs = design.spec.coefficients
    r = [int(p) for p in design.random_columns]
    intercept = any(coefs[p].predictor is None for p in r)
    slopes = [p for p in r if coefs[p].predictor is not None]
    names = [coefs[p].predictor.name for p in slopes]   # type: ignore[union-attr]
    return intercept, np.asarray(slopes, dtype=np.int64), names


def _unit_ranks_and_fit(design: Design, ws: WithinUnit) -> tuple[np.ndarray, np.ndarray]:
    """Per unit: rank of Z_j, and whether y_j is reproduced exactly by Z_j (no residual).

    With a random intercept the slopes' columns and y are centred within units (rank = 1 +
    rank of the centred slopes); without one the raw columns are used.  The residual of y
    after projecting on Z_j is compared with y's within-unit variation.  Ranks come from the
    per-unit correlation matrices (scale-free).
    """
    J, n = design.n_level2, design.n_per_unit
    intercept, slopes, _ = _random_parts(design)
    P = design.X.shape[1]
    if intercept:
        idx = np.append(slopes, P)
        M = ws.gram[:, idx][:, :, idx]
    else:
        rows = np.vstack([design.X[:, slopes].T, design.y[None, :]])
        M = _gram(rows, design.unit, J, design.unit_starts)
    k = slopes.size
    d_all = np.sqrt(np.clip(np.diagonal(M, axis1=1, axis2=2), 0.0, None))
    d, dy = d_all[:, :k], d_all[:, k]
    live = d > 0
    dd = np.where(live, d, 1.0)
    ZZ = M[:, :k, :k] / (dd[:, :, None] * dd[:, None, :])
    ZZ[~(live[:, :, None] & live[:, None, :])] = 0.0
    dyy = np.where(dy > 0, dy, 1.0)
    Zy = M[:, :k, k] / dd / dyy[:, None] * live
    yy = (dy > 0).astype(float)                # y's within-unit variation, normalised to 1
    if k:
        w, v = np.linalg.eigh(ZZ)
        keep = w > RANK_TOLERANCE * np.maximum(w[:, -1:], 1e-300)
        rank = keep.sum(axis=1)
        proj = np.einsum("jkm,jk->jm", v, Zy)
        explained = np.sum(np.where(keep, proj**2 / np.where(keep, w, 1.0), 0.0), axis=1)
    else:
        rank = np.zeros(J, dtype=np.int64)
        explained = np.zeros(J)
    rank = np.minimum(rank + (1 if intercept else 0), n)
    exact = yy - explained <= 1e-10
    return rank, exact


def check_design(design: Design, ws: WithinUnit | None = None) -> None:
    """Refuse a design whose variance components cannot be estimated (one-line errors).

    In order: a constant outcome; fewer than two level-2 units; no within-unit degrees of
    freedom left for sigma^2 (every unit has one record, or no unit has more records than
    random coefficients); a random slope whose variable is constant within every unit; an
    outcome reproduced exactly within every unit (sigma^2 = 0).  ``ws``: the
    :func:`within_unit` pass, if already made.
    """
    outcome = design.spec.outcome
    y = design.y
    J, N = design.n_level2, design.n_level1
    if N and np.all(np.abs(y - y[0]) <= CONSTANT_TOLERANCE * float(_scale(y[None, :])[0])):
        raise DataError(f"the outcome '{outcome}' is constant (every value is {y[0]:g}): there "
                        "is no variation to model; check the outcome variable")
    if J < 2:
        uid = str(design.unit_ids[0]) if J else "?"
        raise DataError(f"the data hold only one level-2 unit (ID {uid}): the level-2 variance "
                        "(tau) cannot be estimated from one unit; use data with several units "
                        "or fit a single-level regression")
    if design.n_random == 0:
        return
    ws = within_unit(design) if ws is None else ws
    intercept, slopes, names = _random_parts(design)
    labels = [design.spec.coefficients[int(p)].label for p in design.random_columns]
    if slopes.size:
        varies = np.any(ws.centred[slopes] != 0.0, axis=1)
        constant = [i for i in range(slopes.size) if not varies[i]]
        if constant and (intercept or len(constant) > 1):
            i = constant[0]
            coef = design.spec.coefficients[int(slopes[i])]
            b = f"B{coef.index}"
            raise EstimationError(
                f"the random slope of '{names[i]}' ({b}) is not identified: '{names[i]}' is "
                "constant within every level-2 unit, so no unit shows its within-unit slope and "
                f"its variance cannot be estimated; make {b} fixed ({b} = G{coef.index}0, no "
                f"U{coef.index}) or non-randomly varying, or use '{names[i]}' as a level-2 "
                "predictor")
    rank, exact = _unit_ranks_and_fit(design, ws)
    n = design.n_per_unit
    if int(np.sum(n - rank)) <= 0:
        R = design.n_random
        if int(n.max()) == 1:
            raise EstimationError(
                f"every level-2 unit has only one level-1 record (N = J = {N}): sigma^2 and "
                f"tau00 are not separately identified; a two-level model needs units with "
                "several records (fit a single-level regression, or check that the level-1 "
                "file has repeated records per unit)")
        raise EstimationError(
            f"sigma^2 is not identified: no level-2 unit has more level-1 records than random "
            f"coefficients ({R}: {', '.join(labels)}; largest unit {int(n.max())} records), so "
            "all within-unit variation is absorbed by the random coefficients; make some "
            "of them fixed (remove their U terms) or use data with more records per unit")
    informative = n > rank
    if np.all(exact[informative]):
        within = ("constant within every level-2 unit" if not slopes.size else
                  f"an exact linear function of {', '.join(names)} within every level-2 unit")
        raise DataError(
            f"the outcome '{outcome}' is {within}, so the level-1 variance sigma^2 is 0 and the "
            "model cannot be estimated; check the outcome (is it a level-2 variable or an "
            "aggregate?) or model unit means with a single-level regression")


def _centred_level2(design: Design, means: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(G, level-1 shifts): ``design.G()`` with every level-2 predictor centred in equations
    that have an intercept, and the means to subtract from level-1 predictors.

    Without constraints both are invertible changes of the fixed-effects columns, so the rank
    is unchanged while offsets disappear: the intercept G_q0 absorbs the shift of W_qs
    (``w + 1e7`` in a cross-level interaction), and (x_p - m_p) W_s differs from x_p W_s by
    m_p times the column W_s of the intercept's equation, which must be in the model for the
    level-1 predictor x_p to be shifted (``ses + 1e6`` with B0 and B1 on the same level-2
    predictors).  With constraints across equations only the level-2 centring is done, and
    only in equations whose intercept is a free effect of its own (still an invertible map of
    the free columns: col k -> col k - sum_f d_f col(G_q(f)0)).
    """
    P = design.X.shape[1]
    shifts = np.zeros(P)
    K = design.constraint_matrix
    constrained = design.n_free_gammas != design.n_gammas
    singleton = (K != 0).sum(axis=0) == 1
    W = design.W.copy()
    ones = np.all(W == 1.0, axis=0)
    if constrained:
        ones &= singleton[np.argmax(K != 0, axis=1)]
    column = design.gamma_column
    for p in np.unique(column):
        group = np.flatnonzero(column == p)
        if ones[group].any():
            others = group[~np.all(W[:, group] == 1.0, axis=0)]
            W[:, others] -= W[:, others].mean(axis=0)
    J = design.n_level2
    G = np.zeros((J, P, design.n_gammas))
    G[:, column, np.arange(design.n_gammas)] = W
    if constrained:
        return G @ K, shifts
    intercepts = [p for p, c in enumerate(design.spec.coefficients) if c.predictor is None]
    if intercepts:
        base = W[:, column == intercepts[0]]
        n = design.n_per_unit.astype(float)
        X = design.X
        for p in np.unique(column):
            if p == intercepts[0]:
                continue
            mine = W[:, column == p]
            if all(any(np.array_equal(w, b) for b in base.T) for w in mine.T):
                # the grand mean from the unit sums (exact enough: it only has to remove
                # the bulk of the offset); ``means``: the unit means of X, if known
                total = (float(n @ means[:, p]) if means is not None else
                         float(np.bincount(design.unit, weights=X[:, p], minlength=J).sum()))
                shifts[p] = total / n.sum()
    return (G if design.unconstrained else G @ design.constraint_matrix), shifts


def fixed_effects_gram(design: Design, ws: WithinUnit | None = None
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(centred cross-products (F', F'), column means (F',), column scales (F',)) of A.

    Never materialises A = X_q * W_s: its centred cross-products are the within-unit part
    sum_j G_j' S_j G_j (S_j from per-unit centred X) plus the between-unit part
    sum_j n_j (a_j - a)(a_j - a)' of the unit means a_j = G_j' xbar_j -- both sums of centred
    terms, so an offset in a predictor costs no precision.  The scales bound max |A_f|.
    """
    ws = within_unit(design) if ws is None else ws
    X = design.X
    P = X.shape[1]
    G, shifts = _centred_level2(design, ws.means)
    n = design.n_per_unit.astype(float)
    xbar = ws.means[:, :P] - shifts
    S = ws.gram[:, :P, :P]
    J, F = G.shape[0], G.shape[2]
    within = G.reshape(J * P, F).T @ (S @ G).reshape(J * P, F)    # sum_j G_j' S_j G_j
    a = (xbar[:, None, :] @ G)[:, 0, :]                             # G_j' xbar_j
    mean = n @ a / n.sum()
    dev = a - mean
    between = (dev * n[:, None]).T @ dev
    scale = np.max(np.abs(G) * (ws.scale[:P] + np.abs(shifts))[None, :, None],
                   axis=0).sum(axis=0) if P else np.ones(G.shape[2])
    return within + between, mean, np.where(scale > 0, scale, 1.0)


def check_fixed_effects(design: Design, labels: list[str], ws: WithinUnit | None = None
                        ) -> None:
    """Refuse collinear, zero or duplicated fixed-effects columns (scale-free).

    Columns that are constant over all rows (the intercept) are set aside; the correlation
    matrix of the others' centred values (:func:`fixed_effects_gram`) gives the rank.  Without
    a constant column the raw columns are scaled to unit length instead.  A shift of a
    predictor (``x + 1e5``, calendar years) or a change of units does not change the decision.
    """
    F = design.n_free_gammas
    N = design.n_level1
    if F == 0 or N == 0:
        return
    C, mean, scale = fixed_effects_gram(design, ws)
    var = np.diag(C)
    const = var <= (CONSTANT_TOLERANCE * scale) ** 2 * N
    zero = const & (np.abs(mean) <= CONSTANT_TOLERANCE * scale)
    if zero.any():
        raise EstimationError(_collinear_message([labels[k] for k in np.flatnonzero(zero)]))
    if const.sum() > 1:
        raise EstimationError(_collinear_message([labels[k] for k in np.flatnonzero(const)]))
    if not const.any():
        C = C + N * np.outer(mean, mean)   # the raw cross-products, equilibrated below
    cols = np.flatnonzero(~const)
    if cols.size == 0:
        return
    C = C[np.ix_(cols, cols)]
    norms = np.sqrt(np.diag(C))
    w, v = np.linalg.eigh(C / np.outer(norms, norms))
    if w[0] > RANK_TOLERANCE * w[-1]:
        return
    null = v[:, 0]
    involved = [labels[cols[i]] for i in np.flatnonzero(np.abs(null) > 1e-3)]
    # the combination of the centred columns is constant; the constant column takes part
    # when that constant (in units of a unit-length constant column) is not negligible
    if const.any() and abs(float((mean[cols] / norms) @ null)) * np.sqrt(N) > 1e-3:
        involved.insert(0, labels[int(np.flatnonzero(const)[0])])
    raise EstimationError(_collinear_message(involved))


def _collinear_message(involved: list[str]) -> str:
    return ("the fixed effects are not identified: the columns for "
            f"{', '.join(involved)} are constant, zero or collinear (a predictor is constant or "
            "a linear combination of others in this model); remove one of them")
