"""Benchmark simulating and scoring a whole customer base as partitioned Parquet (Dask).

For each size, in fresh subprocesses, with the time and the peak memory of the whole
process tree (the sum of the RSS of the process and its children, sampled every 0.1 s):

1. ``simulate``: ``simulate_dataset`` (what ``winback-study simulate --out DIR`` runs);
2. ``score``: ``fit_at_scale`` then ``score_dataset`` (what ``winback-study score`` runs),
   on Dask's local threads;
3. the floors beside them: the same number of random draws written as the same Parquet
   partitions (simulate), and the columns scoring reads, read with pyarrow, with a table of
   the scores' shape written back (score): the I/O and random numbers no simulator or
   scorer can do without.

It then prints the scaling exponent between the two sizes (``log(t2/t1) / log(n2/n1)``: 1 is
linear), checks that partition 0's scores equal :func:`score_customers` on its rows in
memory, and prints the mean predicted return of each arm's customers against the arm's
response rate. Run:

    .venv/bin/python benchmarks/bench_scale.py [--sizes 10000000 100000000] [--workdir DIR]

Goals (issue 16): 100,000,000 customers simulated and scored in at most 10 minutes each on
2 cores, each below 4 GB; Dask equal to in-memory to 1e-12; predicted return per arm within
1 percentage point of the arm's response rate.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil  # a dependency of distributed

PARTITION = 1_000_000

SIMULATE = r"""
import json, sys, time
from winback_study.scale.dataset import simulate_dataset
n, out, size = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
t = time.perf_counter()
simulate_dataset(out, n, seed=1, partition_size=size)
print(json.dumps({"seconds": time.perf_counter() - t}))
"""

SIMULATE_FLOOR = r"""
import json, sys, time
import numpy as np, pyarrow as pa, pyarrow.parquet as pq
from pathlib import Path
n, out, size, cols = int(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
t = time.perf_counter()
out.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(1)
for k, start in enumerate(range(0, n, size)):
    m = min(size, n - start)
    table = pa.table({f"c{j}": rng.standard_normal(m) for j in range(cols)})
    pq.write_table(table, out / f"part-{k:05d}.parquet")
print(json.dumps({"seconds": time.perf_counter() - t}))
"""

SCORE = r"""
import json, sys, time
import numpy as np, pandas as pd
from winback_study.analysis.scoring import score_customers
from winback_study.scale.fit import fit_at_scale
from winback_study.scale.score import score_dataset
base, out = sys.argv[1], sys.argv[2]
t = time.perf_counter()
models = fit_at_scale(base, sample=200_000, seed=0)
fit = time.perf_counter() - t
summary = score_dataset(base, out, models, progress=False)
total = time.perf_counter() - t
first = sorted(p for p in __import__("pathlib").Path(base).glob("part-*.parquet"))[0]
rows = pd.read_parquet(first)
mine = score_customers(rows, models)
got = pd.read_parquet(sorted(__import__("pathlib").Path(out).glob("part-*.parquet"))[0])
num = [c for c in mine.columns if c != "best_arm"]
diff = float(np.max(np.abs(got[num].to_numpy() - mine[num].to_numpy())))
same_best = bool((got["best_arm"].astype(str).to_numpy() == mine["best_arm"].astype(str).to_numpy()).all())
print(json.dumps({"seconds": total, "fit_seconds": fit, "score_seconds": summary.seconds,
                  "max_abs_diff_partition0": diff, "same_best_arm": same_best,
                  "calibration": summary.calibration.reset_index().to_dict("records"),
                  "return_model": models.info["return_model"],
                  "customers": summary.customers}))
"""

SCORE_FLOOR = r"""
import json, sys, time
import numpy as np, pyarrow as pa, pyarrow.parquet as pq
from pathlib import Path
base, out, cols = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3].split(",")
out.mkdir(parents=True, exist_ok=True)
t = time.perf_counter()
for k, f in enumerate(sorted(base.glob("part-*.parquet"))):
    table = pq.read_table(f, columns=cols)
    x = table.column("first_monthly_margin").to_numpy()
    # 16 float columns of real-valued (incompressible) numbers, as many as the scores have
    pq.write_table(pa.table({f"s{j}": x * (1.0 + j / 7.0) for j in range(16)}),
                   out / f"part-{k:05d}.parquet")
print(json.dumps({"seconds": time.perf_counter() - t}))
"""

#: columns scoring reads (the models' covariates, the id, the observed arm and outcome)
SCORE_COLUMNS = ["customer_id", "referrals", "complaints", "complaints_resolved",
                 "defection_reason", "first_tenure_months", "first_monthly_margin",
                 "months_since_defection", "offer", "reacquired"]


def measured(code: str, *args: object) -> dict:
    """Run ``python -c code args``; its JSON line plus wall time and peak tree RSS (GB)."""
    proc = subprocess.Popen([sys.executable, "-c", code, *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        root = psutil.Process(proc.pid)
        while not done.is_set():
            try:
                tree = [root, *root.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
            except psutil.Error:
                pass
            time.sleep(0.1)

    began = time.perf_counter()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - began
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"benchmark child failed:\n{err[-3000:]}")
    res = json.loads(out.strip().splitlines()[-1])
    res.update(wall=wall, peak_gb=peak / 1e9)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000_000, 100_000_000])
    ap.add_argument("--partition-size", type=int, default=PARTITION)
    ap.add_argument("--workdir", default=None, help="where the datasets go (default a temp dir)")
    args = ap.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_scale_"))
    work.mkdir(parents=True, exist_ok=True)
    load = psutil.getloadavg()[0]
    print(f"machine: {psutil.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
          f"load {load:.2f} before the run; partitions of {args.partition_size:,}")
    rows = []
    for n in args.sizes:
        base, floor = work / f"base_{n}", work / f"floor_{n}"
        sim = measured(SIMULATE, n, base, args.partition_size)
        simf = measured(SIMULATE_FLOOR, n, floor, args.partition_size, 23)
        shutil.rmtree(floor, ignore_errors=True)
        sc = measured(SCORE, base, work / f"scores_{n}")
        scf = measured(SCORE_FLOOR, base, floor, ",".join(SCORE_COLUMNS))
        shutil.rmtree(floor, ignore_errors=True)
        rows.append((n, sim, simf, sc, scf))
        print(f"\n{n:,} customers")
        print(f"  {'':10} {'time s':>9} {'peak GB':>8} {'floor s':>8} {'floor GB':>9} "
              f"{'x floor':>8}")
        for name, r, f in (("simulate", sim, simf), ("score", sc, scf)):
            print(f"  {name:10} {r['wall']:9.1f} {r['peak_gb']:8.2f} {f['wall']:8.1f} "
                  f"{f['peak_gb']:9.2f} {r['wall'] / f['wall']:8.2f}")
        print(f"  score = fit {sc['fit_seconds']:.1f} s ({sc['return_model']}) + scoring "
              f"{sc['score_seconds']:.1f} s; partition 0 against score_customers in memory: "
              f"max |diff| {sc['max_abs_diff_partition0']:.1e}, same best arm "
              f"{sc['same_best_arm']}")
        print("  mean predicted return of each arm's customers against its response rate:")
        for c in sc["calibration"]:
            print(f"    {c['arm']:10} {c['response_rate']:6.2f}% observed, "
                  f"{c['mean_predicted']:6.2f}% predicted ({c['difference_pp']:+.2f} pp)")
        shutil.rmtree(work / f"scores_{n}", ignore_errors=True)
        shutil.rmtree(base, ignore_errors=True)
    if len(rows) >= 2:
        (n1, s1, _, c1, _), (n2, s2, _, c2, _) = rows[0], rows[-1]
        k = math.log(n2 / n1)
        print(f"\nscaling exponent {n1:,} -> {n2:,} (1 = linear): simulate "
              f"{math.log(s2['wall'] / s1['wall']) / k:.2f}, score "
              f"{math.log(c2['wall'] / c1['wall']) / k:.2f}")
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
