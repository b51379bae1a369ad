"""HLM's exploratory analysis of potential level-2 predictors (openhlm.exploratory).

Values are checked against (a) an independent least-squares computation with numpy on the EB
residuals of the level-2 residual file and the raw level-2 file, and (b) R's ``lm(u ~ W)`` on
lme4's conditional modes of Model 4 (tests/reference/crosscheck/hsb_exploratory); then the
error cases, the text and JSON blocks, the TOML key and the CLI.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from tests.reference.crosscheck._load import load_case

import openhlm
from openhlm.cli.main import main
from openhlm.datasets import path as bundled
from openhlm.errors import CommandFileError, EstimationError, SpecError
from openhlm.inference.exploratory import EXPLORATORY_TITLE, ExploratoryAnalysis
from openhlm.report import numfmt
from openhlm.spec.modelfile import format_model_file, parse_model_file

MODEL4 = ("mathach = B0 + B1*group(ses) + R; B0 = G00 + G01*sector + G02*meanses + U0; "
          "B1 = G10 + G11*sector + G12*meanses + U1")
MODEL3 = "mathach = B0 + B1*group(ses) + R; B0 = G00 + U0; B1 = G10 + U1"
CANDIDATES = ["pracad", "disclim", "himinty", "size"]


@pytest.fixture(scope="module")
def hsb():
    return openhlm.datasets.hsb()


@pytest.fixture(scope="module")
def model4(hsb):
    return openhlm.fit(MODEL4, hsb)


@pytest.fixture(scope="module")
def model4_ml(hsb):
    return openhlm.fit(MODEL4, hsb, method="ml")


@pytest.fixture(scope="module")
def model3(hsb):
    return openhlm.fit(MODEL3, hsb)


def _lstsq(u: np.ndarray, w: np.ndarray) -> tuple[float, float, float]:
    """Slope, SE and t of u on [1, w] by numpy's least squares (classical OLS formulas)."""
    X = np.column_stack([np.ones_like(w), w])
    coef, rss, rank, _ = np.linalg.lstsq(X, u, rcond=None)
    assert rank == 2
    s2 = float(rss[0]) / (len(u) - 2)
    cov = s2 * np.linalg.inv(X.T @ X)
    return coef[1], np.sqrt(cov[1, 1]), coef[1] / np.sqrt(cov[1, 1])


def _level2_file() -> pd.DataFrame:
    return pd.read_csv(bundled("hsb2.csv"))


# -- values -----------------------------------------------------------------------------------

def test_against_numpy_lstsq_on_the_residual_file(model4):
    """Independent: the EB columns of the level-2 residual file, merged with the raw hsb2.csv."""
    block = openhlm.exploratory(model4, CANDIDATES)
    assert isinstance(block, ExploratoryAnalysis)
    assert block.coefficients == ("INTRCPT1", "SES")
    assert block.labels == ("INTRCPT1,B0", "SES,B1")
    assert block.candidates == tuple(CANDIDATES)
    res = model4.level2_residuals()
    merged = res[["L2ID", "EBINTRCP", "EBSES"]].assign(id=res["L2ID"].astype(int)).merge(
        _level2_file(), on="id", validate="one_to_one")
    assert len(merged) == 160
    for r, column in enumerate(("EBINTRCP", "EBSES")):
        for k, name in enumerate(CANDIDATES):
            b, se, t = _lstsq(merged[column].to_numpy(), merged[name].to_numpy(dtype=float))
            np.testing.assert_allclose([block.estimate[r, k], block.se[r, k], block.t[r, k]],
                                       [b, se, t], rtol=1e-10, err_msg=f"{column} ~ {name}")
    assert block.n_units == 160 and block.df == 158


@pytest.mark.parametrize("key, fixture", [("model4_reml", "model4"), ("model4_ml", "model4_ml")])
def test_against_r_lm_on_lme4_conditional_modes(key, fixture, request):
    """R: lm(ranef ~ W) on lme4's conditional modes (make_reference.R beside the values)."""
    results = request.getfixturevalue(fixture)
    block = openhlm.exploratory(results, CANDIDATES)
    frame = block.to_frame().set_index(["coefficient", "candidate"])
    rows = load_case("hsb_exploratory")["models"][key]["rows"]
    assert len(rows) == len(frame) == 8
    for row in rows:
        ours = frame.loc[(row["coefficient"], row["candidate"])]
        for field in ("estimate", "se", "t", "p", "intercept"):
            # the two fits' variance estimates differ in the 7th digit (REML tau_11 is small,
            # so the SES residuals move most): measured gaps <= 3e-6 relative
            assert ours[field] == pytest.approx(row[field], rel=1e-5, abs=1e-12), (
                row["coefficient"], row["candidate"], field)
        assert ours["df"] == row["df"] and ours["n_units"] == row["n_units"]


def test_fit_keyword_stores_the_block(hsb, model4):
    res = openhlm.fit(MODEL4, hsb, exploratory=["PRACAD", "disclim"])
    block = res.extras["exploratory"]
    assert block.candidates == ("pracad", "disclim")       # the MDM's spelling
    direct = openhlm.exploratory(model4, ["pracad", "disclim"])
    np.testing.assert_allclose(block.estimate, direct.estimate, rtol=1e-12)
    np.testing.assert_allclose(block.se, direct.se, rtol=1e-12)
    single = openhlm.exploratory(model4, "pracad")          # a single name
    np.testing.assert_allclose(single.t[:, 0], direct.t[:, 0], rtol=1e-12)


def test_units_dropped_by_level1_deletion_are_left_out():
    """A school whose level-1 rows are all deleted has no EB residual: J = 159 in the regression."""
    l1 = pd.read_csv(bundled("hsb1.csv"))
    l1.loc[l1["id"] == 1224, "mathach"] = np.nan
    l2 = _level2_file()
    res = openhlm.fit(MODEL4, openhlm.MDM.from_tables(l1, l2, id="id"))
    assert res.n_level2 == 159
    block = openhlm.exploratory(res, ["pracad", "disclim"])
    assert block.n_units == 159 and block.df == 157
    eb = res.level2_residuals()
    merged = eb.assign(id=eb["L2ID"].astype(int)).merge(l2, on="id", validate="one_to_one")
    assert 1224 not in set(merged["id"]) and len(merged) == 159
    for r, column in enumerate(("EBINTRCP", "EBSES")):
        for k, name in enumerate(("pracad", "disclim")):
            expected = _lstsq(merged[column].to_numpy(), merged[name].to_numpy(dtype=float))
            np.testing.assert_allclose([block.estimate[r, k], block.se[r, k], block.t[r, k]],
                                       expected, rtol=1e-10)


def test_p_values_are_two_sided_t_on_j_minus_2(model4):
    from scipy import stats

    block = openhlm.exploratory(model4, ["himinty"])
    np.testing.assert_allclose(block.p[:, 0], 2 * stats.t.sf(np.abs(block.t[:, 0]), 158),
                               rtol=1e-10)


# -- errors -----------------------------------------------------------------------------------

@pytest.mark.parametrize("candidates, message", [
    (["sector"], "'sector' is already in the model's level-2 equations"),
    (["MEANSES"], "'MEANSES' is already in the model"),
    (["ses"], "'ses' is a level-1 variable"),
    (["pracd"], "'pracd' is not a variable of the MDM (did you mean 'pracad'?)"),
    (["pracad", "PRACAD"], "'PRACAD' is named twice"),
    ([], "needs at least one candidate"),
    ([""], "must be variable names"),
    (3, "must be a list of level-2 variable names"),
])
def test_candidate_errors(model4, candidates, message):
    with pytest.raises(SpecError) as info:
        openhlm.exploratory(model4, candidates)
    text = str(info.value)
    assert message in text
    if candidates != ["pracad", "PRACAD"]:  # the duplicate's message needs no list
        assert "(allowed: size, pracad, disclim, himinty)" in text
    assert "\n" not in text


def test_constant_candidate_is_refused():
    l1 = pd.read_csv(bundled("hsb1.csv"))
    l2 = _level2_file().assign(const=1.0)
    res = openhlm.fit(MODEL3, openhlm.MDM.from_tables(l1, l2, id="id"))
    with pytest.raises(SpecError, match="'const' has the same value in every unit"):
        openhlm.exploratory(res, ["const"])


def test_results_without_estimates_are_refused(model4):
    bare = dataclasses.replace(model4, estimates=None)
    with pytest.raises(EstimationError, match="no estimates"):
        openhlm.exploratory(bare, ["pracad"])


def test_fit_refuses_exploratory_with_imputed_data(hsb):
    with pytest.raises(SpecError, match="not pooled over imputed"):
        openhlm.fit(MODEL4, [hsb, hsb], exploratory=["pracad"])


def test_fit_error_names_the_variable(hsb):
    with pytest.raises(SpecError, match="'female' is a level-1 variable"):
        openhlm.fit(MODEL4, hsb, exploratory=["female"])


# -- text and JSON ------------------------------------------------------------------------------

def test_text_block_layout(model4):
    block = openhlm.exploratory(model4, ["pracad", "disclim"])
    lines = str(block).splitlines()
    assert " ".join(l.strip() for l in lines[:3]) == EXPLORATORY_TITLE
    i = lines.index(" INTRCPT1,B0")
    assert lines[i + 1].split() == ["pracad", "disclim"]
    for offset, (title, field, decimals) in enumerate((("Coefficient", "estimate", 6),
                                                       ("Standard Error", "se", 6),
                                                       ("t value", "t", 3)), start=2):
        line = lines[i + offset]
        assert line.startswith(f"    {title}")
        cells = line[len(f"    {title}"):].split()
        expected = [numfmt.fixed(getattr(block, field)[0, k], decimals) for k in range(2)]
        assert cells == expected
    j = lines.index(" SES,B1")
    assert j > i + 4
    assert lines[j + 3].split()[2:] == [numfmt.fixed(block.se[1, k], 6) for k in range(2)]
    assert all(len(l) <= 79 for l in lines)
    assert any("J - 2 degrees of freedom" in l for l in lines)


def test_text_wraps_many_candidates_into_panels(model3):
    """Model 3 has no level-2 predictors: all six level-2 variables are candidates."""
    names = ["size", "sector", "pracad", "disclim", "himinty", "meanses"]
    block = openhlm.exploratory(model3, names)
    lines = str(block).splitlines()
    assert all(len(l) <= 79 for l in lines)
    headers = [l.split() for l in lines if l.split() and set(l.split()) <= set(names)
               and l.startswith(" " * 22)]
    # each random coefficient: the candidates in order, in more than one panel
    assert len(headers) == 4
    assert headers[0] + headers[1] == names and headers[2] + headers[3] == names
    t_rows = [l for l in lines if l.startswith("    t value")]
    assert len(t_rows) == 4
    cells = t_rows[0].split()[2:] + t_rows[1].split()[2:]
    assert cells == [numfmt.fixed(block.t[0, k], 3) for k in range(6)]


def test_report_prints_the_block_after_the_model_fit(hsb):
    res = openhlm.fit(MODEL4, hsb, exploratory=["pracad"], homogeneity=True)
    text = res.report()
    assert text.index("Statistics for current covariance components model") \
        < text.index("Exploratory Analysis: estimated level-2 coefficients")
    assert " INTRCPT1,B0" in text.splitlines()
    assert "Exploratory Analysis" in res._repr_html_()


def test_json_block(hsb):
    res = openhlm.fit(MODEL4, hsb, exploratory=["pracad", "himinty"])
    out = json.loads(json.dumps(res.to_dict(), allow_nan=False))["exploratory"]
    block = res.extras["exploratory"]
    assert out["title"] == EXPLORATORY_TITLE and out["method"] == "ols"
    assert out["coefficients"] == ["INTRCPT1", "SES"]
    assert out["candidates"] == ["pracad", "himinty"]
    assert out["n_units"] == 160 and out["df"] == 158
    assert len(out["rows"]) == 4
    row = out["rows"][3]
    assert (row["coefficient"], row["random_effect"], row["candidate"]) == ("SES", "U1", "himinty")
    assert row["estimate"] == block.estimate[1, 1] and row["se"] == block.se[1, 1]
    assert row["t"] == block.t[1, 1] and row["df"] == 158


# -- TOML and CLI -------------------------------------------------------------------------------

def _toml(extra: str) -> str:
    return f'''[data]
level1 = "{bundled("hsb1.sav").as_posix()}"
level2 = "{bundled("hsb2.sav").as_posix()}"
id = "id"

[model]
equations = "{MODEL4}"

[output]
{extra}
'''


def test_toml_key_round_trips_and_is_checked():
    mf = parse_model_file(_toml('exploratory = ["pracad", "disclim"]'))
    assert mf.output.exploratory == ("pracad", "disclim")
    assert parse_model_file(format_model_file(mf)) == mf
    assert parse_model_file(_toml("")).output.exploratory == ()
    with pytest.raises(CommandFileError, match=r"\[output\] exploratory: must be a list"):
        parse_model_file(_toml('exploratory = "pracad"'))


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_toml_prints_and_writes_json(capsys, tmp_path, model4):
    path = tmp_path / "m4.toml"
    path.write_text(_toml(f'exploratory = ["pracad", "disclim"]\njson = "{(tmp_path / "m4.json").as_posix()}"'))
    code, out, err = run(capsys, "fit", str(path))
    assert code == 0, err
    block = openhlm.exploratory(model4, ["pracad", "disclim"])
    lines = out.splitlines()
    assert " INTRCPT1,B0" in lines and " SES,B1" in lines
    expected = "".join(numfmt.rjust(numfmt.fixed(block.t[0, k], 3), 11) for k in range(2))
    assert f"{'    t value':<22}{expected}" in lines
    data = json.loads((tmp_path / "m4.json").read_text())
    assert data["exploratory"]["candidates"] == ["pracad", "disclim"]
    assert data["exploratory"]["rows"][0]["estimate"] == pytest.approx(block.estimate[0, 0],
                                                                       rel=1e-12)


def test_cli_option_overrides_and_accepts_commas(capsys, model4):
    code, out, err = run(capsys, "fit", "--example", "hsb-model4", "--exploratory", "himinty",
                         "--exploratory", "size,pracad")
    assert code == 0, err
    i = out.splitlines().index(" INTRCPT1,B0")
    assert out.splitlines()[i + 1].split() == ["himinty", "size", "pracad"]


def test_cli_errors_name_the_source(capsys, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(_toml('exploratory = ["sector"]'))
    code, out, err = run(capsys, "fit", str(path))
    assert code == 2 and out == ""
    assert f"{path}: [output] exploratory: exploratory candidate 'sector' is already" in err
    assert "allowed: size, pracad, disclim, himinty" in err
    code, out, err = run(capsys, "fit", "--example", "hsb-model4", "--exploratory", "mathach")
    assert code == 2
    assert "--exploratory: exploratory candidate 'mathach' is a level-1 variable" in err
