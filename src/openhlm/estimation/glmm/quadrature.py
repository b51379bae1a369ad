"""Per-unit conditional modes by batched Newton steps, and the Laplace / adaptive
Gauss-Hermite integrated likelihood.

Parameterisation (as lme4): u_j = Lambda b_j with b_j ~ N(0, I_R) and T = Lambda Lambda'
(Lambda lower triangular, ``theta`` its lower triangle column by column).  For unit j,

    L_j = int prod_i p(y_ij | eta_ij) phi_R(b) db,   eta_ij = a_ij' beta + z_ij' Lambda b + o_ij.

The integrand's log, g_j(b) = sum_i log p(y_ij|eta_ij) + log phi_R(b), is strictly concave for
the canonical links, so Newton's method with step halving finds its mode b_j for all units at
once: gradients (J, R) and Hessians (J, R, R) are per-unit ``bincount`` sums and the R x R
systems are solved as one batched ``np.linalg.solve``.  With H_j = -g_j''(b_j) = L_j L_j':

* Laplace:  log L_j ~= g_j(b_j) + R/2 log 2 pi - log|L_j|
* AGQ (k nodes per dimension, tensor grid z_m with weights w_m for N(0, I)):
  log L_j ~= log sum_m w_m exp(g_j(b_j + L_j^{-T} z_m) + |z_m|^2/2 + R/2 log 2 pi) - log|L_j|,

(the R/2 log 2 pi cancels against the normal density's constant in g_j, which the code leaves
out of both),
  which is the Laplace value for k = 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np
from numpy.polynomial.hermite_e import hermegauss
from scipy.special import logsumexp

from openhlm.errors import EstimationError
from openhlm.estimation.glmm.data import GLMMData, unit_outer, unit_sum

__all__ = ["Modes", "conditional_modes", "gh_grid", "lambda_matrix", "laplace_gradient",
           "n_theta", "theta_of", "unit_loglik"]


def n_theta(R: int) -> int:
    return R * (R + 1) // 2


def lambda_matrix(theta: np.ndarray, R: int) -> np.ndarray:
    """Lower-triangular Lambda from theta (lower triangle, column by column, as lme4)."""
    L = np.zeros((R, R))
    rows, cols = np.tril_indices(R)
    order = np.lexsort((rows, cols))           # column-major
    L[rows[order], cols[order]] = theta
    return L


def theta_of(L: np.ndarray) -> np.ndarray:
    R = L.shape[0]
    rows, cols = np.tril_indices(R)
    order = np.lexsort((rows, cols))
    return L[rows[order], cols[order]].copy()


@dataclass(frozen=True)
class Modes:
    b: np.ndarray          # (J, R) spherical conditional modes
    chol: np.ndarray       # (J, R, R) lower Cholesky factors of H_j
    g: np.ndarray          # (J,) g_j(b_j) without the rows' and the normal's constants
    iterations: int
    score: np.ndarray | None = None     # (N,) s_i at the modes
    weight: np.ndarray | None = None    # (N,) w_i at the modes


def _random_part(data: GLMMData, ZL: np.ndarray, b: np.ndarray) -> np.ndarray:
    """z_i' Lambda b_j for every row, one column at a time."""
    out = ZL[:, 0] * data.gather(b[:, 0])
    for r in range(1, b.shape[1]):
        out += ZL[:, r] * data.gather(b[:, r])
    return out


def _g(data: GLMMData, eta0: np.ndarray, ZL: np.ndarray, b: np.ndarray) -> np.ndarray:
    eta = eta0 + _random_part(data, ZL, b)
    rows = data.family.kernel(eta, data.y, data.n)
    return data.usum(rows) - 0.5 * np.einsum("jr,jr->j", b, b)


def _curvature(data: GLMMData, ZL: np.ndarray, w: np.ndarray) -> np.ndarray:
    """H_j = I + sum_i w_i v_i v_i' (J, R, R), by per-unit sums of the R(R+1)/2 products."""
    R = ZL.shape[1]
    H = np.empty((data.J, R, R))
    for r in range(R):
        wz = w * ZL[:, r]
        for c in range(r, R):
            H[:, r, c] = H[:, c, r] = data.usum(wz * ZL[:, c])
        H[:, r, r] += 1.0
    return H


def conditional_modes(data: GLMMData, beta: np.ndarray, Lam: np.ndarray,
                      start: np.ndarray | None = None, *, tol: float = 1e-7,
                      max_iter: int = 200) -> Modes:
    """Modes of g_j for all units at once (batched Newton with per-unit step halving).

    Stops when the largest Newton step is below ``tol``: Newton's quadratic convergence
    leaves an error of order tol^2 in b and tol^4 in g_j.
    """
    J, R = data.J, data.R
    fam = data.family
    eta0 = data.A @ beta + data.offset
    ZL = data.Z @ Lam
    b = np.zeros((J, R)) if start is None else start.copy()
    eta = eta0 + _random_part(data, ZL, b)
    kern, s, w = fam.evaluate(eta, data.y, data.n)
    f = data.usum(kern) - 0.5 * np.einsum("jr,jr->j", b, b)
    for it in range(1, max_iter + 1):
        grad = np.empty((J, R))
        for r in range(R):
            grad[:, r] = data.usum(ZL[:, r] * s)
        grad -= b
        H = _curvature(data, ZL, w)
        step = np.linalg.solve(H, grad[:, :, None])[:, :, 0]
        scale = np.ones(J)
        for _ in range(60):
            trial = b + scale[:, None] * step
            eta = eta0 + _random_part(data, ZL, trial)
            kern, s, w = fam.evaluate(eta, data.y, data.n)
            f_new = data.usum(kern) - 0.5 * np.einsum("jr,jr->j", trial, trial)
            bad = ~(f_new >= f - 1e-12 * (1.0 + np.abs(f)))
            if not bad.any():
                break
            scale[bad] *= 0.5
        b, f = trial, f_new
        if np.max(np.abs(scale[:, None] * step)) < tol:
            break
    else:
        raise EstimationError("the conditional modes of the random effects did not converge "
                              f"in {max_iter} Newton steps; the model may be unidentified")
    H = _curvature(data, ZL, w)
    return Modes(b=b, chol=np.linalg.cholesky(H), g=f, iterations=it, score=s, weight=w)


def gh_grid(nodes: int, R: int) -> tuple[np.ndarray, np.ndarray]:
    """Tensor-product Gauss-Hermite grid for N(0, I_R): points (K, R), log weights (K,)."""
    x, w = hermegauss(nodes)
    logw = np.log(w) - 0.5 * np.log(2.0 * np.pi)
    pts = np.array(list(product(x, repeat=R)), dtype=float).reshape(-1, R)
    lw = np.array([sum(c) for c in product(logw, repeat=R)], dtype=float)
    return pts, lw


def unit_loglik(data: GLMMData, beta: np.ndarray, Lam: np.ndarray, modes: Modes,
                nodes: int = 1) -> np.ndarray:
    """Per-unit log L_j (without the rows' constants) by Laplace (nodes=1) or AGQ."""
    R = data.R
    logdet = np.log(np.diagonal(modes.chol, axis1=1, axis2=2)).sum(axis=1)
    if nodes == 1:
        return modes.g - logdet
    pts, lw = gh_grid(nodes, R)
    eta0 = data.A @ beta + data.offset
    ZL = data.Z @ Lam
    # L_j^{-T} z for all units: solve L_j' x = z
    LT = np.transpose(modes.chol, (0, 2, 1))
    terms = np.empty((pts.shape[0], data.J))
    for m, (z, logw) in enumerate(zip(pts, lw)):
        shift = np.linalg.solve(LT, np.broadcast_to(z, (data.J, R))[:, :, None])[:, :, 0]
        terms[m] = logw + 0.5 * z @ z + _g(data, eta0, ZL, modes.b + shift)
    return logsumexp(terms, axis=0) - logdet


def laplace_gradient(data: GLMMData, beta: np.ndarray, Lam: np.ndarray,
                     modes: Modes, *, per_unit: bool = False
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Exact gradient of the Laplace log-likelihood in (beta, theta).

    With v_i = Lambda' z_i, H_j = I + sum_i w_i v_i v_i', h_i = v_i' H_j^{-1} v_i,
    c_i = -w'_i h_i / 2, q_j = H_j^{-1} sum_i c_i v_i and e_i = s_i + c_i - w_i v_i'q_j
    (the mode's dependence on the parameters is carried by q_j, by the implicit function
    theorem; ``per_unit=True``: the (J, p) per-unit beta scores instead):

        d l / d beta        = sum_i e_i a_i
        d l / d Lambda_kl   = sum_j [(Z'e)_j b_j' + (Z's)_j q_j' - (Z'WZ)_j Lambda H_j^{-1}]_kl
    """
    J, R = data.J, data.R
    ZL = data.Z @ Lam
    b = modes.b
    if modes.score is not None and modes.weight is not None:
        s, w = modes.score, modes.weight
    else:
        eta = data.A @ beta + data.offset + _random_part(data, ZL, b)
        _, s, w = data.family.evaluate(eta, data.y, data.n)
    # w' = w (1 - 2 mu) for the binomial (mu = (y - s) / n), = w for the Poisson
    dw = w * (1.0 - 2.0 * (data.y - s) / data.n) if data.family.is_binomial else w
    chol = modes.chol
    Hinv = np.linalg.inv(np.einsum("jab,jcb->jac", chol, chol))
    # h_i = v_i' H_j^{-1} v_i, column by column
    h = np.zeros_like(s)
    for a in range(R):
        for c in range(R):
            h += ZL[:, a] * ZL[:, c] * data.gather(Hinv[:, a, c])
    c_row = -0.5 * dw * h
    m = np.empty((J, R))
    for a in range(R):
        m[:, a] = data.usum(ZL[:, a] * c_row)
    q = np.einsum("jab,jb->ja", Hinv, m)
    e = s + c_row - w * _random_part(data, ZL, q)
    if per_unit:      # (J, p) scores of the units' log-likelihoods in beta
        return unit_sum(data.unit, data.A * e[:, None], J), np.empty(0)
    g_beta = data.A.T @ e
    Ze = np.empty((J, R))
    Zs = np.empty((J, R))
    ZWZ = np.empty((J, R, R))
    for a in range(R):
        Ze[:, a] = data.usum(data.Z[:, a] * e)
        Zs[:, a] = data.usum(data.Z[:, a] * s)
        wz = w * data.Z[:, a]
        for c in range(a, R):
            ZWZ[:, a, c] = ZWZ[:, c, a] = data.usum(wz * data.Z[:, c])
    G = (Ze.T @ b + Zs.T @ q - np.einsum("jkm,ml,jln->kn", ZWZ, Lam, Hinv))
    return g_beta, theta_of(np.tril(G))
