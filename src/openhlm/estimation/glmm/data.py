"""The arrays a two-level GLMM is fitted on, from a linear :class:`Design` plus the level-1
extras of a non-normal outcome (trials, exposure), and per-unit reductions.

Rows need not be sorted: every per-unit sum is a ``np.bincount`` over the unit index, one
column at a time, so nothing loops over units in Python.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from openhlm.estimation.design import Design
from openhlm.estimation.glmm.families import Family

__all__ = ["GLMMData", "auxiliary", "check_outcome", "glmm_data", "unit_outer", "unit_sum"]


@dataclass(frozen=True)
class GLMMData:
    """Outcome, trials, offset, fixed design A (N x p, free gammas), random design Z (N x R)."""

    design: Design
    family: Family
    y: np.ndarray
    n: np.ndarray
    offset: np.ndarray
    A: np.ndarray
    Z: np.ndarray
    unit: np.ndarray
    J: int
    constant: float          # sum of the rows' constants (see Family.constant)
    starts: np.ndarray | None = None   # first row of each unit when rows are sorted by unit
    #: level-2 design weights w_j (normalised; ``None``: all 1): the pseudo-log-likelihood is
    #: sum_j w_j log L_j, and ``constant`` is weighted the same way
    unit_weight: np.ndarray | None = None

    def wsum(self, per_unit: np.ndarray) -> np.ndarray:
        """sum_j w_j x_j over the units (axis 0) of a per-unit array."""
        if self.unit_weight is None:
            return per_unit.sum(axis=0)
        return np.tensordot(self.unit_weight, per_unit, axes=(0, 0))

    def usum(self, values: np.ndarray) -> np.ndarray:
        """Per-unit sums of a row vector (``np.add.reduceat`` on sorted rows)."""
        if self.starts is not None:
            return np.add.reduceat(values, self.starts)
        return np.bincount(self.unit, weights=values, minlength=self.J)

    def gather(self, per_unit: np.ndarray) -> np.ndarray:
        """A per-unit vector (J,) spread to the rows (N,)."""
        return np.take(per_unit, self.unit)

    @property
    def N(self) -> int:
        return int(self.y.shape[0])

    @property
    def p(self) -> int:
        return int(self.A.shape[1])

    @property
    def R(self) -> int:
        return int(self.Z.shape[1])


def glmm_data(design: Design, fam: Family, trials: np.ndarray | None = None,
              exposure: np.ndarray | None = None) -> GLMMData:
    if design.row_weights is not None:      # level-1 design weights: powers of the densities
        fam = fam.weighted(design.row_weights)
    y = np.asarray(design.y, dtype=float)
    n = np.ones_like(y) if trials is None else np.asarray(trials, dtype=float)
    offset = np.zeros_like(y) if exposure is None else np.log(np.asarray(exposure, dtype=float))
    unit = np.asarray(design.unit, dtype=np.int64)
    J = design.n_level2
    starts = None
    if unit.size and np.all(np.diff(unit) >= 0) and np.array_equal(np.unique(unit),
                                                                    np.arange(J)):
        starts = np.flatnonzero(np.r_[True, np.diff(unit) > 0])
    uw = design.unit_weights
    uw = None if uw is None else np.asarray(uw, dtype=float)
    const = fam.constant(y, n)
    constant = float(const.sum() if uw is None else const @ uw[unit])
    return GLMMData(design=design, family=fam, y=y, n=n, offset=offset, A=design.A(),
                    Z=np.ascontiguousarray(design.Z()), unit=unit, J=J,
                    constant=constant, starts=starts, unit_weight=uw)


def _starts(unit: np.ndarray, J: int) -> np.ndarray | None:
    if unit.size and unit[0] == 0 and unit[-1] == J - 1:
        d = np.diff(unit)
        if np.all((d == 0) | (d == 1)):
            return np.flatnonzero(np.r_[True, d > 0])
    return None


def unit_sum(unit: np.ndarray, values: np.ndarray, J: int) -> np.ndarray:
    """Per-unit sums of ``values`` (N,) or (N, k) -> (J,) or (J, k) (``np.add.reduceat``
    when the rows are sorted by unit with every unit present, else ``np.bincount``)."""
    starts = _starts(unit, J)
    if starts is not None:
        return np.add.reduceat(values, starts, axis=0)
    if values.ndim == 1:
        return np.bincount(unit, weights=values, minlength=J)
    return np.stack([np.bincount(unit, weights=values[:, k], minlength=J)
                     for k in range(values.shape[1])], axis=1).reshape(J, values.shape[1])


def unit_outer(unit: np.ndarray, w: np.ndarray, X: np.ndarray, Y: np.ndarray,
               J: int) -> np.ndarray:
    """Per-unit sum_i w_i X_i Y_i' -> (J, a, b)."""
    a, b = X.shape[1], Y.shape[1]
    starts = _starts(unit, J)
    wX = X * w[:, None]
    if starts is not None:
        prod = (wX[:, :, None] * Y[:, None, :]).reshape(len(w), a * b)
        return np.add.reduceat(prod, starts, axis=0).reshape(J, a, b)
    out = np.empty((J, a, b))
    symmetric = X is Y
    for r in range(a):
        for c in range(b):
            if symmetric and c < r:
                out[:, r, c] = out[:, c, r]
                continue
            out[:, r, c] = np.bincount(unit, weights=wX[:, r] * Y[:, c], minlength=J)
    return out


def _where(design: Design, rows: np.ndarray) -> str:
    i = int(np.flatnonzero(rows)[0])
    units = design.unit_ids[design.unit[rows]]
    more = f" (and {int(rows.sum()) - 1} more rows)" if rows.sum() > 1 else ""
    return f"unit {units[0]}, analysis row {i + 1}{more}"


def auxiliary(design: Design, name: str | None, what: str) -> np.ndarray | None:
    """A level-1 variable of the analysis rows (trials, exposure), without missing values."""
    if name is None:
        return None
    frame = design.level1_data
    cols = {c.lower(): c for c in frame.columns}
    if name.lower() not in cols:
        from openhlm.errors import SpecError
        raise SpecError(f"{what} variable '{name}' is not a level-1 variable of the data "
                        f"(available: {', '.join(map(str, frame.columns))})")
    values = frame[cols[name.lower()]].to_numpy(dtype=float)
    missing = np.isnan(values)
    if missing.any():
        from openhlm.errors import DataError
        raise DataError(f"{what} variable '{name}' is missing in {_where(design, missing)}; "
                        "delete those rows or fill them in")
    return values


def check_outcome(design: Design, fam: Family, trials: np.ndarray | None,
                  exposure: np.ndarray | None, *, trials_name: str | None = None,
                  exposure_name: str | None = None) -> tuple[str, ...]:
    """Refuse outcomes the distribution cannot have (one-line :class:`DataError` naming the
    variable and a unit); return notes on units whose outcome never varies."""
    from openhlm.errors import DataError
    y = np.asarray(design.y, dtype=float)
    name = design.spec.outcome
    whole = np.abs(y - np.round(y)) < 1e-9
    if fam.distribution == "bernoulli":
        bad = (y != 0) & (y != 1)
        if bad.any():
            v = y[bad][0]
            raise DataError(f"outcome '{name}' must be 0 or 1 for distribution='bernoulli'; "
                            f"{_where(design, bad)} has {v:g} (for k of n successes use "
                            "distribution='binomial' with trials=)")
    else:
        bad = (y < 0) | ~whole
        if bad.any():
            kind = "successes" if fam.distribution == "binomial" else "counts"
            raise DataError(f"outcome '{name}' must hold non-negative whole numbers ({kind}) "
                            f"for distribution='{fam.distribution}'; {_where(design, bad)} has "
                            f"{y[bad][0]:g}")
    if trials is not None:
        bad = (trials <= 0) | (np.abs(trials - np.round(trials)) > 1e-9)
        if bad.any():
            raise DataError(f"trials variable '{trials_name}' must hold positive whole numbers; "
                            f"{_where(design, bad)} has {trials[bad][0]:g}")
        bad = y > trials
        if bad.any():
            raise DataError(f"outcome '{name}' exceeds the number of trials '{trials_name}' in "
                            f"{_where(design, bad)} ({y[bad][0]:g} > {trials[bad][0]:g})")
    if exposure is not None:
        bad = ~(exposure > 0) | ~np.isfinite(exposure)
        if bad.any():
            raise DataError(f"exposure variable '{exposure_name}' must be positive; "
                            f"{_where(design, bad)} has {exposure[bad][0]:g}")
    notes = []
    J = design.n_level2
    n = np.ones_like(y) if trials is None else trials
    # an outcome without variation has no finite maximum (the intercept runs to -/+ infinity)
    if fam.is_binomial and (np.all(y == 0) or np.all(y == n)):
        which = "0 (no successes)" if np.all(y == 0) else (
            "1" if trials is None else "equal to its trials (all successes)")
        raise DataError(f"outcome '{name}' is {which} in all {y.size} records, so its "
                        "probability cannot be estimated; check the outcome variable (and "
                        "the records deleted for missing data)")
    if not fam.is_binomial and np.all(y == 0):
        raise DataError(f"outcome '{name}' is 0 in all {y.size} records, so its rate cannot "
                        "be estimated; check the outcome variable (and the records deleted "
                        "for missing data)")
    if fam.is_binomial:
        s = np.bincount(design.unit, weights=y, minlength=J)
        m = np.bincount(design.unit, weights=n, minlength=J)
        constant = int(((s == 0) | (s == m)).sum())
        if constant:
            notes.append(f"{constant} of {J} units have an outcome that never varies (all "
                         "0 or all 1); they are kept (they inform the random-effect "
                         "variance), but their empirical Bayes estimates rest on the prior.")
    else:
        s = np.bincount(design.unit, weights=y, minlength=J)
        zero = int((s == 0).sum())
        if zero:
            notes.append(f"{zero} of {J} units have only zero counts.")
    return tuple(notes)
