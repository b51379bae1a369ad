"""Out-of-core fits with level-1 weights and in HLM mode: what the extra pass costs
(docs/scale.md, "Level-1 and precision weights", "HLM mode").

Run from the repository root::

    python benchmarks/bench_scale_weights.py                   # 10,000,000 rows, 100,000 units
    python benchmarks/bench_scale_weights.py --rows 100000000  # the issue's 100M rows

Writes a simulated Parquet data set in chunks (every unit's rows spread over all the files;
columns unit, x, y, a level-1 design weight d and a precision weight p), then fits
y = B0 + B1*x + R; B0 = G00 + G01*z + U0; B1 = G10 + U1, each fit in a fresh process (wall
time and peak memory, ``VmHWM``; the fastest of ``--repeat`` runs, since the machine may be
shared):

* DuckDB unweighted (1 pass), with ``level1_weight="d"`` and with both weights (2 passes), and
  unweighted in ``mode="hlm"``;
* Dask on a LocalCluster of 2 single-threaded worker processes (6 GB each), weighted (1 pass);
* the deviance of every weighted fit against the others (they must agree).

A script, not a test: timings never gate CI.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

MODEL = "y = B0 + B1*x + R; B0 = G00 + G01*z + U0; B1 = G10 + U1"

FITS = {
    "duckdb": {"engine": "duckdb"},
    "duckdb-d": {"engine": "duckdb", "level1_weight": "d"},
    "duckdb-dp": {"engine": "duckdb", "level1_weight": "d", "precision_weight": "p"},
    "duckdb-hlm": {"engine": "duckdb", "mode": "hlm"},
    "dask-dp": {"engine": "dask", "level1_weight": "d", "precision_weight": "p"},
}


def simulate(folder: Path, rows: int, units: int, chunk: int, seed: int = 20261205) -> None:
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
        y = (50.0 + 2.0 * z[unit] + u0[unit] + (1.5 + u1[unit]) * x
             + rng.normal(scale=3.0, size=n))
        pq.write_table(pa.table({"unit": unit, "x": x, "y": y,
                                 "d": rng.uniform(0.2, 3.0, n), "p": rng.uniform(0.5, 2.0, n)}),
                       folder / "level1" / f"part{k:04d}.parquet", row_group_size=1 << 20)
        done += n
        k += 1


def peak_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(folder: str, name: str) -> None:
    import openhlm

    data, level2 = str(Path(folder) / "level1" / "*.parquet"), str(Path(folder) / "level2.parquet")
    kw = FITS[name]
    t0 = time.perf_counter()
    if kw["engine"] == "dask":
        from distributed import Client, LocalCluster

        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                          dashboard_address=":0", memory_limit="6GB") as cluster, \
                Client(cluster):
            t0 = time.perf_counter()
            res = openhlm.fit(MODEL, data, id="unit", level2=level2, quiet=True, **kw)
    else:
        res = openhlm.fit(MODEL, data, id="unit", level2=level2, quiet=True, **kw)
    print("RESULT " + json.dumps({
        "seconds": time.perf_counter() - t0, "peak_mb": peak_mb(), "deviance": res.deviance,
        "iterations": res.estimates.iterations,
        "passes": res.estimates.design.passes}))  # type: ignore[attr-defined]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--units", type=int, default=None, help="default: rows / 100")
    ap.add_argument("--chunk", type=int, default=10_000_000)
    ap.add_argument("--dir", default=None)
    ap.add_argument("--repeat", type=int, default=3, help="runs per fit; the fastest is shown")
    ap.add_argument("--fits", nargs="+", default=list(FITS), choices=list(FITS))
    ap.add_argument("--child", nargs=2, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    units = args.units or max(args.rows // 100, 2)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.dir or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / "level1").exists():
            t0 = time.perf_counter()
            simulate(folder, args.rows, units, args.chunk)
            print(f"wrote {args.rows:,} rows, {units:,} units in {time.perf_counter() - t0:.1f} s")
        out = {}
        for name in args.fits:
            runs = []
            for _ in range(args.repeat):
                proc = subprocess.run([sys.executable, __file__, "--child", str(folder), name],
                                      capture_output=True, text=True, check=False)
                line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")),
                            None)
                if line is None:
                    print(f"{name}: failed\n{proc.stderr[-2000:]}")
                    break
                runs.append(json.loads(line[7:]))
            if not runs:
                continue
            out[name] = r = min(runs, key=lambda x: x["seconds"])   # the least disturbed run
            print(f"{name:11s} {r['seconds']:7.2f} s  {r['peak_mb']:7.0f} MB  passes "
                  f"{r['passes']}  iterations {r['iterations']:3d}  deviance {r['deviance']:.6f}")
        if "duckdb" in out and "duckdb-dp" in out:
            print(f"weighted / unweighted DuckDB time: "
                  f"{out['duckdb-dp']['seconds'] / out['duckdb']['seconds']:.2f}x")
        if "duckdb-dp" in out and "dask-dp" in out:
            a, b = out["duckdb-dp"]["deviance"], out["dask-dp"]["deviance"]
            print(f"weighted deviance, DuckDB vs Dask: relative difference {abs(a - b) / a:.1e}")


if __name__ == "__main__":
    main()
