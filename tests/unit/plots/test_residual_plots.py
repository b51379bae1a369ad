"""Every graph is built from a fitted Model 4 and checked for what it draws: lines, points,
their coordinates against the residual quantities, axis labels and the title."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import openhlm
from openhlm import plots
from openhlm.errors import SpecError
from openhlm.inference.residuals import eb_estimates

M4 = """mathach = B0 + B1*group(ses) + R
B0 = G00 + G01*sector + G02*meanses + U0
B1 = G10 + G11*sector + G12*meanses + U1"""


@pytest.fixture(scope="module")
def results():
    return openhlm.fit(M4, openhlm.datasets.hsb())


@pytest.fixture(scope="module")
def eb(results):
    return eb_estimates(results.estimates)


def _title(fig):
    return fig.axes[0].get_title()


def test_model_graph_lines_follow_the_fixed_effects(results):
    fig = plots.model_graph(results, x="ses", by="sector", quartiles_of="meanses",
                            model_name="Model 4")
    ax = fig.axes[0]
    lines = ax.get_lines()
    assert len(lines) == 6
    assert "Model 4" in _title(fig) and "MATHACH" in _title(fig)
    assert ax.get_xlabel() == "SES (group-mean centred): Socio-economic status (standardized)"
    assert "Mathematics achievement score" in ax.get_ylabel()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    q = np.percentile(results.estimates.design.level2_data["meanses"], [25, 50, 75])
    assert legend[0] == f"SECTOR = 0, MEANSES Q1 ({q[0]:.2f})"
    assert legend[5] == f"SECTOR = 1, MEANSES Q3 ({q[2]:.2f})"
    g = results.gamma
    for line, (sector, meanses) in zip(lines, [(s, m) for s in (0, 1) for m in q]):
        x, y = line.get_xydata().T
        b0 = g["G00"] + g["G01"] * sector + g["G02"] * meanses
        b1 = g["G10"] + g["G11"] * sector + g["G12"] * meanses
        np.testing.assert_allclose(y, b0 + b1 * x, rtol=1e-10)   # group-centred SES: mean 0


def test_model_graph_without_groups_and_bad_predictor(results):
    fig = plots.model_graph(results)
    assert len(fig.axes[0].get_lines()) == 1
    assert fig.axes[0].get_legend() is None
    with pytest.raises(SpecError, match="not a level-1 predictor"):
        plots.model_graph(results, x="meanses")


def test_level1_equations_draw_each_units_eb_line(results, eb):
    fig = plots.level1_equations(results, sample=25, seed=1)
    lines = fig.axes[0].get_lines()
    assert len(lines) == 25
    assert "25 of 160 units" in _title(fig)
    d = results.estimates.design
    ses = d.X[:, 1]
    found = 0
    for line in lines:
        x, y = line.get_xydata().T
        # the unit whose range of centred SES is this line's x range
        j = next(k for k in range(160) if np.isclose(ses[d.unit == k].min(), x[0])
             and np.isclose(ses[d.unit == k].max(), x[1]))
        np.testing.assert_allclose(y, eb.eb_coefficients[j, 0] + eb.eb_coefficients[j, 1] * x)
        found += 1
    assert found == 25
    all_units = plots.level1_equations(results, sample=None, by="sector")
    assert len(all_units.axes[0].get_lines()) == 160
    assert [t.get_text() for t in all_units.axes[0].get_legend().get_texts()] == [
        "SECTOR = 0", "SECTOR = 1"]


def test_qq_mdist(results, eb):
    fig = plots.qq_mdist(results)
    ax = fig.axes[0]
    points = ax.collections[0].get_offsets()
    assert points.shape == (160, 2)
    np.testing.assert_allclose(np.sort(points[:, 0]), np.sort(eb.chipct))
    np.testing.assert_allclose(points[:, 1], eb.mdist)
    (diag,) = ax.get_lines()
    x, y = diag.get_xydata().T
    np.testing.assert_allclose(x, y)
    assert ax.get_xlabel().startswith("CHIPCT") and ax.get_ylabel().startswith("MDIST")
    top = [t.get_text() for t in ax.texts]
    assert top == [str(u) for u in eb.unit_ids[np.argsort(-eb.mdist)[:3]]]
    assert "mathach = B0 + B1*group(ses) + R" in _title(fig)


def test_mdrsvar_histogram_and_qq(results, eb):
    fig = plots.mdrsvar_histogram(results, bins=12)
    ax = fig.axes[0]
    heights = [p.get_height() for p in ax.patches]
    assert len(heights) == 12 and sum(heights) == 160
    assert ax.get_xlabel().startswith("MDRSVAR")
    fig = plots.mdrsvar_qq(results)
    ax = fig.axes[0]
    points = ax.collections[0].get_offsets()
    assert points.shape == (160, 2)
    z = np.sort((eb.mdrsvar - eb.mdrsvar.mean()) / eb.mdrsvar.std(ddof=1))
    np.testing.assert_allclose(points[:, 1], z)
    assert np.all(np.diff(points[:, 0]) > 0)
    assert points[:, 0][80] == pytest.approx(stats.norm.ppf((81 - 0.375) / 160.25))


def test_eb_residuals_vs_a_candidate_predictor(results, eb):
    fig = plots.eb_residuals_vs(results, variable="pracad", coefficient="INTRCPT1")
    ax = fig.axes[0]
    points = ax.collections[0].get_offsets()
    level2 = results.estimates.design.level2_data
    np.testing.assert_allclose(points[:, 0], level2["pracad"])
    np.testing.assert_allclose(points[:, 1], eb.eb_residuals[:, 0])
    smooth = [line for line in ax.get_lines() if line.get_label().startswith("LOWESS")]
    assert len(smooth) == 1
    _xs, fit = plots.lowess(level2["pracad"], eb.eb_residuals[:, 0])
    np.testing.assert_allclose(smooth[0].get_ydata(), fit)
    assert ax.get_xlabel() == "PRACAD: Proportion of students in the academic track"
    assert ax.get_ylabel() == "EB residual of INTRCPT1 (U0)"
    slope = plots.eb_residuals_vs(results, variable="meanses", coefficient="U1")
    np.testing.assert_allclose(slope.axes[0].collections[0].get_offsets()[:, 1],
                               eb.eb_residuals[:, 1])
    with pytest.raises(SpecError, match="not a random coefficient"):
        plots.eb_residuals_vs(results, variable="pracad", coefficient="MINORITY")
    with pytest.raises(SpecError, match="not a level-2 variable"):
        plots.eb_residuals_vs(results, variable="nosuch")


def test_caterpillar(results, eb):
    fig = plots.caterpillar(results, level=0.95)
    ax = fig.axes[0]
    container = ax.containers[0]
    x, y = container.lines[0].get_xydata().T
    np.testing.assert_allclose(y, np.sort(eb.eb_residuals[:, 0]))
    assert len(x) == 160
    segments = container.lines[2][0].get_segments()
    half = np.array([(s[1, 1] - s[0, 1]) / 2 for s in segments])
    order = np.argsort(eb.eb_residuals[:, 0], kind="stable")
    np.testing.assert_allclose(half, 1.959963984540054 * np.sqrt(eb.posterior_cov[order, 0, 0]))
    coef = plots.caterpillar(results, "SES", kind="coefficient")
    _, y = coef.axes[0].containers[0].lines[0].get_xydata().T
    np.testing.assert_allclose(y, np.sort(eb.eb_coefficients[:, 1]))
    assert coef.axes[0].get_ylabel() == "EB SES coefficient"


@pytest.mark.parametrize("suffix", ["png", "svg", "pdf"])
def test_figures_save(results, tmp_path, suffix):
    path = tmp_path / f"qq.{suffix}"
    plots.qq_mdist(results).savefig(path)
    assert path.stat().st_size > 1000


def test_lowess_matches_statsmodels():
    sm = pytest.importorskip("statsmodels.nonparametric.smoothers_lowess")
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, 160)
    y = np.sin(4 * x) + rng.normal(scale=0.3, size=160)
    y[5] = 8.0      # an outlier the robust iterations must down-weight
    for frac, it in [(2 / 3, 3), (0.3, 0)]:
        xs, fit = plots.lowess(x, y, frac=frac, iterations=it)
        ref = sm.lowess(y, x, frac=frac, it=it, delta=0.0)
        np.testing.assert_allclose(xs, ref[:, 0])
        np.testing.assert_allclose(fit, ref[:, 1], atol=1e-10)


def test_model_graph_is_invariant_to_grand_mean_centring(results):
    """Centring MEANSES around its grand mean re-parameterises the model: the predicted lines
    at the same raw MEANSES quartiles must not move."""
    centred = openhlm.fit(M4.replace("meanses", "grand(meanses)"), openhlm.datasets.hsb())
    a = plots.model_graph(results, by="sector", quartiles_of="meanses").axes[0]
    b = plots.model_graph(centred, by="sector", quartiles_of="meanses").axes[0]
    assert [t.get_text() for t in a.get_legend().get_texts()] == [
        t.get_text() for t in b.get_legend().get_texts()]
    for la, lb in zip(a.get_lines(), b.get_lines()):
        np.testing.assert_allclose(la.get_ydata(), lb.get_ydata(), rtol=1e-6)
