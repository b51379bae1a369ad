"""Helpers shared by the out-of-core tests: split data files and the comparison of two fits."""

from __future__ import annotations

import numpy as np
import pandas as pd


def write_split(frame: pd.DataFrame, folder, stem: str, parts: int = 3, fmt: str = "parquet",
                seed: int = 1) -> str:
    """``frame`` shuffled and dealt into ``parts`` files; returns their glob."""
    shuffled = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    for i in range(parts):
        piece = shuffled.iloc[i::parts]
        target = folder / f"{stem}{i}.{fmt}"
        if fmt == "parquet":
            piece.to_parquet(target, index=False)
        else:
            piece.to_csv(target, index=False)
    return str(folder / f"{stem}*.{fmt}")


def assert_same(a, b, *, rel_dev: float = 1e-9, rel: float = 1e-8) -> None:
    """Two fits of the same model and rows agree: the deviance to ``rel_dev`` relative, every
    estimate and standard error to ``rel``."""
    assert abs(a.deviance - b.deviance) <= rel_dev * abs(a.deviance)
    assert a.n_level1 == b.n_level1 and a.n_level2 == b.n_level2
    assert a.data.deleted_level1_rows == b.data.deleted_level1_rows
    np.testing.assert_allclose(b.sigma2, a.sigma2, rtol=rel)
    np.testing.assert_allclose(b.tau, a.tau, rtol=rel, atol=rel * np.abs(a.tau).max())
    for x, y in zip(a.fixed.rows, b.fixed.rows, strict=True):
        assert x.gamma == y.gamma
        np.testing.assert_allclose(y.estimate, x.estimate, rtol=rel, atol=rel * abs(x.se))
        np.testing.assert_allclose(y.se, x.se, rtol=rel)
        np.testing.assert_allclose(y.robust_se, x.robust_se, rtol=rel)
    np.testing.assert_allclose(b.sigma2_se, a.sigma2_se, rtol=1e-7)
    for ra, rb in zip(a.variance.rows, b.variance.rows, strict=True):
        if ra.chi2 is not None:
            np.testing.assert_allclose(rb.chi2, ra.chi2, rtol=1e-7)
    ols_a, ols_b = a.level1_ols, b.level1_ols      # the "first units" table
    assert ols_a.unit_ids == ols_b.unit_ids and ols_a.units_used == ols_b.units_used
    np.testing.assert_allclose(ols_b.coefficients, ols_a.coefficients, rtol=1e-7, atol=1e-9)
    for k in a.reliability:
        np.testing.assert_allclose(b.reliability[k], a.reliability[k], rtol=1e-8)
