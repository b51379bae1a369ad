"""The HGLM door: openhlm.fit keywords, TOML, CLI, the report and JSON, and bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from tests.unit.glmm._cases import CASE_DIR, data

import openhlm
from openhlm.errors import DataError, OpenHLMError, SpecError
from openhlm.results.glmm import GLMMResults
from openhlm.spec.options import FitOptions

CONTRA = "use = B0 + B1*age + B2*urban; B0 = G00 + G01*durban + U0; B1 = G10; B2 = G20"


@pytest.fixture(scope="module")
def contra():
    return data("contraception.csv")


@pytest.fixture(scope="module")
def laplace(contra):
    return openhlm.fit(CONTRA, contra, id="district", distribution="bernoulli",
                       method="laplace")


def test_fit_returns_glmm_results_without_r(laplace):
    assert isinstance(laplace, GLMMResults)
    assert laplace.method == "laplace" and laplace.link == "logit"
    assert laplace.deviance == pytest.approx(2496.91329464152, abs=1e-4)


def test_r_is_still_accepted_and_normal_is_the_linear_model(contra):
    res = openhlm.fit(CONTRA.replace(";", " + R;", 1), contra, id="district",
                      distribution="bernoulli", method="laplace")
    assert res.deviance == pytest.approx(2496.91329464152, abs=1e-4)
    lin = openhlm.fit(CONTRA.replace(";", " + R;", 1), contra, id="district")
    assert not isinstance(lin, GLMMResults)
    with pytest.raises(SpecError, match="no residual"):
        openhlm.fit(CONTRA, contra, id="district")


def test_report_prints_hlm_level1_model_and_ratios(laplace):
    text = str(laplace)
    assert "Prob(Y=1|B) = P" in text
    assert "log[P/(1-P)] = B0 + B1*(AGE) + B2*(URBAN)" in text
    assert "Odds Ratio" in text and "Confidence Interval" in text
    assert "(Unit-specific model with robust standard errors)" in text
    assert "Deviance = 2496.91" in text
    assert "level-1," not in text          # no sigma^2 row
    row = laplace.fixed_effects[0]
    assert row.ratio == pytest.approx(np.exp(row.estimate))
    assert row.ci_low < row.ratio < row.ci_high


def test_json_schema(laplace):
    d = json.loads(laplace.to_json())
    assert d["schema_version"] == 1 and d["hglm_schema_version"] == 1
    linear = openhlm.fit(CONTRA.replace(";", " + R;", 1), data("contraception.csv"),
                         id="district").to_dict()
    assert set(linear) <= set(d)            # the linear keys, plus the HGLM ones
    assert d["sigma2"] is None and d["tau"]["labels"] == ["INTRCPT1"]
    assert d["distribution"] == "bernoulli" and d["link"] == "logit"
    assert d["method"] == "laplace" and d["overdispersion"] is None
    assert d["deviance"] == pytest.approx(laplace.deviance)
    assert {"ratio", "ci_low", "ci_high"} <= set(d["fixed_effects"][0])
    assert "fixed_effects_population_average" in d


def test_html_fragment(laplace):
    html = laplace._repr_html_()
    assert '<div class="openhlm-report openhlm-hglm">' in html and "<table>" in html
    assert "Prob(Y=1|B) = P" in html and "log[P/(1-P)]" in html


def test_pql_has_no_deviance_and_a_population_average_model(contra):
    res = openhlm.fit(CONTRA, contra, id="district", distribution="bernoulli")
    assert res.method == "pql" and res.deviance is None
    text = str(res)
    assert "no deviance" in text
    assert "(Population-average model with robust standard errors)" in text
    d = json.loads(res.to_json())
    assert d["deviance"] is None
    assert len(d["fixed_effects_population_average"]) == 4
    assert json.loads(openhlm.fit(CONTRA, contra, id="district", distribution="bernoulli",
                                  method="laplace").to_json())[
        "fixed_effects_population_average"] is None


def test_poisson_exposure_prints_rate_model():
    ep = data("epilepsy.csv")
    res = openhlm.fit("y = B0 + B1*post; B0 = G00 + G01*trt + G02*lage + U0; "
                      "B1 = G10 + G11*trt", ep, id="subject", distribution="poisson",
                      exposure="weeks", method="laplace")
    text = str(res)
    assert "E(Y|B) = WEEKS*L" in text and "log[L] = B0 + B1*(POST)" in text
    assert "Event Rate Ratio" in text


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"distribution": "ordinal"}, "not supported yet"),
    ({"distribution": "multinomial"}, "not supported yet"),
    ({"distribution": "bernoulli", "trials": "size"}, "trials= is for"),
    ({"distribution": "binomial"}, "needs trials="),
    ({"distribution": "bernoulli", "exposure": "age"}, "exposure= is for"),
    ({"distribution": "bernoulli", "method": "gibbs"}, "method must be"),
    ({"distribution": "bernoulli", "quadrature_points": 5}, "applies to method='agq'"),
    ({"distribution": "bernoulli", "overdispersion": True}, "not identified"),
    ({"distribution": "poisson", "method": "laplace", "overdispersion": True},
     "method='pql' only"),
    ({"quadrature_points": 5}, "non-normal outcomes only"),
    ({"distribution": "bernoulli", "method": "agq", "quadrature_points": 0},
     "positive integer"),
])
def test_invalid_combinations_are_one_line_spec_errors(kwargs, message):
    with pytest.raises(SpecError, match=message) as info:
        FitOptions.from_kwargs(**kwargs)
    assert "\n" not in str(info.value)


def test_bad_outcomes_name_the_variable_and_a_unit(contra):
    bad = contra.copy()
    bad.loc[5, "use"] = 2
    with pytest.raises(DataError, match=r"outcome 'use' must be 0 or 1.*unit 1"):
        openhlm.fit(CONTRA, bad, id="district", distribution="bernoulli")
    ep = data("epilepsy.csv").copy()
    model = "y = B0 + B1*post; B0 = G00 + U0; B1 = G10"
    ep2 = ep.copy()
    ep2.loc[3, "y"] = -1
    with pytest.raises(DataError, match="non-negative whole numbers"):
        openhlm.fit(model, ep2, id="subject", distribution="poisson")
    ep3 = ep.copy()
    ep3.loc[3, "weeks"] = 0
    with pytest.raises(DataError, match="exposure variable 'weeks' must be positive"):
        openhlm.fit(model, ep3, id="subject", distribution="poisson", exposure="weeks")
    cb = data("cbpp.csv").copy()
    cb.loc[2, "incidence"] = cb.loc[2, "size"] + 1
    with pytest.raises(DataError, match="exceeds the number of trials"):
        openhlm.fit("incidence = B0; B0 = G00 + U0", cb, id="herd", distribution="binomial",
                    trials="size")


@pytest.mark.parametrize("value, method", [(1, "pql"), (0, "laplace")])
def test_an_outcome_without_variation_is_refused_up_front(contra, value, method):
    """All 0 or all 1 has no finite maximum: a one-line refusal, not 1000 PQL iterations."""
    flat = openhlm.build_mdm(contra.assign(use=value), id="district",
                             level1_variables=["use", "age", "urban"],
                             level2_variables=["durban"])
    with pytest.raises(DataError, match=rf"outcome 'use' is {value}.* in all 1934 records") as e:
        openhlm.fit(CONTRA, flat, distribution="bernoulli", method=method)
    assert "\n" not in str(e.value)
    ep = openhlm.build_mdm(data("epilepsy.csv").assign(y=0), id="subject",
                           level1_variables=["y", "post"], level2_variables=[])
    with pytest.raises(DataError, match="rate cannot be estimated"):
        openhlm.fit("y = B0 + B1*post; B0 = G00 + U0; B1 = G10", ep, distribution="poisson")
    cb = data("cbpp.csv")
    with pytest.raises(DataError, match="all successes"):
        openhlm.fit("incidence = B0; B0 = G00 + U0", cb.assign(incidence=cb["size"]),
                    id="herd", distribution="binomial", trials="size")


def test_constant_units_are_a_note_not_an_error(laplace):
    assert any("never varies" in n for n in laplace.notes)


def test_separation_is_a_note():
    rng = np.random.default_rng(1)
    n = 400
    g = np.repeat(np.arange(40), 10)
    x = rng.normal(size=n)
    y = (x > 0).astype(float)            # x separates y completely
    df = pd.DataFrame({"g": g, "x": x, "y": y})
    res = openhlm.fit("y = B0 + B1*x; B0 = G00 + U0; B1 = G10", df, id="g",
                      distribution="bernoulli", method="pql", max_iterations=30)
    assert any("separated" in n or "did not converge" in n for n in res.notes)


def test_model_without_random_effect_is_refused(contra):
    with pytest.raises(SpecError, match="at least one random coefficient"):
        openhlm.fit("use = B0 + B1*age; B0 = G00; B1 = G10", contra, id="district",
                    distribution="bernoulli")


def test_unsupported_options_are_refused(contra):
    with pytest.raises(SpecError, match="does not support mode='hlm' with method='laplace'"):
        openhlm.fit(CONTRA, contra, id="district", distribution="bernoulli", mode="hlm",
                    method="laplace")


@pytest.mark.parametrize("estimation, likelihood", [("", "reml"),
                                                     ('[estimation]\nmethod = "ml"\n', "ml")])
def test_toml_hglm_without_a_method_is_pql_with_the_linear_likelihood(tmp_path, contra,
                                                                      estimation, likelihood):
    """[model] distribution alone means PQL (HLM's default), restricted unless [estimation]
    says ml -- the same fit as openhlm.fit with the same settings."""
    from openhlm.cli.main import main

    (tmp_path / "contra.csv").write_text(contra.to_csv(index=False))
    path = tmp_path / "m.toml"
    path.write_text('[data]\nlevel1 = "contra.csv"\nid = "district"\n[model]\n'
                    f'equations = "{CONTRA}"\ndistribution = "bernoulli"\n' + estimation)
    out = tmp_path / "r.json"
    assert main(["fit", str(path), "--json", str(out)]) == 0
    got = json.loads(out.read_text())
    direct = openhlm.fit(CONTRA, contra, id="district", distribution="bernoulli",
                         method=likelihood)
    assert got["method"] == "pql" and direct.pql_likelihood == likelihood
    np.testing.assert_allclose(got["tau"]["matrix"], np.asarray(direct.tau), rtol=1e-10)
    assert got["pql_likelihood"] == likelihood


def test_toml_round_trip_and_cli(tmp_path, contra, capsys):
    from openhlm.cli.main import main
    from openhlm.spec.modelfile import load_model_file

    (tmp_path / "contra.csv").write_text(contra.to_csv(index=False))
    path = tmp_path / "m.toml"
    path.write_text(
        'title = "c"\n[data]\nlevel1 = "contra.csv"\nid = "district"\n[model]\n'
        f'equations = "{CONTRA}"\ndistribution = "bernoulli"\n'
        '[estimation]\nmethod = "agq"\nquadrature_points = 5\n')
    mf = load_model_file(path)
    opts = FitOptions.from_model_file(mf)
    assert opts.outcome.method == "agq" and opts.outcome.quadrature_points == 5
    text = opts.to_toml(CONTRA, mf.data)
    assert 'distribution = "bernoulli"' in text and "quadrature_points = 5" in text
    out = tmp_path / "r.json"
    assert main(["fit", str(path), "--method", "laplace", "--json", str(out)]) == 0
    assert "Laplace (ML) Estimation" in capsys.readouterr().out
    assert json.loads(out.read_text())["deviance"] == pytest.approx(2496.91329464152,
                                                                     abs=1e-4)
    eb, fitted = tmp_path / "eb.csv", tmp_path / "fitted.csv"
    assert main(["fit", str(path), "--method", "laplace", "--html", str(tmp_path / "r.html"),
                 "-o", str(tmp_path / "r.txt")]) == 0
    assert "openhlm-hglm" in (tmp_path / "r.html").read_text()
    path.write_text(path.read_text() + f'[output]\nlevel2_residuals = "{eb}"\n'
                    f'level1_residuals = "{fitted}"\n')
    assert main(["fit", str(path), "--method", "laplace", "-o", str(tmp_path / "r.txt")]) == 0
    assert len(pd.read_csv(eb)) == 60 and len(pd.read_csv(fitted)) == 1934


def test_errors_are_openhlm_errors(contra):
    with pytest.raises(OpenHLMError):
        openhlm.fit(CONTRA, contra, id="district", distribution="binomial", trials="nope")


def test_data_files_are_committed():
    assert (CASE_DIR / "make_reference.R").is_file()


def test_glh_and_deviance_tests(contra, laplace):
    from openhlm.inference.glmm import glmm_compare, glmm_glh

    res = glmm_glh(laplace, "G01 = 0; G20 = 0")
    h = res[0]
    rows = {r.gamma: k for k, r in enumerate(laplace.fixed_effects)}
    idx = [rows["G01"], rows["G20"]]
    g = np.array([r.estimate for r in laplace.fixed_effects])[idx]
    V = laplace.covariance[np.ix_(idx, idx)]
    assert h.model.chi2 == pytest.approx(g @ np.linalg.solve(V, g), rel=1e-10)
    Vr = laplace.robust_covariance[np.ix_(idx, idx)]
    assert h.robust.chi2 == pytest.approx(g @ np.linalg.solve(Vr, g), rel=1e-10)
    slope = openhlm.fit(CONTRA.replace("B2 = G20", "B2 = G20 + U2"), contra, id="district",
                        distribution="bernoulli", method="laplace",
                        deviance_test={"deviance": laplace.deviance,
                                       "n_parameters": laplace.n_parameters})
    test = slope.tests["deviance_test"]
    assert test.df == 2 and test.chi2 == pytest.approx(laplace.deviance - slope.deviance)
    assert "model comparison test" in str(slope)
    assert glmm_compare(slope, laplace).chi2 == pytest.approx(test.chi2)
    with pytest.raises(openhlm.HypothesisError, match="PQL has no deviance"):
        glmm_compare(slope, openhlm.fit(CONTRA, contra, id="district",
                                        distribution="bernoulli"))
    with_glh = openhlm.fit(CONTRA, contra, id="district", distribution="bernoulli",
                           hypotheses=["G01 = 0"])
    assert "General Linear Hypothesis" in str(with_glh)


def test_eb_and_level1_tables(laplace):
    eb = laplace.eb
    assert len(eb) == 60 and {"eb_intrcpt1", "eb_intrcpt1_sd", "b_intrcpt1", "b_age"} <= set(eb)
    lv1 = laplace.level1
    assert len(lv1) == 1934
    assert np.allclose(lv1["probability"], 1 / (1 + np.exp(-lv1["eta"])))
    assert lv1["probability"].between(0, 1).all()


def test_html_report_is_laid_out_in_tables(laplace, contra):
    """The HTML report has the text report's numbers in tables (cells formatted alike)."""
    import re
    from html.parser import HTMLParser

    class Cells(HTMLParser):
        def __init__(self):
            super().__init__()
            self.captions, self.rows, self._row, self._cap, self._in = [], [], None, False, False

        def handle_starttag(self, tag, attrs):
            if tag == "tr":
                self._row = []
            elif tag in ("td", "th"):
                self._in = True
                self._row.append("")
            elif tag == "caption":
                self._cap = True
                self.captions.append("")

        def handle_endtag(self, tag):
            if tag == "tr":
                self.rows.append(self._row)
            elif tag in ("td", "th"):
                self._in = False
            elif tag == "caption":
                self._cap = False

        def handle_data(self, data):
            if self._cap:
                self.captions[-1] += data
            elif self._in:
                self._row[-1] += data

    parser = Cells()
    parser.feed(laplace._repr_html_())
    assert "<pre>" not in laplace._repr_html_().split("</pre>", 1)[1]  # only the equations
    caps = parser.captions
    assert any("unit-specific model, model-based" in c for c in caps)
    assert any("robust standard errors" in c for c in caps)
    assert "Tau" in caps and "Reliability estimates" in caps and "Model fit" in caps
    rows = {}
    for r in parser.rows:              # the first (model-based) table's rows
        if r:
            rows.setdefault(r[0], r)
    g01 = next(r for r in laplace.fixed_effects if r.gamma == "G01")
    row = rows["DURBAN, G01"]
    assert float(row[1]) == pytest.approx(g01.estimate, abs=5e-7)
    assert float(row[2]) == pytest.approx(g01.se, abs=5e-7)
    assert float(row[6]) == pytest.approx(np.exp(g01.estimate), abs=5e-7)
    lo, hi = map(float, re.findall(r"[-\d.]+", row[7]))
    assert (lo, hi) == (pytest.approx(g01.ci_low, abs=5e-4), pytest.approx(g01.ci_high,
                                                                           abs=5e-4))
    assert float(rows["Deviance (-2 log L)"][1]) == pytest.approx(laplace.deviance, abs=1e-6)
    # the same numbers as the text report
    assert f"{g01.estimate:.6f}" in str(laplace)
    pql = openhlm.fit(CONTRA, contra, id="district", distribution="bernoulli")
    html = pql._repr_html_()
    assert "population-average model" in html and "no deviance" in html


def test_a_predictor_far_from_zero_is_reported_not_a_numpy_warning(contra):
    """age + 1e6: the HGLM engine does not re-centre fixed-effect columns (docs/hglm.md Open),
    so the fit is flagged as not converged and a missing SE is explained in the notes --
    never a numpy warning or a silent NaN."""
    import warnings

    shifted = contra.assign(age=contra["age"] + 1e6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = openhlm.fit(CONTRA, shifted, id="district", distribution="bernoulli",
                          method="laplace")
    ses = [r.se for r in res.fixed_effects]
    if not all(np.isfinite(ses)):
        assert any("No standard error for" in n for n in res.notes)
    assert res.converged or any("without converging" in n or "stopped" in n for n in res.notes)
