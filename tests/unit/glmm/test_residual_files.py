"""HGLM residual files in HLM's layout and the linear model's formats (CSV, SPSS, Stata, ...):
every column recomputed here from the data and the printed estimates, and read back."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize
from scipy.special import expit
from tests.unit.glmm._cases import data

import openhlm

pyreadstat = pytest.importorskip("pyreadstat")

SLOPE = "use = B0 + B1*age + B2*urban; B0 = G00 + G01*durban + U0; B1 = G10; B2 = G20 + U2"
EPIL = "y = B0 + B1*post; B0 = G00 + G01*trt + U0; B1 = G10 + U1"


@pytest.fixture(scope="module")
def contra():
    return data("contraception.csv")


@pytest.fixture(scope="module")
def fit(contra):
    return openhlm.fit(SLOPE, contra, id="district", distribution="bernoulli",
                       method="laplace")


def _gamma(res):
    return {r.gamma: r.estimate for r in res.fixed_effects}


def test_level2_file_round_trip_and_values(fit, contra, tmp_path):
    paths = fit.write_residuals(level2=tmp_path / "res2.sav", level1=tmp_path / "res1.dta")
    res2, meta = pyreadstat.read_sav(str(paths["level2"]))
    for col in ("L2ID", "NJ", "EBINTRCP", "EBURBAN", "FVINTRCP", "FVAGE", "FVURBAN",
                "ECINTRCP", "ECAGE", "ECURBAN", "PV0_0", "PV0_2", "PV2_2", "PREDPROB",
                "MEANPROB", "OBSPROB", "DURBAN"):
        assert col.lower() in {c.lower() for c in res2.columns}, col
    labels = dict(zip(meta.column_names, meta.column_labels))
    assert "logit scale" in labels["EBINTRCP"] and "probability" in labels["PREDPROB"]
    g = _gamma(fit)
    districts = np.sort(contra["district"].unique())
    np.testing.assert_array_equal(res2["L2ID"], districts)
    durban = contra.groupby("district")["durban"].first().to_numpy()
    np.testing.assert_allclose(res2["FVINTRCP"], g["G00"] + g["G01"] * durban, rtol=1e-12)
    np.testing.assert_allclose(res2["FVURBAN"], g["G20"], rtol=1e-12)
    np.testing.assert_allclose(res2["ECINTRCP"], res2["FVINTRCP"] + res2["EBINTRCP"],
                               rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(res2["OBSPROB"], contra.groupby("district")["use"].mean(),
                               rtol=1e-12)
    means = contra.groupby("district")[["age", "urban"]].mean()
    eta_mean = res2["ECINTRCP"] + res2["ECAGE"] * means["age"].to_numpy() \
        + res2["ECURBAN"] * means["urban"].to_numpy()
    np.testing.assert_allclose(res2["PREDPROB"], expit(eta_mean), rtol=1e-12)
    # EB = the mode of each unit's posterior, PV = inverse curvature there (Laplace):
    # recomputed unit by unit with scipy at the printed estimates
    T = fit.tau
    Ti = np.linalg.inv(T)
    for k in (0, 7, 33):
        rows = contra[contra["district"] == districts[k]]
        fixed = (g["G00"] + g["G01"] * rows["durban"] + g["G10"] * rows["age"]
                 + g["G20"] * rows["urban"]).to_numpy()
        Z = np.column_stack([np.ones(len(rows)), rows["urban"]])
        y = rows["use"].to_numpy()

        def neg(u, fixed=fixed, Z=Z, y=y):
            eta = fixed + Z @ u
            return -(y @ eta - np.logaddexp(0, eta).sum()) + 0.5 * u @ Ti @ u

        u = minimize(neg, np.zeros(2), method="BFGS", options={"gtol": 1e-12}).x
        np.testing.assert_allclose([res2["EBINTRCP"][k], res2["EBURBAN"][k]], u, atol=1e-6)
        mu = expit(fixed + Z @ u)
        H = Z.T @ (Z * (mu * (1 - mu))[:, None]) + Ti
        V = np.linalg.inv(H)
        np.testing.assert_allclose([res2["PV0_0"][k], res2["PV0_2"][k], res2["PV2_2"][k]],
                                   [V[0, 0], V[0, 1], V[1, 1]], rtol=1e-5)
        assert res2["MEANPROB"][k] == pytest.approx(mu.mean(), rel=1e-6)


def test_level1_file_round_trip_and_values(fit, contra, tmp_path):
    path = fit.write_residuals(level1=tmp_path / "res1.dta")["level1"]
    res1, meta = pyreadstat.read_dta(str(path))
    assert len(res1) == len(contra)
    assert {"L2ID", "ETA", "PREDPROB", "FITVAL", "L1RESID", "ETAFIXED", "use", "age", "urban",
            "durban"} <= set(res1.columns)
    eb = fit.level2_residuals().set_index("L2ID")
    ec = eb.loc[contra["district"].to_numpy()]
    eta = (ec["ECINTRCP"].to_numpy() + ec["ECAGE"].to_numpy() * contra["age"].to_numpy()
           + ec["ECURBAN"].to_numpy() * contra["urban"].to_numpy())
    np.testing.assert_allclose(res1["ETA"], eta, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(res1["PREDPROB"], expit(eta), rtol=1e-10)
    np.testing.assert_allclose(res1["FITVAL"], expit(eta), rtol=1e-10)
    np.testing.assert_allclose(res1["L1RESID"], contra["use"] - expit(eta), atol=1e-10)
    g = _gamma(fit)
    np.testing.assert_allclose(res1["ETAFIXED"], g["G00"] + g["G01"] * contra["durban"]
                               + g["G10"] * contra["age"] + g["G20"] * contra["urban"],
                               rtol=1e-10, atol=1e-12)
    assert "Predicted probability" in dict(zip(meta.column_names, meta.column_labels))[
        "PREDPROB"]


def test_poisson_files_are_on_the_rate_scale(tmp_path):
    df = data("epilepsy.csv")
    res = openhlm.fit(EPIL, df, id="subject", distribution="poisson", exposure="weeks",
                      method="laplace")
    paths = res.write_residuals(level2=tmp_path / "r2.csv", level1=tmp_path / "r1.csv",
                                extra_level2=["lage"], extra_level1="lage")
    r2, r1 = pd.read_csv(paths["level2"]), pd.read_csv(paths["level1"])
    assert {"PREDRATE", "MEANRATE", "OBSRATE", "EBPOST", "PV0_1", "lage"} <= set(r2.columns)
    assert {"PREDRATE", "weeks", "lage"} <= set(r1.columns)
    np.testing.assert_allclose(r1["PREDRATE"], np.exp(r1["ETA"]), rtol=1e-12)
    np.testing.assert_allclose(r1["FITVAL"], df["weeks"] * np.exp(r1["ETA"]), rtol=1e-12)
    obs = df.groupby("subject").apply(lambda u: u["y"].sum() / u["weeks"].sum(),
                                      include_groups=False)
    np.testing.assert_allclose(r2["OBSRATE"], obs.to_numpy(), rtol=1e-12)


@pytest.mark.parametrize("suffix", [".xpt", ".parquet", ".xlsx"])
def test_other_formats(fit, tmp_path, suffix):
    pytest.importorskip("pyarrow" if suffix == ".parquet" else "openpyxl"
                        if suffix == ".xlsx" else "pyreadstat")
    path = fit.write_residuals(level2=tmp_path / f"r2{suffix}")["level2"]
    back = (pyreadstat.read_xport(str(path))[0] if suffix == ".xpt"
            else pd.read_parquet(path) if suffix == ".parquet" else pd.read_excel(path))
    np.testing.assert_allclose(back["PREDPROB"], fit.level2_residuals()["PREDPROB"],
                               rtol=1e-12)


def test_toml_and_cli_write_sav(tmp_path, contra, capsys):
    from openhlm.cli.main import main

    (tmp_path / "contra.csv").write_text(contra.to_csv(index=False))
    path = tmp_path / "m.toml"
    path.write_text(
        'title = "c"\n[data]\nlevel1 = "contra.csv"\nid = "district"\n[model]\n'
        f'equations = "{SLOPE}"\ndistribution = "bernoulli"\n[estimation]\n'
        'method = "laplace"\n[output]\nlevel2_residuals = "out/res2.sav"\n'
        'level1_residuals = "out/res1.csv"\n')
    assert main(["fit", str(path), "-o", str(tmp_path / "r.txt")]) == 0
    res2, _ = pyreadstat.read_sav(str(tmp_path / "out" / "res2.sav"))
    assert len(res2) == 60 and "PREDPROB" in res2.columns
    assert len(pd.read_csv(tmp_path / "out" / "res1.csv")) == len(contra)
    assert main(["residuals", str(path), "--res1", str(tmp_path / "x.dta"),
                 "--extra1", "rural"]) == 0
    assert "rural" in pyreadstat.read_dta(str(tmp_path / "x.dta"))[0].columns
