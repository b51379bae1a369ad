"""Level-1 design and precision weights and ``mode="hlm"`` out of core (docs/scale.md).

The engines' weighted per-unit moments are checked against a direct computation in this file
(numpy, unit by unit, with HLM's normalisation of the level-1 weights written out), and every
fit against the in-memory fit on the same data (deviance 1e-9 relative, estimates 1e-8), with
the rows shuffled over several files and partitions so that every unit is split.  HLM mode:
the same EM iterations and estimates as the in-memory HLM mode, on data the engines round to
float32 as the in-memory HLM mode does (checked against a direct computation too).
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pandas as pd
import pytest
from tests.unit.scale.helpers import assert_same, write_split

import openhlm
from openhlm.datasets import path as dataset_path
from openhlm.errors import DataError

pytest.importorskip("duckdb", reason="the scale extra (duckdb) is not installed")
dd = pytest.importorskip("dask.dataframe", reason="the scale extra (dask) is not installed")
pytest.importorskip("pyarrow", reason="the scale extra (pyarrow) is not installed")

pytestmark = pytest.mark.filterwarnings(
    "ignore:The inplace keyword in DataFrame.reset_index is deprecated")

MODEL = ("mathach = B0 + B1*group(ses) + B2*grand(female) + R; B0 = G00 + G01*sector + "
         "G02*meanses + U0; B1 = G10 + G11*sector + U1; B2 = G20")


@pytest.fixture(scope="module")
def hsb() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(17)
    l1 = pd.read_csv(dataset_path("hsb1.csv"))
    l1 = l1.assign(w1=rng.uniform(0.2, 3.0, len(l1)), pw=rng.uniform(0.5, 2.0, len(l1)))
    l1.loc[rng.choice(len(l1), 40, replace=False), "w1"] = 0.0        # zero design weights
    l1.loc[rng.choice(len(l1), 30, replace=False), "mathach"] = np.nan  # deleted rows
    l2 = pd.read_csv(dataset_path("hsb2.csv"))
    return l1, l2.assign(w2=rng.uniform(0.5, 2.0, len(l2)))


def direct_weighted_moments(frame: pd.DataFrame, columns: list[str], d: str | None,
                            p: str | None, normalize: str) -> dict[str, np.ndarray]:
    """Weighted per-unit moments written out unit by unit (the test's own computation):
    d normalised to sum to the positive-weight rows of the unit ("within") or of the sample
    ("overall"), w = d p, W = sum w, m = average(v, w), C = sum w (v - m)(v - m)'."""
    f = frame.dropna(subset=columns)
    dw = f[d].to_numpy(float) if d else np.ones(len(f))
    pw = f[p].to_numpy(float) if p else np.ones(len(f))
    if d and normalize == "overall":
        dw = dw * (dw > 0).sum() / dw.sum()
    out: dict[str, list] = {"W": [], "mean": [], "C": [], "n": []}
    for uid in sorted(f["id"].unique()):
        rows = (f["id"] == uid).to_numpy()
        du = dw[rows]
        if d and normalize == "within":
            du = du * (du > 0).sum() / du.sum()
        w = du * pw[rows]
        v = f.loc[rows, columns].to_numpy(float)
        m = np.average(v, axis=0, weights=w)
        out["W"].append(w.sum())
        out["mean"].append(m)
        out["C"].append((v - m).T @ ((v - m) * w[:, None]))
        out["n"].append(du.sum())
    return {k: np.array(v) for k, v in out.items()}


@pytest.mark.parametrize("weights, normalize", [
    ({"level1_weight": "w1"}, "within"),
    ({"precision_weight": "pw"}, "within"),
    ({"level1_weight": "w1", "precision_weight": "pw"}, "overall"),
])
def test_weighted_moments_equal_a_direct_computation(hsb, tmp_path, weights, normalize):
    """Uncentred model, so the design's columns are the raw variables: the engines' moments
    of [1, ses, mathach] equal the weighted moments computed unit by unit."""
    from openhlm.scale.run import unit_statistics
    from openhlm.spec.options import FitOptions

    l1, l2 = hsb
    files = write_split(l1, tmp_path, "m", parts=3)
    model = "mathach = B0 + B1*ses + R; B0 = G00 + U0; B1 = G10 + U1"
    ref = direct_weighted_moments(l1, ["ses", "mathach"], weights.get("level1_weight"),
                                  weights.get("precision_weight"), normalize)
    for engine, data in (("memory", l1), ("duckdb", files), ("dask", files)):
        options = FitOptions.from_kwargs(engine=engine, quiet=True, normalize_weights=normalize,
                                         **weights)
        design, mom = unit_statistics(model, data, options, id="id", level2=l2)
        np.testing.assert_allclose(mom.weight, ref["W"], rtol=1e-12)
        np.testing.assert_allclose(mom.n, ref["n"], rtol=1e-12)
        np.testing.assert_allclose(mom.mean[:, 1:], ref["mean"], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(mom.centred[:, 1:, 1:], ref["C"], rtol=1e-10, atol=1e-9)
        assert design.passes == (2 if engine == "duckdb" else 1)


@pytest.mark.parametrize("weights", [
    {"level1_weight": "w1"},
    {"precision_weight": "pw"},
    {"level1_weight": "w1", "precision_weight": "pw", "level2_weight": "w2"},
    {"level1_weight": "w1", "precision_weight": "pw", "normalize_weights": "overall"},
    {"level1_weight": "w1", "normalize_weights": False},
])
def test_level1_and_precision_weights_equal_memory(hsb, tmp_path, weights, dask_client):
    l1, l2 = hsb
    files = write_split(l1, tmp_path, "w", parts=3)
    mem = openhlm.fit(MODEL, l1, id="id", level2=l2, **weights)
    duck = openhlm.fit(MODEL, files, id="id", level2=l2, engine="duckdb", quiet=True, **weights)
    dsk = openhlm.fit(MODEL, files, id="id", level2=l2, engine="dask", quiet=True, **weights)
    for r in (duck, dsk):
        assert_same(mem, r)
        got, want = (dataclasses.asdict(x.extras["weighting"]) for x in (r, mem))
        assert got == {k: pytest.approx(v, rel=1e-13) if isinstance(v, float) else v
                       for k, v in want.items()}
        assert [n for n in r.notes if "weight" in n] == [n for n in mem.notes if "weight" in n]
        for k, v in mem.data.centering_means.items():   # centring: unweighted means, as in memory
            np.testing.assert_allclose(r.data.centering_means[k], v, rtol=1e-13)
    assert any("DuckDB" in n and "2 passes" in n for n in duck.notes)
    assert any("Dask" in n and "1 pass " in n for n in dsk.notes)


def test_weighted_csv_and_a_dask_dataframe(hsb, tmp_path, dask_client):
    l1, l2 = hsb
    kw = {"level1_weight": "w1", "precision_weight": "pw"}
    mem = openhlm.fit(MODEL, l1, id="id", level2=l2, method="ml", **kw)
    csv = write_split(l1, tmp_path, "c", parts=2, fmt="csv", seed=4)
    duck = openhlm.fit(MODEL, csv, id="id", level2=l2, method="ml", engine="duckdb",
                       quiet=True, **kw)
    ddf = dd.from_pandas(l1.sample(frac=1.0, random_state=6), npartitions=5)
    dsk = openhlm.fit(MODEL, ddf, id="id", level2=l2, method="ml", engine="dask", quiet=True,
                      **kw)
    assert_same(mem, duck)
    assert_same(mem, dsk)


def simulated(seed: int = 5, units: int = 150, offset: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(2, 40, units)
    unit = np.repeat(np.arange(units), sizes)
    z = rng.normal(size=units)
    x = rng.normal(size=unit.size) + 0.3 * rng.normal(size=units)[unit]
    y = (3 + 0.5 * z[unit] + (1 + rng.normal(scale=0.5, size=units)[unit]) * x
         + rng.normal(size=units)[unit] + rng.normal(size=unit.size))
    return pd.DataFrame({"school": np.array([f"s{j:04d}" for j in range(units)])[unit],
                         "x": x, "y": y + offset, "z": z[unit],
                         "d": rng.uniform(0.1, 4.0, unit.size),
                         "p": rng.uniform(0.3, 3.0, unit.size)})


SIM = "y = B0 + B1*x + R; B0 = G00 + G01*z + U0; B1 = G10 + U1"


def test_simulated_split_units_and_an_outcome_offset(tmp_path, dask_client):
    """Units split over 5 files / 6 partitions; an outcome stored as 1e6 + y: the weighted
    centred cross-products carry no offset (DuckDB's corrected second pass), so every engine
    equals the in-memory fit on the same doubles."""
    kw = {"level1_weight": "d", "precision_weight": "p"}
    for offset in (0.0, 1e6):
        data = simulated(offset=offset)
        files = write_split(data, tmp_path, f"s{int(offset)}_", parts=5, seed=2)
        mem = openhlm.fit(SIM, data, id="school", **kw)
        duck = openhlm.fit(SIM, files, id="school", engine="duckdb", quiet=True, **kw)
        dsk = openhlm.fit(SIM, dd.from_pandas(data.sample(frac=1.0, random_state=3),
                                              npartitions=6),
                          id="school", engine="dask", quiet=True, **kw)
        for r in (duck, dsk):
            assert_same(mem, r, rel=1e-8 if offset == 0 else 1e-7)


@pytest.mark.parametrize("engine", ["duckdb", "dask"])
@pytest.mark.parametrize("column, value, weight, message", [
    ("w1", -1.0, "level1_weight", "level-1 weight 'w1' has negative values"),
    ("w1", np.nan, "level1_weight", "level-1 weight 'w1' has missing values"),
    ("pw", 0.0, "precision_weight", "precision weight 'pw' has zero values"),
    ("pw", np.nan, "precision_weight", "precision weight 'pw' has missing values"),
])
def test_bad_weights_name_the_variable_and_the_file(hsb, tmp_path, engine, column, value,
                                                    weight, message):
    l1, l2 = hsb
    l1 = l1.dropna(subset=["mathach"]).reset_index(drop=True)
    for i, piece in enumerate((l1.iloc[:3000], l1.iloc[3000:])):
        piece = piece.copy()
        if i == 1:
            piece.iloc[5, piece.columns.get_loc(column)] = value
        piece.to_parquet(tmp_path / f"part{i}.parquet", index=False)
    with pytest.raises(DataError) as info:
        openhlm.fit(MODEL, str(tmp_path / "part*.parquet"), id="id", level2=l2, engine=engine,
                    quiet=True, **{weight: column})
    text = str(info.value)
    assert "\n" not in text and text.startswith(message)
    assert "part1.parquet" in text and "part0.parquet" not in text
    assert f"unit(s) {l1.id.iloc[3005]}" in text
    with pytest.raises(DataError, match=message):      # the in-memory fit refuses it too
        openhlm.fit(MODEL, pd.concat([l1.iloc[:3000], piece]), id="id", level2=l2,
                    **{weight: column})


def test_a_bad_weight_on_a_deleted_row_is_no_error_and_zero_units_are_refused(hsb, tmp_path):
    l1, l2 = hsb
    l1 = l1.copy()
    l1.loc[0, ["w1", "mathach"]] = [-5.0, np.nan]     # deleted row: its weight is not used
    files = write_split(l1, tmp_path, "z", parts=2)
    mem = openhlm.fit(MODEL, l1, id="id", level2=l2, level1_weight="w1")
    duck = openhlm.fit(MODEL, files, id="id", level2=l2, level1_weight="w1", engine="duckdb",
                       quiet=True)
    assert_same(mem, duck)
    first = l1.id.iloc[5]
    zero = write_split(l1.assign(w1=np.where(l1.id == first, 0.0, l1.w1)), tmp_path, "zz",
                       parts=2)
    for engine in ("duckdb", "dask"):
        with pytest.raises(DataError, match=rf"^level-1 weight 'w1' is zero for every row of 1 "
                                            rf"unit\(s\) \({first}\)"):
            openhlm.fit(MODEL, zero, id="id", level2=l2, level1_weight="w1", engine=engine,
                        quiet=True)


def test_progress_of_the_two_weighted_passes_and_quiet(hsb, tmp_path, capsys):
    l1, l2 = hsb
    files = write_split(l1, tmp_path, "p", parts=2)
    openhlm.fit(MODEL, files, id="id", level2=l2, engine="duckdb", level1_weight="w1")
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("openhlm [duckdb]")]
    assert any("pass 1 of 2" in line and f"{len(l1):,} rows read" in line for line in lines)
    assert any("pass 2 of 2" in line and f"{2 * len(l1):,} rows read" in line for line in lines)
    assert all(re.search(r"rows read, \d+\.\d s", line)          # and the elapsed time
               for line in lines if "rows read" in line)
    openhlm.fit(MODEL, files, id="id", level2=l2, engine="duckdb", level1_weight="w1",
                quiet=True)
    null = "mathach = B0 + R; B0 = G00 + U0"
    openhlm.fit(null, files, id="id", level2=l2, engine="dask", level1_weight="w1",
                mode="hlm", quiet=True)
    assert capsys.readouterr().err == ""
    openhlm.fit(null, files, id="id", level2=l2, engine="dask", mode="hlm")
    err = capsys.readouterr().err
    assert "rows read" in err and "HLM-mode EM:" in err


# --- mode="hlm" ------------------------------------------------------------------------------

HLM_MODEL = ("mathach = B0 + B1*group(ses) + R; B0 = G00 + G01*sector + G02*meanses + U0; "
             "B1 = G10 + G11*sector + U1")


@pytest.mark.parametrize("method", ["reml", "ml"])
def test_hlm_mode_equals_the_in_memory_hlm_mode(hsb, tmp_path, method, dask_client):
    """Same EM iterations and estimates as the in-memory HLM mode (which stops before full
    convergence: its estimates differ from exact mode's, so this is HLM's EM, not exact)."""
    l1, l2 = hsb
    files = write_split(l1, tmp_path, "h", parts=3)
    mem = openhlm.fit(HLM_MODEL, l1, id="id", level2=l2, mode="hlm", method=method)
    exact = openhlm.fit(HLM_MODEL, l1, id="id", level2=l2, method=method)
    assert mem.estimates.iterations != exact.estimates.iterations
    assert abs(mem.deviance - exact.deviance) > 1e-6
    duck = openhlm.fit(HLM_MODEL, files, id="id", level2=l2, engine="duckdb", mode="hlm",
                       method=method, quiet=True)
    dsk = openhlm.fit(HLM_MODEL, files, id="id", level2=l2, engine="dask", mode="hlm",
                      method=method, quiet=True)
    for r in (duck, dsk):
        assert r.estimates.mode == "hlm"
        assert r.estimates.iterations == mem.estimates.iterations
        assert r.estimates.converged == mem.estimates.converged
        assert_same(mem, r)
        np.testing.assert_allclose(r.estimates.loglik_history, mem.estimates.loglik_history,
                                   rtol=1e-11)
    # the report shows the iteration count as in memory
    assert str(duck).count(f"{mem.estimates.iterations}") >= 1
    text_mem = [s for s in str(mem).splitlines() if "iteration" in s.lower()]
    text_duck = [s for s in str(duck).splitlines() if "iteration" in s.lower()]
    assert text_mem and text_duck == text_mem


def test_hlm_mode_with_weights_and_a_level2_variable_on_the_rows(tmp_path):
    data = simulated(seed=9, units=80)
    files = write_split(data, tmp_path, "hw", parts=4, seed=8)
    kw = {"mode": "hlm", "level1_weight": "d", "precision_weight": "p"}
    mem = openhlm.fit(SIM, data, id="school", **kw)
    for engine in ("duckdb", "dask"):
        r = openhlm.fit(SIM, files, id="school", engine=engine, quiet=True, **kw)
        assert r.estimates.iterations == mem.estimates.iterations
        assert_same(mem, r)


def test_hlm_mode_statistics_are_those_of_float32_data(hsb, tmp_path):
    """The engines round what they read to float32, as the in-memory HLM mode rounds its MDM:
    the moments equal a direct computation on the rounded values (and not the double ones)."""
    from openhlm.scale.run import unit_statistics
    from openhlm.spec.options import FitOptions

    l1, l2 = hsb
    files = write_split(l1, tmp_path, "f", parts=2)
    model = "mathach = B0 + B1*ses + R; B0 = G00 + U0; B1 = G10 + U1"
    rounded = l1.assign(ses=l1.ses.astype(np.float32).astype(float),
                        mathach=l1.mathach.astype(np.float32).astype(float))
    ref = direct_weighted_moments(rounded, ["ses", "mathach"], None, None, "none")
    ref64 = direct_weighted_moments(l1, ["ses", "mathach"], None, None, "none")
    assert np.abs(ref["mean"] - ref64["mean"]).max() > 1e-9
    for engine, data in (("memory", l1), ("duckdb", files), ("dask", files)):
        _, mom = unit_statistics(model, data, FitOptions(engine=engine, quiet=True, mode="hlm"),
                                 id="id", level2=l2)
        np.testing.assert_allclose(mom.mean[:, 1:], ref["mean"], rtol=1e-14, atol=1e-14)
        np.testing.assert_allclose(mom.centred[:, 1:, 1:], ref["C"], rtol=1e-11, atol=1e-10)


def test_a_large_partition_is_reduced_in_slices(hsb, monkeypatch, dask_client):
    """Dask reduces a partition in slices of CHUNK rows merged exactly (bounded temporaries
    when a partition is a whole file): the same fit as in memory."""
    import openhlm.scale.dask_engine as engine

    l1, l2 = hsb
    monkeypatch.setattr(engine, "CHUNK", 500)
    sizes: list[int] = []
    reduce = engine.partial_from_frame

    def counted(frame, *args, **kwargs):
        sizes.append(len(frame))
        return reduce(frame, *args, **kwargs)

    monkeypatch.setattr(engine, "partial_from_frame", counted)
    kw = {"level1_weight": "w1", "precision_weight": "pw"}
    mem = openhlm.fit(MODEL, l1, id="id", level2=l2, **kw)
    dsk = openhlm.fit(MODEL, dd.from_pandas(l1.sample(frac=1.0, random_state=2), npartitions=2),
                      id="id", level2=l2, engine="dask", quiet=True, **kw)
    assert_same(mem, dsk)
    assert max(sizes) == 500 and sum(sizes) == len(l1) and len(sizes) >= len(l1) // 500


def test_a_toml_model_file_with_weights_and_hlm_mode_on_the_cli(hsb, tmp_path, capsys):
    """The doors: [weights] and [estimation] mode = "hlm" with [data] engine = "duckdb"."""
    from openhlm.cli.main import main

    l1, l2 = hsb
    (tmp_path / "scores").mkdir()
    write_split(l1, tmp_path / "scores", "s", parts=2)
    l2.to_parquet(tmp_path / "schools.parquet", index=False)
    (tmp_path / "m.toml").write_text(
        '[data]\nlevel1 = "scores"\nlevel2 = "schools.parquet"\nid = "id"\nengine = "duckdb"\n'
        f'[model]\nequations = "{HLM_MODEL}"\n[estimation]\nmode = "hlm"\n'
        '[weights]\nlevel1 = "w1"\nprecision = "pw"\n')
    assert main(["fit", str(tmp_path / "m.toml"), "--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr()
    assert "in 2 passes" in out.out.replace("\n ", " ").replace("   ", " ")
    assert "pass 2 of 2" in out.err and "HLM-mode EM:" in out.err
    mem = openhlm.fit(HLM_MODEL, l1, id="id", level2=l2, mode="hlm", level1_weight="w1",
                      precision_weight="pw")
    import json

    got = json.loads((tmp_path / "r.json").read_text())
    np.testing.assert_allclose(got["deviance"], mem.deviance, rtol=1e-9)


@pytest.mark.parametrize("kw", [{"mode": "hlm", "level1_weight": "w1"},
                                {"level1_weight": "w1", "precision_weight": "pw"}])
def test_weighted_and_hlm_mode_residual_files_equal_memory(hsb, tmp_path, kw, dask_client):
    """Residual files: the level-2 file from the statistics (LNTOTVAR and MDRSVAR without the
    level-1 weights, as in memory), the level-1 file streamed from the rows (SIGMA_ij =
    sigma / sqrt(p_ij) with precision weights; in HLM mode the rows read in single precision,
    as the in-memory HLM mode reads them: from double values they would differ by ~1e-6)."""
    l1, l2 = hsb
    l1 = l1.assign(row=np.arange(len(l1)))
    files = write_split(l1, tmp_path, "r", parts=3)
    mem = openhlm.fit(HLM_MODEL, l1, id="id", level2=l2, **kw)
    ref1 = mem.level1_residuals(extra=["row"]).sort_values("row").reset_index(drop=True)
    ref2 = mem.level2_residuals()
    for engine in ("duckdb", "dask"):
        r = openhlm.fit(HLM_MODEL, files, id="id", level2=l2, engine=engine, quiet=True, **kw)
        out = tmp_path / f"{engine}1.parquet"
        r.write_residuals(level1=out, extra_level1=["row"])
        got1 = pd.read_parquet(out).sort_values("row").reset_index(drop=True)
        got2 = r.level2_residuals()
        for ref, got in ((ref1, got1), (ref2, got2)):
            assert list(got.columns) == list(ref.columns) and len(got) == len(ref)
            for c in ref.columns:
                x, y = ref[c].to_numpy(dtype=float), got[c].to_numpy(dtype=float)
                assert np.array_equal(np.isnan(x), np.isnan(y)), c
                ok = ~np.isnan(x)
                np.testing.assert_allclose(y[ok], x[ok], rtol=1e-8,
                                           atol=1e-8 * np.abs(x[ok]).max(), err_msg=c)
