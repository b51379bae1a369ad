"""Maximum likelihood for two-level GLMMs: Laplace and adaptive Gauss-Hermite quadrature.

The deviance -2 log L(beta, theta) (:mod:`openhlm.estimation.glmm.quadrature`) is minimised
jointly over the fixed effects and theta (lme4's parameterisation of T = Lambda Lambda'):
Laplace by two EM steps for T, then BFGS on the exact gradient started from the BHHH matrix
(:func:`_quasi_newton`); AGQ by BFGS on central-difference gradients.  Both are polished by
Newton steps on a central-difference Hessian, which is also the model-based covariance of the
estimates (as ``vcov`` of glmer: 2 H^{-1}, the fixed-effects block).  Every evaluation
re-finds all units' modes by batched Newton steps from the previous modes.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import minimize

from openhlm.errors import EstimationError
from openhlm.estimation.glmm.data import GLMMData
from openhlm.estimation.glmm.estimates import GLMMEstimates
from openhlm.estimation.glmm.quadrature import (
    Modes,
    conditional_modes,
    lambda_matrix,
    laplace_gradient,
    theta_of,
    unit_loglik,
)

__all__ = ["Objective", "fit_ml", "glm_start"]


#: below this many rows, products with A use BLAS (fast and not threaded at this size);
#: above it, one column at a time (a threaded BLAS product on a loaded machine can take 100x)
_SMALL = 20_000


def glm_start(data: GLMMData, max_iter: int = 50, tol: float = 1e-6) -> np.ndarray:
    """Fixed effects of the GLM without random effects (IRLS), as starting values (to
    ``tol``: the joint optimisation refines them)."""
    beta = np.zeros(data.p)
    AT = np.ascontiguousarray(data.A.T)
    p = data.p
    small = data.N < _SMALL
    for _ in range(max_iter):
        if small:
            eta = data.A @ beta + data.offset
        else:
            eta = data.offset.copy()
            for bk, a in zip(beta, AT):
                eta += bk * a
        s, w = data.family.score_weight(eta, data.y, data.n)
        w = np.maximum(w, 1e-10)
        try:      # Fisher scoring by the normal equations (A'WA) step = A's (no BLAS on N)
            AW = AT * w
            if small:
                M, r = AW @ data.A, AT @ s
            else:
                M = np.empty((p, p))
                for k in range(p):
                    for m in range(k, p):
                        M[k, m] = M[m, k] = np.einsum("i,i->", AW[k], AT[m])
                r = np.array([np.einsum("i,i->", a, s) for a in AT])
            step = np.linalg.solve(M, r)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(data.A * np.sqrt(w)[:, None], s / np.sqrt(w),
                                   rcond=None)[0]
        beta = beta + step
        if np.max(np.abs(step)) < tol:
            break
    return beta


class Objective:
    """-2 log L as a function of phi = (beta, theta), with warm-started modes.

    Laplace (``nodes=1``) has the exact gradient (:func:`laplace_gradient`); AGQ uses central
    differences of the deviance.
    """

    def __init__(self, data: GLMMData, nodes: int) -> None:
        self.data, self.nodes = data, nodes
        self.b: np.ndarray | None = None
        self.newton_steps = 0
        self.evaluations = 0
        self.kept: tuple | None = None     # (phi bytes, beta, Lam, modes) of the last keep

    def split(self, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = self.data.p
        return phi[:p], lambda_matrix(phi[p:], self.data.R)

    def modes(self, phi: np.ndarray, keep: bool = False
              ) -> tuple[np.ndarray, np.ndarray, Modes]:
        key = np.asarray(phi, dtype=float).tobytes()
        if self.kept is not None and self.kept[0] == key:
            return self.kept[1], self.kept[2], self.kept[3]
        beta, Lam = self.split(phi)
        # AGQ's value is not stationary in the modes (they only centre the grid): solve them
        # to 1e-7 (error 1e-14) for its central differences; Laplace's to 1e-5 (error 1e-10)
        modes = conditional_modes(self.data, beta, Lam, self.b,
                                  tol=1e-5 if self.nodes == 1 else 1e-7)
        self.newton_steps += modes.iterations
        self.evaluations += 1
        if keep or self.b is None:
            self.b = modes.b
        if keep:
            self.kept = (key, beta, Lam, modes)
        return beta, Lam, modes

    def units(self, phi: np.ndarray, keep: bool = False) -> np.ndarray:
        beta, Lam, modes = self.modes(phi, keep)
        return unit_loglik(self.data, beta, Lam, modes, self.nodes)

    def __call__(self, phi: np.ndarray, keep: bool = False) -> float:
        value = -2.0 * (self.data.wsum(self.units(phi, keep)) + self.data.constant)
        return float(value) if np.isfinite(value) else np.inf

    def steps(self, phi: np.ndarray, rel: float) -> np.ndarray:
        return rel * np.maximum(1.0, np.abs(phi))

    def value_and_gradient(self, phi: np.ndarray, keep: bool = True
                           ) -> tuple[float, np.ndarray]:
        if self.nodes != 1:
            return self(phi, keep), self.gradient(phi)
        beta, Lam, modes = self.modes(phi, keep)
        value = -2.0 * (self.data.wsum(unit_loglik(self.data, beta, Lam, modes, 1))
                        + self.data.constant)
        gb, gt = laplace_gradient(self.data, beta, Lam, modes)
        return float(value), -2.0 * np.concatenate([gb, gt])

    def gradient(self, phi: np.ndarray, rel: float = 1e-5) -> np.ndarray:
        if self.nodes == 1:
            return self.value_and_gradient(phi, keep=False)[1]
        h = self.steps(phi, rel)
        g = np.empty_like(phi)
        for i in range(phi.size):
            e = np.zeros_like(phi)
            e[i] = h[i]
            g[i] = (self(phi + e) - self(phi - e)) / (2.0 * h[i])
        return g

    def hessian(self, phi: np.ndarray, rel: float = 1e-4) -> np.ndarray:
        n = phi.size
        if self.nodes == 1:      # central differences of the exact gradient
            h = self.steps(phi, rel / 10.0)
            H = np.empty((n, n))
            for i in range(n):
                e = np.zeros(n)
                e[i] = h[i]
                H[:, i] = (self.gradient(phi + e) - self.gradient(phi - e)) / (2.0 * h[i])
            return (H + H.T) / 2.0
        h = self.steps(phi, rel)
        f0 = self(phi)
        H = np.empty((n, n))
        for i in range(n):
            ei = np.zeros(n)
            ei[i] = h[i]
            H[i, i] = (self(phi + ei) - 2.0 * f0 + self(phi - ei)) / h[i] ** 2
            for k in range(i):
                ek = np.zeros(n)
                ek[k] = h[k]
                H[i, k] = H[k, i] = (self(phi + ei + ek) - self(phi + ei - ek)
                                     - self(phi - ei + ek) + self(phi - ei - ek)) / (
                    4.0 * h[i] * h[k])
        return H

    def unit_scores(self, phi: np.ndarray, rel: float = 1e-5) -> np.ndarray:
        """d log L_j / d beta for every unit (J, p), without the level-2 weights."""
        if self.nodes == 1:
            beta, Lam, modes = self.modes(phi)
            return laplace_gradient(self.data, beta, Lam, modes, per_unit=True)[0]
        p = self.data.p
        h = self.steps(phi, rel)
        S = np.empty((self.data.J, p))
        for i in range(p):
            e = np.zeros_like(phi)
            e[i] = h[i]
            S[:, i] = (self.units(phi + e) - self.units(phi - e)) / (2.0 * h[i])
        return S


_EM_STEPS = 2


def _quasi_newton(obj: Objective, phi: np.ndarray, max_iterations: int
                  ) -> tuple[np.ndarray, float, np.ndarray, int, bool, str]:
    """Minimise the Laplace deviance by BFGS started from the outer product of the units'
    scores (BHHH: 2 sum_j s_j s_j' approximates the deviance's Hessian, so the first steps
    are already scaled), with Armijo backtracking (the full step is nearly always taken).

    Stops when the quasi-Newton step is below 1e-7 relative (the Newton polish on the
    finite-difference Hessian that follows then converges in a step and the Hessian need not
    be recomputed) or the gradient below 1e-5.
    """
    data = obj.data
    p, R = data.p, data.R
    uw = np.ones(data.J) if data.unit_weight is None else data.unit_weight
    for _ in range(_EM_STEPS):      # EM steps for T from the modes: a better theta to start
        beta, Lam, modes = obj.modes(phi, keep=True)
        u = modes.b @ Lam.T
        Hm = modes.H if modes.H is not None else modes.chol @ np.swapaxes(modes.chol, 1, 2)
        T = ((u * uw[:, None]).T @ u + data.wsum(Lam @ np.linalg.inv(Hm) @ Lam.T)) / uw.sum()
        try:
            Lnew = np.linalg.cholesky(T + 1e-8 * np.eye(R))
        except np.linalg.LinAlgError:
            break
        obj.b = np.linalg.solve(Lnew, u.T).T
        phi = np.concatenate([phi[:p], theta_of(Lnew)])
    beta, Lam, modes = obj.modes(phi, keep=True)
    Sb, St = laplace_gradient(data, beta, Lam, modes, units=True)
    S = np.concatenate([Sb, St], axis=1) * uw[:, None]     # scores of w_j log L_j
    f = float(-2.0 * (data.wsum(unit_loglik(data, beta, Lam, modes, 1)) + data.constant))
    g = -2.0 * S.sum(axis=0)
    n = phi.size
    try:
        Hinv = np.linalg.inv(2.0 * (S.T @ S))
        Hinv = (Hinv + Hinv.T) / 2.0
        np.linalg.cholesky(Hinv)
    except np.linalg.LinAlgError:
        Hinv = np.eye(n) / max(1.0, float(np.max(np.abs(g))))
    if not np.isfinite(f):
        return phi, float(f), g, 0, False, "the deviance is not finite at the start"
    for it in range(1, max_iterations + 1):
        d = -Hinv @ g
        if g @ d >= 0:                       # not a descent direction: restart
            Hinv = np.eye(n) / max(1.0, float(np.max(np.abs(g))))
            d = -Hinv @ g
        if (np.max(np.abs(d) / np.maximum(1.0, np.abs(phi))) < 1e-7
                or np.max(np.abs(g)) < 1e-5):
            return phi, f, g, it - 1, True, "converged"
        t = 1.0
        slope = float(g @ d)
        while True:
            trial = phi + t * d
            ft, gt = obj.value_and_gradient(trial, keep=True)
            if np.isfinite(ft) and ft <= f + 1e-4 * t * slope:
                break
            t *= 0.5 if not np.isfinite(ft) else max(0.1, min(0.5, float(-0.5 * slope * t / (
                ft - f - slope * t))))
            if t < 1e-10:
                return phi, f, g, it, False, "the line search failed"
        sv, yv = trial - phi, gt - g
        sy = float(sv @ yv)
        if sy > 1e-10 * float(np.sqrt((sv @ sv) * (yv @ yv))):
            rho = 1.0 / sy
            V = np.eye(n) - rho * np.outer(sv, yv)
            Hinv = V @ Hinv @ V.T + rho * np.outer(sv, sv)
        phi, f, g = trial, ft, gt
    return phi, f, g, max_iterations, False, "the maximum number of iterations was reached"


def fit_ml(data: GLMMData, nodes: int = 1, *, max_iterations: int = 1000,
           tolerance: float = 1e-8, start: tuple[np.ndarray, np.ndarray] | None = None
           ) -> GLMMEstimates:
    """Maximum likelihood by Laplace (``nodes=1``) or AGQ with ``nodes`` per dimension.

    AGQ starts from the Laplace estimates.
    """
    if nodes < 1:
        raise EstimationError("quadrature_points must be a positive integer")
    if data.R == 0:
        raise EstimationError("the model has no random effect: fit it as a GLM (add a U term)")
    p, R = data.p, data.R
    if start is None and nodes > 1:
        lap = fit_ml(data, 1, max_iterations=max_iterations, tolerance=tolerance)
        start = (lap.beta, lap.theta)
    obj = Objective(data, nodes)
    if start is None:
        phi0 = np.concatenate([glm_start(data), theta_of(np.eye(R))])
    else:
        phi0 = np.concatenate([start[0], start[1]])
    notes: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if nodes == 1:
            phi, f, g, nit, success, why = _quasi_newton(obj, phi0, max_iterations)
        else:
            obj(phi0, keep=True)
            res = minimize(lambda x: obj.value_and_gradient(x, keep=True), phi0, jac=True,
                           method="BFGS", options={"maxiter": max_iterations, "gtol": 1e-5})
            phi, nit, success, why = res.x, int(res.nit), bool(res.success), res.message
            f, g = obj.value_and_gradient(phi, keep=True)
    # Newton polish on the Hessian (central differences of the gradient), which is also the
    # information matrix; recomputed only if the polish moved the estimates
    H = obj.hessian(phi)
    moved = 0.0
    for _ in range(6):
        try:
            np.linalg.cholesky(H)
            step = np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            break
        if np.max(np.abs(step)) < tolerance:
            break
        t = 1.0
        while t > 1e-4:
            trial = phi - t * step
            ft, gt = obj.value_and_gradient(trial, keep=True)
            if ft <= f:
                break
            t *= 0.5
        else:
            break
        phi, f, g = trial, ft, gt
        moved = max(moved, float(np.max(np.abs(t * step) / np.maximum(1.0, np.abs(phi)))))
    if moved > 1e-4:
        H = obj.hessian(phi)
    gmax = float(np.max(np.abs(g)))
    converged = bool(success or gmax < 1e-3)
    message = "converged" if converged else (
        f"the optimiser stopped without converging ({why}; largest gradient "
        f"{gmax:.2g}); try more max_iterations, fewer random effects, or method='pql'")
    beta, Lam = obj.split(phi)
    theta = phi[p:]
    tau = Lam @ Lam.T
    # model-based covariance: 2 H^{-1}, fixed-effect block (H over beta and theta)
    try:
        cov_full = 2.0 * np.linalg.inv(H)
        cov_beta = cov_full[:p, :p]
        if not np.all(np.diag(cov_beta) > 0):
            raise np.linalg.LinAlgError
    except np.linalg.LinAlgError:
        cov_beta = 2.0 * np.linalg.inv(H[:p, :p])
        notes.append("the information matrix of (gamma, tau) is singular (a variance on the "
                     "boundary); model-based standard errors hold tau fixed")
    # CR0 sandwich over units, tau held fixed: A^{-1} (sum s_j s_j') A^{-1}, A = H_bb / 2;
    # with level-2 weights the scores of w_j log L_j (meat sum_j w_j^2 s_j s_j')
    S = obj.unit_scores(phi)
    if data.unit_weight is not None:
        S = S * data.unit_weight[:, None]
    bread = np.linalg.inv(H[:p, :p] / 2.0)
    cov_robust = bread @ (S.T @ S) @ bread
    modes = obj.modes(phi)[2]
    Hinv = np.linalg.inv(modes.H if modes.H is not None else
                         np.einsum("jab,jcb->jac", modes.chol, modes.chol))
    u = modes.b @ Lam.T
    u_cov = np.einsum("ab,jbc,dc->jad", Lam, Hinv, Lam)
    eig = np.linalg.eigvalsh(tau)
    if eig[0] <= 1e-8 * max(float(eig[-1]), 1e-300):
        notes.append("T is singular (a variance of 0 or a correlation of +-1: a boundary "
                     "fit, as glmer's isSingular); consider fewer random effects")
    return GLMMEstimates(
        data=data, method="laplace" if nodes == 1 else "agq", nodes=nodes, beta=beta, tau=tau,
        theta=theta, cov_beta=cov_beta, cov_beta_robust=cov_robust, deviance=float(f),
        sigma2=None, u=u, u_cov=u_cov, converged=converged, iterations=int(nit),
        micro_iterations=obj.newton_steps, message=message, notes=tuple(notes))
