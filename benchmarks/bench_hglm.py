"""HGLM benchmark (not a timed test): a Bernoulli random-slope model on 200,000 rows in 2,000
units by Laplace, and the Contraception random-intercept model (Laplace, AGQ, PQL).

    PYTHONPATH=src python benchmarks/bench_hglm.py [--rows 200000] [--units 2000] [--r]
        [--mixedlm] [--repeat 5]

Times are medians of ``--repeat`` runs (Contraception: 5x as many), with openhlm and
``mixedlm`` (pip ``mixedlm``: lme4's glmer in Python with a Rust backend, Laplace) interleaved
run by run in one process, so both see the same load on a shared machine.  ``--r`` also times
lme4::glmer (Rscript with lme4; bobyqa for both stages) on the same
data, medians inside R.
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


def interleaved(fns: dict, repeat: int) -> dict:
    """Median seconds of each function, the functions run in turn ``repeat`` times."""
    times: dict = {k: [] for k in fns}
    out: dict = {}
    for _ in range(repeat):
        for k, fn in fns.items():
            t = time.perf_counter()
            out[k] = fn()
            times[k].append(time.perf_counter() - t)
    return {k: (float(np.median(v)), out[k]) for k, v in times.items()}


def glmer_r(path: Path, formula: str, repeat: int) -> str:
    script = (
        "suppressPackageStartupMessages(library(lme4));"
        f"d <- read.csv('{path}');"
        f"ts <- replicate({repeat}, system.time(f <<- glmer({formula}, data = d,"
        " family = binomial, control = glmerControl(optimizer = 'bobyqa')))[['elapsed']]);"
        "cat(sprintf('%.4f %.6f', median(ts), -2 * as.numeric(logLik(f))))")
    out = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True,
                         check=False)
    return out.stdout.strip() or out.stderr.strip()[-300:]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--units", type=int, default=2_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--r", action="store_true")
    ap.add_argument("--mixedlm", action="store_true")
    a = ap.parse_args()
    mixedlm = None
    if a.mixedlm:
        import mixedlm

    contra = pd.read_csv(CONTRA)
    model = "use = B0 + B1*age + B2*urban; B0 = G00 + G01*durban + U0; B1 = G10; B2 = G20"
    mdm = openhlm.MDM.from_tables(contra, None, id="district")
    for method, extra in (("agq", {"quadrature_points": 10}), ("pql", {})):
        t, _ = interleaved({"o": lambda m=method, x=extra: openhlm.fit(  # type: ignore[misc]
            model, mdm, distribution="bernoulli", method=m, **x)}, 5 * a.repeat)["o"]
        print(f"Contraception {method:8s} openhlm {t * 1000:8.1f} ms")
    fns = {"openhlm": lambda: openhlm.fit(model, mdm, distribution="bernoulli",
                                          method="laplace")}
    if mixedlm is not None:
        fam = mixedlm.families.Binomial()
        fns["mixedlm"] = lambda: mixedlm.glmer("use ~ age + urban + durban + (1|district)",
                                               contra, family=fam)
    fns["openhlm"]()
    times = interleaved(fns, 5 * a.repeat)
    base = times["openhlm"][0]
    print(f"Contraception laplace  openhlm {base * 1000:8.1f} ms  deviance "
          f"{times['openhlm'][1].deviance:.10f}")
    if "mixedlm" in times:
        t, r = times["mixedlm"]
        print(f"Contraception laplace  mixedlm {t * 1000:8.1f} ms  deviance "
              f"{float(r.deviance):.10f}  ({t / base:.1f}x openhlm)")
    if a.r:
        tr, dev = glmer_r(CONTRA, "use ~ age + urban + durban + (1 | district)",
                          5 * a.repeat).split()[:2]
        print(f"Contraception laplace  glmer   {float(tr) * 1000:8.1f} ms  deviance {dev}  "
              f"({float(tr) / base:.1f}x openhlm)")

    df = simulate(a.rows, a.units)
    mdm = openhlm.MDM.from_tables(df, None, id="g")
    big = "y = B0 + B1*x; B0 = G00 + G01*w + U0; B1 = G10 + U1"
    fns = {"openhlm": lambda: openhlm.fit(big, mdm, distribution="bernoulli",
                                          method="laplace")}
    if mixedlm is not None:
        fns["mixedlm"] = lambda: mixedlm.glmer("y ~ x + w + (x | g)", df, family=fam)
    times = interleaved(fns, a.repeat)
    base = times["openhlm"][0]
    print(f"simulated {a.rows} rows / {a.units} units, random slope, Laplace: openhlm "
          f"{base:.3f} s (deviance {times['openhlm'][1].deviance:.6f})")
    if "mixedlm" in times:
        t, r = times["mixedlm"]
        print(f"  mixedlm {t:.3f} s (deviance {float(r.deviance):.6f}; {t / base:.1f}x openhlm)")
    if a.r:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "d.csv"
            df.to_csv(path, index=False)
            out = glmer_r(path, "y ~ x + w + (x | g)", 1).split()
        try:
            print(f"  glmer {float(out[0]):.2f} s (deviance {out[1]}; "
                  f"{float(out[0]) / base:.0f}x openhlm)")
        except (IndexError, ValueError):
            print("  glmer failed:", " ".join(out))


if __name__ == "__main__":
    main()
