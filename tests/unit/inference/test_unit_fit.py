"""Per-unit OLS from centred moments (openhlm.inference.unit_fit) against numpy's lstsq."""

from __future__ import annotations

import numpy as np
import pytest

from openhlm.estimation.statistics import moments_from_rows
from openhlm.inference.unit_fit import centred_unit_ols


def rows(offset=0.0, seed=1):
    rng = np.random.default_rng(seed)
    J, n = 6, 12
    unit = np.repeat(np.arange(J), n)
    x = rng.normal(size=unit.size)
    z = rng.normal(size=unit.size)
    y = 3 + 2 * x - z + rng.normal(size=unit.size) + offset
    return unit, J, np.column_stack([np.ones(unit.size), x, z, y])


def lstsq(V, unit, j, cols, a, w=None):
    sel = unit == j
    X, t = V[sel][:, cols], V[sel] @ a
    if w is not None:
        X, t = X * np.sqrt(w[sel])[:, None], t * np.sqrt(w[sel])
    b, *_ = np.linalg.lstsq(X, t, rcond=None)
    return b, float(np.sum((t - X @ b) ** 2))


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("constant", [0, None])
def test_matches_lstsq(weighted, constant):
    unit, J, V = rows()
    w = np.random.default_rng(2).uniform(0.5, 2, size=unit.size) if weighted else None
    mom = moments_from_rows(V, unit, J, design_weights=w)
    cols = np.array([0, 1, 2]) if constant is not None else np.array([1, 2])
    a = np.tile([0.0, -1.0, 0.0, 1.0], (J, 1))           # y - x, per unit
    a[:, 2] = -np.arange(J)                               # a per-unit combination
    fit = centred_unit_ols(mom, cols, a, constant)
    for j in range(J):
        b, sse = lstsq(V, unit, j, cols, a[j], w)
        np.testing.assert_allclose(fit.coef[j], b, rtol=1e-10, atol=1e-12)
        assert fit.sse[j] == pytest.approx(sse, rel=1e-10)


def test_outcome_offset_leaves_sse_and_slopes():
    unit, J, V = rows()
    _, _, Vo = rows(offset=1e9)
    target = np.tile([0.0, 0.0, 0.0, 1.0], (J, 1))
    base = centred_unit_ols(moments_from_rows(V, unit, J), np.arange(3), target, 0)
    new = centred_unit_ols(moments_from_rows(Vo, unit, J), np.arange(3), target, 0)
    # y + 1e9 is stored to ~1e-7: the data's rounding, not the computation's
    np.testing.assert_allclose(new.sse, base.sse, rtol=1e-7)
    np.testing.assert_allclose(new.coef[:, 1:], base.coef[:, 1:], rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(new.coef[:, 0] - 1e9, base.coef[:, 0], atol=1e-6)


def test_singular_unit_is_nan():
    unit, J, V = rows()
    V[unit == 2, 1] = 5.0                       # x constant in unit 2
    fit = centred_unit_ols(moments_from_rows(V, unit, J), np.arange(3),
                           np.tile([0.0, 0.0, 0.0, 1.0], (J, 1)), 0)
    assert np.isnan(fit.sse[2]) and np.isnan(fit.coef[2]).all()
    assert np.isfinite(fit.sse[[0, 1, 3]]).all()


@pytest.mark.parametrize("constant", [0, None])
def test_inverse_cross_products(constant):
    unit, J, V = rows()
    V[:, 1] += 1e6                              # an offset: the inverse is still accurate
    w = np.random.default_rng(4).uniform(0.5, 2, size=unit.size)
    mom = moments_from_rows(V, unit, J, design_weights=w)
    cols = np.array([0, 1, 2]) if constant is not None else np.array([1, 2])
    fit = centred_unit_ols(mom, cols, np.tile([0.0, 0.0, 0.0, 1.0], (J, 1)), constant)
    for j in range(J):
        sel = unit == j
        X = V[sel][:, cols] - (np.r_[0.0, 1e6, 0.0] if constant is not None else 0.0)
        # the same inverse from the unshifted columns, mapped: S = X_c D with D unit-triangular
        D = np.eye(cols.size)
        if constant is not None:
            D[0, 1] = 1e6
        inv_c = np.linalg.inv(X.T @ (X * w[sel][:, None]))
        Di = np.linalg.inv(D)
        expected = Di @ inv_c @ Di.T
        np.testing.assert_allclose(fit.inverse[j], expected, rtol=1e-8,
                                   atol=1e-8 * np.abs(expected).max())
