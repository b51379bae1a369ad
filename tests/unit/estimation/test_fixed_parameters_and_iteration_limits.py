"""Bugs found by the static typing pass (mypy) over the estimation layer.

Each test failed before its fix: an Optional argument used without a check (``estimates_at``
with only one of ``fixed_sigma2``/``fixed_tau``), and an iteration limit below 1 reaching an
``assert`` (HLM-mode heterogeneous sigma^2) instead of an :class:`EstimationError`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import openhlm
from openhlm.api import as_spec
from openhlm.errors import EstimationError
from openhlm.estimation.design import build_design
from openhlm.estimation.fit import estimate, estimates_at


def _simulated_mdm(J: int = 25, seed: int = 3) -> openhlm.MDM:
    rng = np.random.default_rng(seed)
    n = rng.integers(4, 10, size=J)
    g = np.repeat(np.arange(J), n)
    w = rng.normal(size=J)
    x = rng.normal(size=len(g))
    female = rng.integers(0, 2, size=len(g)).astype(float)
    y = 1 + 0.5 * w[g] + 0.7 * x + rng.normal(size=J)[g] + rng.normal(size=len(g)) * (1 + female)
    l1 = pd.DataFrame({"g": g, "x": x, "female": female, "y": y})
    l2 = pd.DataFrame({"g": np.arange(J), "w": w})
    return openhlm.build_mdm(l1, l2, id="g")


MODEL = "y = B0 + B1*x + R; B0 = G00 + G01*w + U0; B1 = G10"


@pytest.fixture(scope="module")
def design():
    mdm = _simulated_mdm()
    return build_design(as_spec(MODEL, mdm), mdm)


def _dense_gls(design, sigma2: float, tau: np.ndarray) -> np.ndarray:
    """GLS gammas with explicit V_j = Z_j T Z_j' + sigma^2 I (no sufficient statistics)."""
    A, Z, y = design.A(), design.Z(), design.y
    M = np.zeros((A.shape[1], A.shape[1]))
    b = np.zeros(A.shape[1])
    for j in range(design.n_level2):
        rows = np.flatnonzero(design.unit == j)
        Vinv = np.linalg.inv(Z[rows] @ tau @ Z[rows].T + sigma2 * np.eye(rows.size))
        M += A[rows].T @ Vinv @ A[rows]
        b += A[rows].T @ Vinv @ y[rows]
    return design.constraint_matrix @ np.linalg.solve(M, b)


def test_estimates_at_fixed_sigma2_alone_keeps_tau(design):
    # before: fixed_tau=None went through np.asarray(None, dtype=float) -> [[nan]], NaN gammas
    est = estimates_at(design, 1.1, [[0.9]], fixed_sigma2=1.4)
    assert np.all(np.isfinite(est.gamma))
    np.testing.assert_allclose(est.gamma, _dense_gls(design, 1.4, np.array([[0.9]])),
                               rtol=1e-10)
    # the variance components reported are still the given ones
    assert est.sigma2 == 1.1 and est.tau[0, 0] == 0.9


def test_estimates_at_fixed_tau_alone_is_used(design):
    # before: a fixed_tau without fixed_sigma2 was silently ignored
    est = estimates_at(design, 1.1, [[0.9]], fixed_tau=[[0.3]])
    np.testing.assert_allclose(est.gamma, _dense_gls(design, 1.1, np.array([[0.3]])),
                               rtol=1e-10)
    assert not np.allclose(est.gamma, _dense_gls(design, 1.1, np.array([[0.9]])), rtol=1e-6)


@pytest.mark.parametrize("mode", ["exact", "hlm"])
@pytest.mark.parametrize("max_iterations", [0, -2])
def test_estimate_refuses_iteration_limit_below_one(design, mode, max_iterations):
    with pytest.raises(EstimationError, match="max_iterations"):
        estimate(design, method="ml", mode=mode, max_iterations=max_iterations)


def test_heterogeneous_hlm_mode_iteration_limit_below_one_is_an_estimation_error():
    # before: fit_hlm's ``assert point is not None`` escaped as a bare AssertionError
    mdm = _simulated_mdm()
    with pytest.raises(EstimationError, match="max_iterations"):
        openhlm.fit(MODEL, mdm, method="ml", mode="hlm", heterogeneous_sigma2="female",
                    max_iterations=0)


def test_estimate_accepts_one_iteration(design):
    with pytest.warns(openhlm.ConvergenceWarning):
        est = estimate(design, method="ml", mode="hlm", max_iterations=1)
    assert est.iterations == 1
