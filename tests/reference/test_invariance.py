"""Invariance of exact-mode fits to the units and offsets of the data (issue 12, docs/engine.md).

Adding a constant to the outcome, or to an uncentred level-1 predictor, and multiplying a
predictor by a constant are exact reparameterisations of the model.  On several models (HS&B
Model 4 and an uncentred-SES variant, a constrained model, an uncentred calendar-year random
slope, a random-intercept model, a weighted model) each transformed fit must give the ML
deviance to 1e-8 (relative), sigma^2, T, every gamma and every standard error transformed
exactly, converged=True and no warning (pytest turns warnings into errors); the REML criterion
moves by exactly 2 log|det| of the fixed-effect reparameterisation (0 for shifts,
2 n_q log s for n_q fixed columns multiplied by s).  The lme4 values in
``crosscheck/stress`` (nloptwrap + bobyqa polish) are compared where lme4 itself is exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

import openhlm
from tests.reference.crosscheck._load import load_case, load_data

M4 = """mathach = B0 + B1*group(ses) + R
B0 = G00 + G01*sector + G02*meanses + U0
B1 = G10 + G11*sector + G12*meanses + U1"""
M4_UNCENTRED = M4.replace("group(ses)", "ses")
CALENDAR = "y = B0 + B1*year + R; B0 = G00 + U0; B1 = G10 + U1"
RI = "y = B0 + R; B0 = G00 + U0"
WEIGHTED = "y = B0 + B1*year + R; B0 = G00 + G01*w2 + U0; B1 = G10 + U1"


def hsb():
    l1 = pd.read_csv(openhlm.datasets.path("hsb1.csv"))
    l2 = pd.read_csv(openhlm.datasets.path("hsb2.csv"))
    return l1, l2, "id"


def calendar():
    l1 = load_data("stress_calendar")
    rng = np.random.default_rng(7)
    l1["d"] = rng.uniform(0.5, 2.0, size=len(l1))
    l2 = pd.DataFrame({"g": np.unique(l1["g"])})
    l2["w2"] = rng.normal(size=len(l2))
    l2["uw"] = rng.uniform(0.5, 2.0, size=len(l2))
    return l1, l2, "g"


def ri():
    l1 = load_data("stress_ri")
    return l1, pd.DataFrame({"g": np.unique(l1["g"])}), "g"


@dataclass(frozen=True)
class Case:
    name: str
    equations: str
    data: object
    x: str | None                  # level-1 predictor to shift / scale (None: outcome only)
    shift_ok: bool = True          # x + c is an exact reparameterisation (partners exist)
    constraints: tuple[str, ...] = ()
    options: tuple[tuple[str, object], ...] = ()


CASES = [
    Case("hsb_model4", M4, hsb, "ses", shift_ok=False),   # group-centred: a shift is removed
    Case("hsb_model4_uncentred", M4_UNCENTRED, hsb, "ses"),
    Case("hsb_constraint", M4, hsb, None, constraints=("G02 = G12",)),
    Case("calendar", CALENDAR, calendar, "year"),
    Case("random_intercept", RI, ri, None),
    Case("weighted", WEIGHTED, calendar, "year",
         options=(("level1_weight", "d"), ("level2_weight", "uw"))),
]


def fit(case: Case, method: str, transform=None):
    l1, l2, id_ = case.data()
    l1 = l1.copy()
    if transform is not None:
        kind, value = transform
        col = "mathach" if "mathach" in l1 else "y"
        if kind == "y+":
            l1[col] = l1[col] + value
        elif kind == "x+":
            l1[case.x] = l1[case.x] + value
        else:
            l1[case.x] = l1[case.x] * value
    mdm = openhlm.build_mdm(l1, l2, id=id_)
    res = openhlm.fit(case.equations, mdm, method=method, constraints=list(case.constraints),
                      **dict(case.options))
    assert res.converged, (case.name, transform, res.convergence.stop_reason)
    return res


def expected_maps(base, case: Case, transform):
    """(L, shift, B, reml_change): gamma_new = L gamma + shift, T_new = B T B'."""
    labels = list(base.gamma.index)
    F = len(labels)
    L, shift = np.eye(F), np.zeros(F)
    R = base.tau.shape[0]
    B = np.eye(R)
    kind, value = transform
    if kind == "y+":
        shift[labels.index("G00")] = value
        return L, shift, B, 0.0
    # the coefficient of x: B1 in these models; its gammas G1s, partners G0s
    slope = [g for g in labels if g.startswith("G1")]
    rq = list(base.tau_labels).index(case.x.upper()) if case.x.upper() in base.tau_labels \
        else None
    if kind == "x*":
        for g in slope:
            L[labels.index(g), labels.index(g)] = 1.0 / value
        if rq is not None:
            B[rq, rq] = 1.0 / value
        return L, shift, B, 2.0 * len(slope) * np.log(value)
    for g in slope:   # x + c: G0s_new = G0s - c G1s
        L[labels.index("G0" + g[2:]), labels.index(g)] = -value
    if rq is not None:
        B[0, rq] = -value
    return L, shift, B, 0.0


TRANSFORMS = [("y+", 1e8), ("x+", 1e6), ("x*", 1e6), ("x*", 1e-6)]


@pytest.mark.parametrize("method", ["ml", "reml"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_fit_is_invariant_to_units_and_offsets(case, method):
    base = fit(case, method)
    for transform in TRANSFORMS:
        if transform[0] != "y+" and (case.x is None or (transform[0] == "x+" and not case.shift_ok)):
            continue
        new = fit(case, method, transform)
        L, shift, B, reml_change = expected_maps(base, case, transform)
        tag = f"{case.name} {method} {transform}"
        change = reml_change if method == "reml" else 0.0
        assert new.deviance == pytest.approx(base.deviance + change, rel=1e-8, abs=1e-7), tag
        assert new.sigma2 == pytest.approx(base.sigma2, rel=1e-7), tag
        T = B @ base.tau @ B.T
        np.testing.assert_allclose(new.tau, T, rtol=1e-6, atol=1e-7 * np.abs(T).max(),
                                   err_msg=tag)
        g = L @ base.gamma.to_numpy() + shift
        # a shifted gamma (G0s - c G1s) is known to the accuracy of its largest term
        scale_g = np.abs(L) @ np.abs(base.gamma.to_numpy()) + np.abs(shift)
        err = np.abs(new.gamma.to_numpy() - g)
        assert np.all(err <= 1e-6 * np.abs(g) + 1e-7 * scale_g), (tag, err, g)
        cov = L @ base.gamma_cov.to_numpy() @ L.T
        np.testing.assert_allclose(new.fixed_effects["se"].to_numpy(), np.sqrt(np.diag(cov)),
                                   rtol=1e-6, err_msg=tag)
        assert new.sigma2_se == pytest.approx(base.sigma2_se, rel=1e-6), tag
        if transform[0] in ("y+", "x*"):   # SEs of T transform elementwise
            se = np.abs(np.diag(B))[:, None] * base.tau_se * np.abs(np.diag(B))[None, :]
            np.testing.assert_allclose(new.tau_se, se, rtol=1e-5, err_msg=tag)
            robust = np.abs(np.diag(L)) * base.fixed_effects["robust_se"].to_numpy()
            np.testing.assert_allclose(new.fixed_effects["robust_se"].to_numpy(), robust,
                                       rtol=1e-6, err_msg=tag)


# -- against lme4 (committed values, crosscheck/stress) ------------------------------------------

REF = load_case("stress")["models"]


@pytest.mark.parametrize("method", ["reml", "ml"])
@pytest.mark.parametrize("offset", [0.0, 1e7, 1e9])
def test_random_intercept_with_outcome_offsets_matches_lme4(method, offset):
    ref = REF[f"ri_{method}"]
    l1, l2, id_ = ri()
    l1 = l1.assign(y=l1["y"] + offset)
    res = openhlm.fit(RI, openhlm.build_mdm(l1, l2, id=id_), method=method)
    assert res.converged
    # y + 1e9 is stored to ~1e-7 absolute: the data themselves change at ~1e-9 relative
    tol = 1e-6 if offset < 1e9 else 1e-5
    assert res.deviance <= ref["criterion"] + tol
    assert res.deviance == pytest.approx(ref["criterion"], abs=tol)
    assert res.sigma2 == pytest.approx(ref["sigma2"], rel=1e-6)
    assert res.tau[0, 0] == pytest.approx(np.atleast_2d(ref["tau"])[0, 0], rel=1e-5)
    assert res.gamma["G00"] - offset == pytest.approx(np.atleast_1d(ref["fixed"])[0], abs=1e-6)
    assert res.fixed_effects["se"].iloc[0] == pytest.approx(np.atleast_1d(ref["se"])[0], rel=1e-5)


@pytest.mark.parametrize("method", ["reml", "ml"])
def test_calendar_year_random_slope_reaches_the_optimum_lme4_misses(method):
    """lme4 on the uncentred year stops 37 deviance units (ML) above the optimum with
    "Model failed to converge"; centred, it is exact.  openhlm on the uncentred year gives the
    centred optimum (a shift has determinant 1, so the REML criterion is the same too)."""
    centred, raw = REF[f"calendar_centred_{method}"], REF[f"calendar_{method}"]
    assert raw["warnings"] and raw["criterion"] > centred["criterion"] + 1.0
    l1, l2, id_ = calendar()
    res = openhlm.fit(CALENDAR, openhlm.build_mdm(l1, l2, id=id_), method=method)
    assert res.converged
    assert res.deviance <= centred["criterion"] + 1e-6
    assert res.deviance == pytest.approx(centred["criterion"], abs=1e-6)
    assert res.sigma2 == pytest.approx(centred["sigma2"], rel=1e-6)
    assert res.tau[1, 1] == pytest.approx(centred["tau"][1][1], rel=1e-5)
    assert res.gamma["G10"] == pytest.approx(centred["fixed"][1], rel=1e-6)
    assert res.fixed_effects["se"].iloc[1] == pytest.approx(centred["se"][1], rel=1e-5)
    assert res.variance.units_used == 50 and res.level1_ols.units_used == 50


@pytest.mark.parametrize("method", ["reml", "ml"])
def test_predictors_on_very_different_scales_match_lme4(method):
    """x in 1e6 units, z in 1e-3 units, a 3x3 tau, units of 1 to 500 rows; lme4 was fitted
    on x / 1e6 and z * 1e3 (an exact rescaling): the REML criterion differs by
    2 (2 log 1e6 + log 1e-3) (two fixed columns carry x, one carries z)."""
    ref = REF[f"scales_{method}"]
    l1 = load_data("stress_scales")
    l2 = l1.groupby("g", as_index=False)["w"].first()
    eq = ("y = B0 + B1*x + B2*z + R; B0 = G00 + G01*w + U0; B1 = G10 + G11*w + U1; "
          "B2 = G20 + U2")
    res = openhlm.fit(eq, openhlm.build_mdm(l1.drop(columns="w"), l2, id="g"), method=method)
    assert res.converged
    change = 2.0 * (2 * np.log(1e6) + np.log(1e-3)) if method == "reml" else 0.0
    assert res.deviance - change <= ref["criterion"] + 1e-6
    assert res.deviance - change == pytest.approx(ref["criterion"], abs=1e-6)
    D = np.diag([1.0, 1e6, 1e-3])          # u_x (per unit of x) = u_xs / 1e6
    np.testing.assert_allclose(D @ res.tau @ D, np.array(ref["tau"]), rtol=2e-5, atol=1e-7)
    # lme4's order: (Intercept), w, xs, zs, w:xs
    g = res.gamma
    ours = np.array([g["G00"], g["G01"], g["G10"] * 1e6, g["G20"] * 1e-3, g["G11"] * 1e6])
    np.testing.assert_allclose(ours, ref["fixed"], rtol=1e-5, atol=1e-7)


def test_two_hundred_thousand_rows_converge_without_warnings():
    rng = np.random.default_rng(5)
    J = 5000
    g = np.repeat(np.arange(J), 40)
    x = rng.normal(size=g.size)
    y = 1 + rng.normal(size=J)[g] + (0.5 + 0.3 * rng.normal(size=J)[g]) * x + rng.normal(
        size=g.size)
    mdm = openhlm.build_mdm(pd.DataFrame({"g": g, "x": x, "y": y}),
                            pd.DataFrame({"g": np.arange(J)}), id="g")
    res = openhlm.fit("y = B0 + B1*x + R; B0 = G00 + U0; B1 = G10 + U1", mdm)
    assert res.converged and res.iterations < 20
