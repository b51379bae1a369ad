"""The engine through every door: FitOptions, a TOML model file (read and written) and the CLI."""

from __future__ import annotations

import pandas as pd
import pytest

from openhlm.datasets import path as dataset_path
from openhlm.errors import CommandFileError, SpecError
from openhlm.spec.modelfile import DataSection, load_model_file
from openhlm.spec.options import FitOptions

EQUATIONS = "mathach = B0 + B1*group(ses) + R; B0 = G00 + G01*sector + U0; B1 = G10 + U1"


def test_fit_options_engine_and_toml_round_trip(tmp_path):
    options = FitOptions.from_kwargs(engine="dask", scheduler="tcp://host:8786", quiet=True)
    assert (options.engine, options.scheduler, options.quiet) == ("dask", "tcp://host:8786",
                                                                  True)
    assert FitOptions.from_kwargs(**options.to_kwargs()) == options
    text = options.to_toml(EQUATIONS, DataSection(level1=tmp_path / "s" / "*.parquet", id="id"))
    assert 'engine = "dask"' in text and 'scheduler = "tcp://host:8786"' in text
    (tmp_path / "m.toml").write_text(text)
    mf = load_model_file(tmp_path / "m.toml")
    back = FitOptions.from_model_file(mf)
    assert (back.engine, back.scheduler) == ("dask", "tcp://host:8786")
    assert FitOptions.from_model_file(mf, engine="duckdb").engine == "duckdb"
    with pytest.raises(SpecError, match="engine must be"):
        FitOptions.from_kwargs(engine="spark")


def test_toml_engine_needs_files_not_an_mdm(tmp_path):
    (tmp_path / "m.toml").write_text(
        f'[data]\nmdm = "x.mdmz"\nengine = "duckdb"\n[model]\nequations = "{EQUATIONS}"\n')
    with pytest.raises(CommandFileError, match="reads level1 data files"):
        load_model_file(tmp_path / "m.toml")
    (tmp_path / "m.toml").write_text(
        f'[data]\nlevel1 = "a.parquet"\nid = "id"\nengine = "polars"\n'
        f'[model]\nequations = "{EQUATIONS}"\n')
    with pytest.raises(CommandFileError, match="engine"):
        load_model_file(tmp_path / "m.toml")


def test_cli_fits_a_toml_file_out_of_core(tmp_path, capsys):
    pytest.importorskip("duckdb", reason="the scale extra (duckdb) is not installed")
    pytest.importorskip("pyarrow", reason="the scale extra (pyarrow) is not installed")
    from openhlm.cli.main import main

    l1 = pd.read_csv(dataset_path("hsb1.csv"))
    (tmp_path / "scores").mkdir()
    l1.iloc[::2].to_parquet(tmp_path / "scores" / "a.parquet", index=False)
    l1.iloc[1::2].to_parquet(tmp_path / "scores" / "b.parquet", index=False)
    pd.read_csv(dataset_path("hsb2.csv")).to_parquet(tmp_path / "schools.parquet", index=False)
    (tmp_path / "m.toml").write_text(
        '[data]\nlevel1 = "scores"\nlevel2 = "schools.parquet"\nid = "id"\nengine = "duckdb"\n'
        f'[model]\nequations = "{EQUATIONS}"\n')
    assert main(["fit", str(tmp_path / "m.toml"), "--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr()
    assert "Per-unit statistics computed by DuckDB" in out.out
    assert "7,185 rows read" in out.err
    assert main(["residuals", str(tmp_path / "m.toml"), "--res2", str(tmp_path / "r2.csv"),
                 "--res1", str(tmp_path / "r1.parquet")]) == 0
    out = capsys.readouterr()
    assert "level-1 residual file (7185 records)" in out.out
    assert "7,185 level-1 residual rows written" in out.err
    assert len(pd.read_parquet(tmp_path / "r1.parquet")) == 7185
    assert len(pd.read_csv(tmp_path / "r2.csv")) == 160
    assert main(["residuals", str(tmp_path / "m.toml"), "--res1", str(tmp_path / "r1.sav")]) != 0
    assert "sav needs the whole table in memory" in capsys.readouterr().err


def test_cli_example_out_of_core_equals_the_in_memory_example(tmp_path, capsys):
    """`openhlm fit --example hsb-model4 --engine duckdb` (the scale extra's one-line start)
    fits the bundled example from Parquet copies: the same numbers as the in-memory run."""
    import json

    from openhlm.cli.main import main

    memory, duck = tmp_path / "memory.json", tmp_path / "duck.json"
    assert main(["fit", "--example", "hsb-model4", "--json", str(memory), "-o",
                 str(tmp_path / "m.txt")]) == 0
    assert main(["fit", "--example", "hsb-model4", "--engine", "duckdb", "--json", str(duck),
                 "-o", str(tmp_path / "d.txt")]) == 0
    a, b = json.loads(memory.read_text()), json.loads(duck.read_text())
    assert b["deviance"] == pytest.approx(a["deviance"], rel=1e-12)
    for ra, rb in zip(a["fixed_effects"], b["fixed_effects"], strict=True):
        assert rb["estimate"] == pytest.approx(ra["estimate"], rel=1e-9)
        assert rb["se"] == pytest.approx(ra["se"], rel=1e-9)
    assert "computed by DuckDB (out of core)" in (tmp_path / "d.txt").read_text()
