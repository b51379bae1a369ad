"""PQL in HLM mode (macro iterations around HLM's EM micro iterations), restricted / full PQL,
and HLM 6 command files with HGLM keys.

Outside references:

* MASS::glmmPQL run to its fixed point with the level-1 scale fixed at 1 and the linearised
  model fitted by full ML ("full PQL"), and by REML with the scale estimated
  (tests/reference/crosscheck/glmm_pql: committed R script and JSON);
* restricted PQL with the scale fixed at 1 against a dense unit-by-unit evaluation of the
  restricted likelihood of the linearised model, written out in this file (nlme's REML with a
  fixed scale optimises another criterion: see the R script);
* HLM mode against openhlm's exact PQL fixed point (an independent algorithm: profiled
  likelihood + BFGS per macro iteration, stopped on the linear predictor at 1e-10).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import minimize
from tests.unit.glmm._cases import data as case_data
from tests.unit.glmm._cases import reference as glmm_reference
from tests.unit.glmm.test_engine import _data

import openhlm
from openhlm.errors import SpecError
from openhlm.estimation.glmm import fit_pql, fit_pql_hlm
from openhlm.estimation.glmm.pql_hlm import HLM_PQL_DEFAULTS
from openhlm.runner import run
from openhlm.spec.commandfile import parse_command_file
from openhlm.spec.options import FitOptions

REF = Path(__file__).resolve().parents[2] / "reference" / "crosscheck" / "glmm_pql"
CASES = ("contra_ri", "contra_rs", "cbpp", "epil_ri")


def _ref(name: str) -> dict:
    return json.loads((REF / "reference.json").read_text())["models"][name]


def _r_order(name: str, est, values: dict) -> np.ndarray:
    """R's fixed effects in openhlm's order (the glmm case's name map)."""
    from tests.unit.glmm._cases import r_names
    names = r_names(glmm_reference()[name])
    labels = [est.data.design.gamma_labels[int(np.flatnonzero(est.data.design.
                                                               constraint_matrix[:, k])[0])]
              for k in range(est.beta.size)]
    by_gamma = {names[k]: v for k, v in values.items()}
    return np.array([by_gamma[g] for g in labels])


@pytest.fixture(scope="module")
def exact():
    cache: dict = {}

    def get(name: str, reml: bool, overdispersion: bool = False):
        key = (name, reml, overdispersion)
        if key not in cache:
            cache[key] = fit_pql(_data(name), reml=reml, overdispersion=overdispersion)
        return cache[key]
    return get


# -- openhlm's PQL (exact mode) against R --------------------------------------------------------

@pytest.mark.parametrize("name", CASES)
def test_full_pql_matches_glmmpql_with_the_scale_fixed_at_one(exact, name):
    est = exact(name, False)
    ref = _ref(name)["full_pql"]
    np.testing.assert_allclose(est.beta, _r_order(name, est, ref["fixef"]), rtol=1e-5,
                               atol=1e-7)
    np.testing.assert_allclose(np.sqrt(np.diag(est.cov_beta)),
                               _r_order(name, est, ref["se"]), rtol=1e-5)
    np.testing.assert_allclose(est.tau.ravel(), np.ravel(ref["tau"]), rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize("name", CASES)
def test_restricted_pql_with_a_scale_matches_glmmpql_reml(exact, name):
    est = exact(name, True, True)
    ref = _ref(name)["restricted_pql_scaled"]
    np.testing.assert_allclose(est.beta, _r_order(name, est, ref["fixef"]), rtol=1e-5,
                               atol=1e-7)
    np.testing.assert_allclose(est.tau.ravel(), np.ravel(ref["tau"]), rtol=1e-5, atol=1e-7)
    assert est.sigma2 == pytest.approx(ref["sigma"] ** 2, rel=1e-6)


def test_restricted_pql_maximises_the_restricted_likelihood_of_the_linearised_model(exact):
    """At the fixed point, T maximises the REML likelihood of the model linearised there:
    log|V| + r'V^-1 r + log|A'V^-1 A| over units, V_j = W_j^-1 + Z_j T Z_j', written out
    densely unit by unit."""
    est = exact("contra_rs", True)
    d = est.data
    eta = d.A @ est.beta + np.einsum("nr,nr->n", d.Z, est.u[d.unit]) + d.offset
    s, w = d.family.score_weight(eta, d.y, d.n)
    z = eta - d.offset + s / w
    rows = [d.unit == j for j in range(d.J)]

    def deviance(t):
        L = np.array([[t[0], 0.0], [t[1], t[2]]])
        T = L @ L.T
        XtVX, XtVz, logdet, Vis = 0.0, 0.0, 0.0, []
        for r in rows:
            A, Z = d.A[r], d.Z[r]
            V = np.diag(1 / w[r]) + Z @ T @ Z.T
            Vi = np.linalg.inv(V)
            Vis.append(Vi)
            XtVX = XtVX + A.T @ Vi @ A
            XtVz = XtVz + A.T @ Vi @ z[r]
            logdet += np.linalg.slogdet(V)[1]
        b = np.linalg.solve(XtVX, XtVz)
        rss = sum((z[r] - d.A[r] @ b) @ Vi @ (z[r] - d.A[r] @ b) for r, Vi in zip(rows, Vis))
        return logdet + rss + np.linalg.slogdet(XtVX)[1]

    L0 = np.linalg.cholesky(est.tau)
    res = minimize(deviance, [L0[0, 0], L0[1, 0], L0[1, 1]], method="Nelder-Mead",
                   options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 4000})
    L = np.array([[res.x[0], 0.0], [res.x[1], res.x[2]]])
    np.testing.assert_allclose(L @ L.T, est.tau, rtol=1e-4, atol=1e-6)
    # and glmmPQL's REML with the scale fixed (nlme) does not land there
    assert abs(_ref("contra_rs")["restricted_pql"]["tau"][0][0] - est.tau[0, 0]) > 1e-3


# -- HLM mode -------------------------------------------------------------------------------

@pytest.mark.parametrize("reml", [True, False], ids=["restricted", "full"])
@pytest.mark.parametrize("name", CASES + ("epil_rs",))
def test_hlm_mode_stops_within_its_tolerance_of_the_pql_fixed_point(exact, name, reml):
    """HLM's rules (macro changes < 1e-4, at most 14 EM steps a macro iteration) end within
    a few stopping tolerances of the exact PQL estimates; with tight rules HLM mode reaches
    the same fixed point to 1e-6."""
    d = _data(name)
    ex = exact(name, reml)
    hlm = fit_pql_hlm(d, reml=reml)
    assert hlm.converged and hlm.mode == "hlm"
    assert len(hlm.micro_history) == hlm.iterations
    assert sum(hlm.micro_history) == hlm.micro_iterations
    assert max(hlm.micro_history) <= HLM_PQL_DEFAULTS["max_micro"]
    tol = 5 * HLM_PQL_DEFAULTS["stop_macro"]
    np.testing.assert_allclose(hlm.beta, ex.beta, rtol=0, atol=tol)
    np.testing.assert_allclose(hlm.tau, ex.tau, rtol=0, atol=tol)
    tight = fit_pql_hlm(d, reml=reml, stop_macro=1e-10, stop_micro=1e-12, max_micro=2000,
                        max_macro=500)
    assert tight.converged
    np.testing.assert_allclose(tight.beta, ex.beta, rtol=0, atol=1e-6)
    np.testing.assert_allclose(tight.tau, ex.tau, rtol=0, atol=1e-6)
    np.testing.assert_allclose(np.sqrt(np.diag(tight.cov_beta)),
                               np.sqrt(np.diag(ex.cov_beta)), rtol=1e-5)
    np.testing.assert_allclose(np.sqrt(np.diag(tight.cov_beta_robust)),
                               np.sqrt(np.diag(ex.cov_beta_robust)), rtol=1e-5)


@pytest.mark.parametrize("name", CASES)
def test_full_pql_in_hlm_mode_against_glmmpql(name):
    est = fit_pql_hlm(_data(name), reml=False)
    ref = _ref(name)["full_pql"]
    np.testing.assert_allclose(est.beta, _r_order(name, est, ref["fixef"]), rtol=0, atol=5e-4)
    np.testing.assert_allclose(est.tau.ravel(), np.ravel(ref["tau"]), rtol=0, atol=5e-4)


def test_hlm_mode_micro_iterations_are_the_linear_em_with_the_scale_fixed():
    """One macro iteration with EM run to convergence is the exact REML fit of the model
    linearised at the GLM start (sigma^2 = 1): the EM of the linear HLM mode, scale held."""
    from openhlm.estimation.em import run_em, starting_values
    from openhlm.estimation.glmm.ml import glm_start
    from openhlm.estimation.glmm.pql import LinearisedStats, lower_factor, solve_linearised
    from openhlm.estimation.glmm.pql_hlm import linearised_unit_stats

    d = _data("contra_ri")
    eta = d.A @ glm_start(d) + d.offset
    s, w = d.family.score_weight(eta, d.y, d.n)
    z = eta - d.offset + s / w
    stats = linearised_unit_stats(d, z, w)
    start = starting_values(stats, stats.XX, stats.Xy, stats.yy, d.design.G(),
                            d.design.random_columns, sigma2=1.0)
    em = run_em(stats, start, True, max_iterations=5000, tolerance=1e-13,
                estimate_sigma2=False)
    assert em.sigma2 == 1.0 and em.converged
    st = LinearisedStats.of(d, z, w)
    value = [solve_linearised(st, lower_factor(np.array([[t]])), True, True).value
             for t in (em.tau[0, 0] * 0.999, em.tau[0, 0], em.tau[0, 0] * 1.001)]
    assert value[1] < value[0] and value[1] < value[2]      # the REML optimum in T


# -- the runner, the report, the defaults ----------------------------------------------------

CONTRA = "use = B0 + B1*age + B2*urban; B0 = G00 + G01*durban + U0; B1 = G10; B2 = G20"


@pytest.fixture(scope="module")
def contra():
    return case_data("contraception.csv")


def test_default_is_restricted_pql_as_hlm_and_ml_is_full_pql(contra, exact):
    res = openhlm.fit(CONTRA, contra, id="district", distribution="bernoulli")
    assert res.pql_likelihood == "reml"
    np.testing.assert_allclose(res.tau, exact("contra_ri", True).tau, rtol=1e-7)
    assert " Method of estimation: restricted PQL" in str(res).splitlines()
    full = openhlm.fit(CONTRA, contra, id="district", distribution="bernoulli",
                       pql_likelihood="ml")
    assert " Method of estimation: full PQL" in str(full).splitlines()
    np.testing.assert_allclose(full.tau, exact("contra_ri", False).tau, rtol=1e-7)


def test_hlm_mode_through_the_api_prints_the_macro_iterations(contra):
    res = openhlm.fit(CONTRA, contra, id="district", distribution="bernoulli", mode="hlm")
    text = str(res).splitlines()
    assert res.mode == "hlm" and res.converged
    for k, m in enumerate(res.micro_history, start=1):
        assert f" Macro iteration {k}: {m} micro iterations" in text
    assert any(line.startswith(" Iterations stopped due to small change in the estimates: "
                               f"macro iteration {res.iterations}") for line in text)
    assert f" Unit-Specific Model, PQL Estimation (macro iteration {res.iterations})" in text
    d = json.loads(res.to_json())
    assert d["mode"] == "hlm" and sum(d["micro_iterations_by_macro"]) == d["micro_iterations"]
    # the API's max_iterations is the macro limit in HLM mode; not converging is said
    short = openhlm.fit(CONTRA, contra, id="district", distribution="bernoulli", mode="hlm",
                        max_iterations=2)
    assert not short.converged and short.iterations == 2
    assert any("maximum number of macro iterations" in n for n in short.notes)


# -- HLM 6 command files with HGLM keys ------------------------------------------------------

CONTRA_L1 = ("district", "use", "age", "urban", "children", "rural")
CONTRA_L2 = ("district", "durban")

COMMAND_FILE = """#WHLM CMD FILE FOR contra.mdm
nonlin:bernoulli
numit:100
stopval:0.0000010000
level1:USE=INTRCPT1+AGE+URBAN
level2:INTRCPT1=INTRCPT2+DURBAN+random/
level2:AGE=INTRCPT2/
level2:URBAN=INTRCPT2/
fixsigma2:1.000000
macroit:50
microit:20
stopmacro:0.00001
stopmicro:0.0000001
fixtau:3
accel:5
level1weight:none
level2weight:none
varianceknown:none
hypoth:n
resfil1:n
resfil2:n
mlf:{mlf}
"""


def _command_file(mlf: str = "n"):
    return parse_command_file(COMMAND_FILE.format(mlf=mlf), level1_variables=CONTRA_L1,
                              level2_variables=CONTRA_L2)


def test_command_file_hglm_keys_become_fit_options():
    cf = _command_file()
    o = cf.options
    assert (o.distribution, o.trials, o.exposure) == ("bernoulli", None, None)
    assert (o.macro_iterations, o.micro_iterations, o.stop_macro, o.stop_micro) == \
        (50, 20, 1e-5, 1e-7)
    opts = FitOptions.from_command_file(cf, mode="hlm")
    oc = opts.outcome
    assert (oc.distribution, oc.method, oc.pql_likelihood) == ("bernoulli", "pql", None)
    assert (oc.macro_iterations, oc.micro_iterations, oc.stop_macro, oc.stop_micro) == \
        (50, 20, 1e-5, 1e-7)
    assert opts.method == "reml"
    assert FitOptions.from_command_file(_command_file("y")).method == "ml"
    # written back and read again: the same options
    back = parse_command_file(opts.to_command_file(cf.spec), level1_variables=CONTRA_L1,
                              level2_variables=CONTRA_L2)
    assert FitOptions.from_command_file(back, mode="hlm").outcome == oc


@pytest.mark.parametrize("mlf", ["n", "y"])
def test_command_file_runs_hlm_mode_pql_with_its_settings(contra, mlf):
    cf = _command_file(mlf)
    res = run(cf.spec, contra, FitOptions.from_command_file(cf, mode="hlm"), id="district")
    direct = fit_pql_hlm(_data("contra_ri"), reml=mlf == "n", max_macro=50, max_micro=20,
                         stop_macro=1e-5, stop_micro=1e-7)
    assert res.pql_likelihood == ("reml" if mlf == "n" else "ml")
    assert res.micro_history == direct.micro_history
    assert max(res.micro_history) <= 20
    # the run rounds the data to single precision as HLM's MDM does: same iterations, the
    # estimates within float32 rounding of the double-precision fit
    np.testing.assert_allclose([r.estimate for r in res.fixed_effects], direct.beta,
                               rtol=0, atol=1e-5)
    np.testing.assert_allclose(res.tau, direct.tau, rtol=0, atol=1e-5)
    kind = "restricted PQL" if mlf == "n" else "full PQL"
    assert f" Method of estimation: {kind}" in str(res).splitlines()


def test_command_file_binomial_and_poisson_variables():
    cb = parse_command_file(
        "#WHLM CMD FILE FOR cbpp.mdm\nnonlin:binomial,SIZE\n"
        "level1:INCIDENCE=INTRCPT1+PERIOD2+PERIOD3+PERIOD4\nlevel2:INTRCPT1=INTRCPT2+random/\n",
        level1_variables=("herd", "incidence", "size", "period2", "period3", "period4"),
        level2_variables=("herd",))
    assert (cb.options.distribution, cb.options.trials) == ("binomial", "size")
    res = run(cb.spec, case_data("cbpp.csv"), FitOptions.from_command_file(cb), id="herd")
    assert res.trials == "size" and res.pql_likelihood == "reml"
    ep = parse_command_file(
        "#WHLM CMD FILE FOR ep.mdm\nnonlin:poisson,WEEKS\n"
        "level1:Y=INTRCPT1+POST\nlevel2:INTRCPT1=INTRCPT2+TRT+LAGE+random/\n"
        "level2:POST=INTRCPT2+TRT/\n",
        level1_variables=("subject", "y", "weeks", "post"),
        level2_variables=("subject", "trt", "lage"))
    assert (ep.options.distribution, ep.options.exposure) == ("poisson", "weeks")
    constant = parse_command_file(
        "#WHLM CMD FILE FOR ep.mdm\nnonlin:poisson\nlevel1:Y=INTRCPT1+POST\n"
        "level2:INTRCPT1=INTRCPT2+random/\n",
        level1_variables=("subject", "y", "weeks", "post"), level2_variables=("subject",))
    assert (constant.options.distribution, constant.options.exposure) == ("poisson", None)


def test_hglm_iteration_keys_are_ignored_for_linear_models():
    cf = parse_command_file(
        "#WHLM CMD FILE FOR hsb.mdm\nnonlin:n\nlevel1:MATHACH=INTRCPT1+RANDOM\n"
        "level2:INTRCPT1=INTRCPT2+random/\nmacroit:25\nstopmacro:0.0001\n",
        level1_variables=("id", "mathach"), level2_variables=("id",))
    assert cf.options.distribution == "normal" and cf.options.macro_iterations is None
    assert set(cf.ignored_keys) >= {"macroit", "stopmacro"}


def test_lower_factor_of_a_singular_tau():
    """HLM mode's T can reach the boundary: the factor used for the final tables is lower
    triangular and reproduces T, positive definite or not."""
    from openhlm.estimation.glmm.pql import lower_factor
    for T in (np.array([[2.0, 0.5], [0.5, 1.0]]), np.array([[1.0, 2.0, 0.0], [2.0, 4.0, 0.0],
                                                            [0.0, 0.0, 0.0]])):
        L = lower_factor(T)
        np.testing.assert_allclose(L @ L.T, T, atol=1e-12)
        assert np.allclose(L, np.tril(L))


def test_hlm_mode_refuses_design_weights(contra):
    """HLM-mode PQL is unweighted: design weights there are a one-line refusal, not ignored."""
    data = contra.assign(w2=1.0 + (contra["district"].astype(int) % 3))
    with pytest.raises(SpecError, match="design weights") as err:
        openhlm.fit(CONTRA, data, id="district", distribution="bernoulli", mode="hlm",
                    level2_weight="w2")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("mlf", ["n", "y"])
def test_command_file_converts_to_a_model_file_that_fits_the_same_hglm(contra, mlf, tmp_path):
    """nonlin: survives the conversion to TOML (distribution, and mlf: as restricted/full
    PQL): the model file's fit equals the command file's in exact mode."""
    from openhlm.spec.modelfile import (
        DataSection,
        format_model_file,
        load_model_file,
        model_file_from_command_file,
    )

    cf = _command_file(mlf)
    mf = model_file_from_command_file(cf, DataSection(level1=tmp_path / "c.csv", id="district"),
                                      path=tmp_path / "m.toml", mode="exact")
    assert mf.model.distribution == "bernoulli"
    (tmp_path / "m.toml").write_text(format_model_file(mf))
    opts = FitOptions.from_model_file(load_model_file(tmp_path / "m.toml"))
    via_toml = run(cf.spec, contra, opts, id="district")
    via_cf = run(cf.spec, contra, FitOptions.from_command_file(cf, mode="exact"), id="district")
    assert via_toml.pql_likelihood == via_cf.pql_likelihood == ("reml" if mlf == "n" else "ml")
    np.testing.assert_allclose(via_toml.tau, via_cf.tau, rtol=1e-12)


def test_hlm_mode_iteration_settings_through_the_api_and_toml(contra, tmp_path):
    """macro_iterations= / micro_iterations= / stop_macro= / stop_micro= reach HLM-mode PQL
    from openhlm.fit and from a TOML file as from a command file: the same iterations as the
    engine run directly with those settings; given for a linear model they are refused."""
    from openhlm.spec.modelfile import DataSection, load_model_file

    kw = {"macro_iterations": 3, "micro_iterations": 5, "stop_macro": 1e-5, "stop_micro": 1e-7}
    res = openhlm.fit(CONTRA, contra, id="district", distribution="bernoulli", mode="hlm", **kw)
    direct = fit_pql_hlm(_data("contra_ri"), reml=True, max_macro=3, max_micro=5,
                         stop_macro=1e-5, stop_micro=1e-7)
    assert res.micro_history == direct.micro_history and len(res.micro_history) == 3
    assert max(res.micro_history) <= 5
    opts = FitOptions.from_kwargs(distribution="bernoulli", mode="hlm", **kw)
    assert FitOptions.from_kwargs(**opts.to_kwargs()) == opts
    (tmp_path / "c.csv").write_text(contra.to_csv(index=False))
    (tmp_path / "m.toml").write_text(opts.to_toml(CONTRA, DataSection(level1=tmp_path / "c.csv",
                                                                      id="district")))
    back = FitOptions.from_model_file(load_model_file(tmp_path / "m.toml"))
    assert back.outcome == opts.outcome and back.mode == "hlm"
    with pytest.raises(SpecError, match="macro_iterations= applies to non-normal outcomes"):
        openhlm.fit("mathach = B0 + R; B0 = G00 + U0", openhlm.datasets.hsb(),
                    macro_iterations=3)


@pytest.mark.parametrize("likelihood", ["reml", "ml"])
def test_toml_written_from_options_keeps_restricted_or_full_pql(contra, tmp_path, likelihood):
    from openhlm.spec.modelfile import DataSection, load_model_file

    opts = FitOptions.from_kwargs(distribution="bernoulli", pql_likelihood=likelihood)
    text = opts.to_toml(CONTRA, DataSection(level1=tmp_path / "c.csv", id="district"))
    (tmp_path / "m.toml").write_text(text)
    back = FitOptions.from_model_file(load_model_file(tmp_path / "m.toml"))
    (tmp_path / "c.csv").write_text(contra.to_csv(index=False))
    a = run(CONTRA, contra, opts, id="district")
    b = run(CONTRA, contra, back, id="district")
    assert a.pql_likelihood == b.pql_likelihood == likelihood
    np.testing.assert_allclose(a.tau, b.tau, rtol=1e-12)
