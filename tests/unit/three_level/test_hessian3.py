"""The analytic Hessian of the three-level profiled deviance and of its pieces (log-determinant
and residual quadratic form) against central differences of the analytic gradient (itself
checked against differences of the deviance in test_estimation3.py), and the Newton optimiser
against the dense likelihood's stationarity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import openhlm
from openhlm.estimation.three_level.design import build_design3
from openhlm.estimation.three_level.fit import estimate3
from openhlm.estimation.three_level.hessian import derivatives
from openhlm.estimation.three_level.likelihood import (
    deviance_and_gradient,
    deviance_parts,
    evaluate,
)
from openhlm.estimation.three_level.statistics import unit_statistics
from openhlm.spec.equations3 import parse_model3

from .conftest import simulate

MODELS = [
    """y = P0 + P1*t + E
P0 = B00 + B01*x2 + R0
P1 = B10 + R1
B00 = G000 + G001*w + U00
B10 = G100 + G101*w + U10""",
    "y = P0 + E; P0 = B00 + R0; B00 = G000 + U00",
    "y = P0 + P1*t + E; P0 = B00 + R0; P1 = B10 + R1",
    "y = P0 + P1*t + E; B00 = G000 + U00; B10 = G100 + U10",
    "y = P0 + P1*t + E; P0 = B00 + R0; B10 = G100 + U10",
    "y = P0 + P1*t + E; P0 = R0; P1 = B10 + R1; B10 = U10",
]


@pytest.fixture(scope="module")
def mdm():
    return openhlm.build_mdm(simulate(), id=("child", "school"), level1_variables=["t", "y"],
                             level2_variables=["x2"], level3_variables=["w"])


def _stats(mdm, text):
    spec = parse_model3(text, level1_variables=mdm.level1_variables,
                        level2_variables=mdm.level2_variables,
                        level3_variables=mdm.level3_variables)
    return unit_statistics(build_design3(spec, mdm))


@pytest.mark.parametrize("text", MODELS)
@pytest.mark.parametrize("reml", [True, False])
def test_hessian_equals_differences_of_the_gradient(mdm, text, reml):
    stats = _stats(mdm, text)
    k = stats.n_r2 * (stats.n_r2 + 1) // 2 + stats.n_r3 * (stats.n_r3 + 1) // 2
    rng = np.random.default_rng(len(text))
    for _ in range(2):
        theta = rng.normal(size=k) * 0.7 + 0.4
        d = derivatives(stats, theta, reml)
        value, grad = deviance_and_gradient(stats, theta, reml)
        assert d.deviance == pytest.approx(value, rel=1e-12)
        assert d.deviance == pytest.approx(evaluate(stats, theta, reml).deviance, rel=1e-12)
        np.testing.assert_allclose(d.gradient, grad, rtol=1e-9, atol=1e-9)
        h = 1e-6
        fd = np.zeros((k, k))
        fd_l = np.zeros((k, k))
        fd_q = np.zeros((k, k))
        for i, e in enumerate(np.eye(k)):
            up = deviance_parts(stats, theta + h * e, reml)
            down = deviance_parts(stats, theta - h * e, reml)
            fd[:, i] = (deviance_and_gradient(stats, theta + h * e, reml)[1]
                        - deviance_and_gradient(stats, theta - h * e, reml)[1]) / (2 * h)
            fd_l[:, i] = (up.d_logdet - down.d_logdet) / (2 * h)
            fd_q[:, i] = (up.d_Q - down.d_Q) / (2 * h)
        for got, want in ((d.hessian, fd), (d.dd_logdet, fd_l), (d.dd_Q, fd_q)):
            scale = np.abs(want).max()
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-6 * scale)
        np.testing.assert_allclose(d.hessian, d.hessian.T, rtol=0, atol=1e-12 * scale)
        lower = derivatives(stats, theta + 0.01, reml, order=1)
        assert lower.hessian is None
        np.testing.assert_allclose(lower.gradient,
                                   deviance_and_gradient(stats, theta + 0.01, reml)[1],
                                   rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("text", MODELS)
@pytest.mark.parametrize("method", ["reml", "ml"])
def test_newton_optimum_is_stationary(mdm, text, method):
    """At the optimum the projected gradient vanishes: free coordinates to rounding, and a
    diagonal element of L held at 0 only with the deviance rising inwards."""
    stats = _stats(mdm, text)
    spec = parse_model3(text, level1_variables=mdm.level1_variables,
                        level2_variables=mdm.level2_variables,
                        level3_variables=mdm.level3_variables)
    est = estimate3(build_design3(spec, mdm), method=method)
    assert est.converged
    d = derivatives(stats, est.theta, method == "reml")
    free = est.theta != 0
    assert np.abs(d.gradient[free]).max() < 1e-5
    assert np.all(d.gradient[~free] >= -1e-6)


def test_small_batched_algebra_equals_numpy():
    from openhlm.estimation.three_level.small import bmm, chol_small, spd_inverse

    rng = np.random.default_rng(5)
    for r in (1, 2, 3, 4):
        X = rng.normal(size=(50, r + 2, r))
        M = np.swapaxes(X, 1, 2) @ X
        M[7] = 0.0                                      # singular: flagged, not inverted
        inv, ok = spd_inverse(M)
        assert not ok[7] and ok[np.arange(50) != 7].all()
        np.testing.assert_allclose(inv[ok], np.linalg.inv(M[ok]), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(chol_small(M[ok]), np.linalg.cholesky(M[ok]), rtol=1e-12)
        B = rng.normal(size=(50, r, 3))
        np.testing.assert_allclose(bmm(M, B), M @ B, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("text", MODELS[:4])
def test_moment_start_is_positive_definite_and_finite(mdm, text):
    from openhlm.estimation.three_level.start import moment_start

    spec = parse_model3(text, level1_variables=mdm.level1_variables,
                        level2_variables=mdm.level2_variables,
                        level3_variables=mdm.level3_variables)
    design = build_design3(spec, mdm)
    stats = unit_statistics(design)
    theta = moment_start(stats, np.bincount(design.unit_index, minlength=design.n2))
    assert theta is not None or text != MODELS[0]
    if theta is not None:
        assert np.all(np.isfinite(theta))
        assert np.isfinite(evaluate(stats, theta, True).deviance)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("extra_rows", [0, 300])
def test_unit_statistics_equal_direct_cross_products(extra_rows, weighted):
    """Per-level-2-unit D_j'D_j (with level-1 design and precision weights: sum_i d_i p_i
    D_i D_i') against a direct loop, for balanced units and for one unit with many rows (the
    zero-padded and the blocked summation paths)."""
    from openhlm.estimation.three_level.weighting import weighted_design3
    from openhlm.spec.settings import Weights

    data = simulate()
    if extra_rows:
        rng = np.random.default_rng(9)
        big = data.iloc[:1].loc[np.zeros(extra_rows, dtype=int)].copy()
        big["child"] = "big"
        big["t"] = rng.normal(size=extra_rows)
        big["y"] = rng.normal(size=extra_rows)
        data = pd.concat([data, big], ignore_index=True)
    rng = np.random.default_rng(10)
    data["d1"] = rng.uniform(0.0, 2.0, len(data))
    data["p1"] = rng.uniform(0.5, 2.0, len(data))
    m = openhlm.build_mdm(data, id=("child", "school"), level1_variables=["t", "y", "d1", "p1"],
                          level2_variables=["x2"], level3_variables=["w"])
    design = build_design3(parse_model3(MODELS[0], level1_variables=m.level1_variables,
                                        level2_variables=m.level2_variables,
                                        level3_variables=m.level3_variables), m)
    factor = np.ones(design.n1)
    if weighted:
        design = weighted_design3(design, Weights(level1="d1", precision="p1",
                                                  normalize="none"))
        factor = m.level1["d1"].to_numpy(dtype=float) * m.level1["p1"].to_numpy(dtype=float)
        np.testing.assert_allclose(factor, design.row_weights * design.precision_weights)
    stats = unit_statistics(design)
    A = design.A - stats.shift
    D = np.column_stack([A, design.Z3, design.y - stats.y_mean, design.Z2])
    for j in range(design.n2):
        rows = design.unit_index == j
        want = (D[rows] * factor[rows, None]).T @ D[rows]
        np.testing.assert_allclose(stats.S[j], want, rtol=1e-12, atol=1e-9)


# -- design and precision weights -------------------------------------------------------------

def _weighted_mdm(seed: int = 3):
    data = simulate(seed=seed)
    rng = np.random.default_rng(seed + 20)
    data["d1"] = rng.uniform(0.3, 2.5, len(data))                # level-1 design weights
    data["p1"] = rng.uniform(0.5, 2.0, len(data))                # precision weights
    child_w = {c: float(rng.uniform(0.2, 3.0)) for c in data["child"].unique()}
    school_w = {s: float(rng.uniform(0.2, 3.0)) for s in data["school"].unique()}
    data["w2"] = data["child"].map(child_w)
    data["w3"] = data["school"].map(school_w)
    return data, openhlm.build_mdm(data, id=("child", "school"),
                                   level1_variables=["t", "y", "d1", "p1"],
                                   level2_variables=["x2", "w2"], level3_variables=["w", "w3"])


def _weighted_stats(mdm, text, weights):
    from openhlm.estimation.three_level.weighting import weighted_design3

    spec = parse_model3(text, level1_variables=mdm.level1_variables,
                        level2_variables=mdm.level2_variables,
                        level3_variables=mdm.level3_variables)
    return unit_statistics(weighted_design3(build_design3(spec, mdm), weights))


WEIGHTINGS = [
    {"level1": "d1", "level2": "w2", "level3": "w3", "precision": "p1", "normalize": "none"},
    {"level2": "w2", "normalize": "within"},
    {"level3": "w3", "normalize": "overall"},
    {"level1": "d1", "precision": "p1", "normalize": "within"},
]


@pytest.mark.parametrize("text", MODELS)
@pytest.mark.parametrize("weights", WEIGHTINGS)
@pytest.mark.parametrize("reml", [True, False])
def test_weighted_hessian_equals_differences_of_the_weighted_gradient(text, weights, reml):
    """Non-integer weights at levels 1, 2, 3 and precision weights: the analytic deviance,
    gradient and Hessian of :mod:`hessian` against the weighted deviance and gradient of
    :mod:`likelihood` and central differences of that gradient."""
    from openhlm.spec.settings import Weights

    _, mdm = _weighted_mdm()
    stats = _weighted_stats(mdm, text, Weights(**weights))
    assert stats.weighted or stats.logdet_shift != 0 or stats.nu != stats.n1
    k = stats.n_r2 * (stats.n_r2 + 1) // 2 + stats.n_r3 * (stats.n_r3 + 1) // 2
    rng = np.random.default_rng(len(text) + 7)
    for _ in range(2):
        theta = rng.normal(size=k) * 0.7 + 0.4
        d = derivatives(stats, theta, reml)
        value, grad = deviance_and_gradient(stats, theta, reml)
        assert d.deviance == pytest.approx(value, rel=1e-12)
        assert d.deviance == pytest.approx(evaluate(stats, theta, reml).deviance, rel=1e-12)
        np.testing.assert_allclose(d.gradient, grad, rtol=1e-9, atol=1e-9)
        h = 1e-6
        fd = np.zeros((k, k))
        fd_l = np.zeros((k, k))
        fd_q = np.zeros((k, k))
        for i, e in enumerate(np.eye(k)):
            up = deviance_parts(stats, theta + h * e, reml)
            down = deviance_parts(stats, theta - h * e, reml)
            fd[:, i] = (deviance_and_gradient(stats, theta + h * e, reml)[1]
                        - deviance_and_gradient(stats, theta - h * e, reml)[1]) / (2 * h)
            fd_l[:, i] = (up.d_logdet - down.d_logdet) / (2 * h)
            fd_q[:, i] = (up.d_Q - down.d_Q) / (2 * h)
        for got, want in ((d.hessian, fd), (d.dd_logdet, fd_l), (d.dd_Q, fd_q)):
            scale = np.abs(want).max()
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-6 * scale)


@pytest.mark.parametrize("text", [MODELS[0], MODELS[2], MODELS[5]])
@pytest.mark.parametrize("reml", [True, False])
def test_integer_weighted_hessian_equals_hessian_of_replicated_data(text, reml):
    """Integer weights (not normalised) at levels 1, 2 and 3: the weighted deviance, gradient,
    Hessian and variance-component covariance equal the unweighted ones of the data in which
    each row, level-2 unit and level-3 unit is repeated that many times (an independent
    computation: no weights in it)."""
    from openhlm.estimation.three_level.fit import variance_covariance
    from openhlm.spec.settings import Weights

    data = simulate(seed=4)
    rng = np.random.default_rng(44)
    data["d1"] = rng.integers(1, 3, len(data)).astype(float)
    child_w = {c: float(rng.integers(1, 3)) for c in data["child"].unique()}
    school_w = {s: float(rng.integers(1, 4)) for s in data["school"].unique()}
    data["w2"] = data["child"].map(child_w)
    data["w3"] = data["school"].map(school_w)
    kw = {"level1_variables": ["t", "y", "d1"], "level2_variables": ["x2", "w2"],
              "level3_variables": ["w", "w3"]}
    mdm = openhlm.build_mdm(data, id=("child", "school"), **kw)
    stats = _weighted_stats(mdm, text, Weights(level1="d1", level2="w2", level3="w3",
                                               normalize="none"))
    rep = data.loc[data.index.repeat(data["d1"].astype(int))]
    parts = []
    for (school, child), part in rep.groupby(["school", "child"], sort=False):
        for c3 in range(int(part["w3"].iloc[0])):
            for c2 in range(int(part["w2"].iloc[0])):
                p = part.copy()
                p["school"] = f"{school}#{c3}"
                p["child"] = f"{child}#{c3}#{c2}"
                parts.append(p)
    rep_mdm = openhlm.build_mdm(pd.concat(parts, ignore_index=True), id=("child", "school"),
                                **kw)
    plain = _stats(rep_mdm, text)
    assert plain.n1 == pytest.approx(stats.nu)
    k = stats.n_r2 * (stats.n_r2 + 1) // 2 + stats.n_r3 * (stats.n_r3 + 1) // 2
    theta = np.random.default_rng(3).normal(size=k) * 0.6 + 0.5
    a, b = derivatives(stats, theta, reml), derivatives(plain, theta, reml)
    assert a.deviance == pytest.approx(b.deviance, rel=1e-10)
    np.testing.assert_allclose(a.gradient, b.gradient, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(a.hessian, b.hessian, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(variance_covariance(stats, theta, 0.8, reml),
                               variance_covariance(plain, theta, 0.8, reml), rtol=1e-8)
