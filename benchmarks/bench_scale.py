"""Out-of-core (DuckDB) and distributed (Dask) fits of a simulated data set (docs/scale.md).

Run from the repository root::

    python benchmarks/bench_scale.py                      # 100,000,000 rows, 1,000,000 units
    python benchmarks/bench_scale.py --rows 10000000      # 10M rows (100 per unit)
    python benchmarks/bench_scale.py --no-dask --no-peers # DuckDB only

Writes the data set in chunks (one Parquet file per chunk; every unit's rows are spread over
all the files, the worst case for merging) into a temporary folder, then fits the
2-random-effect model

    y = B0 + B1*x + R;  B0 = G00 + G01*z + U0;  B1 = G10 + U1

* with ``engine="duckdb"`` (out of core) in a fresh process: wall time and the process's peak
  resident memory (``VmHWM``; ``ru_maxrss`` where there is no /proc);
* with ``engine="dask"`` on a ``LocalCluster`` of 1 and then 2 single-threaded worker processes
  (wall time; scaling 1 -> 2 workers);
* for comparison, the first ``--memory-rows`` (1,000,000) rows fitted in memory (``engine="memory"``) and by DuckDB,
  checking they agree, and statsmodels MixedLM and lme4 (when R is installed) on a
  ``--peer-rows`` subset.

Targets (issue 17, on a 2-core machine): 100M rows out of core in under 60 s with peak memory
under 2 GB.  A script, not a test: timings never gate CI.  Prints the figures and ratios, and
``--json FILE`` writes them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

MODEL = "y = B0 + B1*x + R; B0 = G00 + G01*z + U0; B1 = G10 + U1"


def simulate(folder: Path, rows: int, units: int, chunk: int, seed: int = 20261205) -> None:
    """Write ``rows`` rows in files of ``chunk`` rows, and the level-2 table."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    z = rng.normal(size=units)
    u0 = rng.normal(scale=1.0, size=units)
    u1 = rng.normal(scale=0.4, size=units)
    pq.write_table(pa.table({"unit": np.arange(units, dtype=np.int64), "z": z}),
                   folder / "level2.parquet")
    (folder / "level1").mkdir(exist_ok=True)
    done, k = 0, 0
    while done < rows:
        n = min(chunk, rows - done)
        unit = rng.integers(0, units, n)
        x = rng.normal(size=n)
        y = 50.0 + 2.0 * z[unit] + u0[unit] + (1.5 + u1[unit]) * x + rng.normal(scale=3.0,
                                                                               size=n)
        pq.write_table(pa.table({"unit": unit, "x": x, "y": y}),
                       folder / "level1" / f"part{k:04d}.parquet", row_group_size=1 << 20)
        done += n
        k += 1


def _warm() -> None:
    import dask.dataframe  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    import openhlm.scale.partial  # noqa: F401


def peak_mb() -> float:
    """This process's peak resident memory: VmHWM on Linux (``ru_maxrss`` of a child started
    by vfork also holds the parent's high-water mark: 1.17 GB for an empty child of a 1.2 GB
    parent), ``ru_maxrss`` elsewhere."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(args: argparse.Namespace) -> None:
    """One fit in this (fresh) process; prints a JSON line with time, memory and estimates."""
    import openhlm

    data = str(Path(args.dir) / "level1" / "*.parquet")
    level2 = str(Path(args.dir) / "level2.parquet")
    t0 = time.perf_counter()
    info: dict = {}
    if args.child == "duckdb":
        res = openhlm.fit(MODEL, data, id="unit", level2=level2, engine="duckdb", quiet=True)
    elif args.child == "dask":
        from distributed import Client, LocalCluster

        with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                          dashboard_address=":0", memory_limit="3GB") as cluster, \
                Client(cluster) as client:
            client.run(_warm)       # workers import openhlm and the readers before the clock
            t0 = time.perf_counter()
            res = openhlm.fit(MODEL, data, id="unit", level2=level2, engine="dask", quiet=True)
            seconds = time.perf_counter() - t0
            if args.residuals:
                _time_residuals(args, res, info)
    elif args.child in ("memory", "duckdb-subset"):
        import pandas as pd

        sub = Path(args.dir) / "subset.parquet"      # written by the parent (first units)
        if args.child == "memory":
            t0 = time.perf_counter()
            frame = pd.read_parquet(sub)
            l2 = pd.read_parquet(level2)
            res = openhlm.fit(MODEL, frame, id="unit", level2=l2)
        else:
            t0 = time.perf_counter()
            res = openhlm.fit(MODEL, str(sub), id="unit", level2=level2, engine="duckdb",
                              quiet=True)
    else:
        raise SystemExit(f"unknown child {args.child}")
    if args.child != "dask":
        seconds = time.perf_counter() - t0
    if args.residuals and args.child == "duckdb":
        _time_residuals(args, res, info)
    info.update(seconds=seconds,
                peak_mb=peak_mb(),
                deviance=res.deviance, sigma2=res.sigma2, tau=np.asarray(res.tau).tolist(),
                gammas=[r.estimate for r in res.fixed.rows], n1=res.n_level1, n2=res.n_level2)
    print("RESULT " + json.dumps(info))


def _time_residuals(args: argparse.Namespace, res: object, info: dict) -> None:
    """The level-1 residual file: a second pass over the rows, streamed to Parquet."""
    out = Path(args.dir) / f"res1-{args.child}.parquet"
    info["fit_peak_mb"] = peak_mb()   # before the second pass
    t1 = time.perf_counter()
    res.write_residuals(level1=out)  # type: ignore[attr-defined]
    info.update(residual_pass_s=time.perf_counter() - t1, residual_mb=out.stat().st_size / 1e6)
    out.unlink()


def first_units(args: argparse.Namespace, rows: int):
    """The rows of the first units, about ``rows`` of them (units keep their size)."""
    import pyarrow.dataset as ds

    keep = max(int(args.units * rows / args.rows), 2)
    data = ds.dataset(str(Path(args.dir) / "level1"), format="parquet")
    return data.to_table(filter=ds.field("unit") < keep).to_pandas()


def run_child(args: argparse.Namespace, what: str, **extra: object) -> dict | None:
    cmd = [sys.executable, __file__, "--child", what, "--dir", str(args.dir),
           "--memory-rows", str(args.memory_rows), "--rows", str(args.rows),
           "--units", str(args.units)] + (["--residuals"] if args.residuals else [])
    for k, v in extra.items():
        cmd += [f"--{k.replace('_', '-')}", str(v)]
    env = dict(os.environ)
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    print(f"  {what} failed:", (out.stderr.strip().splitlines() or ["?"])[-1])
    return None


def peers(args: argparse.Namespace) -> dict:
    """statsmodels MixedLM and lme4 on the first ``--peer-rows`` rows (in memory)."""
    import pandas as pd

    frame = first_units(args, args.peer_rows)
    frame = frame.merge(pd.read_parquet(Path(args.dir) / "level2.parquet"), on="unit")
    out: dict = {"rows": len(frame)}
    import openhlm

    t0 = time.perf_counter()
    openhlm.fit(MODEL, frame[["unit", "x", "y", "z"]], id="unit")
    out["openhlm_memory_s"] = time.perf_counter() - t0
    try:
        import warnings

        import statsmodels.formula.api as smf

        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            smf.mixedlm("y ~ x + z", frame, groups=frame["unit"], re_formula="~x").fit(reml=True)
        out["statsmodels_s"] = time.perf_counter() - t0
    except ImportError:
        pass
    if shutil.which("Rscript") and not args.no_lme4:
        with tempfile.TemporaryDirectory() as tmp:
            csv = Path(tmp) / "peer.csv"
            frame.to_csv(csv, index=False)
            code = (f"suppressMessages(library(lme4)); d <- read.csv('{csv}'); "
                    "t <- system.time(m <- lmer(y ~ x + z + (x | unit), d, REML = TRUE))"
                    "[['elapsed']]; cat('LME4', t, '\\n')")
            res = subprocess.run(["Rscript", "-e", code], capture_output=True, text=True,
                                 check=False)
            for line in res.stdout.splitlines():
                if line.startswith("LME4"):
                    out["lme4_s"] = float(line.split()[1])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000_000)
    ap.add_argument("--units", type=int, default=None, help="default: rows / 100")
    ap.add_argument("--chunk", type=int, default=10_000_000, help="rows per Parquet file")
    ap.add_argument("--dir", default=None, help="keep the data here (default: a temp folder)")
    ap.add_argument("--memory-rows", type=int, default=1_000_000)
    ap.add_argument("--peer-rows", type=int, default=10_000)
    ap.add_argument("--no-dask", action="store_true")
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--no-lme4", action="store_true")
    ap.add_argument("--residuals", action="store_true",
                    help="also time the streamed level-1 residual file (a second pass)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    units = args.units = args.units or max(args.rows // 100, 1)
    tmp = None
    if args.dir is None:
        tmp = tempfile.mkdtemp(prefix="openhlm-scale-")
        args.dir = tmp
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)     # --dir may name a folder not made yet
    figures: dict = {"rows": args.rows, "units": units, "cores": os.cpu_count()}
    try:
        if not (folder / "level1").exists():
            t0 = time.perf_counter()
            simulate(folder, args.rows, units, args.chunk)
            figures["write_s"] = time.perf_counter() - t0
            print(f"wrote {args.rows:,} rows in {units:,} units "
                  f"({sum(p.stat().st_size for p in (folder / 'level1').iterdir()) / 1e9:.2f} GB"
                  f" of Parquet) in {figures['write_s']:.1f} s")
        duck = run_child(args, "duckdb")
        if duck:
            figures["duckdb"] = duck
            print(f"DuckDB out of core: {duck['seconds']:7.1f} s, peak memory "
                  f"{duck['peak_mb']:7.0f} MB  (N = {duck['n1']:,}, J = {duck['n2']:,}, "
                  f"deviance {duck['deviance']:.6f})")
            if "residual_pass_s" in duck:
                print(f"  level-1 residual file (second pass, Parquet, "
                      f"{duck['residual_mb']:.0f} MB): {duck['residual_pass_s']:.1f} s")
        if not args.no_dask:
            for w in (1, 2):
                r = run_child(args, "dask", workers=w)
                if r:
                    figures[f"dask_{w}"] = r
                    print(f"Dask, {w} worker(s):  {r['seconds']:7.1f} s  "
                          f"(deviance {r['deviance']:.6f})"
                          + (f"; level-1 residual file {r['residual_pass_s']:.1f} s"
                             if "residual_pass_s" in r else ""))
            if duck and figures.get("dask_1") and figures.get("dask_2"):
                d1, d2 = figures["dask_1"], figures["dask_2"]
                print(f"  scaling 1 -> 2 workers: {d1['seconds'] / d2['seconds']:.2f}x; "
                      f"Dask vs DuckDB deviance: "
                      f"{abs(d2['deviance'] - duck['deviance']) / abs(duck['deviance']):.1e} rel.")
        sub = folder / "subset.parquet"
        if not sub.exists():
            first_units(args, args.memory_rows).to_parquet(sub, index=False)
        mem = run_child(args, "memory")
        sub = run_child(args, "duckdb-subset")
        if mem and sub:
            figures["memory_subset"], figures["duckdb_subset"] = mem, sub
            rel = abs(mem["deviance"] - sub["deviance"]) / abs(mem["deviance"])
            gam = max(abs(a - b) / max(abs(a), 1e-300) for a, b in zip(mem["gammas"],
                                                                         sub["gammas"]))
            print(f"{mem['n1']:,} rows ({mem['n2']:,} units) in memory (reading the Parquet file "
                  f"included): {mem['seconds']:.2f} s, peak "
                  f"{mem['peak_mb']:.0f} MB; the same rows by DuckDB: {sub['seconds']:.2f} s, "
                  f"peak {sub['peak_mb']:.0f} MB; deviance differs by {rel:.1e} relative, "
                  f"gammas by {gam:.1e}")
            if duck:
                per_row_mem = mem["seconds"] / mem["n1"]
                per_row_duck = duck["seconds"] / args.rows
                print(f"  time per row: DuckDB out of core / in memory = "
                      f"{per_row_duck / per_row_mem:.2f}")
        if not args.no_peers:
            p = peers(args)
            figures["peers"] = p
            line = f"peers on {p['rows']:,} rows: openhlm (memory) {p['openhlm_memory_s']:.2f} s"
            for key, name in (("statsmodels_s", "statsmodels"), ("lme4_s", "lme4")):
                if key in p:
                    line += (f", {name} {p[key]:.2f} s "
                             f"({p[key] / p['openhlm_memory_s']:.0f}x openhlm)")
            print(line)
        if args.json:
            Path(args.json).write_text(json.dumps(figures, indent=2))
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
