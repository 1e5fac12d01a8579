"""Benchmark ``winback-study analyze`` on a large file in the study's own columns.

For each size a CSV of simulated customers (the columns a user's file in the study's names
would have) is written once to ``--workdir``, then ``analyze`` runs on it in a fresh
subprocess, with ``--out``, so the time and the peak memory (RSS) are those of one command
from file to report. Each stage's time is printed (read and validate, each analysis, the
written files), and beside the total the floor: the same file read with pyarrow and the
return probit fitted by statsmodels on the same covariates, in another fresh process. Run:

    .venv/bin/python benchmarks/bench_analyze.py [--sizes 2000000 10000000]

Goal (issue 12): 10,000,000 rows in at most 120 s and 6 GB on 2 cores.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from _child import run_child  # benchmarks/_child.py, beside this script

#: the columns of a user's file that already uses the study's names
COLUMNS = ["customer_id", "reacquired", "first_tenure_months", "first_monthly_margin",
           "second_tenure_months", "second_churned", "second_monthly_margin",
           "defection_reason", "offer", "referrals", "complaints", "complaints_resolved",
           "months_since_defection"]

MAKE = r"""
import sys
import pyarrow as pa, pyarrow.csv as pv
from winback_study import simulate_study
n, path, cols = int(sys.argv[1]), sys.argv[2], sys.argv[3].split(",")
chunk = 2_000_000
with pv.CSVWriter(path, pa.Table.from_pandas(
        simulate_study(10, seed=1)[cols].astype({"defection_reason": str, "offer": str}),
        preserve_index=False).schema) as out:
    for i, start in enumerate(range(0, n, chunk)):
        df = simulate_study(min(chunk, n - start), seed=1000 + i)[cols]
        df["customer_id"] += start
        df = df.astype({"defection_reason": str, "offer": str})
        out.write_table(pa.Table.from_pandas(df, preserve_index=False))
"""

ANALYZE = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from winback_study.reporting import analyze as an

def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

peaks = {}

def watched(name, f):
    def run(state):
        try:
            return f(state)
        finally:
            peaks[name] = peak()
    return run

for name, f in list(an.REGISTRY.items()):
    an.REGISTRY[name] = watched(name, f)
def read_and_peak(read):
    def run(*a, **k):
        out = read(*a, **k)
        peaks["read and validate"] = peak()
        return out
    return run

# a file read with the identity mapping goes through _from_raw, a mapped one read_user_data
an.read_user_data = read_and_peak(an.read_user_data)
an._from_raw = read_and_peak(an._from_raw)
res = an.analyze(sys.argv[1], out=sys.argv[2], progress=False)
total = time.perf_counter() - t0
peaks["targets.csv and report.html"] = peak()
print(json.dumps({"seconds": total, "peak_mib": peak(), "stages": res.timings,
                  "peaks": peaks, "skipped": res.skipped}))
"""

FLOOR = r"""
import json, resource, sys, time
t0 = time.perf_counter()
import pyarrow.csv as pv
import statsmodels.formula.api as smf
df = pv.read_csv(sys.argv[1]).to_pandas()
read = time.perf_counter() - t0
smf.probit("reacquired ~ referrals + complaints + complaints_resolved + first_tenure_months"
           " + first_monthly_margin + months_since_defection + defection_reason + offer",
           df).fit(disp=0)
total = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": total, "read": read, "peak_mib": peak}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[2_000_000, 10_000_000])
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()),
                    help="where the input files are written once and kept")
    args = ap.parse_args()
    rows = []
    for n in args.sizes:
        src = args.workdir / f"bench_analyze_{n}.csv"
        if not src.exists():
            print(f"writing {src} ...", flush=True)
            subprocess.run([sys.executable, "-c", MAKE, str(n), str(src), ",".join(COLUMNS)],
                           check=True)
        with tempfile.TemporaryDirectory() as out:
            run = run_child(ANALYZE, str(src), out)
        floor = run_child(FLOOR, str(src))
        rows.append((n, run, floor))
        print(f"\n{n:,} rows ({src.stat().st_size / 2**20:,.0f} MiB CSV)")
        for stage, seconds in run["stages"].items():
            after = run.get("peaks", {}).get(stage)
            print(f"  {stage:<34}{seconds:>8.1f} s" + (
                f"   peak so far {after:>7,.0f} MiB" if after else ""))
        for name, why in run["skipped"].items():
            print(f"  skipped {name}: {why[:80]}")
    print(f"\n{'rows':>12} {'analyze s':>10} {'peak MiB':>9} {'floor s':>8} {'floor MiB':>10}"
          f" {'ratio':>6}")
    for n, run, floor in rows:
        print(f"{n:>12,} {run['seconds']:>10.1f} {run['peak_mib']:>9,.0f} "
              f"{floor['seconds']:>8.1f} {floor['peak_mib']:>10,.0f} "
              f"{run['seconds'] / floor['seconds']:>5.1f}x")
    print("floor: read the CSV with pyarrow + statsmodels' probit on the same covariates")
    print("goal: 10,000,000 rows in <= 120 s and <= 6 GB (6,144 MiB) on 2 cores")


if __name__ == "__main__":
    main()
