"""HLM3's exploratory analysis (potential level-2 and level-3 predictors).

Checked against (a) numpy least squares on the EB residual columns of the level-2 and level-3
residual files (``EBRp``, ``EBUpq``) merged with the raw candidate variables, and (b) R's
``lm(ranef ~ W)`` of lme4's conditional modes of the egsingle growth model
(tests/reference/crosscheck/egsingle3_exploratory); then the error cases, the report blocks, the
doors (API, FitOptions, TOML ``[output] exploratory3``, CLI ``--exploratory3``) and the
two-level block's unchanged output.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.reference.crosscheck._load import load_case

import openhlm
from openhlm.cli.main import main
from openhlm.errors import EstimationError, SpecError
from openhlm.inference.exploratory3 import exploratory3
from openhlm.spec.options import FitOptions

from .conftest import simulate

MODEL = """y = P0 + P1*t + E
P0 = B00 + B01*x2 + R0
P1 = B10 + R1
B00 = G000 + G001*w + U00
B10 = G100 + U10"""
GROWTH = ("math = P0 + P1*year + E; P0 = B00 + R0; P1 = B10 + R1; B00 = G000 + U00; "
          "B10 = G100 + U10")


def _data() -> pd.DataFrame:
    d = simulate(n3=30, n2=8, n1=5, seed=4)
    rng = np.random.default_rng(11)
    children = d["child"].unique()
    schools = d["school"].unique()
    d["z2"] = d["child"].map(dict(zip(children, rng.normal(size=len(children)), strict=True)))
    d["k2"] = d["child"].map(dict(zip(children, rng.integers(0, 3, len(children)),
                                      strict=True)))
    d["v3"] = d["school"].map(dict(zip(schools, rng.normal(size=len(schools)), strict=True)))
    d["c3"] = 5.0
    return d


@pytest.fixture(scope="module")
def data():
    return _data()


@pytest.fixture(scope="module")
def mdm(data):
    return openhlm.build_mdm(data, id=("child", "school"), level1_variables=["t", "y"],
                             level2_variables=["x2", "z2", "k2"],
                             level3_variables=["w", "v3", "c3"])


@pytest.fixture(scope="module")
def res(mdm):
    return openhlm.fit(MODEL, mdm, exploratory=["z2", "K2"], exploratory3=["v3"])


def _lstsq(u: np.ndarray, w: np.ndarray) -> tuple[float, float, float, float]:
    """Slope, SE, t and intercept of u on [1, w] by numpy's least squares."""
    X = np.column_stack([np.ones_like(w), w])
    coef, rss, rank, _ = np.linalg.lstsq(X, u, rcond=None)
    assert rank == 2
    cov = float(rss[0]) / (len(u) - 2) * np.linalg.inv(X.T @ X)
    return coef[1], np.sqrt(cov[1, 1]), coef[1] / np.sqrt(cov[1, 1]), coef[0]


# -- values -----------------------------------------------------------------------------------

def test_level2_block_against_numpy_on_the_residual_file(res, data):
    block = res.extras["exploratory"]
    assert block.level == 2 and block.candidates == ("z2", "k2")      # the MDM's spelling
    assert block.labels == ("INTRCPT1,P0", "T,P1")
    assert block.coefficients == ("INTRCPT1", "T")
    l2 = res.level2_residuals()
    raw = data.groupby("child")[["z2", "k2"]].first()
    merged = l2.merge(raw, left_on="L2ID", right_index=True, validate="one_to_one")
    assert len(merged) == res.n_level2 == block.n_units and block.df == res.n_level2 - 2
    for r, column in enumerate(("EBR0", "EBR1")):
        for k, name in enumerate(("z2", "k2")):
            b, se, t, a = _lstsq(merged[column].to_numpy(), merged[name].to_numpy(float))
            np.testing.assert_allclose(
                [block.estimate[r, k], block.se[r, k], block.t[r, k], block.intercept[r, k]],
                [b, se, t, a], rtol=1e-9, atol=1e-13, err_msg=f"{column} ~ {name}")
    frame = block.to_frame()
    assert list(frame["random_effect"]) == ["R0", "R0", "R1", "R1"]


def test_level3_block_against_numpy_on_the_residual_file(res, data):
    block = res.extras["exploratory_level3"]
    assert block.level == 3 and block.candidates == ("v3",)
    assert block.labels == ("INTRCPT1/INTRCPT2,B00", "T/INTRCPT2,B10")
    l3 = res.level3_residuals()
    raw = data.groupby("school")[["v3"]].first()
    raw.index = raw.index.astype(str)
    merged = l3.merge(raw, left_on="L3ID", right_index=True, validate="one_to_one")
    assert len(merged) == res.n_level3 == block.n_units == 30
    for r, column in enumerate(("EBU00", "EBU10")):
        b, se, t, a = _lstsq(merged[column].to_numpy(), merged["v3"].to_numpy(float))
        np.testing.assert_allclose(
            [block.estimate[r, 0], block.se[r, 0], block.t[r, 0], block.intercept[r, 0]],
            [b, se, t, a], rtol=1e-9, atol=1e-13, err_msg=column)
    assert list(block.to_frame()["random_effect"]) == ["U00", "U10"]
    from scipy import stats

    np.testing.assert_allclose(block.p[:, 0], 2 * stats.t.sf(np.abs(block.t[:, 0]), 28),
                               rtol=1e-10)


def test_direct_call_equals_the_fit_keyword(res):
    direct = exploratory3(res, level2="z2", level3=["V3"])
    np.testing.assert_allclose(direct["exploratory"].estimate[:, 0],
                               res.extras["exploratory"].estimate[:, 0], rtol=1e-12)
    np.testing.assert_allclose(direct["exploratory_level3"].se,
                               res.extras["exploratory_level3"].se, rtol=1e-12)
    assert set(exploratory3(res, level3="v3")) == {"exploratory_level3"}


@pytest.fixture(scope="module")
def egsingle_mdm(egsingle):
    from openhlm.data.mdm3 import build_mdm3

    return build_mdm3(egsingle, id=("childid", "schoolid"),
                      level1_variables=["year", "math"],
                      level2_variables=["female", "black", "hispanic"],
                      level3_variables=["size", "lowinc", "mobility"])


@pytest.mark.parametrize("method", ["reml", "ml"])
def test_against_r_lm_on_lme4_conditional_modes(egsingle_mdm, method):
    """R: lm(ranef ~ W) on lme4's conditional modes of both levels (make_reference.R)."""
    ref = load_case("egsingle3_exploratory")
    assert ref["equations"] == GROWTH
    res = openhlm.fit(GROWTH, egsingle_mdm, method=method,
                      exploratory=["female", "black", "hispanic"],
                      exploratory3=["lowinc", "mobility", "size"])
    model = ref["models"][method]
    assert res.deviance == pytest.approx(model["criterion"], abs=1e-6)
    for key, level in (("exploratory", "level2"), ("exploratory_level3", "level3")):
        frame = res.extras[key].to_frame().set_index(["random_effect", "candidate"])
        rows = model[level]
        assert len(rows) == len(frame) == 6
        for row in rows:
            ours = frame.loc[(row["effect"], row["candidate"])]
            for field in ("estimate", "se", "t", "intercept"):
                # the EB residuals move with the variance estimates (agreeing with lme4's to
                # ~1e-6 relative); measured gaps <= 1.6e-6 relative (REML), 1e-6 (ML)
                assert ours[field] == pytest.approx(row[field], rel=1e-4, abs=1e-7), (
                    method, row["effect"], row["candidate"], field)
            assert ours["df"] == row["df"] and ours["n_units"] == row["n_units"]


# -- errors -----------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    ({"level2": ["x2"]}, "'x2' is already in the model's level-2 equations"),
    ({"level3": ["w"]}, "'w' is already in the model's level-3 equations"),
    ({"level2": ["v3"]}, r"'v3' is a level-3 variable \(level-3 candidates go in exploratory3="),
    ({"level3": ["z2"]}, r"'z2' is a level-2 variable \(level-2 candidates go in exploratory="),
    ({"level3": ["t"]}, "'t' is a level-1 variable"),
    ({"level2": ["zz"]}, "'zz' is not a variable of the MDM"),
    ({"level2": ["z2", "Z2"]}, "'Z2' is named twice"),
    ({"level3": ["c3"]}, "'c3' has the same value in every level-3 unit"),
    ({"level2": []}, "names no candidate level-2 variable"),
    ({"level3": 3}, "exploratory3 must be a list of level-3 variable names"),
    ({}, "needs level-2 candidates"),
])
def test_bad_candidates(res, kwargs, message):
    with pytest.raises(SpecError, match=message):
        exploratory3(res, **kwargs)


def test_no_random_coefficient_at_the_level(mdm):
    fixed3 = openhlm.fit("y = P0 + P1*t + E\nP0 = B00 + R0\nP1 = B10\nB00 = G000\nB10 = G100",
                         mdm)
    with pytest.raises(EstimationError, match="no level-2 coefficient random at level 3"):
        exploratory3(fixed3, level3=["v3"])
    block = exploratory3(fixed3, level2=["z2"])["exploratory"]
    assert block.labels == ("INTRCPT1,P0",)
    only3 = openhlm.fit("y = P0 + E\nP0 = B00\nB00 = G000 + U00", mdm)
    with pytest.raises(EstimationError, match="no level-1 coefficient random at level 2"):
        exploratory3(only3, level2=["z2"])


def test_refusals_elsewhere(mdm, data):
    with pytest.raises(SpecError, match="exploratory3 names level-3 candidates of a three-level"):
        openhlm.fit("y = B0 + R; B0 = G00 + U0", data, id="child", exploratory3=["v3"])
    with pytest.raises(SpecError, match="not pooled over imputed data sets"):
        openhlm.fit(MODEL, [data, data], id=("child", "school"), exploratory3=["v3"])


# -- report and doors --------------------------------------------------------------------------

def test_text_and_json_blocks(res):
    text = str(res)
    assert ("Exploratory Analysis: estimated level-2 coefficients" in text
            and "Exploratory Analysis: estimated level-3 coefficients" in text)
    assert " Level-2 Coefficient  Potential Level-3 Predictors" in text
    assert " INTRCPT1/INTRCPT2,B00" in text and " T,P1" in text
    block = res.extras["exploratory_level3"]
    assert f"{block.estimate[0, 0]:.6f}" in text
    d = json.loads(res.to_json())
    assert d["exploratory"]["level"] == 2 and d["exploratory_level3"]["level"] == 3
    assert d["exploratory_level3"]["candidates"] == ["v3"]
    assert d["exploratory_level3"]["rows"][1]["random_effect"] == "U10"
    assert "Potential Level-3 Predictors" in res._repr_html_()


def test_two_level_block_unchanged():
    """The two-level block keeps its labels, effects, title and JSON keys."""
    hsb = openhlm.datasets.hsb()
    res = openhlm.fit("mathach = B0 + B1*group(ses) + R; B0 = G00 + U0; B1 = G10 + U1", hsb,
                      exploratory=["pracad"])
    block = res.extras["exploratory"]
    assert block.labels == ("INTRCPT1,B0", "SES,B1") and not block.three_level
    assert list(block.to_frame()["random_effect"]) == ["U0", "U1"]
    assert "level" not in res.to_dict()["exploratory"]
    assert " Level-1 Coefficient  Potential Level-2 Predictors" in str(res)


def test_options_round_trip():
    options = FitOptions.from_kwargs(exploratory=["z2"], exploratory3=["v3", "w"])
    assert options.exploratory3 == ("v3", "w")
    assert options.to_kwargs()["exploratory3"] == ("v3", "w")
    assert options.to_model_file(MODEL, _section()).output.exploratory3 == ("v3", "w")
    with pytest.raises(SpecError, match="cannot hold an exploratory analysis"):
        FitOptions(exploratory3=("v3",)).to_command_file(None)  # type: ignore[arg-type]


def _section():
    from openhlm.spec.modelfile import DataSection

    return DataSection(level1=Path("all.csv"), id="child", id3="school")


def _toml(tmp_path: Path, extra: str = "") -> Path:
    _data().to_csv(tmp_path / "all.csv", index=False)
    path = tmp_path / "model.toml"
    path.write_text(f'[data]\nlevel1 = "all.csv"\nid = ["child", "school"]\n\n'
                    f'[model]\nequations = """\n{MODEL}\n"""\n{extra}', encoding="utf-8")
    return path


def test_toml_and_cli(tmp_path, capsys):
    from openhlm.spec.modelfile import format_model_file, parse_model_file

    toml = _toml(tmp_path, '\n[output]\nexploratory = ["z2"]\nexploratory3 = ["v3"]\n')
    mf = parse_model_file(toml.read_text(encoding="utf-8"), path=toml)
    assert mf.output.exploratory3 == ("v3",)
    assert 'exploratory3 = ["v3"]' in format_model_file(mf)
    out = tmp_path / "r.json"
    assert main(["fit", str(toml), "--json", str(out), "-o", str(tmp_path / "r.txt")]) == 0
    d = json.loads(out.read_text(encoding="utf-8"))
    assert d["exploratory_level3"]["candidates"] == ["v3"]
    assert d["exploratory"]["candidates"] == ["z2"]
    # the command line replaces the file's list
    assert main(["fit", str(toml), "--exploratory3", "v3,c3", "--json", str(out),
                 "-o", str(tmp_path / "r.txt")]) != 0
    err = capsys.readouterr().err
    assert "--exploratory3:" in err and "'c3' has the same value in every level-3 unit" in err
    bad = _toml(tmp_path, '\n[output]\nexploratory3 = ["w"]\n')
    assert main(["fit", str(bad)]) != 0
    err = capsys.readouterr().err
    assert "[output] exploratory3" in err and "already in the model's level-3" in err
