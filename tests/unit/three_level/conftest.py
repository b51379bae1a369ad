from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

DATA = Path(__file__).resolve().parents[2] / "reference" / "data" / "egsingle.csv"


@pytest.fixture(scope="session")
def egsingle() -> pd.DataFrame:
    return pd.read_csv(DATA, dtype={"childid": str})


@pytest.fixture(scope="session")
def eg_mdm(egsingle):
    from openhlm.data.mdm3 import build_mdm3

    return build_mdm3(egsingle, id=("childid", "schoolid"),
                      level1_variables=["year", "grade", "math", "retained"],
                      level2_variables=["female", "black", "hispanic"],
                      level3_variables=["size", "lowinc", "mobility"])


def simulate(n3: int = 12, n2: int = 6, n1: int = 4, seed: int = 1) -> pd.DataFrame:
    """A small unbalanced three-level data set with random intercepts and slopes."""
    rng = np.random.default_rng(seed)
    rows = []
    child = 0
    for k in range(n3):
        w = rng.normal()
        u = rng.normal(scale=[0.7, 0.3])
        for _ in range(rng.integers(2, n2 + 1)):
            child += 1
            x2 = rng.integers(0, 2)
            r = rng.normal(scale=[1.0, 0.4])
            for _ in range(rng.integers(1, n1 + 1)):
                t = rng.normal()
                y = (1 + 0.5 * w + u[0] + 0.8 * x2 + r[0] + (0.5 + 0.2 * w + u[1] + r[1]) * t
                     + rng.normal(scale=0.8))
                rows.append((k + 100, f"c{child}", t, y, x2, w))
    return pd.DataFrame(rows, columns=["school", "child", "t", "y", "x2", "w"])
