"""MDIST / CHIPCT of an HGLM's level-2 residual file, and its Q-Q graph.

The linear model's definition (docs/statistics.md 12.1) on the model linearised at the EB
modes, recomputed here unit by unit with explicit n_j x n_j matrices and scipy:
V_j = Z_j T Z_j' + sigma^2 W_j^-1 (W_j = Var(y | eta) at the modes), M = sum_j A_j'V_j^-1 A_j,
Var(u*_j) = T Z_j'V_j^-1 Z_j T - B_j M^-1 B_j' with B_j = T Z_j'V_j^-1 A_j,
MDIST_j = u*_j' Var(u*_j)^+ u*_j (scipy.linalg.pinvh), CHIPCT_j = chi2.ppf((rank - .5)/J, R).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import linalg, stats
from scipy.special import expit
from tests.unit.glmm._cases import data

import openhlm

CASES = {
    "contra_slope": {
        "model": "use = B0 + B1*age + B2*urban; B0 = G00 + G01*durban + U0; B1 = G10; "
                 "B2 = G20 + U2",
        "file": "contraception.csv", "id": "district", "distribution": "bernoulli",
        "method": "laplace", "A": ["1", "durban", "age", "urban"], "Z": ["1", "urban"],
        "y": "use"},
    "epil_slope": {
        "model": "y = B0 + B1*post; B0 = G00 + G01*trt + U0; B1 = G10 + U1",
        "file": "epilepsy.csv", "id": "subject", "distribution": "poisson",
        "method": "laplace", "exposure": "weeks", "A": ["1", "trt", "post"],
        "Z": ["1", "post"], "y": "y"},
    "cbpp_pql_overdispersed": {
        "model": "incidence = B0 + B1*period2 + B2*period3 + B3*period4; B0 = G00 + U0; "
                 "B1 = G10; B2 = G20; B3 = G30",
        "file": "cbpp.csv", "id": "herd", "distribution": "binomial", "method": "pql",
        "trials": "size", "overdispersion": True,
        "A": ["1", "period2", "period3", "period4"], "Z": ["1"], "y": "incidence"},
    "contra_weighted": {
        "model": "use = B0 + B1*age + B2*urban; B0 = G00 + G01*durban + U0; B1 = G10; "
                 "B2 = G20 + U2",
        "file": "contraception.csv", "id": "district", "distribution": "bernoulli",
        "method": "laplace", "A": ["1", "durban", "age", "urban"], "Z": ["1", "urban"],
        "y": "use", "level1_weight": "d1", "level2_weight": "w2"},
}


def _frame(case: dict) -> pd.DataFrame:
    """The case's data; the weighted case adds design weights (d1 per record, w2 per unit)."""
    frame = data(case["file"])
    if "level2_weight" in case:
        frame = frame.assign(d1=1.0 + frame["urban"] + 0.5 * (frame["age"] > 0),
                             w2=1.0 + (frame["district"] % 3))
    return frame


def _columns(frame: pd.DataFrame, names: list[str]) -> np.ndarray:
    return np.column_stack([np.ones(len(frame)) if n == "1" else frame[n].to_numpy(float)
                            for n in names])


def _fit(case: dict):
    kw = {k: case[k] for k in ("trials", "exposure", "overdispersion", "level1_weight",
                               "level2_weight") if k in case}
    return openhlm.fit(case["model"], _frame(case), id=case["id"],
                       distribution=case["distribution"], method=case["method"], **kw)


@pytest.mark.parametrize("name", list(CASES))
def test_mdist_and_chipct_unit_by_unit(name):
    case = CASES[name]
    res = _fit(case)
    frame = _frame(case)
    res2 = res.level2_residuals()
    T = res.tau
    R = T.shape[0]
    s2 = res.overdispersion if res.overdispersion is not None else 1.0
    gamma = np.array([r.estimate for r in res.fixed_effects])
    eb_cols = [c for c in res2.columns if c.startswith("EB")]
    units = res2["L2ID"].to_numpy()
    pieces = []
    for j, unit in enumerate(units):
        rows = frame[frame[case["id"]] == unit]
        A = _columns(rows, case["A"])
        Z = _columns(rows, case["Z"])
        u = res2.loc[j, eb_cols].to_numpy(float)
        eta = A @ gamma + Z @ u
        y = rows[case["y"]].to_numpy(float)
        if case["distribution"] == "poisson":
            w = rows[case["exposure"]].to_numpy(float) * np.exp(eta)
        else:
            n = rows[case["trials"]].to_numpy(float) if "trials" in case else np.ones(len(y))
            w = n * expit(eta) * (1 - expit(eta))
        w2 = 1.0
        if "level2_weight" in case:    # normalised: level 1 to n_j in the unit, level 2 to J
            d1 = rows["d1"].to_numpy(float)
            w = w * d1 * len(d1) / d1.sum()
            units_w2 = frame.groupby(case["id"])["w2"].first()
            w2 = float(units_w2.loc[unit] * len(units_w2) / units_w2.sum())
        V = Z @ T @ Z.T + s2 * np.diag(1.0 / w)
        Vi = linalg.inv(V)
        pieces.append((A, Z, u, Vi, w2))
    M = sum(w2 * A.T @ Vi @ A for A, _, _, Vi, w2 in pieces)
    Minv = linalg.inv(M)
    mdist = []
    for A, Z, u, Vi, _ in pieces:
        B = T @ Z.T @ Vi @ A
        var = T @ Z.T @ Vi @ Z @ T - B @ Minv @ B.T
        mdist.append(float(u @ linalg.pinvh(var) @ u))
    mdist = np.array(mdist)
    np.testing.assert_allclose(res2["MDIST"], mdist, rtol=1e-9, atol=1e-12)
    rank = stats.rankdata(mdist, method="ordinal")
    chipct = stats.chi2.ppf((rank - 0.5) / len(units), R)
    np.testing.assert_allclose(res2["CHIPCT"], chipct, rtol=1e-10)
    # the same columns in the written files, with labels
    assert list(res2.columns[:4]) == ["L2ID", "NJ", "CHIPCT", "MDIST"]
    assert f"Chi-square({R})" in res2.attrs["labels"]["CHIPCT"]


def test_mdist_is_about_chi_square_r_on_simulated_data():
    """With normal random effects MDIST_j is approximately chi-square(R): mean R."""
    rng = np.random.default_rng(7)
    J, n = 400, 25
    unit = np.repeat(np.arange(J), n)
    x = rng.normal(size=J * n)
    T = np.array([[0.5, 0.1], [0.1, 0.25]])
    u = rng.multivariate_normal([0, 0], T, size=J)
    eta = -0.3 + 0.5 * x + u[unit, 0] + u[unit, 1] * x
    y = (rng.random(J * n) < expit(eta)).astype(float)
    frame = pd.DataFrame({"id": unit, "y": y, "x": x})
    res = openhlm.fit("y = B0 + B1*x; B0 = G00 + U0; B1 = G10 + U1", frame, id="id",
                      distribution="bernoulli", method="laplace")
    md = res.level2_residuals()["MDIST"].to_numpy()
    assert np.mean(md) == pytest.approx(2.0, rel=0.12)
    assert stats.kstest(md, stats.chi2(2).cdf).pvalue > 1e-3


def test_qq_mdist_draws_the_residual_file():
    from openhlm.plots import qq_mdist

    res = _fit(CASES["contra_slope"])
    res2 = res.level2_residuals()
    fig = qq_mdist(res)
    ax = fig.axes[0]
    xy = ax.collections[0].get_offsets()
    np.testing.assert_allclose(np.asarray(xy)[:, 0], res2["CHIPCT"])
    np.testing.assert_allclose(np.asarray(xy)[:, 1], res2["MDIST"])
    assert "chi-square(2)" in ax.get_xlabel()
    assert "+ R" not in ax.get_title()
