"""Three-level outputs: the HTML report, the level-1 residual file (against a dense
computation), residual files through the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import openhlm
from openhlm.cli.main import main
from openhlm.estimation.three_level.design import build_design3
from openhlm.spec.equations3 import parse_model3

from .conftest import simulate

MODEL = """y = P0 + P1*t + E
P0 = B00 + B01*x2 + R0
P1 = B10 + R1
B00 = G000 + G001*w + U00
B10 = G100 + U10"""


@pytest.fixture(scope="module")
def mdm():
    return openhlm.build_mdm(simulate(), id=("child", "school"), level1_variables=["t", "y"],
                             level2_variables=["x2"], level3_variables=["w"])


@pytest.fixture(scope="module")
def res(mdm):
    return openhlm.fit(MODEL, mdm)


@pytest.fixture(scope="module")
def design(mdm):
    spec = parse_model3(MODEL, level1_variables=mdm.level1_variables,
                        level2_variables=mdm.level2_variables,
                        level3_variables=mdm.level3_variables)
    return build_design3(spec, mdm)


# -- HTML -----------------------------------------------------------------------------------

def test_html_report_has_hlm3_tables(res):
    html = res._repr_html_()
    assert html.startswith("<style>") and html.rstrip().endswith("</div>")
    for caption in ("Tau(pi)", "Tau(beta)", "Standard errors of tau(beta)",
                    "Reliability of the random level-1 coefficients",
                    "Reliability of the random level-2 coefficients",
                    "Final estimation of fixed effects",
                    "Final estimation of fixed effects (with robust standard errors)",
                    "Final estimation of level-1 and level-2 variance components",
                    "Final estimation of level-3 variance components",
                    "Statistics for current covariance components model"):
        assert f"<caption>{caption}</caption>" in html
    for r in res.fixed:
        assert f"{r.predictor}, {r.gamma}" in html
        assert f"{r.estimate:.6f}" in html and f"{r.robust_se:.6f}" in html
    for c in res.variance_components:
        assert f"{c.variance:.5f}" in html
        if c.chi2 is not None:
            assert f"{c.chi2:.5f}" in html
    for v in (*res.reliability_level2, *res.reliability_level3):
        assert f"<td class=\"\">{v:.3f}</td>" in html
    assert f"{res.deviance:.6f}" in html
    assert "three-level" in html and "B00 = G000 + G001*W + U00".lower() in html.lower()


def test_html_carries_the_glh_block(mdm):
    res = openhlm.fit(MODEL, mdm, hypotheses=["G001 = 0; G100 = 0"])
    assert "G001" in res._repr_html_() and "<pre>" in res._repr_html_()


# -- level-1 residual file ------------------------------------------------------------------

def test_level1_residuals_equal_dense(res, design):
    gamma = res.gamma.to_numpy()
    T2, T3, s2 = res.tau_pi, res.tau_beta, res.sigma2
    A, y = design.A, design.y
    unit, row3 = design.unit_index, design.row_level3_index
    same2 = unit[:, None] == unit[None, :]
    same3 = row3[:, None] == row3[None, :]
    Z2, Z3 = design.Z2, design.Z3
    V = s2 * np.eye(len(y)) + same2 * (Z2 @ T2 @ Z2.T) + same3 * (Z3 @ T3 @ Z3.T)
    Ve = np.linalg.solve(V, y - A @ gamma)
    # fitted = A gamma + Cov(Z b, y) V^-1 e, the dense BLUP of every record
    fitted = A @ gamma + (same2 * (Z2 @ T2 @ Z2.T) + same3 * (Z3 @ T3 @ Z3.T)) @ Ve
    table = res.level1_residuals()
    assert list(table.columns) == ["L2ID", "L3ID", "FITVAL", "L1RESID", "SIGMA", "y", "t"]
    assert len(table) == res.n_level1
    np.testing.assert_allclose(table.FITVAL, fitted, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(table.L1RESID, y - fitted, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(table.SIGMA, np.sqrt(s2))
    d = simulate()
    np.testing.assert_array_equal(table.L2ID, d.child)
    np.testing.assert_array_equal(table.L3ID.astype(int), d.school)
    np.testing.assert_allclose(table.t, d.t)


@pytest.mark.parametrize("suffix", [".csv", ".sav", ".dta", ".xpt", ".parquet", ".xlsx"])
def test_level1_residual_file_formats(res, tmp_path, suffix):
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    if suffix == ".xlsx":
        pytest.importorskip("openpyxl")
    if suffix in (".sav", ".xpt"):
        pytest.importorskip("pyreadstat")
    path = tmp_path / f"l1{suffix}"
    written = res.write_residuals(level1=path)
    assert written == {"level1": path} and path.exists()
    if suffix == ".csv":
        back = pd.read_csv(path)
        np.testing.assert_allclose(back.FITVAL, res.level1_residuals().FITVAL, rtol=1e-12)


# -- the CLI --------------------------------------------------------------------------------

@pytest.fixture()
def toml(tmp_path: Path) -> Path:
    simulate().to_csv(tmp_path / "all.csv", index=False)
    path = tmp_path / "model.toml"
    path.write_text(f'[data]\nlevel1 = "all.csv"\nid = ["child", "school"]\n\n'
                    f'[model]\nequations = """\n{MODEL}\n"""\n', encoding="utf-8")
    return path


def test_cli_fit_html(toml, tmp_path, capsys):
    out = tmp_path / "r.html"
    assert main(["fit", str(toml), "--html", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "Tau(beta)" in text
    assert "HLM3" in capsys.readouterr().out


def test_cli_residuals_three_levels(toml, tmp_path, capsys):
    r1, r2, r3 = tmp_path / "r1.csv", tmp_path / "r2.csv", tmp_path / "r3.dta"
    assert main(["residuals", str(toml), "--res1", str(r1), "--res2", str(r2),
                 "--res3", str(r3)]) == 0
    printed = capsys.readouterr().out
    assert "level-1 residual file" in printed and "level-3 residual file" in printed
    l1 = pd.read_csv(r1)
    assert {"L2ID", "L3ID", "FITVAL", "L1RESID"} <= set(l1.columns)
    assert len(l1) == len(simulate())
    assert r2.exists() and r3.exists()


# -- posterior variances ----------------------------------------------------------------------

def _expand(Z: np.ndarray, index: np.ndarray, n: int) -> np.ndarray:
    """(N, n * r): the columns of Z placed in the block of each row's unit."""
    r = Z.shape[1]
    out = np.zeros((len(Z), n * r))
    for a in range(r):
        out[np.arange(len(Z)), index * r + a] = Z[:, a]
    return out


@pytest.mark.parametrize("method", ["reml", "ml"])
def test_posterior_variances_equal_henderson(mdm, design, method):
    """PV and PVC against the dense prediction-error covariance on the whole data,
    ``G - G Z'P Z G`` (REML: gamma estimated) or ``G - G Z'V^-1 Z G`` (ML: given gamma), and
    the joint covariance of (gamma_hat - gamma, b_hat - b) for the EB coefficients."""
    res = openhlm.fit(MODEL, mdm, method=method)
    s2, T2, T3 = res.sigma2, res.tau_pi, res.tau_beta
    J, K = res.n_level2, res.n_level3
    r2, r3 = T2.shape[0], T3.shape[0]
    A = design.A
    Z = np.hstack([_expand(design.Z3, design.row_level3_index, K),
                   _expand(design.Z2, design.unit_index, J)])
    G = np.zeros((Z.shape[1], Z.shape[1]))        # singular at a boundary tau: no G^-1 used
    G[:K * r3, :K * r3] = np.kron(np.eye(K), T3)
    G[K * r3:, K * r3:] = np.kron(np.eye(J), T2)
    F = A.shape[1]
    V = s2 * np.eye(len(A)) + Z @ G @ Z.T
    Vi = np.linalg.inv(V)
    cov = np.linalg.inv(A.T @ Vi @ A)
    P = Vi - Vi @ A @ cov @ A.T @ Vi
    given_gamma = G - G @ Z.T @ Vi @ Z @ G
    cross = -cov @ A.T @ Vi @ Z @ G                # Cov(gamma_hat - gamma, b_hat - b)
    C = np.block([[cov, cross], [cross.T, G - G @ Z.T @ P @ Z @ G]])
    np.testing.assert_allclose(cov, res.covariance, rtol=1e-6)
    pe = C[F:, F:] if method == "reml" else given_gamma
    pv3 = np.stack([pe[k * r3:(k + 1) * r3, k * r3:(k + 1) * r3] for k in range(K)])
    o = K * r3
    pv2 = np.stack([pe[o + j * r2:o + (j + 1) * r2, o + j * r2:o + (j + 1) * r2]
                    for j in range(J)])
    np.testing.assert_allclose(res.posterior_level3, pv3, rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose(res.posterior_level2, pv2, rtol=1e-6, atol=1e-10)
    # the EB coefficients G_k gamma + u_k: L' C L with gamma's uncertainty
    w = mdm.level3["w"].to_numpy()
    g = list(res.gamma.index)
    pvc = np.zeros((K, r3, r3))
    for k in range(K):
        L = np.zeros((r3, F + Z.shape[1]))
        L[0, g.index("G000")], L[0, g.index("G001")] = 1.0, w[k]
        L[1, g.index("G100")] = 1.0
        L[:, F + k * r3:F + (k + 1) * r3] += np.eye(r3)
        pvc[k] = L @ C @ L.T
    np.testing.assert_allclose(res.posterior_coef_level3, pvc, rtol=1e-6, atol=1e-10)
    l2, l3 = res.level2_residuals(), res.level3_residuals()
    np.testing.assert_allclose(l2["PV0_1"], pv2[:, 0, 1], rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose(l3["PV00_10"], pv3[:, 0, 1], rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose(l3["PVC10_10"], pvc[:, 1, 1], rtol=1e-6, atol=1e-10)
    assert {"PV0_0", "PV1_1"} <= set(l2.columns)
    assert {"PV00_00", "PV10_10", "PVC00_00", "PVC00_10"} <= set(l3.columns)


# -- graphs -----------------------------------------------------------------------------------

def test_model_graph_lines_equal_the_fixed_part(res, mdm):
    from openhlm.plots import model_graph

    fig = model_graph(res, x="t", by="x2", quartiles_of="w")
    ax = fig.axes[0]
    lines = ax.get_lines()
    assert len(lines) == 2 * 3                          # x2 = 0, 1 times the quartiles of w
    labels = [ln.get_label() for ln in lines]
    assert labels[0].startswith("X2 = 0, W Q1") and labels[-1].startswith("X2 = 1, W Q3")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == labels
    assert ax.get_xlabel() == "T" and ax.get_ylabel() == "Predicted Y"
    assert "Model graph: predicted Y by T" in ax.get_title() and "K = 12" in ax.get_title()
    g = res.gamma
    w = mdm.level3["w"].to_numpy()
    q3 = np.percentile(w, 75)
    xs, ys = lines[-1].get_data()
    expected = (g["G000"] + g["G001"] * q3 + g["G010"] * 1.0) + g["G100"] * xs
    np.testing.assert_allclose(ys, expected, rtol=1e-12)
    # no by: one line at the means (x2 over level-2 units, w over level-3 units)
    (line,) = model_graph(res).axes[0].get_lines()
    xs, ys = line.get_data()
    x2 = res.level2_data["x2"].mean()
    np.testing.assert_allclose(ys, g["G000"] + g["G001"] * w.mean() + g["G010"] * x2
                               + g["G100"] * xs, rtol=1e-12)


def test_model_graph_centred_predictors(mdm):
    res = openhlm.fit("""y = P0 + P1*group(t) + E
P0 = B00 + B01*grand(x2) + R0
P1 = B10 + R1
B00 = G000 + G001*grand(w) + U00
B10 = G100 + U10""", mdm)
    from openhlm.plots import model_graph

    ax = model_graph(res, by="w", max_levels=2).axes[0]
    assert ax.get_xlabel() == "T (group-mean centred)"
    g = res.gamma
    w = mdm.level3["w"].to_numpy()
    xs, ys = ax.get_lines()[1].get_data()               # median of w, raw value in the label
    assert ax.get_lines()[1].get_label() == f"W median ({np.median(w):.2f})"
    np.testing.assert_allclose(ys, g["G000"] + g["G001"] * (np.median(w) - w.mean())
                               + g["G100"] * xs, rtol=1e-10, atol=1e-12)


def test_model_graph_errors(res):
    from openhlm.errors import SpecError
    from openhlm.plots import model_graph

    with pytest.raises(SpecError, match="not a level-1 predictor"):
        model_graph(res, x="w")
    with pytest.raises(SpecError, match="not a level-2 or level-3 predictor"):
        model_graph(res, by="t")


def test_caterpillar_level3_and_level2(res):
    from openhlm.plots import caterpillar

    ax = caterpillar(res).axes[0]
    (container,) = ax.containers
    ys = container.lines[0].get_ydata()
    np.testing.assert_allclose(ys, np.sort(res.eb_level3[:, 0]))
    assert len(ys) == res.n_level3
    assert "Level-3 units" in ax.get_xlabel() and "U00" in ax.get_ylabel()
    ax = caterpillar(res, "B10", kind="coefficient").axes[0]
    np.testing.assert_allclose(ax.containers[0].lines[0].get_ydata(),
                               np.sort(res.eb_level3[:, 1] + res.fixed_level3[:, 1]))
    ax = caterpillar(res, "R1", level_of_units=2).axes[0]
    assert len(ax.containers[0].lines[0].get_ydata()) == res.n_level2
    assert "R1" in ax.get_ylabel()


def test_cli_plot_three_levels(toml, tmp_path, capsys):
    out = tmp_path / "m.png"
    assert main(["plot", "model", str(toml), "--by", "x2", "--quartiles-of", "w",
                 "-o", str(out)]) == 0
    assert out.stat().st_size > 0
    out = tmp_path / "c.svg"
    assert main(["plot", "caterpillar", str(toml), "--units", "2", "-o", str(out)]) == 0
    assert out.stat().st_size > 0
    # the other graphs: tests/unit/three_level/test_graphs3.py


def test_cli_hlm3_command_file_is_read(tmp_path, capsys):
    # HLM3 command files are read (spec/commandfile3.py, tests/unit/three_level/
    # test_commandfile3.py); an undocumented key is a clear error with its line
    simulate().to_csv(tmp_path / "all.csv", index=False)
    cmd = tmp_path / "m.hlm"
    cmd.write_text("#WHLM CMD FILE\nnumit:100\nlevel1:Y=INTRCPT1+T+RANDOM\n"
                   "level2:INTRCPT1=INTRCPT2+random/\n", encoding="utf-8")
    assert main(["fit", str(cmd), "--level1", str(tmp_path / "all.csv"),
                 "--id", "child,school"]) == 0
    assert "Tau(pi)" in capsys.readouterr().out
    cmd.write_text("#WHLM CMD FILE\nnumit:100\nmlf:y\nlevel1:Y=INTRCPT1+T+RANDOM\n",
                   encoding="utf-8")
    assert main(["fit", str(cmd), "--level1", str(tmp_path / "all.csv"),
                 "--id", "child,school"]) != 0
    assert "line 3" in capsys.readouterr().err
