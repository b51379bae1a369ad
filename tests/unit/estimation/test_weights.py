"""Design weights, their normalisation and precision weights, against independent computations.

* Integer raw level-2 weights = the unweighted fit of the data with every unit repeated w_j
  times (as new units); integer raw level-1 weights = the unweighted fit of the data with every
  row repeated d_ij times in its unit (rows of weight 0 dropped).  Both under ML and REML.
* The robust covariance with level-2 weights = the pseudo-likelihood sandwich (meat weighted by
  w_j^2) computed from dense V_j matrices.
* Normalisation against pandas group sums; within-unit normalisation is invariant to a
  per-unit rescaling of the weights.
* Precision weights against the dense likelihood of V_j = Z T Z' + sigma^2 diag(1/p) in numpy.
"""

from __future__ import annotations

from importlib.resources import files

import numpy as np
import pandas as pd
import pytest

import openhlm
from openhlm.errors import DataError, SpecError
from openhlm.estimation.design import build_design
from openhlm.estimation.weights import (
    normalization_mode,
    normalize_level1,
    normalize_level2,
)
from openhlm.spec.options import Weights

MODEL = """mathach = B0 + B1*ses + R
B0 = G00 + G01*sector + U0
B1 = G10 + G11*sector + U1"""
MODEL_RI = MODEL.replace(" + U1", "")


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    h1 = pd.read_csv(files("openhlm.datasets") / "hsb/hsb1.csv")
    h2 = pd.read_csv(files("openhlm.datasets") / "hsb/hsb2.csv")
    ids = h2.id.to_numpy()[:40]
    l1 = h1[h1.id.isin(ids)].reset_index(drop=True)
    l2 = h2[h2.id.isin(ids)].reset_index(drop=True)
    rng = np.random.default_rng(8)
    l2["w2"] = rng.integers(1, 4, len(l2)).astype(float)
    l1["w1"] = rng.integers(0, 4, len(l1)).astype(float)
    l1["prec"] = rng.uniform(0.3, 3.0, len(l1))
    return l1, l2


def _compare(a: openhlm.HLMResults, b: openhlm.HLMResults, *, robust: bool = True,
             tol: float = 1e-5) -> None:
    np.testing.assert_allclose(a.gamma.to_numpy(), b.gamma.to_numpy(), rtol=0, atol=tol)
    np.testing.assert_allclose(np.sqrt(np.diag(a.fixed.covariance)),
                               np.sqrt(np.diag(b.fixed.covariance)), rtol=0, atol=tol)
    if robust:
        np.testing.assert_allclose(np.sqrt(np.diag(a.fixed.robust_covariance)),
                                   np.sqrt(np.diag(b.fixed.robust_covariance)), rtol=0, atol=tol)
    assert a.sigma2 == pytest.approx(b.sigma2, abs=tol)
    np.testing.assert_allclose(a.tau, b.tau, rtol=0, atol=tol)
    assert a.deviance == pytest.approx(b.deviance, abs=tol)


@pytest.mark.parametrize("method, mode", [("ml", "exact"), ("reml", "exact"), ("reml", "hlm")])
def test_integer_level2_weights_equal_repeated_units(data, method, mode):
    """HLM mode too: starting values, EM steps and the stopping rule all weight the units."""
    l1, l2 = data
    model = MODEL if mode == "exact" else MODEL_RI   # MODEL's T is singular here: slow EM
    weighted = openhlm.fit(model, l1, id="id", level2=l2, level2_weight="w2",
                           normalize_weights=False, method=method, mode=mode)
    parts1, parts2 = [], []
    for k in range(int(l2.w2.max())):
        units = l2[l2.w2 > k].copy()
        rows = l1[l1.id.isin(units.id)].copy()
        units["id"] = units.id * 10 + k        # a repeated unit is a new unit
        rows["id"] = rows.id * 10 + k
        parts1.append(rows)
        parts2.append(units)
    repeated = openhlm.fit(model, pd.concat(parts1), id="id", level2=pd.concat(parts2),
                           method=method, mode=mode)
    assert repeated.n_level2 == int(l2.w2.sum())
    if mode == "hlm":
        assert weighted.iterations == repeated.iterations
    # robust SEs differ by design: the pseudo-likelihood meat has w_j^2, the repeated data w_j
    _compare(weighted, repeated, robust=False)


@pytest.mark.parametrize("method, mode", [("ml", "exact"), ("reml", "exact"), ("ml", "hlm")])
def test_integer_level1_weights_equal_repeated_rows(data, method, mode):
    l1, l2 = data
    model = MODEL if mode == "exact" else MODEL_RI
    weighted = openhlm.fit(model, l1, id="id", level2=l2, level1_weight="w1",
                           normalize_weights=False, method=method, mode=mode)
    repeated = openhlm.fit(model, l1.loc[l1.index.repeat(l1.w1.astype(int))], id="id",
                           level2=l2, method=method, mode=mode)
    if mode == "hlm":
        assert weighted.iterations == repeated.iterations
    assert repeated.n_level1 == int(l1.w1.sum())
    _compare(weighted, repeated)   # the repeats stay in their unit: same clusters, same CR0
    block = weighted.extras["weighting"]
    assert block.level1_zero_rows == int((l1.w1 == 0).sum()) > 0
    assert block.normalization == "none"
    assert any("weight 0" in n for n in weighted.notes)


def _dense_blocks(res: openhlm.HLMResults):
    d = res.estimates.design
    A, Z = d.A(), d.Z()
    for j in range(d.n_level2):
        rows = d.unit == j
        yield j, rows, A[rows], Z[rows], d.y[rows]


def test_level2_weighted_robust_covariance_is_pseudo_likelihood_sandwich(data):
    l1, l2 = data
    res = openhlm.fit(MODEL, l1, id="id", level2=l2, level2_weight="w2", method="ml")
    d = res.estimates.design
    w = d.unit_weights
    np.testing.assert_allclose(w.sum(), d.n_level2)          # normalised to sum to J
    gamma, sigma2, tau = res.gamma.to_numpy(), res.sigma2, res.tau
    F = len(gamma)
    bread, meat = np.zeros((F, F)), np.zeros((F, F))
    for j, _, A, Z, y in _dense_blocks(res):
        V = Z @ tau @ Z.T + sigma2 * np.eye(len(y))
        Vi = np.linalg.inv(V)
        bread += w[j] * A.T @ Vi @ A
        s = A.T @ Vi @ (y - A @ gamma)
        meat += w[j] ** 2 * np.outer(s, s)
    cov = np.linalg.inv(bread)
    np.testing.assert_allclose(res.fixed.covariance, cov, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(res.fixed.robust_covariance, cov @ meat @ cov, rtol=1e-7,
                               atol=1e-12)


def test_normalisation_against_group_sums(data):
    l1, l2 = data
    l1 = l1.copy()
    l1.loc[l1.index[:5], "w1"] = 0.0
    spec = openhlm.api.as_spec(MODEL, mdm := openhlm.MDM.from_tables(l1, l2, id="id"))
    positive = (l1.w1 > 0).astype(float)
    expect_within = l1.w1 * positive.groupby(l1.id).transform("sum") / \
        l1.w1.groupby(l1.id).transform("sum")
    expect_overall = l1.w1 * positive.sum() / l1.w1.sum()
    expect_l2 = l2.w2 * len(l2) / l2.w2.sum()
    for mode, expect in (("within", expect_within), ("overall", expect_overall)):
        design = build_design(spec, mdm, weights=Weights(level1="W1", level2="w2",
                                                         normalize=mode))
        spec_w = design.weighting
        np.testing.assert_allclose(design.row_weights, expect.to_numpy(), rtol=1e-13)
        np.testing.assert_allclose(design.unit_weights, expect_l2.to_numpy(), rtol=1e-13)
        assert spec_w.level1 == "w1" and spec_w.normalization == mode
        assert spec_w.level1_zero_rows == int((l1.w1 == 0).sum())
    design = build_design(spec, mdm, weights=Weights(level1="w1", normalize=False))
    np.testing.assert_array_equal(design.row_weights, l1.w1.to_numpy())
    # the free functions agree
    unit = design.unit
    np.testing.assert_allclose(normalize_level1(l1.w1.to_numpy(), unit, design.n_level2,
                                                "within"), expect_within, rtol=1e-13)
    np.testing.assert_allclose(normalize_level2(l2.w2.to_numpy(), "within"), expect_l2)


def test_normalised_fit_equals_raw_fit_of_prenormalised_weights(data):
    l1, l2 = data
    l1 = l1.copy()
    l1["w1n"] = l1.w1 * (l1.w1 > 0).groupby(l1.id).transform("sum") / \
        l1.w1.groupby(l1.id).transform("sum")
    l2 = l2.copy()
    l2["w2n"] = l2.w2 * len(l2) / l2.w2.sum()
    a = openhlm.fit(MODEL, l1, id="id", level2=l2, level1_weight="w1", level2_weight="w2")
    b = openhlm.fit(MODEL, l1, id="id", level2=l2, level1_weight="w1n", level2_weight="w2n",
                    normalize_weights="none")
    _compare(a, b, tol=1e-8)
    # within-unit normalisation forgets any per-unit rescaling of the level-1 weights
    scale = 1.0 + (l1.id % 7)
    l1["w1s"] = l1.w1 * scale
    c = openhlm.fit(MODEL, l1, id="id", level2=l2, level1_weight="w1s", level2_weight="w2")
    _compare(a, c, tol=1e-8)


def test_within_normalised_design_weights_equal_precision_reading(data):
    """Weights summing to n_j: same estimates as known precisions; deviance + sum log w*."""
    l1, l2 = data
    l1 = l1.copy()
    l1["w"] = l1.prec * 10.0                         # all positive
    l1["wn"] = l1.w * l1.groupby("id").w.transform("size") / l1.groupby("id").w.transform("sum")
    design_w = openhlm.fit(MODEL, l1, id="id", level2=l2, level1_weight="w", method="ml")
    precision = openhlm.fit(MODEL, l1, id="id", level2=l2, precision_weight="wn", method="ml")
    np.testing.assert_allclose(design_w.gamma, precision.gamma, atol=1e-6)
    assert design_w.sigma2 == pytest.approx(precision.sigma2, rel=1e-6)
    np.testing.assert_allclose(design_w.tau, precision.tau, atol=1e-6)
    assert design_w.deviance - precision.deviance == pytest.approx(np.log(l1.wn).sum(), abs=1e-5)


@pytest.mark.parametrize("method", ["ml", "reml"])
def test_precision_weights_against_dense_likelihood(data, method):
    l1, l2 = data
    # random intercept only: the optimum is interior (Model's T is singular on these 40 units)
    model = MODEL_RI
    res = openhlm.fit(model, l1, id="id", level2=l2, precision_weight="prec", method=method)
    assert res.estimates.boundary == ()
    block = res.extras["weighting"]
    assert block.precision == "prec" and block.normalized("precision") == "no"
    p = res.estimates.design.precision_weights
    np.testing.assert_array_equal(p, l1.prec.to_numpy())     # never normalised
    blocks = list(_dense_blocks(res))

    def deviance(sigma2: float, tau: np.ndarray) -> tuple[float, np.ndarray]:
        F = blocks[0][2].shape[1]
        M, b, parts = np.zeros((F, F)), np.zeros(F), []
        for _, rows, A, Z, y in blocks:
            V = Z @ tau @ Z.T + sigma2 * np.diag(1.0 / p[rows])
            Vi = np.linalg.inv(V)
            M += A.T @ Vi @ A
            b += A.T @ Vi @ y
            parts.append((A, y, Vi, np.linalg.slogdet(V)[1]))
        gamma = np.linalg.solve(M, b)
        dev = sum(len(y) * np.log(2 * np.pi) + ld + (y - A @ gamma) @ Vi @ (y - A @ gamma)
                  for A, y, Vi, ld in parts)
        if method == "reml":
            dev += np.linalg.slogdet(M)[1] - F * np.log(2 * np.pi)
        return dev, gamma

    dev, gamma = deviance(res.sigma2, res.tau)
    assert res.deviance == pytest.approx(dev, abs=1e-7)
    np.testing.assert_allclose(res.gamma.to_numpy(), gamma, atol=1e-9)
    # and it is the optimum of the dense likelihood: no small move lowers it
    for which in ("sigma2", "tau"):
        for step in (-1e-3, 1e-3):
            s2, tau = res.sigma2, res.tau.copy()
            if which == "sigma2":
                s2 *= 1.0 + step
            else:
                tau *= 1.0 + step
            assert deviance(s2, tau)[0] > dev + 1e-7


def test_unit_weights_of_one_reproduce_the_unweighted_fit(data):
    l1, l2 = data
    l1, l2 = l1.assign(one1=1.0), l2.assign(one2=1.0)
    plain = openhlm.fit(MODEL, l1, id="id", level2=l2)
    ones = openhlm.fit(MODEL, l1, id="id", level2=l2, level1_weight="one1",
                       level2_weight="one2", normalize_weights=False)
    _compare(plain, ones, tol=1e-9)
    assert "weighting" not in plain.extras
    assert "Level 1        yes      one1" in str(ones)
    assert " Level 1        no" in str(plain)


def test_hlm_mode_runs_with_weights(data):
    l1, l2 = data
    model = MODEL_RI
    # mode="hlm" works on the data rounded to single precision, as HLM stores them
    from openhlm.api import hlm_single_precision

    single = hlm_single_precision(openhlm.build_mdm(l1, l2, id="id"))
    exact = openhlm.fit(model, single, level1_weight="w1", level2_weight="w2")
    hlm = openhlm.fit(model, l1, id="id", level2=l2, level1_weight="w1", level2_weight="w2",
                      mode="hlm", tolerance=1e-9, max_iterations=1000)
    np.testing.assert_allclose(hlm.gamma, exact.gamma, atol=1e-4)
    assert hlm.deviance == pytest.approx(exact.deviance, abs=1e-6)


# -- errors ------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, message", [(-1.0, "negative"), (np.nan, "missing"),
                                            (np.inf, "infinite")])
def test_bad_level1_weights_name_variable_and_unit(data, value, message):
    l1, l2 = data
    l1 = l1.copy()
    l1.loc[3, "w1"] = value
    unit = str(l1.id[3])
    with pytest.raises(DataError, match=rf"level-1 weight 'w1' has {message}.*unit\(s\) {unit}"):
        openhlm.fit(MODEL, l1, id="id", level2=l2, level1_weight="w1")


def test_all_zero_level1_weights_in_a_unit(data):
    l1, l2 = data
    l1 = l1.copy()
    first = l1.id[0]
    l1.loc[l1.id == first, "w1"] = 0.0
    with pytest.raises(DataError, match=rf"zero for every row of 1 unit\(s\) \({first}\)"):
        openhlm.fit(MODEL, l1, id="id", level2=l2, level1_weight="w1")


def test_bad_level2_and_precision_weights(data):
    l1, l2 = data
    with pytest.raises(DataError, match=r"level-2 weight 'w2' has negative values .*unit\(s\)"):
        openhlm.fit(MODEL, l1, id="id", level2=l2.assign(w2=l2.w2 - 2.5), level2_weight="w2")
    with pytest.raises(DataError, match="zero for every unit"):
        openhlm.fit(MODEL, l1, id="id", level2=l2.assign(w2=0.0), level2_weight="w2")
    with pytest.raises(DataError, match="precision weight 'prec' has zero values"):
        openhlm.fit(MODEL, l1.assign(prec=l1.prec.where(l1.index != 7, 0.0)), id="id",
                    level2=l2, precision_weight="prec")


def test_weight_variable_errors(data):
    l1, l2 = data
    with pytest.raises(SpecError, match="'w2' is a level-2 variable.*level2_weight"):
        openhlm.fit(MODEL, l1, id="id", level2=l2, level1_weight="w2")
    with pytest.raises(SpecError, match="'w1' is a level-1 variable"):
        openhlm.fit(MODEL, l1, id="id", level2=l2, level2_weight="w1")
    with pytest.raises(SpecError, match="level-1 weight 'txt' is not a variable.*numeric"):
        openhlm.fit(MODEL, l1.assign(txt="a"), id="id", level2=l2, level1_weight="txt")
    with pytest.raises(SpecError, match="normalize_weights"):
        normalization_mode("sometimes")
    assert normalization_mode(True) == "within" and normalization_mode(False) == "none"


def test_zero_level2_weights_are_counted(data):
    l1, l2 = data
    l2 = l2.copy()
    l2.loc[:2, "w2"] = 0.0
    res = openhlm.fit(MODEL, l1, id="id", level2=l2, level2_weight="w2")
    assert res.extras["weighting"].level2_zero_units == 3
    assert res.estimates.design.unit_weights.sum() == pytest.approx(len(l2) - 3)
    assert res.to_dict()["weighting"]["level2_zero_units"] == 3


def test_old_spellings_still_work_and_warn(data):
    from openhlm.estimation import weights

    l1, l2 = data
    spec = openhlm.api.as_spec(MODEL, mdm := openhlm.MDM.from_tables(l1, l2, id="id"))
    w = l2.w2.to_numpy()
    with pytest.warns(DeprecationWarning, match="normalize_level2"):
        np.testing.assert_array_equal(weights.normalise_level2(w, "within"),
                                      normalize_level2(w, "within"))
    with pytest.warns(DeprecationWarning, match="normalize_level1"):
        weights.normalise_level1(l1.w1.to_numpy(), np.zeros(len(l1), dtype=int), 1, "overall")
    with pytest.warns(DeprecationWarning, match="build_design"):
        design, weighting = weights.weighted_design(spec, mdm, level2_weight="w2")
    np.testing.assert_array_equal(design.unit_weights, build_design(
        spec, mdm, weights=Weights(level2="w2")).unit_weights)
    assert weighting == design.weighting and weighting.level2 == "w2"
