"""Exact engine v2 (docs/engine.md): mergeable moments, the working basis, the objective's
derivatives, the bounded Newton optimiser and the scale-free unit OLS rank test."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

import openhlm
from openhlm.api import as_spec
from openhlm.estimation.basis import working_basis
from openhlm.estimation.design import build_design
from openhlm.estimation.fit import estimate
from openhlm.estimation.likelihood import evaluate, profiled_deviance
from openhlm.estimation.objective import ProfiledDeviance
from openhlm.estimation.optimise import minimise
from openhlm.estimation.statistics import moments_from_rows
from openhlm.estimation.sufficient import (
    design_moments,
    stable_unit_stats,
    unit_cross_products,
    unit_ols,
    unit_stats,
)

MODEL3 = ("y = B0 + B1*x + B2*z + R; B0 = G00 + G01*w + U0; B1 = G10 + G11*w + U1; "
          "B2 = G20 + U2")


def simulate(J=40, seed=0, R3=True, x_offset=0.0, y_offset=0.0):
    rng = np.random.default_rng(seed)
    n = rng.integers(2, 15, size=J)
    g = np.repeat(np.arange(J), n)
    w = rng.normal(size=J)
    x, z = rng.normal(size=g.size), rng.normal(size=g.size)
    u = rng.normal(size=(J, 3)) * [1.0, 0.5, 0.3]
    y = (1 + 0.5 * w[g] + u[g, 0] + (0.8 + 0.3 * w[g] + u[g, 1]) * x + (0.2 + u[g, 2]) * z
         + rng.normal(size=g.size))
    l1 = pd.DataFrame({"g": g, "x": x + x_offset, "z": z, "y": y + y_offset,
                       "d": rng.uniform(0.5, 2.0, size=g.size)})
    l2 = pd.DataFrame({"g": np.arange(J), "w": w, "uw": rng.uniform(0.5, 2.0, size=J)})
    return openhlm.build_mdm(l1, l2, id="g")


@pytest.fixture(scope="module")
def mdm():
    return simulate()


@pytest.fixture(scope="module")
def design(mdm):
    return build_design(as_spec(MODEL3, mdm), mdm)


def test_moments_merge_is_the_moments_of_the_union(design):
    rng = np.random.default_rng(3)
    V = np.column_stack([design.X, design.y + 1e6])
    d = rng.uniform(0.5, 2.0, size=V.shape[0])
    part = rng.random(V.shape[0]) < 0.4
    J = design.n_level2
    whole = moments_from_rows(V, design.unit, J, design_weights=d)
    a = moments_from_rows(V[part], design.unit[part], J, design_weights=d[part])
    b = moments_from_rows(V[~part], design.unit[~part], J, design_weights=d[~part])
    merged = a.merge(b)
    np.testing.assert_allclose(merged.weight, whole.weight, rtol=1e-14)
    np.testing.assert_allclose(merged.n, whole.n, rtol=1e-14)
    np.testing.assert_allclose(merged.mean, whole.mean, rtol=1e-12)
    # y carries 1e6: its values (and means) are known to ~1e-10 absolute, the centred
    # products to ~W 1e-10
    np.testing.assert_allclose(merged.centred, whole.centred, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(merged.centred[:, :3, :3], whole.centred[:, :3, :3], rtol=1e-12,
                               atol=1e-12)
    # an empty part is the identity
    empty = moments_from_rows(V[:0], design.unit[:0], J)
    np.testing.assert_allclose(whole.merge(empty).centred, whole.centred)


def test_moment_cross_products_equal_the_raw_sums(design):
    stats, mom = stable_unit_stats(design)
    XX, Xy, yy, _ = unit_cross_products(design)
    np.testing.assert_allclose(stats.XX, XX, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(stats.Xy, Xy, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(stats.yy, yy, rtol=1e-12)
    # unsorted rows take the bincount path and give the same moments
    order = np.random.default_rng(0).permutation(design.n_level1)
    V = np.column_stack([design.X, design.y])
    shuffled = moments_from_rows(V[order], design.unit[order], design.n_level2)
    np.testing.assert_allclose(shuffled.centred, mom.centred, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("weights", [False, True])
def test_working_basis_is_an_exact_reparameterisation(mdm, weights):
    kw = {"row_weights": "d", "unit_weights": "uw"} if weights else {}
    data = simulate(x_offset=37.0, y_offset=250.0)
    design = build_design(as_spec(MODEL3, data), data, **kw)
    stats, mom = stable_unit_stats(design)
    basis = working_basis(design, mom)
    # A_w = A Q, row by row
    Aw = np.einsum("np,npf->nf", design.X @ basis.E, basis.G[design.unit])
    np.testing.assert_allclose(design.A() @ basis.Q, Aw, atol=1e-10)
    np.testing.assert_allclose(np.linalg.inv(basis.Q), basis.Q_inv, atol=1e-10)
    wstats = basis.stats(mom, design.random_columns, stats.unit_weights)
    tau = np.array([[1.1, 0.2, 0.05], [0.2, 0.4, 0.02], [0.05, 0.02, 0.2]])
    ref = evaluate(stats, 0.9, tau)
    back = basis.evaluation_to_original(evaluate(wstats, 0.9, basis.tau_to_working(tau)))
    for name in ("beta", "beta_cov", "K", "AVA", "AVy", "ZVZ", "ZVA", "logdet_V", "quad"):
        a, b = getattr(ref, name), getattr(back, name)
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-9 * np.abs(a).max(), err_msg=name)
    # (the original-basis evaluation is the less accurate one: it carries the offsets)
    assert back.loglik_ml == pytest.approx(ref.loglik_ml, rel=1e-10)
    assert back.loglik_reml == pytest.approx(ref.loglik_reml, rel=1e-10)


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("weights", [False, True])
def test_objective_gradient_and_hessian_match_finite_differences(mdm, reml, weights):
    kw = {"row_weights": "d", "unit_weights": "uw"} if weights else {}
    design = build_design(as_spec(MODEL3, mdm), mdm, **kw)
    stats = unit_stats(design)
    theta = np.array([0.9, 0.15, -0.1, 0.5, 0.05, 0.3])
    obj = ProfiledDeviance(stats, reml, theta)
    pt = obj.evaluate(theta, 2)
    assert pt.value == pytest.approx(profiled_deviance(theta, stats, reml)[0], rel=1e-13)
    h = 1e-5
    num_g = np.array([(obj.evaluate(theta + h * e).value - obj.evaluate(theta - h * e).value)
                      / (2 * h) for e in np.eye(6)])
    num_h = np.array([(obj.evaluate(theta + h * e, 1).gradient
                       - obj.evaluate(theta - h * e, 1).gradient) / (2 * h) for e in np.eye(6)])
    np.testing.assert_allclose(pt.gradient, num_g, rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(pt.hessian, num_h, rtol=1e-5, atol=1e-4)


def test_max_iterations_counts_newton_steps_and_is_honoured(design):
    with pytest.warns(openhlm.ConvergenceWarning, match="iteration limit \\(1\\)"):
        est = estimate(design, method="ml", max_iterations=1)
    assert not est.converged and est.iterations == 1
    assert "maximum number of iterations" in est.stop_reason
    full = estimate(design, method="ml")
    assert full.converged and 1 < full.iterations < 20


def test_boundary_optimum_is_snapped_to_zero():
    """A slope variance whose optimum is on the boundary ends at exactly 0 (L_qq = 0)."""
    rng = np.random.default_rng(11)
    J = 60
    g = np.repeat(np.arange(J), 8)
    x = rng.normal(size=g.size)
    y = 1 + rng.normal(size=J)[g] + 0.5 * x + rng.normal(size=g.size)
    data = openhlm.build_mdm(pd.DataFrame({"g": g, "x": x, "y": y}),
                             pd.DataFrame({"g": np.arange(J)}), id="g")
    design = build_design(as_spec("y = B0 + B1*x + R; B0 = G00 + U0; B1 = G10 + U1", data), data)
    stats = unit_stats(design)
    obj = ProfiledDeviance(stats, False, np.array([0.5, 0.0, 0.3]))
    res = minimise(obj)
    assert res.converged
    if res.x[2] == 0.0:
        assert 2 in res.at_bound
    else:   # interior optimum: the deviance there is no worse than on the boundary
        on_boundary = minimise(ProfiledDeviance(stats, False, np.array([0.5, 0.0, 0.0])))
        assert res.value <= on_boundary.value + 1e-9


@pytest.mark.parametrize("offset", [0.0, 1000.0, 2005.0, 1e5])
def test_unit_ols_rank_test_is_free_of_offsets_and_units(design, offset):
    XX, Xy, _, _ = unit_cross_products(design)
    ok0, b0, _ = unit_ols(XX, Xy, design.n_per_unit)
    for scale in (1.0, 1e6, 1e-6):
        X = design.X.copy()
        X[:, 1] = (X[:, 1] + offset) * scale
        d = dataclasses.replace(design, X=X)
        XX1, Xy1, _, _ = unit_cross_products(d)
        with np.errstate(all="raise"):
            ok1, b1, _ = unit_ols(XX1, Xy1, d.n_per_unit)
        np.testing.assert_array_equal(ok1, ok0)
        # the slope is in the new units, the other columns' coefficients unchanged (raw
        # cross-products of x + c lose ~c^2 eps of the within-unit variation)
        rtol = max(1e-8, 1e-14 * offset**2)
        np.testing.assert_allclose(b1[ok0, 1] * scale, b0[ok0, 1], rtol=rtol)
        np.testing.assert_allclose(b1[ok0, 2], b0[ok0, 2], rtol=rtol, atol=rtol)


def test_unit_ols_rejects_a_column_constant_within_the_unit(design):
    X = design.X.copy()
    X[:, 2] = np.asarray(design.W[design.unit, 1])    # a level-2 value at level 1
    d = dataclasses.replace(design, X=X)
    XX, Xy, _, _ = unit_cross_products(d)
    ok, _, _ = unit_ols(XX, Xy, d.n_per_unit)
    assert not ok.any()
    X[:, 2] = 1e-16 * np.random.default_rng(0).normal(size=design.n_level1) + X[:, 2]
    XX, Xy, _, _ = unit_cross_products(dataclasses.replace(design, X=X))
    assert not unit_ols(XX, Xy, d.n_per_unit)[0].any()


def test_design_moments_honour_precision_weights(mdm):
    design = build_design(as_spec(MODEL3, mdm), mdm, row_weights="d")
    p = np.random.default_rng(2).uniform(0.5, 2.0, size=design.n_level1)
    stats, _ = stable_unit_stats(design, precision=p)
    ref = unit_stats(design, precision=p)
    for name in ("AA", "AZ", "ZZ", "Ay", "Zy", "yy", "n", "sum_log_w"):
        np.testing.assert_allclose(getattr(stats, name), getattr(ref, name), rtol=1e-11,
                                   atol=1e-11, err_msg=name)
    assert design_moments(design, p).n == pytest.approx(ref.n)
