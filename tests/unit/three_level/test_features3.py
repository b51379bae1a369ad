"""Three-level constraints, weights, multiple imputation, HLM's deviance convention and the
residual-file columns, each against an independent computation in the test (replicated data,
the two-level model, Rubin's rules by hand, dense N x N formulas).  lme4 references:
tests/reference/test_lme4_three_level_features.py."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

import openhlm
from openhlm.errors import DataError, HypothesisError, SpecError
from openhlm.estimation.three_level.design import build_design3
from openhlm.spec.equations3 import parse_model3

from .conftest import simulate

MODEL = """y = P0 + P1*t + E
P0 = B00 + B01*x2 + R0
P1 = B10 + R1
B00 = G000 + G001*w + U00
B10 = G100 + G101*w + U10"""
VARS = {"level1_variables": ["t", "y", "d1", "p1", "y2", "y3"], "level2_variables": ["x2", "w2"],
            "level3_variables": ["w", "w3"]}


def _data(seed: int = 1) -> pd.DataFrame:
    d = simulate(seed=seed)
    rng = np.random.default_rng(seed + 10)
    d["d1"] = rng.integers(1, 4, len(d)).astype(float)          # level-1 integer weights
    d["p1"] = rng.uniform(0.5, 2.0, len(d))                      # precision weights
    d["y2"] = d["y"] + rng.normal(scale=0.3, size=len(d))        # plausible values
    d["y3"] = d["y"] + rng.normal(scale=0.3, size=len(d))
    child_w = {c: float(rng.integers(1, 4)) for c in d["child"].unique()}
    school_w = {s: float(rng.integers(1, 4)) for s in d["school"].unique()}
    d["w2"] = d["child"].map(child_w)
    d["w3"] = d["school"].map(school_w)
    return d


def _mdm(d: pd.DataFrame):
    return openhlm.build_mdm(d, id=("child", "school"), **VARS)


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return _data()


@pytest.fixture(scope="module")
def mdm(data):
    return _mdm(data)


def _same_fit(a, b, *, robust: bool = True, rtol: float = 1e-6) -> None:
    assert a.deviance == pytest.approx(b.deviance, abs=1e-6)
    np.testing.assert_allclose(a.gamma.to_numpy(), b.gamma.to_numpy(), rtol=rtol, atol=1e-8)
    np.testing.assert_allclose([r.se for r in a.fixed], [r.se for r in b.fixed], rtol=1e-5)
    if robust:
        np.testing.assert_allclose([r.robust_se for r in a.fixed],
                                   [r.robust_se for r in b.fixed], rtol=1e-5)
    assert a.sigma2 == pytest.approx(b.sigma2, rel=1e-5)
    np.testing.assert_allclose(a.tau_pi, b.tau_pi, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(a.tau_beta, b.tau_beta, rtol=1e-4, atol=1e-7)


# -- constraints --------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["reml", "ml"])
def test_constraint_equals_two_level_model_without_level3_effects(data, method):
    """A three-level model with no random effect at level 3 is the two-level model of its
    level-2 units; the same constraint gives the same fit, labels and d.f. in both."""
    eq3 = """y = P0 + P1*t + E
P0 = B00 + B01*x2 + R0
P1 = B10 + R1
B00 = G000 + G001*w
B10 = G100 + G101*w"""
    three = openhlm.fit(eq3, _mdm(data), method=method, constraints=["G001 = G101"])
    eq2 = "y = B0 + B1*t + R; B0 = G00 + G01*x2 + G02*w + U0; B1 = G10 + G11*w + U1"
    two = openhlm.fit(eq2, data.drop(columns=["school"]), id="child", method=method,
                      constraints=["G02 = G11"])
    assert three.deviance == pytest.approx(two.deviance, abs=1e-6)
    g2 = {r.gamma: r for r in two.fixed.rows}
    g3 = {r.gamma: r for r in three.fixed}
    for a, b in (("G000", "G00"), ("G001", "G02"), ("G010", "G01"), ("G100", "G10")):
        assert g3[a].estimate == pytest.approx(g2[b].estimate, rel=1e-6, abs=1e-9)
        assert g3[a].se == pytest.approx(g2[b].se, rel=1e-5)
        assert g3[a].df == g2[b].df
    assert "G101" not in g3 and "G11" not in g2


def test_constraint_in_model_text_and_errors(mdm):
    text = MODEL + "\nG001 = G101"
    a = openhlm.fit(text, mdm, method="ml")
    b = openhlm.fit(MODEL, mdm, method="ml", constraints=["g001=g101"])
    assert a.deviance == pytest.approx(b.deviance, abs=1e-9)
    assert [r.gamma for r in a.fixed] == ["G000", "G001", "G010", "G100"]
    with pytest.raises(SpecError, match="unknown gamma 'G201'"):
        openhlm.fit(MODEL, mdm, constraints=["G001 = G201"])
    with pytest.raises(SpecError, match="already constrained"):
        openhlm.fit(MODEL, mdm, constraints=["G001 = G101", "G101 = G000"])


# -- weights ---------------------------------------------------------------------------------------

def _replicate_rows(d: pd.DataFrame, col: str) -> pd.DataFrame:
    return d.loc[d.index.repeat(d[col].astype(int))].reset_index(drop=True)


def _replicate_units(d: pd.DataFrame, unit: str, col: str, also: tuple[str, ...] = ()
                     ) -> pd.DataFrame:
    """Each unit repeated w times as distinct units (new IDs for it and ``also``)."""
    parts = []
    for uid, part in d.groupby(unit, sort=False):
        for copy in range(int(part[col].iloc[0])):
            p = part.copy()
            for c in (unit, *also):
                p[c] = p[c].astype(str) + f"#{copy}"
            parts.append(p)
    return pd.concat(parts, ignore_index=True)


@pytest.mark.parametrize("method", ["reml", "ml"])
def test_integer_level1_weights_equal_replicated_rows(data, mdm, method):
    w = openhlm.fit(MODEL, mdm, method=method, level1_weight="d1", normalize_weights=False)
    rep = openhlm.fit(MODEL, _mdm(_replicate_rows(data, "d1")), method=method)
    _same_fit(w, rep, robust=False)


@pytest.mark.parametrize("method", ["reml", "ml"])
def test_integer_level2_weights_equal_replicated_units(data, mdm, method):
    w = openhlm.fit(MODEL, mdm, method=method, level2_weight="w2", normalize_weights=False)
    rep = openhlm.fit(MODEL, _mdm(_replicate_units(data, "child", "w2")), method=method)
    _same_fit(w, rep, robust=False)


@pytest.mark.parametrize("method", ["reml", "ml"])
def test_integer_level3_weights_equal_replicated_units(data, mdm, method):
    w = openhlm.fit(MODEL, mdm, method=method, level3_weight="w3", normalize_weights=False)
    rep = openhlm.fit(MODEL, _mdm(_replicate_units(data, "school", "w3", also=("child",))),
                      method=method)
    _same_fit(w, rep, robust=False)
    # robust SEs: the pseudo-likelihood sandwich H^-1 (sum_k v_k^2 s_k s_k') H^-1, dense
    design = build_design3(parse_model3(MODEL, level1_variables=mdm.level1_variables,
                                        level2_variables=mdm.level2_variables,
                                        level3_variables=mdm.level3_variables), mdm)
    v = mdm.level3["w3"].to_numpy()
    gamma = w.gamma.to_numpy()
    H = np.zeros((len(gamma), len(gamma)))
    meat = np.zeros_like(H)
    for k in range(design.n3):
        rows = np.flatnonzero(design.row_level3_index == k)
        A, y = design.A[rows], design.y[rows]
        Z3, Z2 = design.Z3[rows], design.Z2[rows]
        units = design.unit_index[rows]
        same = (units[:, None] == units[None, :]).astype(float)
        V = (w.sigma2 * np.eye(len(rows)) + Z3 @ w.tau_beta @ Z3.T
             + same * (Z2 @ w.tau_pi @ Z2.T))
        Vi = np.linalg.inv(V)
        H += v[k] * A.T @ Vi @ A
        s = A.T @ Vi @ (y - A @ gamma)
        meat += v[k] ** 2 * np.outer(s, s)
    robust = np.linalg.inv(H) @ meat @ np.linalg.inv(H)
    np.testing.assert_allclose(w.robust_covariance, robust, rtol=1e-5)


def test_normalisation_conventions(data, mdm):
    """within: level-1 weights sum to n_j per level-2 unit, level-2 weights to the number of
    level-2 units of their level-3 unit, level-3 weights to K; overall: to N, J, K."""
    d = data.copy()
    n_child = d.groupby("child")["d1"].transform("size")
    d["d1w"] = d["d1"] * n_child / d.groupby("child")["d1"].transform("sum")
    d["d1o"] = d["d1"] * len(d) / d["d1"].sum()
    kids = d.drop_duplicates("child")
    per_school = kids.groupby("school")["w2"].agg(["size", "sum"])
    d["w2w"] = d["w2"] * d["school"].map(per_school["size"] / per_school["sum"])
    d["w2o"] = d["w2"] * len(kids) / kids["w2"].sum()
    schools = d.drop_duplicates("school")
    d["w3n"] = d["w3"] * len(schools) / schools["w3"].sum()
    m = openhlm.build_mdm(d, id=("child", "school"),
                          level1_variables=VARS["level1_variables"] + ["d1w", "d1o"],
                          level2_variables=VARS["level2_variables"] + ["w2w", "w2o"],
                          level3_variables=VARS["level3_variables"] + ["w3n"])
    for mode, names in (("within", ("d1w", "w2w")), ("overall", ("d1o", "w2o"))):
        auto = openhlm.fit(MODEL, m, method="ml", level1_weight="d1", level2_weight="w2",
                           level3_weight="w3", normalize_weights=mode)
        hand = openhlm.fit(MODEL, m, method="ml", level1_weight=names[0],
                           level2_weight=names[1], level3_weight="w3n",
                           normalize_weights=False)
        _same_fit(auto, hand, rtol=1e-7)
        assert "Weighting Specification" in str(auto) and f"yes ({mode})" in str(auto)


def test_weight_errors(data, mdm):
    with pytest.raises(SpecError, match="level-2 variable, not a level-3"):
        openhlm.fit(MODEL, mdm, level3_weight="w2")
    with pytest.raises(SpecError, match="not a variable"):
        openhlm.fit(MODEL, mdm, level2_weight="nope")
    d = data.copy()
    d.loc[d["school"] == d["school"].iloc[0], "w3"] = -1.0
    with pytest.raises(DataError, match="negative values"):
        openhlm.fit(MODEL, _mdm(d), level3_weight="w3")
    with pytest.raises(SpecError, match="three-level models only"):
        openhlm.fit("y = B0 + R; B0 = G00 + U0", data.drop(columns="school"), id="child",
                    level3_weight="w3")


def test_precision_weights_equal_scaled_rows(data, mdm):
    """Var(e_i) = sigma^2 / p_i: the fit of rows scaled by sqrt(p) (outcome and every column
    of the model, including the intercepts) with log|V| shifted by -sum log p."""
    res = openhlm.fit(MODEL, mdm, method="ml", precision_weight="p1")
    assert res.weighting.precision == "p1"
    # invariance: multiplying every precision by c rescales sigma^2 by c, nothing else
    d = data.copy()
    d["p1"] = 3.0 * d["p1"]
    res3 = openhlm.fit(MODEL, _mdm(d), method="ml", precision_weight="p1")
    assert res3.sigma2 == pytest.approx(3.0 * res.sigma2, rel=1e-6)
    np.testing.assert_allclose(res3.gamma, res.gamma, rtol=1e-6, atol=1e-9)
    assert res3.deviance == pytest.approx(res.deviance, abs=1e-6)


# -- multiple imputation -------------------------------------------------------------------------

def test_imputed_data_sets_pooled_by_rubins_rules(data):
    sets = []
    for m, col in enumerate(["y", "y2", "y3"]):
        d = data.drop(columns=["y"]).rename(columns={col: "y"}) if col != "y" else data.copy()
        d = d.drop(columns=[c for c in ("y2", "y3") if c in d.columns])
        sets.append(d)
    kw = {"id": ("child", "school"), "method": "ml"}
    fits = [openhlm.fit(MODEL, d, **kw) for d in sets]
    pooled = openhlm.fit(MODEL, sets, **kw)
    M = 3
    q = np.array([f.gamma.to_numpy() for f in fits])
    for attr, rows_se in (("se", "se"), ("robust_se", "robust_se")):
        u = np.array([[getattr(r, rows_se) ** 2 for r in f.fixed] for f in fits])
        qbar, ubar, b = q.mean(0), u.mean(0), q.var(0, ddof=1)
        total = ubar + (1 + 1 / M) * b
        riv = (1 + 1 / M) * b / ubar
        lam = (1 + 1 / M) * b / total
        nu_r = (M - 1) * (1 + 1 / riv) ** 2
        nu_c = np.array([r.df for r in fits[0].fixed], dtype=float)
        nu_obs = (nu_c + 1) / (nu_c + 3) * nu_c * (1 - lam)
        df = 1 / (1 / nu_r + 1 / nu_obs)
        np.testing.assert_allclose([r.estimate for r in pooled.fixed], qbar, rtol=1e-12)
        np.testing.assert_allclose([getattr(r, attr) for r in pooled.fixed], np.sqrt(total),
                                   rtol=1e-12)
        summary = pooled.extras["multiple_imputation"]
        if attr == "se":      # the table's d.f. are the model-based ones, as for two levels
            np.testing.assert_allclose([r.df for r in pooled.fixed], df, rtol=1e-10)
        np.testing.assert_allclose((summary.model if attr == "se" else summary.robust).df, df,
                                   rtol=1e-10)
        p = 2 * sps.t.sf(np.abs(qbar / np.sqrt(total)), df)
        key = "p" if attr == "se" else "robust_p"
        np.testing.assert_allclose([getattr(r, key) for r in pooled.fixed], p, rtol=1e-8)
    assert pooled.sigma2 == pytest.approx(np.mean([f.sigma2 for f in fits]), rel=1e-12)
    np.testing.assert_allclose(pooled.tau_beta, np.mean([f.tau_beta for f in fits], axis=0))
    assert pooled.deviance == pytest.approx(np.mean([f.deviance for f in fits]))
    text = str(pooled)
    assert "Combination of 3 imputed data sets" in text and "Rubin" in text
    # the same pooling from plausible values and from an imputation column
    pv = openhlm.fit(MODEL, data, plausible_values=["y", "y2", "y3"], **kw)
    np.testing.assert_allclose([r.se for r in pv.fixed], [r.se for r in pooled.fixed],
                               rtol=1e-10)
    stacked = pd.concat([d.assign(imp=m + 1) for m, d in enumerate(sets)], ignore_index=True)
    col = openhlm.fit(MODEL, stacked, imputation="imp", **kw)
    np.testing.assert_allclose([r.df for r in col.fixed], [r.df for r in pooled.fixed],
                               rtol=1e-10)
    with pytest.raises(HypothesisError, match="pooled"):
        openhlm.inference.three_level.deviance_test3(pooled, deviance=1.0, n_parameters=1)
    with pytest.raises(openhlm.errors.EstimationError, match="pooled"):
        pooled.write_residuals(level2="x.csv")


def test_imputed_data_sets_must_match(data):
    other = data[data["child"] != data["child"].iloc[0]]
    with pytest.raises(DataError, match="same level-2 units"):
        openhlm.fit(MODEL, [data, other], id=("child", "school"))


# -- deviance in HLM's convention -------------------------------------------------------------------

def test_deviance_test_in_hlm_convention(mdm):
    log2pi = float(np.log(2 * np.pi))
    ml = openhlm.fit(MODEL, mdm, method="ml")
    assert ml.deviance_hlm == pytest.approx(ml.deviance - log2pi, abs=1e-12)
    null = openhlm.fit("y = P0 + E; P0 = B00 + R0; B00 = G000 + U00", mdm, method="reml")
    assert null.deviance_hlm == null.deviance           # REML with one gamma: standard
    prior = ml.deviance + 25.0
    res = openhlm.fit(MODEL, mdm, method="ml",
                      deviance_test={"deviance": prior, "n_parameters": 5, "convention": "hlm"})
    test = res.extras["deviance_test"]
    assert test.chi2 == pytest.approx(prior - (ml.deviance - log2pi), abs=1e-6)
    assert test.df == ml.n_parameters - 5
    assert test.p == pytest.approx(sps.chi2.sf(test.chi2, test.df), rel=1e-10)
    std = openhlm.fit(MODEL, mdm, method="ml",
                      deviance_test={"deviance": prior, "n_parameters": 5})
    assert std.extras["deviance_test"].chi2 == pytest.approx(25.0, abs=1e-6)


# -- residual-file columns ------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["reml", "ml"])
def test_residual_columns_equal_dense_formulas(mdm, method):
    res = openhlm.fit(MODEL, mdm, method=method)
    design = build_design3(parse_model3(MODEL, level1_variables=mdm.level1_variables,
                                        level2_variables=mdm.level2_variables,
                                        level3_variables=mdm.level3_variables), mdm)
    s2, T2, T3 = res.sigma2, res.tau_pi, res.tau_beta
    A, y, Z2, Z3 = design.A, design.y, design.Z2, design.Z3
    unit, l3 = design.unit_index, design.row_level3_index
    N, J, K = len(y), design.n2, design.n3
    same2 = (unit[:, None] == unit[None, :]).astype(float)
    same3 = (l3[:, None] == l3[None, :]).astype(float)
    V = s2 * np.eye(N) + same2 * (Z2 @ T2 @ Z2.T) + same3 * (Z3 @ T3 @ Z3.T)
    Vi = np.linalg.inv(V)
    P = Vi - Vi @ A @ np.linalg.inv(A.T @ Vi @ A) @ A.T @ Vi
    gamma = res.gamma.to_numpy()
    Py = P @ y
    l2, l3f = res.level2_residuals(), res.level3_residuals()
    md2, md3 = np.zeros(J), np.zeros(K)
    for j in range(J):
        rows = unit == j
        r = T2 @ Z2[rows].T @ Py[rows]
        cov = T2 @ Z2[rows].T @ P[np.ix_(rows, rows)] @ Z2[rows] @ T2
        md2[j] = r @ np.linalg.pinv(cov, rcond=1e-10, hermitian=True) @ r
        np.testing.assert_allclose(res.eb_level2[j], r, rtol=1e-5, atol=1e-8)
    for k in range(K):
        rows = l3 == k
        u = T3 @ Z3[rows].T @ Py[rows]
        cov = T3 @ Z3[rows].T @ P[np.ix_(rows, rows)] @ Z3[rows] @ T3
        md3[k] = u @ np.linalg.pinv(cov, rcond=1e-10, hermitian=True) @ u
    np.testing.assert_allclose(l2["MDIST"], md2, rtol=1e-5)
    np.testing.assert_allclose(l3f["MDIST"], md3, rtol=1e-5)
    for frame, md, df in ((l2, md2, 2), (l3f, md3, 2)):
        rank = sps.rankdata(md, method="ordinal")
        np.testing.assert_allclose(frame["CHIPCT"], sps.chi2.ppf((rank - 0.5) / len(md), df),
                                   rtol=1e-5)
    # OLS residuals of r (level 2) and GLS-given-level-2 residuals of u (level 3)
    u_hat = res.eb_level3
    e = y - A @ gamma
    for j in range(J):
        rows = unit == j
        k = design.level3_index[j]
        if rows.sum() > 2:
            Z = Z2[rows]
            ols = np.linalg.solve(Z.T @ Z, Z.T @ (e[rows] - Z3[rows] @ u_hat[k]))
            np.testing.assert_allclose(l2.loc[j, ["OLR0", "OLR1"]].to_numpy(float), ols,
                                       rtol=1e-6, atol=1e-8)
        else:
            assert l2.loc[j, ["OLR0", "OLR1"]].isna().all()
    for k in range(K):
        rows = l3 == k
        Vb = (s2 * np.eye(rows.sum())
              + same2[np.ix_(rows, rows)] * (Z2[rows] @ T2 @ Z2[rows].T))
        Vbi = np.linalg.inv(Vb)
        Z = Z3[rows]
        gls = np.linalg.solve(Z.T @ Vbi @ Z, Z.T @ Vbi @ e[rows])
        np.testing.assert_allclose(l3f.loc[k, ["OLU00", "OLU10"]].to_numpy(float), gls,
                                   rtol=1e-6, atol=1e-8)
    # per level-2 unit ln SDs (pandas / numpy per unit)
    fit = res.level1_residuals()
    t = design.Z2[:, 1]
    for j in range(J):
        rows = unit == j
        n = rows.sum()
        yj = y[rows]
        lt = 0.5 * np.log(((yj - yj.mean()) ** 2).sum() / (n - 1)) if n > 1 else np.nan
        X = np.column_stack([np.ones(n), t[rows]])
        if n > 2 and np.linalg.matrix_rank(X) == 2:
            b = np.linalg.lstsq(X, yj, rcond=None)[0]
            lo = 0.5 * np.log(((yj - X @ b) ** 2).sum() / (n - 2))
        else:
            lo = np.nan
        lm = 0.5 * np.log((fit["L1RESID"].to_numpy()[rows] ** 2).sum() / n)
        np.testing.assert_allclose(l2.loc[j, ["LNTOTVAR", "OLSRSVAR", "MDRSVAR"]]
                                   .to_numpy(float), [lt, lo, lm], rtol=1e-7, atol=1e-10)


def test_residual_files_extra_variables_and_formats(mdm, tmp_path):
    res = openhlm.fit(MODEL, mdm)
    l1 = res.level1_residuals(extra=["d1", "w2", "w3"])
    d = mdm.level1
    np.testing.assert_array_equal(l1["d1"], d["d1"].to_numpy())
    lookup2 = dict(zip(mdm.unit_ids, mdm.level2["w2"]))
    np.testing.assert_array_equal(l1["w2"], [lookup2[u] for u in l1["L2ID"]])
    l2 = res.level2_residuals(extra=["w2", "w3"])
    lookup3 = dict(zip(mdm.level3_ids, mdm.level3["w3"]))
    np.testing.assert_array_equal(l2["w3"], [lookup3[u] for u in l2["L3ID"]])
    l3 = res.level3_residuals(extra=["w3"])
    np.testing.assert_array_equal(l3["w3"], mdm.level3["w3"].to_numpy())
    assert "w" in l3.columns and "x2" in l2.columns        # the model's predictors
    with pytest.raises(SpecError, match="extra variable 'x2'.*level-3"):
        res.level3_residuals(extra=["x2"])
    pytest.importorskip("pyreadstat")
    out = res.write_residuals(level2=tmp_path / "l2.sav", level3=tmp_path / "l3.dta",
                              extra_level2=["w2"], extra_level3=["w3"])
    back2 = pd.read_spss(out["level2"])
    back3 = pd.read_stata(out["level3"])
    np.testing.assert_allclose(back2["MDIST"], l2["MDIST"], rtol=1e-12)
    np.testing.assert_allclose(back3["MDIST"], l3["MDIST"], rtol=1e-12)
    np.testing.assert_allclose(back3["OLU00"], l3["OLU00"], rtol=1e-12)
    assert "w2" in back2.columns and "w3" in back3.columns


def test_reports_show_constraints_weights_and_pooling(data, mdm):
    res = openhlm.fit(MODEL, mdm, level3_weight="w3", constraints=["G001 = G101"])
    text, html, js = str(res), res._repr_html_(), res.to_dict()
    assert "Constraints on the fixed effects" in text and "G001 = G101" in html
    assert "Weighting Specification" in text and "pseudo-maximum likelihood" in html
    assert js["constraints"] == ["G001 = G101"] and js["weighting"]["level3"] == "w3"
    assert js["deviance_hlm"] == pytest.approx(res.deviance - np.log(2 * np.pi))
    pooled = openhlm.fit(MODEL, data, id=("child", "school"),
                         plausible_values=["y", "y2", "y3"])
    assert "multiple_imputation" in pooled.to_dict()
    assert "Rubin" in pooled._repr_html_()


def test_model_file_level3_weight_round_trip(data, tmp_path):
    from openhlm.spec.options import FitOptions

    path = tmp_path / "data.csv"
    data.to_csv(path, index=False)
    toml = tmp_path / "m.toml"
    toml.write_text(f'''[data]
level1 = "{path.as_posix()}"
id = ["child", "school"]

[model]
equations = """
{MODEL}
"""
constraints = ["G001 = G101"]

[estimation]
method = "ml"

[weights]
level3 = "w3"
level2 = "w2"
normalize = "overall"
''')
    from openhlm.spec.modelfile import load_model_file

    mf = load_model_file(toml)
    options = FitOptions.from_model_file(mf)
    assert options.weights.level3 == "w3" and options.weights.normalize == "overall"
    again = FitOptions.from_model_file(load_model_file(_write(
        tmp_path, options.to_toml(MODEL, mf.data))))
    assert again.weights == options.weights
    via_file = openhlm.fit(MODEL, _mdm(data), **options.to_kwargs())
    direct = openhlm.fit(MODEL, _mdm(data), method="ml", level3_weight="w3", level2_weight="w2",
                         normalize_weights="overall", constraints=["G001 = G101"])
    assert via_file.deviance == pytest.approx(direct.deviance, abs=1e-9)


def _write(tmp_path, text: str):
    p = tmp_path / "again.toml"
    p.write_text(text)
    return p


def test_cli_residuals_with_extra_variables(data, tmp_path, capsys):
    from openhlm.cli.main import main

    path = tmp_path / "data.csv"
    data.to_csv(path, index=False)
    toml = tmp_path / "m.toml"
    toml.write_text(f'[data]\nlevel1 = "{path.as_posix()}"\nid = ["child", "school"]\n\n'
                    f'[model]\nequations = """\n{MODEL}\n"""\n')
    r2, r3 = tmp_path / "r2.csv", tmp_path / "r3.csv"
    assert main(["residuals", str(toml), "--res2", str(r2), "--res3", str(r3),
                 "--extra2", "w2", "--extra3", "w3"]) == 0
    capsys.readouterr()
    back2, back3 = pd.read_csv(r2), pd.read_csv(r3)
    assert {"MDIST", "CHIPCT", "OLR0", "w2"} <= set(back2.columns)
    assert {"MDIST", "CHIPCT", "OLU00", "w3"} <= set(back3.columns)


# -- combinations not available ---------------------------------------------------------------
@pytest.mark.parametrize("special", [{"mode": "hlm", "method": "ml"},
                                     {"heterogeneous_sigma2": ["t"]},
                                     {"homogeneity": True}])
@pytest.mark.parametrize("plain", [{"constraints": ["G001 = G101"]},
                                   {"level2_weight": "w2"}])
def test_hlm_mode_heterogeneity_and_homogeneity_refuse_constraints_and_weights(mdm, special,
                                                                              plain):
    """The EM, the heterogeneous-sigma^2 fit and the homogeneity test do not know constraints
    or weights: asking for both is a one-line refusal, never a fit that ignores one."""
    with pytest.raises(SpecError, match="together with") as err:
        openhlm.fit(MODEL, mdm, **special, **plain)
    assert "\n" not in str(err.value)
