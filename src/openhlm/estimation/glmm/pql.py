"""Penalised quasi-likelihood (PQL): HLM's default HGLM estimator, as MASS::glmmPQL.

Macro iterations (HLM's name) linearise the model at the current linear predictor
eta = A beta + Z u + offset:

    z_ij = eta_ij - o_ij + s_ij / w_ij,      w_ij = Var(y_ij | eta_ij)

(s = y - E(y | eta), the score; w the working weight: n mu (1 - mu) or mu).  The micro
iterations fit the linear mixed model

    z_j = A_j beta + Z_j u_j + e_j,   e_j ~ N(0, sigma^2 W_j^{-1}),   u_j ~ N(0, T)

by restricted (default, as glmmPQL's ``lme``) or full maximum likelihood, with sigma^2 = 1
(no over-dispersion, HLM's default) or estimated (over-dispersion; glmmPQL always estimates
it).  Here the micro step maximises the linearised model's likelihood exactly over theta
(beta by GLS, profiled); the new eta uses the GLS beta and the BLUPs u.  The macro iterations
stop when the largest change in eta is below ``tolerance`` (glmmPQL stops when
sum (eta - eta_old)^2 < 1e-6 sum eta^2, after at most 10 iterations).

Everything is in per-unit sufficient statistics: with M_j = I + Lambda' Z_j'W_j Z_j Lambda,
V_j^{-1} = W_j - W_j Z_j Lambda M_j^{-1} Lambda' Z_j' W_j and log|V_j| = log|M_j| - sum log w.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from openhlm.errors import EstimationError
from openhlm.estimation.glmm.data import GLMMData, unit_outer, unit_sum
from openhlm.estimation.glmm.estimates import GLMMEstimates
from openhlm.estimation.glmm.ml import glm_start
from openhlm.estimation.glmm.quadrature import lambda_matrix, theta_of

__all__ = [
    "LinearisedStats",
    "fit_pql",
    "lower_factor",
    "population_average",
    "population_average_at",
    "pql_estimates",
    "solve_linearised",
]

LOG_2PI = float(np.log(2.0 * np.pi))


@dataclass(frozen=True)
class LinearisedStats:
    """Per-unit weighted cross-products of the linearised model."""

    ZWZ: np.ndarray      # (J, R, R)
    ZWA: np.ndarray      # (J, R, p)
    ZWz: np.ndarray      # (J, R)
    AWA: np.ndarray      # (p, p)
    AWz: np.ndarray      # (p,)
    zWz: float
    sum_log_w: float
    N: float
    #: level-2 design weights (``None``: all 1): every unit's contribution to the linearised
    #: likelihood is multiplied by w_j (AWA, AWz, zWz, sum_log_w and N are weighted sums)
    unit_weight: np.ndarray | None = None

    @classmethod
    def of(cls, data: GLMMData, z: np.ndarray, w: np.ndarray) -> LinearisedStats:
        J, u = data.J, data.unit
        uw = data.unit_weight
        wr = w if uw is None else w * uw[u]        # row weights of the level-1 totals
        Aw = data.A * wr[:, None]
        return cls(ZWZ=unit_outer(u, w, data.Z, data.Z, J),
                   ZWA=unit_outer(u, w, data.Z, data.A, J),
                   ZWz=unit_sum(u, data.Z * (w * z)[:, None], J),
                   AWA=Aw.T @ data.A, AWz=Aw.T @ z, zWz=float(wr @ (z * z)),
                   sum_log_w=float(np.log(w) @ (np.ones_like(w) if uw is None else uw[u])),
                   N=_weighted_rows(data),
                   unit_weight=uw)


def _weighted_rows(data: GLMMData) -> float:
    """N with the design weights: sum_ij d_ij w_j (the number of rows without weights)."""
    d = data.family.row_weight
    uw = data.unit_weight
    rows = np.ones(data.N) if d is None else d
    return float(rows.sum() if uw is None else rows @ uw[data.unit])


@dataclass(frozen=True)
class _Solved:
    value: float           # -2 log L of the linearised model (REML or ML)
    beta: np.ndarray
    sigma2: float
    XtVX: np.ndarray       # A'V*^{-1}A (V* = V / sigma^2)
    Minv: np.ndarray       # (J, R, R)
    Lam: np.ndarray


def _solve(st: LinearisedStats, theta: np.ndarray, R: int, reml: bool,
           fixed_sigma2: bool) -> _Solved:
    return solve_linearised(st, lambda_matrix(theta, R), reml, fixed_sigma2)


def solve_linearised(st: LinearisedStats, Lam: np.ndarray, reml: bool,
                     fixed_sigma2: bool) -> _Solved:
    """GLS fixed effects, BLUP pieces and -2 log L of the linearised model at the relative
    covariance factor ``Lam`` (T = sigma^2 Lam Lam'; sigma^2 = 1 when ``fixed_sigma2``, else
    profiled)."""
    R = Lam.shape[0]
    J, p = st.ZWA.shape[0], st.ZWA.shape[2]
    M = Lam.T @ st.ZWZ @ Lam + np.eye(R)
    C = np.linalg.cholesky(M)
    uw = st.unit_weight
    logdets = 2.0 * np.log(np.diagonal(C, axis1=1, axis2=2)).sum(axis=1)
    logdetM = float(logdets.sum() if uw is None else logdets @ uw)
    Minv = np.linalg.inv(M)
    P = Lam.T @ st.ZWA                                 # Lambda' Z'WA   (J, R, p)
    q = st.ZWz @ Lam                                   # Lambda' Z'Wz   (J, R)
    MinvP = Minv @ P
    Minvq = (Minv @ q[:, :, None])[:, :, 0]
    if uw is not None:                                 # weighted sums over units
        MinvP = MinvP * uw[:, None, None]
        Minvq = Minvq * uw[:, None]
    XtVX = st.AWA - P.reshape(J * R, p).T @ MinvP.reshape(J * R, p)
    XtVz = st.AWz - MinvP.reshape(J * R, p).T @ q.reshape(J * R)
    ztVz = st.zWz - float(q.ravel() @ Minvq.ravel())
    try:
        beta = np.linalg.solve(XtVX, XtVz)
        _, logdetX = np.linalg.slogdet(XtVX)
    except np.linalg.LinAlgError:
        raise EstimationError("the fixed effects are not identified (singular design)") from None
    rss = float(ztVz - beta @ XtVz)
    N, p = st.N, beta.size
    logdetV = logdetM - st.sum_log_w
    dof = N - p if reml else N
    if fixed_sigma2:
        sigma2 = 1.0
        value = dof * LOG_2PI + logdetV + rss
    else:
        sigma2 = rss / dof
        value = dof * (LOG_2PI + np.log(sigma2) + 1.0) + logdetV
    if reml:
        value += logdetX
    return _Solved(float(value), beta, sigma2, XtVX, Minv, Lam)


def fit_pql(data: GLMMData, *, overdispersion: bool = False, reml: bool = False,
            max_iterations: int = 200, tolerance: float = 1e-10) -> GLMMEstimates:
    """PQL estimates (see the module docstring)."""
    if data.R == 0:
        raise EstimationError("the model has no random effect: fit it as a GLM (add a U term)")
    R, J = data.R, data.J
    fam = data.family
    beta = glm_start(data)
    u = np.zeros((J, R))
    eta = data.A @ beta + data.offset
    theta = theta_of(np.eye(R))
    micro = 0
    converged = False
    solved = None
    for macro in range(1, max_iterations + 1):
        s, w = fam.score_weight(eta, data.y, data.n)
        w = np.maximum(w, 1e-12)
        z = eta - data.offset + s / w
        st = LinearisedStats.of(data, z, w)
        res = minimize(lambda th, st=st: _solve(st, th, R, reml, not overdispersion).value,
                       theta, method="BFGS", options={"gtol": 1e-9, "maxiter": 1000})
        micro += int(res.nit)
        theta = res.x
        solved = _solve(st, theta, R, reml, not overdispersion)
        beta = solved.beta
        q = st.ZWz @ solved.Lam
        Pb = np.einsum("ba,jbf,f->ja", solved.Lam, st.ZWA, beta)
        b = np.einsum("jab,jb->ja", solved.Minv, q - Pb)
        u = b @ solved.Lam.T
        eta_new = data.A @ beta + np.einsum("nr,nr->n", data.Z, u[data.unit]) + data.offset
        change = float(np.max(np.abs(eta_new - eta)))
        eta = eta_new
        if change < tolerance:
            converged = True
            break
    assert solved is not None
    # final quantities at the converged linearisation
    s, w = fam.score_weight(eta, data.y, data.n)
    w = np.maximum(w, 1e-12)          # rows of level-1 weight 0 have w = 0
    z = eta - data.offset + s / w
    st = LinearisedStats.of(data, z, w)
    sigma2 = _solve(st, theta, R, reml, not overdispersion).sigma2
    message = "converged" if converged else (
        f"PQL did not converge in {max_iterations} macro iterations (largest change in the "
        "linear predictor still above the tolerance); try more max_iterations or "
        "method='laplace'")
    return pql_estimates(data, eta, u, lambda_matrix(theta, R), sigma2,
                         overdispersion=overdispersion, reml=reml, converged=converged,
                         iterations=macro, micro_iterations=micro, message=message,
                         max_iterations=max_iterations, tolerance=tolerance)


def pql_estimates(data: GLMMData, eta: np.ndarray, u: np.ndarray, Lam: np.ndarray,
                  sigma2: float, *, overdispersion: bool, reml: bool, converged: bool,
                  iterations: int, micro_iterations: int, message: str,
                  max_iterations: int = 200, tolerance: float = 1e-10,
                  mode: str = "exact", micro_history: tuple[int, ...] = ()
                  ) -> GLMMEstimates:
    """:class:`GLMMEstimates` of a PQL fit ending at the linear predictor ``eta`` (with the
    random effects ``u``) and T = sigma^2 Lam Lam': the model linearised at ``eta`` gives the
    GLS fixed effects, their model-based and robust (CR0) covariances and the posterior
    covariances of u; the population-average model follows with the same T.  ``Lam`` is
    lower triangular (:func:`lower_factor`)."""
    J = data.J
    s, w = data.family.score_weight(eta, data.y, data.n)
    w = np.maximum(w, 1e-12)
    z = eta - data.offset + s / w
    st = LinearisedStats.of(data, z, w)
    solved = solve_linearised(st, Lam, reml, True)    # beta, XtVX, Minv do not depend on sigma2
    XtVX_inv = np.linalg.inv(solved.XtVX)
    cov_beta = sigma2 * XtVX_inv
    # robust (CR0) sandwich on the linearised model: A_j'V_j^{-1} r_j per unit
    r = z - data.A @ solved.beta
    AWr = unit_sum(data.unit, data.A * (w * r)[:, None], J)
    ZWr = unit_sum(data.unit, data.Z * (w * r)[:, None], J)
    P = np.einsum("ba,jbf->jaf", Lam, st.ZWA)
    a = AWr - np.einsum("jaf,jab,jb->jf", P, solved.Minv, ZWr @ Lam)
    if data.unit_weight is not None:      # pseudo-likelihood sandwich: w_j^2 in the meat
        a = a * data.unit_weight[:, None]
    cov_robust = XtVX_inv @ (a.T @ a) @ XtVX_inv
    u_cov = sigma2 * np.einsum("ab,jbc,dc->jad", Lam, solved.Minv, Lam)
    tau = sigma2 * Lam @ Lam.T
    pa = population_average_at(data, solved.beta, Lam, sigma2=sigma2,
                               max_iterations=max_iterations, tolerance=tolerance)
    return GLMMEstimates(
        data=data, method="pql", nodes=0, beta=solved.beta, tau=tau, population_average=pa,
        theta=theta_of(Lam) * np.sqrt(sigma2),
        cov_beta=cov_beta, cov_beta_robust=cov_robust,
        deviance=None, sigma2=sigma2 if overdispersion else None, u=u, u_cov=u_cov,
        converged=converged, iterations=iterations, micro_iterations=micro_iterations,
        message=message, linearised_likelihood="reml" if reml else "ml", mode=mode,
        micro_history=micro_history)


def lower_factor(T: np.ndarray) -> np.ndarray:
    """A lower-triangular L with L L' = T (Cholesky; a singular T through its eigenvalues
    clipped at 0 and a QR step)."""
    try:
        return np.linalg.cholesky(T)
    except np.linalg.LinAlgError:
        lam, Q = np.linalg.eigh(0.5 * (T + T.T))
        root = Q * np.sqrt(np.maximum(lam, 0.0))          # root root' = T
        Rf = np.asarray(np.linalg.qr(root.T, mode="r"))    # root' = Q_ R_, T = R_' R_
        signs = np.where(np.diag(Rf) < 0, -1.0, 1.0)
        return Rf.T * signs[None, :]


def population_average(data: GLMMData, beta: np.ndarray, theta: np.ndarray, *,
                       sigma2: float = 1.0, max_iterations: int = 200,
                       tolerance: float = 1e-10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`population_average_at` with T given by ``theta`` (lme4's Lambda, relative)."""
    return population_average_at(data, beta, lambda_matrix(theta, data.R), sigma2=sigma2,
                                 max_iterations=max_iterations, tolerance=tolerance)


def population_average_at(data: GLMMData, beta: np.ndarray, Lam: np.ndarray, *,
                          sigma2: float = 1.0, max_iterations: int = 200,
                          tolerance: float = 1e-10
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The population-average model's fixed effects with model-based and robust (CR0)
    covariances: generalised estimating equations with the unit-specific model's T as the
    working covariance (Zeger, Liang & Albert 1988; RB02 ch. 10).

    The linearisation is at the marginal linear predictor eta = A gamma + offset (random
    effects at 0), z = eta - offset + (y - E y) / w, and gamma solves the GLS equations
    sum_j A_j' V_j^{-1} (z_j - A_j gamma) = 0 with V_j = sigma^2 (W_j^{-1} + Z_j T* Z_j'),
    T held at its unit-specific estimate; iterated to a fixed point.
    """
    fam = data.family
    g = beta.copy()
    for _ in range(max_iterations):
        eta = data.A @ g + data.offset
        s, w = fam.score_weight(eta, data.y, data.n)
        w = np.maximum(w, 1e-12)
        z = eta - data.offset + s / w
        st = LinearisedStats.of(data, z, w)
        solved = solve_linearised(st, Lam, False, True)
        change = float(np.max(np.abs(solved.beta - g)))
        g = solved.beta
        if change < tolerance:
            break
    eta = data.A @ g + data.offset
    s, w = fam.score_weight(eta, data.y, data.n)
    w = np.maximum(w, 1e-12)
    z = eta - data.offset + s / w
    st = LinearisedStats.of(data, z, w)
    solved = solve_linearised(st, Lam, False, True)
    bread = np.linalg.inv(solved.XtVX)
    r = z - data.A @ g
    J = data.J
    AWr = unit_sum(data.unit, data.A * (w * r)[:, None], J)
    ZWr = unit_sum(data.unit, data.Z * (w * r)[:, None], J)
    P = np.einsum("ba,jbf->jaf", solved.Lam, st.ZWA)
    a = AWr - np.einsum("jaf,jab,jb->jf", P, solved.Minv, ZWr @ solved.Lam)
    if data.unit_weight is not None:
        a = a * data.unit_weight[:, None]
    return g, sigma2 * bread, bread @ (a.T @ a) @ bread
