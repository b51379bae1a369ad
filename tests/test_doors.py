"""Every door gives the same results for the same model and options.

The doors: ``openhlm.fit`` (keywords), :func:`openhlm.runner.run` (FitOptions), a TOML model
file through ``openhlm fit``, an HLM 6 command file through ``openhlm fit``, ``openhlm residuals``
(its files against ``results.write_residuals`` of the API fit) and ``openhlm plot`` (the results
it draws).  The options of each scenario are written to the TOML and command files with
``FitOptions.to_toml`` / ``to_command_file``; the comparisons are exact (JSON dicts equal, arrays
equal, residual files equal), not approximate.

Includes the regression of issue 13: ``openhlm residuals`` and ``openhlm plot`` ignored a TOML
file's ``[weights]`` (their own copy of the fit path did not pass the weights on).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import openhlm
import openhlm.runner
from openhlm.cli.main import main
from openhlm.datasets import path as bundled
from openhlm.plots import PLOTS
from openhlm.report.json import results_to_dict
from openhlm.spec.modelfile import DataSection
from openhlm.spec.options import FitOptions, Tests, Weights

M4 = ("mathach = B0 + B1*group(ses) + R\nB0 = G00 + G01*sector + G02*meanses + U0\n"
      "B1 = G10 + G11*sector + G12*meanses + U1\n")

SCENARIOS = {
    "weights": FitOptions(weights=Weights(level1="w1", level2="w2"),
                          tests=Tests((("G01 = 0", "G11 = 0"),), homogeneity=True)),
    "heterogeneous-ml": FitOptions(method="ml", heterogeneous_sigma2=("female",)),
    "constraint-hlm": FitOptions(
        mode="hlm", constraints=("G02 = G12",),
        tests=Tests((("G01 - G11 = 0",),),
                    deviance_test={"deviance": 46502.95, "n_parameters": 2,
                                   "convention": "hlm"})),
    "all-hlm": FitOptions(method="ml", mode="hlm", constraints=("G02 = G12",),
                          heterogeneous_sigma2=("female",),
                          weights=Weights(level1="w1", level2="w2")),
}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> tuple[Path, Path]:
    """HS&B with a level-1 weight w1 and a level-2 weight w2, as CSV files."""
    folder = tmp_path_factory.mktemp("doors")
    l1 = pd.read_csv(bundled("hsb1.csv"))
    l2 = pd.read_csv(bundled("hsb2.csv"))
    l1["w1"] = 1.0 + 0.5 * (np.arange(len(l1)) % 3)
    l2["w2"] = 1.0 + (l2["id"].to_numpy() % 4)
    p1, p2 = folder / "hsb1w.csv", folder / "hsb2w.csv"
    l1.to_csv(p1, index=False)
    l2.to_csv(p2, index=False)
    return p1, p2


class Recorder:
    """Wraps :func:`openhlm.runner.run` and keeps every result it returns."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.results: list[openhlm.HLMResults] = []
        original = openhlm.runner.run

        def run(*args, **kwargs):
            out = original(*args, **kwargs)
            self.results.append(out)
            return out

        monkeypatch.setattr(openhlm.runner, "run", run)

    def last(self) -> openhlm.HLMResults:
        return self.results[-1]


def _cli(capsys, *argv: str) -> str:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def _json(results: openhlm.HLMResults) -> dict:
    return json.loads(json.dumps(results_to_dict(results), allow_nan=False))


def assert_same(a: openhlm.HLMResults, b: openhlm.HLMResults) -> None:
    """Identical results: the JSON (every printed number) and the arrays behind them."""
    assert _json(a) == _json(b)
    for name in ("tau", "tau_se", "tau_correlations"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    np.testing.assert_array_equal(a.fixed.covariance, b.fixed.covariance)
    np.testing.assert_array_equal(a.fixed.robust_covariance, b.fixed.robust_covariance)
    np.testing.assert_array_equal(a.level1_ols.coefficients, b.level1_ols.coefficients)
    assert a.level1_ols.unit_ids == b.level1_ols.unit_ids
    assert (a.sigma2, a.deviance, a.spec) == (b.sigma2, b.deviance, b.spec)
    assert a.data.data_fingerprint == b.data.data_fingerprint
    assert list(a.extras) == list(b.extras) and a.notes == b.notes


def _residual_files(results: openhlm.HLMResults, folder: Path) -> tuple[Path, Path]:
    written = results.write_residuals(level2=folder / "api_res2.csv",
                                      level1=folder / "api_res1.csv")
    return written["level2"], written["level1"]


def _same_files(a: Path, b: Path) -> None:
    pd.testing.assert_frame_equal(pd.read_csv(a), pd.read_csv(b), check_exact=True)


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_every_door_gives_the_same_results(scenario, files, tmp_path, capsys, monkeypatch):
    options = SCENARIOS[scenario]
    p1, p2 = files
    mdm = openhlm.build_mdm(p1, p2, id="id")
    api = openhlm.fit(M4, mdm, **options.to_kwargs())
    assert_same(openhlm.runner.run(M4, mdm, options), api)
    expected = _json(api)
    if options.weights.used:
        assert api.extras["weighting"].level1 == options.weights.level1
    if options.heterogeneous_sigma2:
        assert "heterogeneous_sigma2" in api.extras
    recorder = Recorder(monkeypatch)

    # a TOML model file, through openhlm fit
    toml = tmp_path / "model.toml"
    toml.write_text(options.to_toml(M4, DataSection(level1=p1, level2=p2, id="id"), path=toml))
    _cli(capsys, "fit", toml, "--json", tmp_path / "toml.json", "-o", tmp_path / "toml.txt")
    assert json.loads((tmp_path / "toml.json").read_text()) == expected
    assert_same(recorder.last(), api)

    # an HLM 6 command file, through openhlm fit (the mode is not part of a command file)
    hlm = tmp_path / "model.hlm"
    hlm.write_text(options.to_command_file(api.spec, mdm="hsb.mdm"))
    data = ("--level1", p1, "--level2", p2, "--id", "id", "--mode", options.mode)
    _cli(capsys, "fit", hlm, *data, "--json", tmp_path / "hlm.json", "-o", tmp_path / "hlm.txt")
    assert json.loads((tmp_path / "hlm.json").read_text()) == expected
    assert_same(recorder.last(), api)

    # openhlm residuals, from both files: the API fit's residual files
    api_res2, api_res1 = _residual_files(api, tmp_path)
    for source, extra in ((toml, ()), (hlm, data)):
        res2, res1 = tmp_path / f"{source.suffix[1:]}_res2.csv", tmp_path / "res1.csv"
        out = _cli(capsys, "residuals", source, *extra, "--res2", res2, "--res1", res1)
        assert f"level-2 residual file ({api.n_level2} records)" in out
        _same_files(res2, api_res2)
        _same_files(res1, api_res1)
        assert_same(recorder.last(), api)

    # openhlm plot: the results it draws
    drawn: list[openhlm.HLMResults] = []

    class Figure:
        def savefig(self, path, dpi=None):
            Path(path).write_bytes(b"")

    def graph(results, **_options):
        drawn.append(results)
        return Figure()

    monkeypatch.setitem(PLOTS, "qq-mdist", graph)
    _cli(capsys, "plot", "qq-mdist", toml, "-o", tmp_path / "qq.png")
    _cli(capsys, "plot", "qq-mdist", hlm, *data, "-o", tmp_path / "qq.png")
    assert len(drawn) == 2
    for results in drawn:
        assert_same(results, api)


def test_residuals_and_plot_use_the_model_files_weights(tmp_path, capsys, monkeypatch):
    """Issue 13: ``openhlm residuals``/``plot`` dropped a TOML file's ``[weights]``: on HS&B
    with a level-2 weight they gave the unweighted fit (sigma^2 39.151399, G01 2.804887
    for the model below, the numbers of the issue's unweighted fit)."""
    model = "mathach = B0 + R\nB0 = G00 + G01*sector + U0\n"
    toml = tmp_path / "weighted.toml"
    toml.write_text(f'''[data]
level1 = "{bundled("hsb1.sav").as_posix()}"
level2 = "{bundled("hsb2.sav").as_posix()}"
id = "id"

[model]
equations = """
{model}"""

[weights]
level2 = "size"
''')
    hsb = openhlm.build_mdm(bundled("hsb1.sav"), bundled("hsb2.sav"), id="id")
    weighted = openhlm.fit(model, hsb, level2_weight="size")
    unweighted = openhlm.fit(model, hsb)
    assert round(unweighted.sigma2, 6) == 39.151399
    assert round(float(unweighted.gamma["G01"]), 6) == 2.804887
    assert round(weighted.sigma2, 6) == 40.959467
    assert round(float(weighted.gamma["G01"]), 6) == 3.052499

    recorder = Recorder(monkeypatch)
    _cli(capsys, "fit", toml, "--json", tmp_path / "fit.json", "-o", tmp_path / "fit.txt")
    assert json.loads((tmp_path / "fit.json").read_text()) == _json(weighted)
    _cli(capsys, "residuals", toml, "--res2", tmp_path / "res2.csv")
    by_cli = recorder.last()
    assert by_cli.sigma2 == weighted.sigma2 and "weighting" in by_cli.extras
    assert_same(by_cli, weighted)
    weighted.write_residuals(level2=tmp_path / "api_res2.csv")
    _same_files(tmp_path / "res2.csv", tmp_path / "api_res2.csv")
    unweighted.write_residuals(level2=tmp_path / "plain_res2.csv")
    plain = pd.read_csv(tmp_path / "plain_res2.csv")
    assert not np.allclose(pd.read_csv(tmp_path / "res2.csv")["EBINTRCP"], plain["EBINTRCP"])

    drawn = []
    monkeypatch.setitem(PLOTS, "qq-mdist", lambda results, **_: drawn.append(results) or
                        type("F", (), {"savefig": lambda self, p, dpi=None: None})())
    _cli(capsys, "plot", "qq-mdist", toml, "-o", tmp_path / "qq.png")
    assert_same(drawn[0], weighted)
