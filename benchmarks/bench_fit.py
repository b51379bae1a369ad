"""Benchmark openhlm against statsmodels MixedLM (always) and lme4 (when R is installed).

Run from the repository root::

    python benchmarks/bench_fit.py            # HS&B Model 4 + the 1,000,000-row simulation
    python benchmarks/bench_fit.py --quick    # HS&B only
    python benchmarks/bench_fit.py --no-lme4  # skip R even if installed

Every peer is timed in the same run on the same machine and the script prints ratios, so the
figures are comparable however fast the machine is.  Targets (issue 3, on a 2-core machine):
the seed's Model 4 (REML) fitted in-process in under 20 ms median; 1,000,000 rows in 20,000
units with 2 random effects and 6 fixed effects in under 3 s including the pass over the data,
with peak memory under 1.5 GB.  This is a script, not a test: timings never gate CI.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import openhlm

MODEL4 = """mathach = B0 + B1*group(ses) + R
B0 = G00 + G01*sector + G02*meanses + U0
B1 = G10 + G11*sector + G12*meanses + U1"""

SIM_MODEL = """y = B0 + B1*x + R
B0 = G00 + G01*w1 + G02*w2 + U0
B1 = G10 + G11*w1 + G12*w2 + U1"""


def median_time(fn, repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def hsb_frame() -> pd.DataFrame:
    l1 = pd.read_csv(openhlm.datasets.path("hsb1.csv"))
    l2 = pd.read_csv(openhlm.datasets.path("hsb2.csv"))
    df = l1.merge(l2, on="id")
    df["cses"] = df["ses"] - df.groupby("id")["ses"].transform("mean")
    return df


def bench_statsmodels_hsb(df: pd.DataFrame, repeats: int) -> tuple[float, float]:
    import statsmodels.formula.api as smf

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return smf.mixedlm("mathach ~ (sector + meanses) * cses", df, groups=df["id"],
                               re_formula="~cses").fit(reml=True)

    t = median_time(run, repeats, warmup=1)
    return t, float(-2 * run().llf)


def bench_lme4(script: str, data: pd.DataFrame | None, repeats: int) -> float | None:
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.csv"
        if data is not None:
            data.to_csv(path, index=False)
        code = textwrap.dedent(script).replace("DATA", str(path)).replace("REPS", str(repeats))
        out = subprocess.run(["Rscript", "-e", code], capture_output=True, text=True,
                             timeout=3600)
    for line in out.stdout.splitlines():
        if line.startswith("MEDIAN"):
            return float(line.split()[1])
    print("  lme4 run failed:", out.stderr.strip().splitlines()[-1:] or out.stdout[-200:])
    return None


LME4_HSB = """
suppressMessages(library(lme4))
d <- read.csv("DATA"); d$id <- factor(d$id)
f <- function() lmer(mathach ~ (sector + meanses) * cses + (cses | id), d, REML = TRUE)
invisible(f()); t <- replicate(REPS, system.time(f())[["elapsed"]])
cat("MEDIAN", median(t), "\\n")
"""

LME4_SIM = """
suppressMessages(library(lme4))
d <- read.csv("DATA"); d$g <- factor(d$g)
t <- replicate(REPS, system.time(lmer(y ~ (w1 + w2) * x + (x | g), d, REML = TRUE))[["elapsed"]])
cat("MEDIAN", median(t), "\\n")
"""


def simulate(n_units: int = 20_000, n_rows: int = 1_000_000, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.sort(rng.integers(0, n_units, n_rows))
    w1 = rng.integers(0, 2, n_units).astype(float)
    w2 = rng.normal(size=n_units)
    x = rng.normal(size=n_rows)
    u0 = rng.normal(scale=1.5, size=n_units)
    u1 = rng.normal(scale=0.5, size=n_units)
    y = (10 + 1.0 * w1[g] + 2.0 * w2[g] + (2.0 - 0.5 * w1[g] + 0.3 * w2[g]) * x + u0[g]
         + u1[g] * x + rng.normal(scale=6.0, size=n_rows))
    return pd.DataFrame({"g": g, "x": x, "y": y, "w1": w1[g], "w2": w2[g]})


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="HS&B only")
    ap.add_argument("--no-lme4", action="store_true")
    ap.add_argument("--repeats", type=int, default=21)
    ap.add_argument("--json", help="write the figures to this file")
    args = ap.parse_args(argv)
    figures: dict[str, float | None] = {}

    print("HS&B Model 4, REML (7,185 rows, 160 units)")
    mdm = openhlm.datasets.hsb()
    t_open = median_time(lambda: openhlm.fit(MODEL4, mdm), args.repeats)
    res = openhlm.fit(MODEL4, mdm)
    figures["hsb_openhlm_s"] = t_open
    print(f"  openhlm      {t_open * 1e3:9.1f} ms   deviance {res.deviance:.6f}")
    df = hsb_frame()
    t_sm, dev_sm = bench_statsmodels_hsb(df, max(3, args.repeats // 7))
    figures["hsb_statsmodels_s"] = t_sm
    print(f"  statsmodels  {t_sm * 1e3:9.1f} ms   deviance {dev_sm:.6f}   "
          f"ratio {t_sm / t_open:6.1f}x")
    if not args.no_lme4:
        t_r = bench_lme4(LME4_HSB, df, 11)
        figures["hsb_lme4_s"] = t_r
        if t_r is not None:
            print(f"  lme4         {t_r * 1e3:9.1f} ms   ratio {t_r / t_open:6.1f}x")
        else:
            print("  lme4         (R not installed: skipped)")

    if not args.quick:
        print("Simulated: 1,000,000 rows, 20,000 units, 2 random effects, 6 fixed effects")
        sim = simulate()
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t = time.perf_counter()
        sim_mdm = openhlm.build_mdm(sim, id="g", level1_variables=["x", "y"],
                                    level2_variables=["w1", "w2"])
        t_mdm = time.perf_counter() - t
        t = time.perf_counter()
        sim_res = openhlm.fit(SIM_MODEL, sim_mdm)
        t_fit = time.perf_counter() - t
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        figures.update(sim_mdm_s=t_mdm, sim_fit_s=t_fit, sim_peak_rss_mb=peak_mb)
        print(f"  openhlm      MDM {t_mdm:6.2f} s + fit {t_fit:6.2f} s = {t_mdm + t_fit:6.2f} s; "
              f"peak RSS {peak_mb:7.0f} MB (process, before: {rss0 / 1024:.0f} MB)")
        print(f"               tau = {np.round(sim_res.tau, 3).tolist()}, "
              f"sigma2 = {sim_res.sigma2:.3f}")
        if not args.no_lme4:
            t_r = bench_lme4(LME4_SIM, sim, 1)
            figures["sim_lme4_s"] = t_r
            if t_r is not None:
                print(f"  lme4         {t_r:6.2f} s   ratio {t_r / (t_mdm + t_fit):6.1f}x")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
