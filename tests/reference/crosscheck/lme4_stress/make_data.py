"""Simulated stress data for the lme4 cross-check (fixed seeds; numpy only).

``python tests/reference/crosscheck/lme4_stress/make_data.py`` writes ``data/<case>.csv`` for every
small case and ``big_200k.csv`` (not committed: 200,000 rows, rebuilt from its seed by the tests
and by this script before ``make_reference.R`` runs).  Every case is a one-file data set with
the unit ID ``g``; level-2 variables are constant within units.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
BIG = HERE / "big_200k.csv"   # git-ignored


def _frame(g: np.ndarray, **cols: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"g": g + 1, **cols})


def singular_tau(rng: np.random.Generator) -> pd.DataFrame:
    """A random slope whose true variance is 0 (T singular at the optimum)."""
    J, n = 40, 15
    g = np.repeat(np.arange(J), n)
    x = rng.normal(size=J * n)
    y = 2 + 0.5 * x + rng.normal(size=J)[g] + rng.normal(size=J * n)
    return _frame(g, x=x, y=y)


def _correlated(rng: np.random.Generator, ratio: float) -> pd.DataFrame:
    J, n = 60, 12
    g = np.repeat(np.arange(J), n)
    x = rng.normal(size=J * n)
    u0 = rng.normal(size=J)
    y = 1 + 0.3 * x + u0[g] + ratio * u0[g] * x + 0.5 * rng.normal(size=J * n)
    return _frame(g, x=x, y=y)


def corr_plus1(rng: np.random.Generator) -> pd.DataFrame:
    """Intercept and slope perfectly correlated (+1) in the simulation."""
    return _correlated(rng, 0.5)


def corr_minus1(rng: np.random.Generator) -> pd.DataFrame:
    """Intercept and slope perfectly correlated (-1) in the simulation."""
    return _correlated(rng, -0.3)


def tau4x4(rng: np.random.Generator) -> pd.DataFrame:
    """Four random coefficients (intercept, x1, x2, x3), a level-2 predictor w."""
    J, n = 80, 25
    g = np.repeat(np.arange(J), n)
    X = rng.normal(size=(J * n, 3))
    L = np.array([[1.0, 0, 0, 0], [0.3, 0.6, 0, 0], [-0.2, 0.1, 0.4, 0], [0.1, -0.2, 0.1, 0.3]])
    u = rng.normal(size=(J, 4)) @ L.T
    w = rng.normal(size=J)
    y = (1 + 0.5 * w[g] + u[g, 0] + (0.4 + u[g, 1]) * X[:, 0] + (-0.3 + u[g, 2]) * X[:, 1]
         + (0.2 + u[g, 3]) * X[:, 2] + rng.normal(size=J * n))
    return _frame(g, x1=X[:, 0], x2=X[:, 1], x3=X[:, 2], w=w[g], y=y)


def sizes_1_500(rng: np.random.Generator) -> pd.DataFrame:
    """20 units of 1 record, 20 of 2-10 and 10 of 500, random intercept and slope."""
    sizes = np.concatenate([np.ones(20, int), rng.integers(2, 11, size=20), np.full(10, 500)])
    rng.shuffle(sizes)
    g = np.repeat(np.arange(sizes.size), sizes)
    x = rng.normal(size=g.size)
    u = rng.normal(size=(sizes.size, 2)) * [1.0, 0.4]
    y = 5 + u[g, 0] + (1 + u[g, 1]) * x + 2 * rng.normal(size=g.size)
    return _frame(g, x=x, y=y)


def calendar_year(rng: np.random.Generator) -> pd.DataFrame:
    """An uncentred calendar year (1990-2019) with a random slope: 50 units of 15-35 rows."""
    sizes = rng.integers(15, 36, size=50)
    g = np.repeat(np.arange(50), sizes)
    year = rng.integers(1990, 2020, size=g.size).astype(float)
    u = rng.normal(size=(50, 2)) * [1.0, 0.05]
    u[:, 1] += 0.1 * u[:, 0] * 0.05
    y = 10 + u[g, 0] + (0.05 + u[g, 1]) * (year - 2005) + rng.normal(size=g.size)
    return _frame(g, year=year, y=y)


def offset_1e7(rng: np.random.Generator) -> pd.DataFrame:
    """Random intercept, 30 units x 10 rows, outcome stored as 1e7 + points."""
    J, n = 30, 10
    g = np.repeat(np.arange(J), n)
    y = 1e7 + 0.8 * rng.normal(size=J)[g] + rng.normal(size=J * n)
    return _frame(g, y=y)


def offset_1e6_slope(rng: np.random.Generator) -> pd.DataFrame:
    """Random intercept and slope, outcome 1e6 + points."""
    J, n = 40, 12
    g = np.repeat(np.arange(J), n)
    x = rng.normal(size=J * n)
    u = rng.normal(size=(J, 2)) * [1.0, 0.5]
    y = 1e6 + u[g, 0] + (0.7 + u[g, 1]) * x + rng.normal(size=J * n)
    return _frame(g, x=x, y=y)


def scales_mixed(rng: np.random.Generator) -> pd.DataFrame:
    """One predictor on a 1e6 scale (random slope), one on a 1e-3 scale (fixed)."""
    J, n = 50, 16
    g = np.repeat(np.arange(J), n)
    big = 1e6 * rng.normal(size=J * n)
    small = 1e-3 * rng.normal(size=J * n)
    u = rng.normal(size=(J, 2)) * [1.0, 3e-7]
    y = 3 + u[g, 0] + (4e-7 + u[g, 1]) * big + 800 * small + rng.normal(size=J * n)
    return _frame(g, big=big, small=small, y=y)


def big_200k(rng: np.random.Generator) -> pd.DataFrame:
    """200,000 rows in 5,000 units of 40, random intercept and slope, a level-2 w."""
    J, n = 5000, 40
    g = np.repeat(np.arange(J), n)
    x = rng.normal(size=J * n)
    w = rng.normal(size=J)
    u = rng.normal(size=(J, 2)) * [1.0, 0.3]
    y = 2 + 0.5 * w[g] + u[g, 0] + (1 + 0.2 * w[g] + u[g, 1]) * x + rng.normal(size=J * n)
    return _frame(g, x=x, w=w[g], y=y)


#: case -> (generator, seed)
CASES: dict[str, tuple[Callable[[np.random.Generator], pd.DataFrame], int]] = {
    "singular_tau": (singular_tau, 101),
    "corr_plus1": (corr_plus1, 102),
    "corr_minus1": (corr_minus1, 103),
    "tau4x4": (tau4x4, 104),
    "sizes_1_500": (sizes_1_500, 105),
    "calendar_year": (calendar_year, 106),
    "offset_1e7": (offset_1e7, 107),
    "offset_1e6_slope": (offset_1e6_slope, 108),
    "scales_mixed": (scales_mixed, 109),
    "big_200k": (big_200k, 110),
}


def simulate(case: str) -> pd.DataFrame:
    """The data of a simulated case, from its fixed seed."""
    make, seed = CASES[case]
    return make(np.random.default_rng(seed))


def checksum(frame: pd.DataFrame) -> float:
    """A number the R script records, to check that a regenerated data set is the same."""
    return float(np.round(frame["y"].to_numpy(dtype=float).sum(), 6))


def main() -> int:
    DATA.mkdir(exist_ok=True)
    for case in CASES:
        frame = simulate(case)
        path = BIG if case == "big_200k" else DATA / f"{case}.csv"
        frame.to_csv(path, index=False, float_format="%.17g")
        print(f"{path.relative_to(HERE)}: {len(frame)} rows, checksum {checksum(frame)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
