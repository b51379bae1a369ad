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
from openhlm.estimation.glmm.data import GLMMData

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
    zs: np.ndarray | None = None        # (J, R) sum_i s_i z_i at the modes
    zwz: np.ndarray | None = None       # (J, R, R) sum_i w_i z_i z_i' at the modes
    H: np.ndarray | None = None         # (J, R, R) H_j at the modes


_Pass = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


class RowKernel:
    """What every pass over the rows needs, computed once per data set: the columns of Z
    (``None`` for a column of ones), the distinct products z_a z_c (``None`` for ones), and
    for Bernoulli outcomes the signs that make the row log-density one ``log1p(exp)``.

    :meth:`evaluate` returns, for the random effects u_j = Lambda b_j of every unit, the
    per-unit sums of the log-density kernel, of s_i z_i and of w_i z_i z_i' (Z's space:
    Lambda is applied to the J small sums, not to the N rows).
    """

    def __init__(self, data: GLMMData) -> None:
        self.data = data
        Z = data.Z
        R = Z.shape[1]
        self.R = R
        self.z = [None if np.all(Z[:, a] == 1.0) else np.ascontiguousarray(Z[:, a])
                  for a in range(R)]
        self.pairs = [(a, c) for a in range(R) for c in range(a, R)]
        self.zz = []
        for a, c in self.pairs:
            za, zc = self.z[a], self.z[c]
            self.zz.append(za * zc if za is not None and zc is not None
                           else (za if zc is None else zc))
        self.bernoulli = (data.family.distribution == "bernoulli"
                          and data.family.row_weight is None)
        if self.bernoulli:
            self.nsgn = 1.0 - 2.0 * data.y                  # -1 for y = 1, +1 for y = 0
            self.sgn = -self.nsgn
        self._buf = np.empty(data.N)                       # scratch for products
        self.AT = np.ascontiguousarray(data.A.T)      # A'e as p contiguous dot products
        self.counts = (None if data.starts is None
                       else np.diff(np.r_[data.starts, data.N]).astype(np.int64))
        self.eta0: np.ndarray | None = None
        self._key: bytes | None = None

    def gather(self, per_unit: np.ndarray) -> np.ndarray:
        """A per-unit vector (J,) spread to the rows (N,) (``np.repeat`` on sorted rows)."""
        if self.counts is not None:
            return np.repeat(per_unit, self.counts)
        return np.take(per_unit, self.data.unit)

    def at(self, e: np.ndarray) -> np.ndarray:
        """A'e (one product at a time: no threaded BLAS on N rows)."""
        if e.shape[0] < 20_000:
            return self.AT @ e
        return np.array([np.einsum("i,i->", a, e) for a in self.AT])

    def base(self, beta: np.ndarray) -> np.ndarray:
        """a_i' beta + o_i (cached for the last beta)."""
        key = beta.tobytes()
        if key != self._key:
            d = self.data
            if d.N < 20_000:
                eta0 = d.A @ beta + d.offset
            else:
                eta0 = d.offset.copy()   # column by column: no threaded BLAS on N rows
                for bk, a in zip(beta, self.AT):
                    eta0 += bk * a
            self.eta0 = eta0
            self._key = key
            return eta0
        assert self.eta0 is not None
        return self.eta0

    def eta(self, eta0: np.ndarray, u: np.ndarray) -> np.ndarray:
        out = eta0.copy()
        for a in range(self.R):
            ua = self.gather(u[:, a])
            if self.z[a] is None:
                out += ua
            else:
                ua *= self.z[a]
                out += ua
        return out

    def evaluate(self, eta0: np.ndarray, u: np.ndarray) -> _Pass:
        """(f (J,), zs (J, R), zwz pairs (J, P), s (N,), w (N,)) at u (J, R)."""
        d = self.data
        eta = self.eta(eta0, u)
        usum = d.usum
        if self.bernoulli:
            eta *= self.nsgn                  # -log p(observed) = log1p(exp(eta * nsgn))
            e = np.exp(eta, out=eta)
            p = 1.0 + e
            np.reciprocal(p, out=p)           # p = P(observed outcome)
            r = e * p                         # 1 - p
            kern = np.log1p(e, out=e)
            f = -usum(kern)
            if not np.all(np.isfinite(f)):    # overflow: the stable general formulas
                return self._general(self.eta(eta0, u))
            w = p
            w *= r
            s = r
            s *= self.sgn
        else:
            return self._general(eta)
        buf = self._buf
        zs = np.stack([usum(s) if z is None else usum(np.multiply(s, z, out=buf))
                       for z in self.z], axis=1)
        zwz = np.stack([usum(w) if zz is None else usum(np.multiply(w, zz, out=buf))
                        for zz in self.zz], axis=1)
        return f, zs, zwz, s, w

    def _general(self, eta: np.ndarray) -> _Pass:
        d = self.data
        kern, s, w = d.family.evaluate(eta, d.y, d.n)
        f = d.usum(kern)
        zs = np.stack([d.usum(s) if z is None else d.usum(s * z) for z in self.z], axis=1)
        zwz = np.stack([d.usum(w * zz) if zz is not None else d.usum(w) for zz in self.zz],
                       axis=1)
        return f, zs, zwz, s, w

    def full(self, zwz: np.ndarray) -> np.ndarray:
        """(J, P) pair sums -> (J, R, R) symmetric matrices."""
        R = self.R
        out = np.empty((zwz.shape[0], R, R))
        for k, (a, c) in enumerate(self.pairs):
            out[:, a, c] = zwz[:, k]
            out[:, c, a] = zwz[:, k]
        return out

    def quad_rows(self, M: np.ndarray) -> np.ndarray:
        """z_i' M_j z_i for every row, M (J, R, R) symmetric."""
        h = None
        for k, (a, c) in enumerate(self.pairs):
            m = M[:, a, c] if a == c else 2.0 * M[:, a, c]
            t = self.gather(m)
            if self.zz[k] is not None:
                t *= self.zz[k]
            h = t if h is None else h + t
        assert h is not None
        return h

    def zsum(self, v: np.ndarray) -> np.ndarray:
        """sum_i v_i z_i per unit (J, R)."""
        d = self.data
        return np.stack([d.usum(v) if z is None else d.usum(v * z) for z in self.z], axis=1)


def kernel(data: GLMMData) -> RowKernel:
    k = data.__dict__.get("_row_kernel")
    if k is None:
        k = RowKernel(data)
        object.__setattr__(data, "_row_kernel", k)
    return k


def _hess(zwz_full: np.ndarray, Lam: np.ndarray) -> np.ndarray:
    """H_j = I + Lambda' (Z'WZ)_j Lambda."""
    R = Lam.shape[0]
    if R == 1:
        return 1.0 + zwz_full * (Lam[0, 0] ** 2)
    if R == 2 and Lam[0, 1] == 0.0:         # lower triangular: elementwise on (J,) columns
        l00, l10, l11 = Lam[0, 0], Lam[1, 0], Lam[1, 1]
        c00, c01, c11 = zwz_full[:, 0, 0], zwz_full[:, 0, 1], zwz_full[:, 1, 1]
        m00 = c00 * l00 + c01 * l10
        m10 = c01 * l00 + c11 * l10
        m11 = c11 * l11
        H = np.empty_like(zwz_full)
        H[:, 0, 0] = l00 * m00 + l10 * m10 + 1.0
        H[:, 0, 1] = H[:, 1, 0] = l10 * m11 + l00 * (c01 * l11)
        H[:, 1, 1] = l11 * m11 + 1.0
        return H
    H = Lam.T @ zwz_full @ Lam
    H[:, np.arange(R), np.arange(R)] += 1.0
    return H


def _solve(H: np.ndarray, g: np.ndarray) -> np.ndarray:
    """H_j^{-1} g_j for (J, R, R), (J, R)."""
    R = H.shape[1]
    if R == 1:
        return g / H[:, 0, :]
    if R == 2:
        a, b, d = H[:, 0, 0], H[:, 0, 1], H[:, 1, 1]
        det = a * d - b * b
        return np.stack([(d * g[:, 0] - b * g[:, 1]) / det,
                         (a * g[:, 1] - b * g[:, 0]) / det], axis=1)
    return np.linalg.solve(H, g[:, :, None])[:, :, 0]


def _inv(H: np.ndarray) -> np.ndarray:
    R = H.shape[1]
    if R == 1:
        return 1.0 / H
    if R == 2:
        a, b, d = H[:, 0, 0], H[:, 0, 1], H[:, 1, 1]
        det = a * d - b * b
        out = np.empty_like(H)
        out[:, 0, 0] = d / det
        out[:, 1, 1] = a / det
        out[:, 0, 1] = out[:, 1, 0] = -b / det
        return out
    return np.linalg.inv(H)


def _chol(H: np.ndarray) -> np.ndarray:
    R = H.shape[1]
    if R == 1:
        return np.sqrt(H)
    if R == 2:
        L = np.zeros_like(H)
        l00 = np.sqrt(H[:, 0, 0])
        l10 = H[:, 1, 0] / l00
        L[:, 0, 0] = l00
        L[:, 1, 0] = l10
        L[:, 1, 1] = np.sqrt(H[:, 1, 1] - l10 * l10)
        return L
    return np.linalg.cholesky(H)


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


def conditional_modes(data: GLMMData, beta: np.ndarray, Lam: np.ndarray,
                      start: np.ndarray | None = None, *, tol: float = 1e-5,
                      max_iter: int = 200) -> Modes:
    """Modes of g_j for all units at once (batched Newton with per-unit step halving).

    Stops after a Newton step whose largest component is below ``tol``: Newton's quadratic
    convergence leaves an error of order tol^2 in b (1e-10) and tol^4 in g_j.  One pass over
    the rows per Newton step gives g_j, the gradient and H_j at the new point together.
    """
    J, R = data.J, data.R
    K = kernel(data)
    eta0 = K.base(beta)
    b = np.zeros((J, R)) if start is None else start.copy()
    lik, zs, zwz, s, w = K.evaluate(eta0, b @ Lam.T)
    f = lik - 0.5 * np.einsum("jr,jr->j", b, b)
    for it in range(1, max_iter + 1):
        H = _hess(K.full(zwz), Lam)
        step = _solve(H, zs @ Lam - b)
        scale = None
        trial = b + step
        for _ in range(60):
            lik_n, zs_n, zwz_n, s_n, w_n = K.evaluate(eta0, trial @ Lam.T)
            f_new = lik_n - 0.5 * np.einsum("jr,jr->j", trial, trial)
            bad = ~(f_new >= f - 1e-12 * (1.0 + np.abs(f)))
            if not bad.any():
                break
            if scale is None:
                scale = np.ones(J)
            scale[bad] *= 0.5
            trial = b + scale[:, None] * step
        b, f, zs, zwz, s, w = trial, f_new, zs_n, zwz_n, s_n, w_n
        taken = step if scale is None else scale[:, None] * step
        if np.max(np.abs(taken)) < tol:
            break
    else:
        raise EstimationError("the conditional modes of the random effects did not converge "
                              f"in {max_iter} Newton steps; the model may be unidentified")
    C = K.full(zwz)
    H = _hess(C, Lam)
    return Modes(b=b, chol=_chol(H), g=f, iterations=it, score=s, weight=w, zs=zs, zwz=C,
                 H=H)


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
                     modes: Modes, *, per_unit: bool = False, units: bool = False
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Exact gradient of the Laplace log-likelihood in (beta, theta).

    With v_i = Lambda' z_i, H_j = I + sum_i w_i v_i v_i', h_i = v_i' H_j^{-1} v_i,
    c_i = -w'_i h_i / 2, q_j = H_j^{-1} sum_i c_i v_i and e_i = s_i + c_i - w_i v_i'q_j
    (the mode's dependence on the parameters is carried by q_j, by the implicit function
    theorem; ``per_unit=True``: the (J, p) per-unit beta scores instead; per-unit scores are
    of log L_j, the totals of the weighted sum_j w_j log L_j with level-2 weights):

        d l / d beta        = sum_i e_i a_i
        d l / d Lambda_kl   = sum_j [(Z'e)_j b_j' + (Z's)_j q_j' - (Z'WZ)_j Lambda H_j^{-1}]_kl

    Everything per row is done in Z's space (h_i = z_i' Lambda H_j^{-1} Lambda' z_i), and
    (Z'e)_j = (Z's)_j + (Z'c)_j - (Z'WZ)_j Lambda q_j needs no pass over the rows.
    """
    R = data.R
    K = kernel(data)
    b = modes.b
    if modes.zs is None or modes.score is None:
        modes = conditional_modes(data, beta, Lam, b)
    s, w, Zs, ZWZ = modes.score, modes.weight, modes.zs, modes.zwz
    assert s is not None and w is not None and Zs is not None and ZWZ is not None
    H = modes.H if modes.H is not None else _hess(ZWZ, Lam)
    # w' = w (1 - 2 mu) for the binomial (mu = (y - s) / n), = w for the Poisson
    d_row = data.family.row_weight
    if data.family.is_binomial:
        if d_row is None:
            mu2 = data.y - s
        else:              # s = d (y - n mu): mu from s / d (rows of weight 0 have w = 0)
            mu2 = data.y - np.divide(s, d_row, out=np.zeros_like(s), where=d_row > 0)
        if data.family.distribution != "bernoulli":
            mu2 /= data.n
        mu2 *= -2.0
        mu2 += 1.0
        mu2 *= w
        dw = mu2
    else:
        dw = w
    Hinv = _inv(H)
    M = Lam @ Hinv @ Lam.T
    c_row = K.quad_rows(M)
    c_row *= dw
    c_row *= -0.5
    Zc = K.zsum(c_row)                       # (J, R) sum_i c_i z_i
    q = _solve(H, Zc @ Lam)                  # H^{-1} Lambda' Z'c
    Lq = q @ Lam.T                           # Lambda q_j
    e = s + c_row
    e -= w * K.eta(np.zeros_like(s), Lq)
    if per_unit and not units:      # (J, p) scores of the units' log-likelihoods in beta
        return np.stack([data.usum(a * e) for a in K.AT], axis=1), np.empty(0)
    Ze = Zs + Zc - np.einsum("jab,jb->ja", ZWZ, Lq)
    if units:         # (J, p) and (J, n_theta) per-unit scores
        Gj = (Ze[:, :, None] * b[:, None, :] + Zs[:, :, None] * q[:, None, :]
              - ZWZ @ Lam @ Hinv)
        rows, cols = np.tril_indices(R)
        order = np.lexsort((rows, cols))
        return (np.stack([data.usum(a * e) for a in K.AT], axis=1),
                Gj[:, rows[order], cols[order]])
    uw = data.unit_weight
    if uw is None:
        g_beta = K.at(e)
        G = Ze.T @ b + Zs.T @ q - (ZWZ @ Lam @ Hinv).sum(axis=0)
    else:             # level-2 weights: the gradient of sum_j w_j log L_j
        g_beta = K.at(e * K.gather(uw))
        G = ((Ze * uw[:, None]).T @ b + (Zs * uw[:, None]).T @ q
             - np.tensordot(uw, ZWZ @ Lam @ Hinv, axes=(0, 0)))
    return g_beta, theta_of(np.tril(G))
