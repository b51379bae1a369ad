"""Benchmark three-level models (HLM3): openhlm against lme4 and statsmodels MixedLM.

Run from the repository root::

    python benchmarks/bench_three_level.py            # egsingle growth model + 1,000,000 rows
    python benchmarks/bench_three_level.py --quick    # egsingle only
    python benchmarks/bench_three_level.py --no-lme4 --no-mixedlm

Every peer is timed in the same run on the same machine.  lme4 fits
``(year | schoolid:childid) + (year | schoolid)``; MixedLM has no nested random slopes with a
covariance, so it fits the closest it can (schools: random intercept and slope; children:
independent intercept and slope variance components) on egsingle only.  Timings include the
model set-up from an in-memory data frame, not reading files.  A script, not a test.
"""

from __future__ import annotations

import os

# small dense algebra: threaded BLAS only adds synchronisation (set before numpy loads)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import openhlm

ROOT = Path(__file__).resolve().parents[1]
GROWTH = """math = P0 + P1*year + E
P0 = B00 + R0
P1 = B10 + R1
B00 = G000 + G001*lowinc + U00
B10 = G100 + G101*lowinc + U10"""
SIM = """y = P0 + P1*t + E
P0 = B00 + B01*x + R0
P1 = B10 + R1
B00 = G000 + G001*w + U00
B10 = G100 + U10"""


def simulate(n_records: int = 1_000_000, n_schools: int = 1000, per_child: int = 10,
             seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n_children = n_records // per_child
    school = np.sort(rng.integers(0, n_schools, n_children))
    child = np.repeat(np.arange(n_children), per_child)
    t = np.tile(np.arange(per_child) - (per_child - 1) / 2, n_children)
    w = rng.normal(size=n_schools)
    x = rng.integers(0, 2, n_children).astype(float)
    u = rng.normal(size=(n_schools, 2)) * [0.5, 0.2]
    r = rng.normal(size=(n_children, 2)) * [1.0, 0.3]
    s = school[child]
    y = (1 + 0.4 * w[s] + u[s, 0] + 0.5 * x[child] + r[child, 0]
         + (0.3 + u[s, 1] + r[child, 1]) * t + rng.normal(size=len(child)))
    return pd.DataFrame({"school": s, "child": child, "t": t, "y": y, "x": x[child],
                         "w": w[s]})


def time_openhlm(model: str, data: pd.DataFrame, ids: tuple[str, str], l1, l2, l3,
                 repeats: int) -> tuple[float, float]:
    times, dev = [], np.nan
    for _ in range(repeats):
        start = time.perf_counter()
        mdm = openhlm.build_mdm(data, id=ids, level1_variables=l1, level2_variables=l2,
                                level3_variables=l3)
        res = openhlm.fit(model, mdm)
        times.append(time.perf_counter() - start)
        dev = res.deviance
    return float(np.median(times)), float(dev)


def time_lme4(data: pd.DataFrame, formula: str, repeats: int) -> tuple[float, float] | None:
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "d.csv"
        data.to_csv(csv, index=False)
        script = f"""
suppressPackageStartupMessages(library(lme4))
d <- read.csv("{csv}")
ts <- c(); dev <- NA
for (i in seq_len({repeats})) {{
  t0 <- proc.time()[["elapsed"]]
  f <- lmer({formula}, data = d, REML = TRUE)
  ts <- c(ts, proc.time()[["elapsed"]] - t0); dev <- REMLcrit(f)
}}
cat(jsonlite::toJSON(list(time = median(ts), deviance = dev), digits = NA, auto_unbox = TRUE))
"""
        out = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True,
                             check=False, timeout=7200)
        if out.returncode:
            print(out.stderr, file=sys.stderr)
            return None
        got = json.loads(out.stdout.strip().splitlines()[-1])
        return float(got["time"]), float(got["deviance"])


def time_mixedlm(data: pd.DataFrame, repeats: int) -> tuple[float, float] | None:
    import statsmodels.formula.api as smf

    times, dev = [], np.nan
    for _ in range(repeats):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = smf.mixedlm("math ~ year * lowinc", data, groups="schoolid",
                                re_formula="~year",
                                vc_formula={"child": "0 + C(childid)",
                                            "child_year": "0 + C(childid):year"})
            res = model.fit(reml=True)
        times.append(time.perf_counter() - start)
        dev = -2 * res.llf
    return float(np.median(times)), float(dev)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-lme4", action="store_true")
    parser.add_argument("--no-mixedlm", action="store_true")
    args = parser.parse_args()
    eg = pd.read_csv(ROOT / "tests" / "reference" / "data" / "egsingle.csv")
    rows = []
    t, dev = time_openhlm(GROWTH, eg, ("childid", "schoolid"), ["year", "math"], ["female"],
                          ["lowinc"], 5)
    rows.append(("egsingle growth (7,230 / 1,721 / 60)", "openhlm", t, dev))
    if not args.no_lme4:
        got = time_lme4(eg, "math ~ year * lowinc + (year | schoolid:childid) + "
                            "(year | schoolid)", 5)
        if got:
            rows.append(("egsingle growth (7,230 / 1,721 / 60)", "lme4", *got))
    if not args.no_mixedlm:
        got = time_mixedlm(eg, 1)
        if got:
            rows.append(("egsingle growth (7,230 / 1,721 / 60)", "MixedLM (approx. model)",
                         *got))
    if not args.quick:
        sim = simulate()
        t, dev = time_openhlm(SIM, sim, ("child", "school"), ["t", "y"], ["x"], ["w"], 1)
        rows.append(("simulated (1,000,000 / 100,000 / 1,000)", "openhlm", t, dev))
        if not args.no_lme4:
            got = time_lme4(sim, "y ~ t + x + w + (t | school:child) + (t | school)", 1)
            if got:
                rows.append(("simulated (1,000,000 / 100,000 / 1,000)", "lme4", *got))
    print(f"{'data':<42}{'software':<26}{'seconds':>10}{'REML deviance':>18}")
    for name, who, t, dev in rows:
        print(f"{name:<42}{who:<26}{t:10.3f}{dev:18.4f}")


if __name__ == "__main__":
    main()
