"""openhlm.glh and openhlm.compare on HGLM results: Wald chi-squares computed by hand, deviance
tests between Laplace / AGQ fits, and the refusals (PQL, different data or distributions)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from tests.unit.glmm._cases import data

import openhlm
from openhlm.errors import HypothesisError

CONTRA = "use = B0 + B1*age + B2*urban; B0 = G00 + G01*durban + U0; B1 = G10; B2 = G20"
SLOPE = CONTRA.replace("B2 = G20", "B2 = G20 + U2")


@pytest.fixture(scope="module")
def contra():
    return data("contraception.csv")


@pytest.fixture(scope="module")
def fits(contra):
    kw = {"id": "district", "distribution": "bernoulli"}
    return {"ri": openhlm.fit(CONTRA, contra, method="laplace", **kw),
            "rs": openhlm.fit(SLOPE, contra, method="laplace", **kw),
            "pql": openhlm.fit(CONTRA, contra, method="pql", **kw),
            "agq": openhlm.fit(CONTRA, contra, method="agq", quadrature_points=5, **kw)}


def _wald(res, gammas, V):
    pos = {r.gamma: k for k, r in enumerate(res.fixed_effects)}
    idx = [pos[g] for g in gammas]
    g = np.array([r.estimate for r in res.fixed_effects])[idx]
    return float(g @ np.linalg.solve(V[np.ix_(idx, idx)], g))


@pytest.mark.parametrize("which", ["ri", "pql"])
def test_glh_is_the_wald_chi_square(fits, which):
    res = fits[which]
    out = openhlm.glh(res, "G01 = 0; G20 = 0")
    h = out[0]
    assert h.robust.chi2 == pytest.approx(_wald(res, ["G01", "G20"], res.robust_covariance),
                                          rel=1e-10)
    assert h.model.chi2 == pytest.approx(_wald(res, ["G01", "G20"], res.covariance), rel=1e-10)
    assert h.chi2 == h.robust.chi2 and h.df == 2        # robust is primary, as HLM prints
    assert h.robust.p == pytest.approx(stats.chi2.sf(h.robust.chi2, 2), rel=1e-10)
    model = openhlm.glh(res, {"G01": 1, "G20": -1}, robust=False)[0]
    pos = {r.gamma: k for k, r in enumerate(res.fixed_effects)}
    c = np.zeros(len(pos))
    c[pos["G01"]], c[pos["G20"]] = 1, -1
    g = np.array([r.estimate for r in res.fixed_effects])
    assert model.chi2 == pytest.approx((c @ g) ** 2 / (c @ res.covariance @ c), rel=1e-10)
    assert "General Linear Hypothesis" in str(out)


def test_glh_and_compare_still_serve_linear_models():
    from openhlm.inference.deviance import compare as linear_compare
    from openhlm.inference.glh import glh as linear_glh

    hsb = openhlm.datasets.hsb()
    full = openhlm.fit("mathach = B0 + B1*ses + R; B0 = G00 + G01*sector + U0; "
                       "B1 = G10 + G11*sector + U1", hsb, method="ml")
    h = openhlm.glh(full, "G01 = 0; G11 = 0")[0]
    rows = full.fixed.rows
    pos = {r.gamma: k for k, r in enumerate(rows)}
    idx = [pos["G01"], pos["G11"]]
    g = np.array([r.estimate for r in rows])[idx]
    Vr = full.fixed.robust_covariance[np.ix_(idx, idx)]
    assert h.chi2 == pytest.approx(g @ np.linalg.solve(Vr, g), rel=1e-10)
    assert h.chi2 == linear_glh(full, "G01 = 0; G11 = 0")[0].chi2
    small = openhlm.fit("mathach = B0 + B1*ses + R; B0 = G00 + U0; B1 = G10 + U1", hsb,
                        method="ml")
    t = openhlm.compare(small, full)
    assert t.chi2 == pytest.approx(small.deviance - full.deviance, rel=1e-12)
    assert t.chi2 == linear_compare(small, full).chi2 and t.df == 2


def test_compare_laplace_fits(fits):
    a, b = fits["ri"], fits["rs"]
    t = openhlm.compare(a, b)
    assert t.chi2 == pytest.approx(a.deviance - b.deviance, abs=1e-12)
    assert t.df == b.n_parameters - a.n_parameters == 2
    assert t.p == pytest.approx(stats.chi2.sf(a.deviance - b.deviance, 2), rel=1e-12)
    assert "model comparison test" in str(t)


def test_compare_refusals(fits, contra):
    with pytest.raises(HypothesisError, match="PQL has no deviance"):
        openhlm.compare(fits["pql"], fits["ri"])
    with pytest.raises(HypothesisError, match="laplace deviance with a agq|cannot compare a laplace"):
        openhlm.compare(fits["ri"], fits["agq"])
    pois = openhlm.fit(SLOPE, contra, id="district", distribution="poisson", method="laplace")
    with pytest.raises(HypothesisError, match="bernoulli model with a poisson"):
        openhlm.compare(fits["ri"], pois)
    sub = contra[contra["district"] != contra["district"].iloc[0]]
    fewer = openhlm.fit(SLOPE, sub, id="district", distribution="bernoulli", method="laplace")
    with pytest.raises(HypothesisError, match="different data"):
        openhlm.compare(fits["ri"], fewer)
    flipped = contra.assign(use=np.where(np.arange(len(contra)) == 5, 1 - contra["use"],
                                         contra["use"]))
    other = openhlm.fit(SLOPE, flipped, id="district", distribution="bernoulli",
                        method="laplace")
    with pytest.raises(HypothesisError, match="different data"):
        openhlm.compare(fits["ri"], other)
    weighted = openhlm.fit(SLOPE, contra.assign(w=1.0 + (contra["district"] % 2)),
                           id="district", distribution="bernoulli", method="laplace",
                           level2_weight="w")
    with pytest.raises(HypothesisError, match="design weights"):
        openhlm.compare(fits["ri"], weighted)
    linear = openhlm.fit("use = B0 + B1*age + R; B0 = G00 + U0; B1 = G10", contra,
                         id="district", method="ml")
    with pytest.raises(HypothesisError, match="linear"):
        openhlm.compare(fits["ri"], linear)
    with pytest.raises(HypothesisError, match="linear"):
        openhlm.compare(linear, fits["ri"])
