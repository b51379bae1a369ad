"""HGLM graphs on the probability / rate scale: the plotted values are the inverse link of the
linear predictor computed here from the printed gammas and the EB coefficients."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit
from tests.unit.glmm._cases import data

import openhlm
from openhlm.errors import SpecError

pytest.importorskip("matplotlib")

CONTRA = "use = B0 + B1*age + B2*urban; B0 = G00 + G01*durban + U0; B1 = G10; B2 = G20 + U2"
EPIL = "y = B0 + B1*post; B0 = G00 + G01*trt + U0; B1 = G10 + G11*trt + U1"


@pytest.fixture(scope="module")
def contra():
    return data("contraception.csv")


@pytest.fixture(scope="module")
def bern(contra):
    return openhlm.fit(CONTRA, contra, id="district", distribution="bernoulli",
                       method="laplace")


@pytest.fixture(scope="module")
def pois():
    return openhlm.fit(EPIL, data("epilepsy.csv"), id="subject", distribution="poisson",
                       exposure="weeks", method="laplace")


def _g(res):
    return {r.gamma: r.estimate for r in res.fixed_effects}


def test_model_graph_is_the_probability(bern, contra):
    from openhlm.plots import model_graph

    fig = model_graph(bern, x="age", quartiles_of="durban")
    lines = fig.axes[0].get_lines()
    assert len(lines) == 3
    g = _g(bern)
    durban = contra.groupby("district")["durban"].first().to_numpy()
    q = np.percentile(durban, [25, 50, 75])
    urban = contra["urban"].mean()
    for line, dq in zip(lines, q):
        x, y = line.get_data()
        eta = g["G00"] + g["G01"] * dq + g["G10"] * x + g["G20"] * urban
        np.testing.assert_allclose(y, expit(eta), rtol=1e-12)
        assert 0 < y.min() and y.max() < 1
    assert "Prob(USE = 1)" in fig.axes[0].get_ylabel()
    link = model_graph(bern, x="age", quartiles_of="durban", scale="link")
    x, y = link.axes[0].get_lines()[1].get_data()
    np.testing.assert_allclose(y, g["G00"] + g["G01"] * q[1] + g["G10"] * x
                               + g["G20"] * urban, rtol=1e-12)
    with pytest.raises(SpecError, match="scale"):
        model_graph(bern, scale="odds")


def test_model_graph_is_the_rate(pois):
    from openhlm.plots import model_graph

    fig = model_graph(pois, x="post", by="trt")
    g = _g(pois)
    lines = fig.axes[0].get_lines()
    assert len(lines) == 2
    for line, trt in zip(lines, (0.0, 1.0)):
        x, y = line.get_data()
        eta = g["G00"] + g["G01"] * trt + (g["G10"] + g["G11"] * trt) * x
        np.testing.assert_allclose(y, np.exp(eta), rtol=1e-12)
    assert "rate of Y per unit of WEEKS" in fig.axes[0].get_ylabel()


def test_level1_curves_are_probabilities_from_eb_coefficients(bern, contra):
    from openhlm.plots import level1_equations

    fig = level1_equations(bern, x="age", sample=None, n_points=25)
    lines = fig.axes[0].get_lines()
    assert len(lines) == 60
    eb = bern.eb
    k = 11
    rows = contra[contra["district"].astype(str) == str(eb["unit"].iloc[k])]
    x, y = lines[k].get_data()
    assert x.min() == pytest.approx(rows["age"].min()) and x.max() == pytest.approx(
        rows["age"].max())
    eta = (eb["b_intrcpt1"].iloc[k] + eb["b_age"].iloc[k] * x
           + eb["b_urban"].iloc[k] * rows["urban"].mean())
    np.testing.assert_allclose(y, expit(eta), rtol=1e-12)


def test_diagnostic_graphs_are_refused_clearly(bern):
    from openhlm.plots import mdrsvar_histogram

    with pytest.raises(SpecError, match="not available for HGLMs.*MDIST Q-Q plot are"):
        mdrsvar_histogram(bern)


def test_cli_plot(tmp_path, contra):
    from openhlm.cli.main import main

    (tmp_path / "contra.csv").write_text(contra.to_csv(index=False))
    path = tmp_path / "m.toml"
    path.write_text(
        'title = "c"\n[data]\nlevel1 = "contra.csv"\nid = "district"\n[model]\n'
        f'equations = "{CONTRA}"\ndistribution = "bernoulli"\n[estimation]\n'
        'method = "laplace"\n')
    out = tmp_path / "g.png"
    assert main(["plot", "model", str(path), "--x", "age", "--quartiles-of", "durban",
                 "-o", str(out)]) == 0
    assert out.stat().st_size > 1000
