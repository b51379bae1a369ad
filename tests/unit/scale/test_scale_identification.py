"""Out-of-core fits refuse what the data cannot identify, as in-memory fits do (the checks are
decided from the per-unit moments: :func:`openhlm.scale.design.check_identified_from_moments`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import openhlm
from openhlm.errors import DataError, EstimationError

pytest.importorskip("duckdb")

MODEL = "y = B0 + B1*x + R; B0 = G00 + U0; B1 = G10"


def _frame(seed: int = 3, J: int = 20, n: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    unit = np.repeat(np.arange(J), n)
    x = rng.normal(size=J * n)
    y = 1e6 + rng.normal(size=J)[unit] + 0.5 * x + rng.normal(size=J * n)
    return pd.DataFrame({"id": unit, "x": x, "y": y})


def _fit(frame: pd.DataFrame, tmp_path, model: str = MODEL):
    path = tmp_path / "rows.csv"
    frame.to_csv(path, index=False)
    return openhlm.fit(model, str(path), id="id", engine="duckdb", quiet=True)


def test_offset_data_are_fitted_like_memory(tmp_path):
    frame = _frame()
    out = _fit(frame, tmp_path)
    mem = openhlm.fit(MODEL, frame, id="id")
    assert out.converged
    assert out.deviance == pytest.approx(mem.deviance, rel=1e-9)


def test_outcome_constant_within_every_unit_is_refused(tmp_path):
    frame = _frame()
    frame["y"] = 1e6 + frame["id"].astype(float)
    with pytest.raises(DataError, match="constant within every level-2 unit"):
        _fit(frame, tmp_path)


def test_constant_outcome_is_refused(tmp_path):
    frame = _frame()
    frame["y"] = 3.0
    with pytest.raises(DataError, match="is constant"):
        _fit(frame, tmp_path)


def test_one_record_per_unit_is_refused(tmp_path):
    frame = _frame(n=1)
    with pytest.raises(EstimationError, match="only one level-1 record"):
        _fit(frame, tmp_path)


def test_collinear_predictors_are_refused(tmp_path):
    frame = _frame()
    frame["z"] = 2.0 * frame["x"] + 1.0
    with pytest.raises(EstimationError, match="not identified"):
        _fit(frame, tmp_path, "y = B0 + B1*x + B2*z + R; B0 = G00 + U0; B1 = G10; B2 = G20")
