"""Three-level graphs: the level-1 equations, the MDIST Q-Q plots at levels 2 and 3, the MDRSVAR
graphs of the level-2 units, EB residuals against a variable, and ``openhlm plot``.

What is drawn is checked against values computed here independently: each child's EB line
against a per-child least-squares fit of the level-1 file's FITVAL on its predictor (and against
the gammas and EB residuals of the residual files); the Q-Q points against the residual files'
MDIST and a chi-square quantile of the rank; MDRSVAR against the level-1 residuals.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import openhlm
from openhlm.cli.main import main
from openhlm.errors import EstimationError, SpecError
from openhlm.plots import (
    eb_residuals_vs,
    level1_equations,
    mdrsvar_histogram,
    mdrsvar_qq,
    qq_mdist,
)

from .conftest import simulate

MODEL = """y = P0 + P1*t + E
P0 = B00 + B01*x2 + R0
P1 = B10 + R1
B00 = G000 + G001*w + U00
B10 = G100 + U10"""


@pytest.fixture(scope="module")
def data():
    return simulate(n3=25, n2=7, n1=5, seed=7)


@pytest.fixture(scope="module")
def mdm(data):
    return openhlm.build_mdm(data, id=("child", "school"), level1_variables=["t", "y"],
                             level2_variables=["x2"], level3_variables=["w"])


@pytest.fixture(scope="module")
def res(mdm):
    return openhlm.fit(MODEL, mdm)


def _unit_ols(l1: pd.DataFrame, x: str) -> pd.DataFrame:
    """Per level-2 unit: least squares of FITVAL on [1, x] (units with two distinct x), and
    the unit's range of x."""
    rows = {}
    for unit, g in l1.groupby("L2ID", sort=False):
        X = np.column_stack([np.ones(len(g)), g[x].to_numpy(float)])
        if np.ptp(X[:, 1]) > 0:
            coef = np.linalg.lstsq(X, g["FITVAL"].to_numpy(), rcond=None)[0]
            rows[unit] = (coef[0], coef[1], X[:, 1].min(), X[:, 1].max())
    return pd.DataFrame.from_dict(rows, orient="index", columns=["b0", "b1", "lo", "hi"])


def _segments(ax) -> np.ndarray:
    """(n, 4): x0, x1, y0, y1 of every line drawn."""
    out = []
    for line in ax.get_lines():
        xs, ys = line.get_data()
        out.append((xs[0], xs[-1], ys[0], ys[-1]))
    return np.array(out)


# -- level-1 equations --------------------------------------------------------------------------

def test_level1_lines_equal_a_per_unit_fit_of_fitval(res):
    ax = level1_equations(res, sample=None).axes[0]
    seg = _segments(ax)
    assert len(seg) == res.n_level2
    ols = _unit_ols(res.level1_residuals(), "t")
    assert len(ols) > 0.8 * res.n_level2
    ids = np.asarray(res.level2_ids)
    pos = pd.Index(ids).get_indexer(ols.index)
    np.testing.assert_allclose(seg[pos, 0], ols["lo"], rtol=1e-12)
    np.testing.assert_allclose(seg[pos, 1], ols["hi"], rtol=1e-12)
    np.testing.assert_allclose(seg[pos, 2], ols["b0"] + ols["b1"] * ols["lo"], rtol=1e-9,
                               atol=1e-9)
    np.testing.assert_allclose(seg[pos, 3], ols["b0"] + ols["b1"] * ols["hi"], rtol=1e-9,
                               atol=1e-9)
    assert "Level-1 equations from EB coefficients (all" in ax.get_title()
    assert ax.get_xlabel() == "T" and ax.get_ylabel() == "Y"


def test_eb_coefficients_from_the_residual_files(res, data):
    """pi_0 = G000 + G001 w + G010 x2 + u00 + r0 and pi_1 = G100 + u10 + r1, from the gammas,
    the raw predictors and the EB columns of the level-2 and level-3 files."""
    ec = res.eb_coefficients_level2()
    g = res.gamma
    l2 = res.level2_residuals().set_index("L2ID")
    l3 = res.level3_residuals().set_index("L3ID")
    u = l3.loc[ec["L3ID"]]
    r = l2.loc[ec["L2ID"]]
    w = data.groupby("school")["w"].first()
    w.index = w.index.astype(str)
    pi0 = (g["G000"] + g["G001"] * w.loc[ec["L3ID"]].to_numpy() + g["G010"] * r["x2"].to_numpy()
           + u["EBU00"].to_numpy() + r["EBR0"].to_numpy())
    pi1 = g["G100"] + u["EBU10"].to_numpy() + r["EBR1"].to_numpy()
    np.testing.assert_allclose(ec["ECP0"], pi0, rtol=1e-10)
    np.testing.assert_allclose(ec["ECP1"], pi1, rtol=1e-10)
    assert list(ec.columns) == ["L2ID", "L3ID", "ECP0", "ECP1"]


def test_level1_lines_with_centring_constraints_and_a_fixed_slope(mdm, data):
    """group(t) on the x axis, a second level-1 predictor (fixed slope) at the unit's mean, and
    a constraint: the line at each record's x plus pi_2 (t2 - unit mean) is its FITVAL."""
    d = data.assign(t2=np.random.default_rng(5).normal(size=len(data)))
    m = openhlm.build_mdm(d, id=("child", "school"), level1_variables=["t", "y", "t2"],
                          level2_variables=["x2"], level3_variables=["w"])
    res = openhlm.fit("""y = P0 + P1*group(t) + P2*t2 + E
P0 = B00 + B01*x2 + R0
P1 = B10 + R1
P2 = B20
B00 = G000 + G001*w + U00
B10 = G100 + U10
B20 = G200
G001 = G200""", m)
    assert "G200" not in res.gamma.index          # shares G001's estimate
    ax = level1_equations(res, "t", sample=None).axes[0]
    assert ax.get_xlabel() == "T (group-mean centred)"
    seg = _segments(ax)
    l1 = res.level1_residuals()
    tc = l1["t"] - l1.groupby("L2ID", sort=False)["t"].transform("mean")
    t2c = l1["t2"] - l1.groupby("L2ID", sort=False)["t2"].transform("mean")
    ec = res.eb_coefficients_level2().set_index("L2ID").loc[l1["L2ID"]]
    unit = pd.Index(np.asarray(res.level2_ids)).get_indexer(l1["L2ID"])
    x0, x1, y0, y1 = seg[unit].T
    slope = np.where(x1 > x0, (y1 - y0) / np.where(x1 > x0, x1 - x0, 1.0), 0.0)
    line_at_x = y0 + slope * (tc.to_numpy() - x0)
    expected = l1["FITVAL"].to_numpy() - ec["ECP2"].to_numpy() * t2c.to_numpy()
    many = (x1 > x0)
    np.testing.assert_allclose(line_at_x[many], expected[many], rtol=1e-9, atol=1e-9)
    # the constrained gamma enters pi_2 with G001's estimate
    np.testing.assert_allclose(ec["ECP2"], res.gamma["G001"], rtol=1e-12)


def test_level1_lines_of_chosen_level3_units(res, data):
    ax = level1_equations(res, level3_units=3, seed=1).axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(labels) == 3 and all(t.startswith("school ") for t in labels)
    chosen = [t.split()[1] for t in labels]
    expected = data[data["school"].astype(str).isin(chosen)]["child"].nunique()
    assert len(ax.get_lines()) == expected
    assert f"the {expected} level-2 units of 3 of 25 level-3 units" in ax.get_title()
    ax = level1_equations(res, level3_units=[res.level3_ids[4]]).axes[0]
    assert len(ax.get_lines()) == int(res.level3_n[4])
    # colour by a level-3 variable with few values: the lines of each value share a colour
    ax = level1_equations(res, by="x2", sample=None).axes[0]
    assert {t.get_text() for t in ax.get_legend().get_texts()} == {"X2 = 0", "X2 = 1"}


def test_level1_errors(res):
    with pytest.raises(SpecError, match="either by= .* or level3_units="):
        level1_equations(res, by="x2", level3_units=2)
    with pytest.raises(SpecError, match="'nope' is not a level-3 unit"):
        level1_equations(res, level3_units=["nope"])
    with pytest.raises(SpecError, match="not a level-1 predictor"):
        level1_equations(res, "w")
    with pytest.raises(SpecError, match="has 2[0-9] values"):
        level1_equations(res, by="w", sample=None)
    with pytest.raises(SpecError, match="three-level models only"):
        level1_equations(openhlm.fit("mathach = B0 + R; B0 = G00 + U0",
                                     openhlm.datasets.hsb()), level3_units=2)


# -- MDIST, MDRSVAR, EB against a variable --------------------------------------------------------

@pytest.mark.parametrize("level", [2, 3])
def test_qq_mdist_points_are_the_residual_files(res, level):
    ax = qq_mdist(res, level_of_units=level).axes[0]
    points = ax.collections[0].get_offsets()
    frame = res.level2_residuals() if level == 2 else res.level3_residuals()
    np.testing.assert_allclose(points[:, 0], frame["CHIPCT"], rtol=1e-12)
    np.testing.assert_allclose(points[:, 1], frame["MDIST"], rtol=1e-12)
    # CHIPCT: the chi-square(2) quantile of (rank - 0.5) / n of MDIST, computed here
    n = len(frame)
    rank = stats.rankdata(frame["MDIST"], method="ordinal")
    np.testing.assert_allclose(points[:, 0], stats.chi2.ppf((rank - 0.5) / n, 2), rtol=1e-10)
    assert f"level-{level} normality" in ax.get_title()
    top = frame["MDIST"].idxmax()
    ids = frame["L2ID" if level == 2 else "L3ID"]
    assert str(ids[top]) in [t.get_text() for t in ax.texts]


def test_mdrsvar_graphs_from_the_level1_residuals(res):
    l1 = res.level1_residuals()
    mdrsvar = (0.5 * np.log(l1.assign(sq=l1["L1RESID"] ** 2).groupby("L2ID", sort=False)["sq"]
                            .mean())).reindex(res.level2_ids).to_numpy()
    np.testing.assert_allclose(res.level2_residuals()["MDRSVAR"], mdrsvar, rtol=1e-10)
    ax = mdrsvar_histogram(res).axes[0]
    counts, _ = np.histogram(mdrsvar, bins="auto")
    np.testing.assert_array_equal([p.get_height() for p in ax.patches], counts)
    ax = mdrsvar_qq(res).axes[0]
    points = ax.collections[0].get_offsets()
    z = np.sort((mdrsvar - mdrsvar.mean()) / mdrsvar.std(ddof=1))
    n = len(z)
    blom = stats.norm.ppf((np.arange(1, n + 1) - 0.375) / (n + 0.25))
    np.testing.assert_allclose(points[:, 1], z, rtol=1e-10)
    np.testing.assert_allclose(points[:, 0], blom, rtol=1e-12)
    assert "level-2 units" in ax.get_title()
    from openhlm.plots.three_level import mdrsvar_qq3

    with pytest.raises(SpecError, match="MDRSVAR is defined for level-2 units only"):
        mdrsvar_qq3(res, level=3)


def test_eb_residuals_against_level2_and_level3_variables(res, data):
    ax = eb_residuals_vs(res, "w", "U10").axes[0]
    points = ax.collections[0].get_offsets()
    l3 = res.level3_residuals()
    np.testing.assert_allclose(points[:, 0], l3["w"], rtol=1e-12)
    np.testing.assert_allclose(points[:, 1], l3["EBU10"], rtol=1e-12)
    assert "Level-3 EB residuals" in ax.get_title()
    ax = eb_residuals_vs(res, "x2").axes[0]
    points = ax.collections[0].get_offsets()
    l2 = res.level2_residuals()
    np.testing.assert_allclose(points[:, 1], l2["EBR0"], rtol=1e-12)
    with pytest.raises(SpecError, match="not a level-2 or level-3 variable"):
        eb_residuals_vs(res, "t")


def test_qq_mdist_without_random_effects_at_the_level(mdm):
    no3 = openhlm.fit("y = P0 + P1*t + E\nP0 = B00 + R0\nP1 = B10\nB00 = G000\nB10 = G100", mdm)
    with pytest.raises(EstimationError, match="no random effect at level 3"):
        qq_mdist(no3)
    qq_mdist(no3, level_of_units=2)


# -- openhlm plot ---------------------------------------------------------------------------------

def test_cli_plot_three_level_graphs(data, tmp_path, capsys):
    data.to_csv(tmp_path / "all.csv", index=False)
    toml = tmp_path / "model.toml"
    toml.write_text(f'[data]\nlevel1 = "all.csv"\nid = ["child", "school"]\n\n'
                    f'[model]\nequations = """\n{MODEL}\n"""\n', encoding="utf-8")
    for args in (["level1", "--level3-units", "2"], ["level1", "--by", "x2", "--sample", "0"],
                 ["qq-mdist"], ["qq-mdist", "--units", "2"], ["mdrsvar-hist"], ["mdrsvar-qq"],
                 ["eb-vs", "--variable", "w", "--coefficient", "U10"]):
        out = tmp_path / f"{args[0]}.png"
        assert main(["plot", args[0], str(toml), *args[1:], "-o", str(out)]) == 0, args
        assert out.stat().st_size > 0
    capsys.readouterr()
    assert main(["plot", "qq-mdist", str(toml), "--level3-units", "2",
                 "-o", str(tmp_path / "x.png")]) != 0
    assert "--level3-units applies to the level1 graph only" in capsys.readouterr().err


def test_pooled_results_refuse_the_eb_graphs_and_the_exploratory_analysis(mdm):
    from openhlm.inference.exploratory3 import exploratory3
    from openhlm.plots import caterpillar

    pooled = openhlm.fit(MODEL, [mdm, mdm], id=("child", "school"))
    for draw in (level1_equations, qq_mdist, mdrsvar_qq, caterpillar):
        with pytest.raises(EstimationError, match="pooled over imputed data sets"):
            draw(pooled)
    with pytest.raises(EstimationError, match="pooled over imputed data sets"):
        exploratory3(pooled, level3=["w"])
