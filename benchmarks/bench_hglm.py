"""HGLM benchmark (not a timed test): a Bernoulli random-slope model on 200,000 rows in 2,000
units by Laplace, and the Contraception random-intercept model (Laplace, AGQ, PQL).

    PYTHONPATH=src python benchmarks/bench_hglm.py [--rows 200000] [--units 2000] [--r]

``--r`` also times lme4::glmer on the same data (needs Rscript with lme4), ``--mixedlm``
statsmodels' BinomialBayesMixedGLM.fit_map (its Laplace-type posterior mode; statsmodels has no
maximum-likelihood binomial mixed model).
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import openhlm

HERE = Path(__file__).resolve().parent
CONTRA = HERE.parent / "tests" / "reference" / "crosscheck" / "glmm" / "contraception.csv"


def simulate(rows: int, units: int, seed: int = 2026) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.sort(rng.integers(0, units, rows))
    x = rng.normal(size=rows)
    w = rng.normal(size=units)
    u0 = rng.normal(scale=0.8, size=units)
    u1 = rng.normal(scale=0.4, size=units)
    eta = -0.5 + 0.3 * w[g] + (0.6 + u1[g]) * x + u0[g]
    y = (rng.random(rows) < 1 / (1 + np.exp(-eta))).astype(int)
    return pd.DataFrame({"g": g, "y": y, "x": x, "w": w[g]})


def best_of(fn, repeat: int = 3) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--units", type=int, default=2_000)
    ap.add_argument("--r", action="store_true")
    ap.add_argument("--mixedlm", action="store_true")
    a = ap.parse_args()

    contra = pd.read_csv(CONTRA)
    model = "use = B0 + B1*age + B2*urban; B0 = G00 + G01*durban + U0; B1 = G10; B2 = G20"
    mdm = openhlm.MDM.from_tables(contra, None, id="district")
    for method, extra in (("laplace", {}), ("agq", {"quadrature_points": 10}), ("pql", {})):
        t, res = best_of(lambda: openhlm.fit(model, mdm, distribution="bernoulli",
                                             method=method, **extra), 5)
        print(f"Contraception {method:8s} {t * 1000:8.1f} ms  deviance {res.deviance}")

    df = simulate(a.rows, a.units)
    mdm = openhlm.MDM.from_tables(df, None, id="g")
    big = "y = B0 + B1*x; B0 = G00 + G01*w + U0; B1 = G10 + U1"
    t, res = best_of(lambda: openhlm.fit(big, mdm, distribution="bernoulli",
                                         method="laplace"), 1)
    print(f"simulated {a.rows} rows / {a.units} units, random slope, Laplace: {t:.2f} s "
          f"(deviance {res.deviance:.4f})")
    if a.r:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "d.csv"
            df.to_csv(path, index=False)
            script = (
                "suppressPackageStartupMessages(library(lme4));"
                f"d <- read.csv('{path}');"
                "t <- system.time(f <- glmer(y ~ x + w + (x | g), data = d, family = binomial,"
                " control = glmerControl(optimizer = 'bobyqa')));"
                "cat(sprintf('glmer Laplace: %.2f s (deviance %.4f)\\n', t[['elapsed']],"
                " -2 * as.numeric(logLik(f))))")
            print(subprocess.run(["Rscript", "-e", script], capture_output=True,
                                 text=True).stdout.strip())
    if a.mixedlm:
        from statsmodels.genmod.bayes_mixed_glm import BinomialBayesMixedGLM
        t0 = time.perf_counter()
        m = BinomialBayesMixedGLM.from_formula("y ~ x + w", {"g": "0 + C(g)", "gx": "0 + C(g):x"},
                                               df)
        m.fit_map()
        print(f"statsmodels BinomialBayesMixedGLM.fit_map (Laplace MAP): "
              f"{time.perf_counter() - t0:.2f} s")


if __name__ == "__main__":
    main()
