"""What needs more than the one statistics pass works out of core, as in memory (docs/scale.md).

Each check fits the same rows in memory (the reference: its numbers are checked against lme4,
HLM's output and direct computations elsewhere in the suite) and out of core, with every unit
split across files and partitions, and compares to 1e-8 relative: the level-1 OLS table, GLH
and deviance tests (both conventions), ``openhlm.compare`` across engines, the homogeneity
test and constraints through the TOML and command-file doors, the model graph and the level-1
equations graph, multiply imputed data and plausible values, and the Dask level-1 residual file
written by the workers.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.unit.scale.test_scale_engines import MODEL4, write_split

import openhlm
from openhlm.errors import DataError, HypothesisError, SpecError

pytest.importorskip("duckdb", reason="the scale extra (duckdb) is not installed")
dd = pytest.importorskip("dask.dataframe", reason="the scale extra (dask) is not installed")
pytest.importorskip("pyarrow", reason="the scale extra (pyarrow) is not installed")

pytestmark = pytest.mark.filterwarnings(
    "ignore:The inplace keyword in DataFrame.reset_index is deprecated")

SPEC_DATA = Path(__file__).resolve().parents[1] / "spec" / "data"
SMALL = "mathach = B0 + B1*group(ses) + R; B0 = G00 + G01*sector + U0; B1 = G10 + U1"


@pytest.fixture(scope="module")
def hsb() -> tuple[pd.DataFrame, pd.DataFrame]:
    from openhlm.datasets import path

    l1 = pd.read_csv(path("hsb1.csv"))
    l1.insert(1, "row", np.arange(len(l1)))
    return l1, pd.read_csv(path("hsb2.csv"))


@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed", reason="dask[distributed] not installed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                       dashboard_address=":0")
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def assert_json_close(a, b, where: str = "", rel: float = 1e-8) -> None:
    """Every number of two JSON results equal to ``rel`` (texts equal, notes left out)."""
    if isinstance(a, dict):
        assert set(a) == set(b), where
        for k in a:
            if k not in ("notes", "openhlm_version"):
                assert_json_close(a[k], b[k], f"{where}.{k}", rel)
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_json_close(x, y, f"{where}[{i}]", rel)
    elif isinstance(a, float) and isinstance(b, (int, float)):
        assert math.isclose(a, b, rel_tol=rel, abs_tol=1e-12), (where, a, b)
    else:
        assert a == b, (where, a, b)


# -- 1. tests, the OLS table, compare() ---------------------------------------------------------

def test_ols_table_and_deviance_tests_in_both_conventions(hsb, tmp_path):
    l1, l2 = hsb
    files = write_split(l1, tmp_path, "t", parts=3)
    for convention in ("standard", "hlm"):
        kw = {"id": "id", "level2": l2, "method": "ml", "ols_units": 12,
              "deviance_test": {"deviance": 46600.0, "n_parameters": 4,
                                "convention": convention}}
        mem = openhlm.fit(MODEL4, l1, **kw)
        duck = openhlm.fit(MODEL4, files, engine="duckdb", quiet=True, **kw)
        a, b = mem.extras["deviance_test"], duck.extras["deviance_test"]
        assert b.convention == a.convention == convention and b.df == a.df
        np.testing.assert_allclose([b.chi2, b.p], [a.chi2, a.p], rtol=1e-8)
        ols_a, ols_b = mem.level1_ols, duck.level1_ols
        assert ols_a.unit_ids == ols_b.unit_ids and len(ols_a.unit_ids) == 12
        np.testing.assert_allclose(ols_b.coefficients, ols_a.coefficients, rtol=1e-8,
                                   atol=1e-12)
    # the chi-square of the hlm convention is the standard one shifted by log(2 pi): an
    # outside check of the convention, not only the same code on both sides
    std = openhlm.fit(MODEL4, files, engine="duckdb", quiet=True, id="id", level2=l2,
                      method="ml", deviance_test={"deviance": 46600.0, "n_parameters": 4})
    # (the typed deviance is above both: chi2 = typed - current, larger by log(2 pi))
    assert b.chi2 - std.extras["deviance_test"].chi2 == pytest.approx(math.log(2 * math.pi),
                                                                      rel=1e-6)


def test_compare_across_engines(hsb, tmp_path, dask_client):
    l1, l2 = hsb
    files = write_split(l1, tmp_path, "c", parts=3)
    kw = {"id": "id", "level2": l2, "method": "ml"}
    big_mem, small_mem = openhlm.fit(MODEL4, l1, **kw), openhlm.fit(SMALL, l1, **kw)
    big_duck = openhlm.fit(MODEL4, files, engine="duckdb", quiet=True, **kw)
    small_dask = openhlm.fit(SMALL, files, engine="dask", quiet=True, **kw)
    reference = openhlm.compare(big_mem, small_mem)
    # the chi-square is the difference of the two deviances (an outside identity)
    assert reference.chi2 == pytest.approx(abs(big_mem.deviance - small_mem.deviance))
    for a, b in ((big_duck, small_mem), (big_mem, small_dask), (big_duck, small_dask),
                 (small_dask, big_mem)):
        test = openhlm.compare(a, b)
        assert test.df == reference.df
        np.testing.assert_allclose([test.chi2, test.p], [reference.chi2, reference.p],
                                   rtol=1e-8)
    # other outcome values, one fit in memory and one out of core: refused
    other = l1.assign(mathach=l1.mathach * 1.01)
    with pytest.raises(HypothesisError, match="different outcome values"):
        openhlm.compare(big_duck, openhlm.fit(SMALL, other, **kw))
    # other records: refused
    with pytest.raises(HypothesisError, match="different data"):
        openhlm.compare(big_duck, openhlm.fit(SMALL, l1.iloc[5:], **kw))


TOML = """[data]
level1 = "{level1}"
level2 = "{level2}"
id = "id"
engine = "{engine}"

[model]
equations = \"\"\"
mathach = B0 + B1*group(ses) + R
B0 = G00 + G01*sector + G02*meanses + U0
B1 = G10 + G11*sector + G12*meanses + U1
\"\"\"
constraints = ["G02 = G12"]

[estimation]
method = "ml"

[hypotheses]
glh = [["G01 = 0", "G11 = 0"], ["G10 = 2.5"]]
homogeneity = true
deviance_test = {{deviance = 46502.95, parameters = 2, convention = "hlm"}}
"""


@pytest.mark.parametrize("engine", ["duckdb", "dask"])
def test_toml_door_tests_constraints_and_ols_table(hsb, tmp_path, capsys, engine):
    """A TOML model file with constraints, GLH, the homogeneity and a deviance test: the CLI's
    JSON and the report's tables out of core equal the in-memory run's."""
    from openhlm.cli.main import main

    l1, l2 = hsb
    (tmp_path / "scores").mkdir()
    write_split(l1, tmp_path / "scores", "s", parts=3)
    l1.to_csv(tmp_path / "hsb1.csv", index=False)
    l2.to_parquet(tmp_path / "schools.parquet", index=False)
    (tmp_path / "mem.toml").write_text(TOML.format(level1="hsb1.csv", level2="schools.parquet",
                                                   engine="memory"))
    (tmp_path / "ooc.toml").write_text(TOML.format(level1="scores", level2="schools.parquet",
                                                   engine=engine))
    for name in ("mem", "ooc"):
        assert main(["fit", str(tmp_path / f"{name}.toml"), "--ols-units", "7", "--json",
                     str(tmp_path / f"{name}.json"), "-o", str(tmp_path / f"{name}.txt")]) == 0
    capsys.readouterr()
    a = json.loads((tmp_path / "mem.json").read_text())
    b = json.loads((tmp_path / "ooc.json").read_text())
    for key in ("glh", "homogeneity", "deviance_test"):
        assert key in b
    assert_json_close(a, b)
    text_a = (tmp_path / "mem.txt").read_text()
    text_b = (tmp_path / "ooc.txt").read_text()
    # the level-1 OLS table (7 units), the constraint and the tests are printed alike
    for heading in ("Level-1 OLS regressions", "Test of homogeneity of level-1 variance",
                    "Results of General Linear Hypothesis Testing"):
        assert text_a.count(heading) == text_b.count(heading) >= 1, heading
    section = text_a[text_a.index("Level-1 OLS regressions"):].split("\n\n\n")[0]
    assert section in text_b


# -- 2. HLM 6 command files --------------------------------------------------------------------

@pytest.mark.parametrize("engine", ["duckdb", "dask"])
def test_command_file_with_an_engine_equals_the_in_memory_run(hsb, tmp_path, capsys, engine):
    from openhlm.cli.main import main

    l1, l2 = hsb
    glob = write_split(l1.drop(columns="row"), tmp_path, "scores", parts=3)
    l2.to_parquet(tmp_path / "l2.parquet", index=False)
    l1.drop(columns="row").to_csv(tmp_path / "hsb1.csv", index=False)
    cmd = str(SPEC_DATA / "ex4_tests.hlm")   # GLH, homogeneity, deviance:, lev1ols:10
    for mode in ("exact", "hlm"):
        assert main(["fit", cmd, "--level1", str(tmp_path / "hsb1.csv"), "--level2",
                     str(tmp_path / "l2.parquet"), "--id", "id", "--mode", mode, "--json",
                     str(tmp_path / "mem.json"), "-o", str(tmp_path / "mem.txt")]) == 0
        assert main(["fit", cmd, "--level1", glob, "--level2", str(tmp_path / "l2.parquet"),
                     "--id", "ID", "--engine", engine, "--mode", mode, "--json",
                     str(tmp_path / "ooc.json"), "-o", str(tmp_path / "ooc.txt")]) == 0
        capsys.readouterr()
        a = json.loads((tmp_path / "mem.json").read_text())
        b = json.loads((tmp_path / "ooc.json").read_text())
        assert {"glh", "homogeneity", "deviance_test"} <= set(b)
        assert_json_close(a, b)
        assert "Per-unit statistics computed by" in (tmp_path / "ooc.txt").read_text()


def test_command_file_with_an_engine_needs_files(hsb, tmp_path, capsys):
    from openhlm.cli.main import main

    cmd = str(SPEC_DATA / "ex4.hlm")
    assert main(["fit", cmd, "--mdm", "x.mdmz", "--engine", "duckdb"]) != 0
    assert "reads data files" in capsys.readouterr().err
    assert main(["fit", cmd, "--level1", "a.parquet", "--id", "a,b", "--engine",
                 "duckdb"]) != 0
    assert "two-level models only" in capsys.readouterr().err


# -- 3. the graphs of the level-1 rows ---------------------------------------------------------

def _lines(figure) -> list[np.ndarray]:
    return [np.asarray(line.get_xydata()) for line in figure.axes[0].get_lines()]


def _assert_same_graph(a, b) -> None:
    la, lb = _lines(a), _lines(b)
    assert len(la) == len(lb) > 0
    labels = [line.get_label() for line in a.axes[0].get_lines()]
    assert labels == [line.get_label() for line in b.axes[0].get_lines()]
    for x, y in zip(la, lb):
        np.testing.assert_allclose(y, x, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("kw", [{}, {"mode": "hlm", "max_iterations": 5000},
                                {"level1_weight": "w"}])
def test_model_graph_and_level1_equations_equal_memory(hsb, tmp_path, dask_client, kw):
    pytest.importorskip("matplotlib")
    from openhlm import plots

    l1, l2 = hsb
    l1 = l1.assign(w=1.0 + (l1.row % 3))
    model = ("mathach = B0 + B1*group(ses) + B2*grand(female) + R; B0 = G00 + G01*sector + "
             "G02*meanses + U0; B1 = G10 + G11*sector + U1; B2 = G20")
    files = write_split(l1, tmp_path, "g", parts=3)
    mem = openhlm.fit(model, l1, id="id", level2=l2, **kw)
    duck = openhlm.fit(model, files, id="id", level2=l2, engine="duckdb", quiet=True, **kw)
    dsk = openhlm.fit(model, dd.from_pandas(l1.sample(frac=1.0, random_state=3),
                                            npartitions=4),
                      id="id", level2=l2, engine="dask", quiet=True, **kw)
    # the in-memory graph's own numbers: the fixed part at SES's range (an outside check)
    lo, hi = (l1.ses - l1.groupby("id").ses.transform("mean")).agg(["min", "max"])
    figure = plots.model_graph(mem, x="ses", by="sector", quartiles_of="meanses")
    single = kw.get("mode") == "hlm"       # HLM mode reads float32 values
    assert _lines(figure)[0][[0, -1], 0] == pytest.approx([lo, hi], rel=1e-6 if single
                                                          else 1e-12)
    for res in (duck, dsk):
        _assert_same_graph(figure, plots.model_graph(res, x="ses", by="sector",
                                                     quartiles_of="meanses"))
        _assert_same_graph(plots.model_graph(mem, x="female"), plots.model_graph(res, x="female"))
        _assert_same_graph(plots.level1_equations(mem, x="ses", sample=0, by="sector"),
                           plots.level1_equations(res, x="ses", sample=0, by="sector"))
        _assert_same_graph(plots.level1_equations(mem, x="female", sample=20),
                           plots.level1_equations(res, x="female", sample=20))


def test_graphs_without_a_level2_table_and_one_pass_per_fit(hsb, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    from openhlm import plots

    l1, l2 = hsb
    rows = l1.merge(l2[["id", "sector", "meanses"]], on="id")
    rows.loc[rows.row % 11 == 0, "ses"] = np.nan          # deleted rows do not count
    files = write_split(rows, tmp_path, "n", parts=4)
    model = ("mathach = B0 + B1*ses + R; B0 = G00 + G01*sector + U0; B1 = G10 + U1")
    mem = openhlm.fit(model, rows, id="id")
    duck = openhlm.fit(model, files, id="id", engine="duckdb")
    capsys.readouterr()
    _assert_same_graph(plots.level1_equations(mem, sample=0),
                       plots.level1_equations(duck, sample=0))
    assert "each unit's range" in capsys.readouterr().err     # the pass, said
    _assert_same_graph(plots.model_graph(mem, by="sector"), plots.model_graph(duck, by="sector"))
    assert capsys.readouterr().err == ""                      # made once per fit


def test_cli_plot_model_and_level1_out_of_core(hsb, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    from openhlm.cli.main import main

    l1, l2 = hsb
    (tmp_path / "scores").mkdir()
    write_split(l1, tmp_path / "scores", "s", parts=2)
    l2.to_parquet(tmp_path / "schools.parquet", index=False)
    for graph in ("model", "level1"):
        out = tmp_path / f"{graph}.png"
        assert main(["plot", graph, str(SPEC_DATA / "ex4.hlm"), "--level1",
                     str(tmp_path / "scores"), "--level2", str(tmp_path / "schools.parquet"),
                     "--id", "id", "--engine", "duckdb", "-o", str(out)]) == 0
        assert out.stat().st_size > 1000
    capsys.readouterr()


# -- 4. multiply imputed data ------------------------------------------------------------------

def _completed(l1: pd.DataFrame, k: int) -> pd.DataFrame:
    rng = np.random.default_rng(k)
    return l1.assign(mathach=l1.mathach + rng.normal(0.0, 1.5, len(l1)))


def _assert_pooled(a, b) -> None:
    assert a.extras["multiple_imputation"].m == b.extras["multiple_imputation"].m
    for x, y in zip(a.fixed.rows, b.fixed.rows, strict=True):
        np.testing.assert_allclose([y.estimate, y.se, y.robust_se, y.df, y.p],
                                   [x.estimate, x.se, x.robust_se, x.df, x.p], rtol=1e-8)
    np.testing.assert_allclose([b.sigma2, b.deviance], [a.sigma2, a.deviance], rtol=1e-8)
    np.testing.assert_allclose(b.tau, a.tau, rtol=1e-8)


def test_imputed_file_sets_and_plausible_values_equal_memory(hsb, tmp_path, dask_client):
    l1, l2 = hsb
    sets = [_completed(l1, k) for k in range(3)]
    globs = []
    for k, d in enumerate(sets):
        (tmp_path / f"imp{k}").mkdir()
        globs.append(write_split(d, tmp_path / f"imp{k}", "p", parts=2, seed=k))
    mem = openhlm.fit_imputed(SMALL, sets, id="id", level2=l2)
    # Rubin's rules by hand on the in-memory fits (an outside check of the pooling)
    fits = [openhlm.fit(SMALL, d, id="id", level2=l2) for d in sets]
    g = np.array([[r.estimate for r in f.fixed.rows] for f in fits])
    v = np.array([[r.se ** 2 for r in f.fixed.rows] for f in fits])
    total = v.mean(axis=0) + (1 + 1 / 3) * g.var(axis=0, ddof=1)
    np.testing.assert_allclose([r.se for r in mem.fixed.rows], np.sqrt(total), rtol=1e-10)
    for engine in ("duckdb", "dask"):
        ooc = openhlm.fit_imputed(SMALL, globs, id="id", level2=l2, engine=engine, quiet=True)
        _assert_pooled(mem, ooc)
    pv = l1.assign(**{f"pv{k + 1}": d.mathach for k, d in enumerate(sets)})
    pv_files = write_split(pv, tmp_path, "pv", parts=3)
    model = SMALL.replace("mathach =", "pv1 =")
    names = ["pv1", "pv2", "pv3"]
    a = openhlm.fit_imputed(model, pv, plausible_values=names, id="id", level2=l2)
    b = openhlm.fit_imputed(model, pv_files, plausible_values=names, id="id", level2=l2,
                            engine="duckdb", quiet=True)
    _assert_pooled(a, b)
    _assert_pooled(mem, b)            # the same three outcomes as the three data sets


def test_imputed_refusals_out_of_core(hsb, tmp_path):
    l1, l2 = hsb
    a = write_split(l1, tmp_path, "a", parts=2)
    b = write_split(l1.iloc[10:], tmp_path, "b", parts=2)
    with pytest.raises(DataError, match="same level-1 records|same level-2 units"):
        openhlm.fit_imputed(SMALL, [a, b], id="id", level2=l2, engine="duckdb", quiet=True)
    with pytest.raises(SpecError, match="imputation-number column .* own file"):
        openhlm.fit_imputed(SMALL, a, imputation="row", id="id", level2=l2, engine="duckdb")
    with pytest.raises(SpecError, match="not pooled"):
        openhlm.fit_imputed(SMALL, [a, a], id="id", level2=l2, engine="duckdb",
                            homogeneity=True)
    with pytest.raises(SpecError, match="plausible value 'nope'"):
        openhlm.fit_imputed(SMALL, a, plausible_values=["mathach", "nope"], id="id",
                            level2=l2, engine="duckdb")
    with pytest.raises(SpecError, match="at least 2"):
        openhlm.fit_imputed(SMALL, [a], id="id", level2=l2, engine="duckdb")


# -- 5. the Dask level-1 residual file ---------------------------------------------------------

@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_dask_residual_file_from_worker_parts_equals_memory(hsb, tmp_path, dask_client,
                                                            monkeypatch, fmt):
    from tests.unit.scale.test_scale_residuals import assert_frames_close, by_row, read

    from openhlm.scale import residuals

    l1, l2 = hsb
    mem = openhlm.fit(MODEL4, l1, id="id", level2=l2)
    mem.write_residuals(level1=tmp_path / f"mem.{fmt}", extra_level1=["row", "female"])
    ddf = dd.from_pandas(l1.sample(frac=1.0, random_state=2), npartitions=5)
    res = openhlm.fit(MODEL4, ddf, id="id", level2=l2, engine="dask", quiet=True)
    assert residuals.workers_share_files(dask_client)
    res.write_residuals(level1=tmp_path / "out" / f"parts.{fmt}", extra_level1=["row", "female"])
    # the same file through this process, one partition at a time (workers elsewhere)
    monkeypatch.setattr(residuals, "workers_share_files", lambda client: False)
    res.write_residuals(level1=tmp_path / "out" / f"client.{fmt}",
                        extra_level1=["row", "female"])
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        [f"client.{fmt}", f"parts.{fmt}"])                 # no part folder left behind
    expected = by_row(read(tmp_path / f"mem.{fmt}"))
    for name in ("parts", "client"):
        assert_frames_close(expected, by_row(read(tmp_path / "out" / f"{name}.{fmt}")))
    if fmt == "parquet":
        import pyarrow.parquet as pq

        a = pq.read_schema(tmp_path / "mem.parquet")
        b = pq.read_schema(tmp_path / "out" / "parts.parquet")
        assert [f.metadata for f in a] == [f.metadata for f in b]     # the labels
        assert b.metadata[b"openhlm.labels"] == a.metadata[b"openhlm.labels"]
    # partition order kept: the rows of the parts file are the Dask frame's order
    got = read(tmp_path / "out" / f"parts.{fmt}")
    assert got["row"].tolist() == ddf.compute().row.tolist()


def test_workers_on_other_hosts_do_not_share_files():
    from openhlm.scale.residuals import workers_share_files

    class Remote:
        def scheduler_info(self, n_workers=-1):
            return {"workers": {"tcp://10.255.1.2:40000": {}, "tcp://127.0.0.1:40001": {}}}

    class Local:
        def scheduler_info(self, n_workers=-1):
            return {"workers": {"tcp://127.0.0.1:40000": {}, "inproc://10.9.9.9/1/2": {}}}

    assert not workers_share_files(Remote())
    assert workers_share_files(Local())
