"""Benchmark the second-lifetime fits: wall time and peak memory against lifelines directly.

For each size (number of *reacquired* customers) and model (Cox, Weibull AFT), three cases
run in fresh subprocesses, so that each peak RSS is its own:

* ``lifelines``: ``CoxPHFitter`` / ``WeibullAFTFitter`` fitted directly on the reacquired
  rows with the same formula (the floor);
* ``wrapper``: :func:`winback_study.fit_second_lifetime` (checks, row selection, result);
* ``corrected`` (with ``--corrected``): the same with ``selection=True``, which adds
  the return probit on *every* lapsed customer (about 2.7 per reacquired one).

The study table is simulated once per size in the parent and written to a temporary
Parquet file; each child reads it. Timing covers selecting the reacquired rows and fitting,
not simulating or reading. Peak memory is ``ru_maxrss`` of the child; ``data MiB`` is the
peak after reading the table, so ``peak - data`` is what the fit added. Run::

    .venv/bin/python benchmarks/bench_second_lifetime.py [--sizes 100000 1000000]
        [--models cox weibull] [--corrected] [--timeout 900]
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
from pathlib import Path

from _child import run_child  # benchmarks/_child.py, beside this script

#: Share of lapsed customers who are reacquired in the simulation (about 37.5%).
REACQUIRED_SHARE = 0.375

CHILD = r"""
import json, resource, sys, time
import pandas as pd
from winback_study.models.second_lifetime import DEFAULT_DURATION_FORMULA, fit_second_lifetime

path, model, mode = sys.argv[1], sys.argv[2], sys.argv[3]
df = pd.read_parquet(path)
data_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t0 = time.perf_counter()
if mode == "lifelines":
    from lifelines import CoxPHFitter, WeibullAFTFitter
    back = df[df["reacquired"] == 1]
    fitter = {"cox": CoxPHFitter, "weibull": WeibullAFTFitter}[model]()
    fitter.fit(back, "second_tenure_months", "second_churned",
               formula=DEFAULT_DURATION_FORMULA)
    rows = len(back)
else:
    res = fit_second_lifetime(df, model=model, selection=(mode == "corrected"))
    rows = res.nobs
dt = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB (Linux: KiB)
print(json.dumps({"seconds": dt, "peak_mib": peak, "data_mib": data_peak, "rows": rows}))
"""


def run(path: Path, model: str, mode: str, timeout: float) -> dict:
    """Run one case in a subprocess; ``{"timeout": True}`` if it exceeds ``timeout`` s."""
    return run_child(CHILD, path, model, mode, timeout=timeout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000],
                    help="reacquired customers per case")
    ap.add_argument("--models", nargs="+", default=["cox", "weibull"],
                    choices=["cox", "weibull"])
    ap.add_argument("--corrected", action="store_true",
                    help="also time the selection-corrected fit (adds the probit)")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per case")
    args = ap.parse_args()
    modes = ["lifelines", "wrapper"] + (["corrected"] if args.corrected else [])
    print(f"{'reacquired':>11} {'model':>8} {'case':>10} {'seconds':>8} {'peak MiB':>9} "
          f"{'data MiB':>9} {'vs lifelines':>12}")
    for size in args.sizes:
        n_customers = math.ceil(size / REACQUIRED_SHARE)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "study.parquet"
            subprocess.run(
                [sys.executable, "-c", "import sys; from winback_study import simulate_study; "
                 "d = simulate_study(int(sys.argv[1]), seed=1); "
                 "d.to_parquet(sys.argv[2])",
                 str(n_customers), str(path)], check=True)
            run_size(size, path, args.models, modes, args.timeout)


def run_size(size: int, path: Path, models: list[str], modes: list[str], timeout: float) -> None:
    """Every model and case for one size."""
    for model in models:
        base = None
        for mode in modes:
            r = run(path, model, mode, timeout)
            if r.get("timeout"):
                print(f"{size:>11,} {model:>8} {mode:>10} {'> ' + str(int(timeout)):>8}"
                      "  (timed out)", flush=True)
                continue
            if mode == "lifelines":
                base = r["seconds"]
            ratio = f"{r['seconds'] / base:.2f}x" if base else "-"
            print(f"{r['rows']:>11,} {model:>8} {mode:>10} {r['seconds']:>8.1f} "
                  f"{r['peak_mib']:>9.0f} {r['data_mib']:>9.0f} {ratio:>12}", flush=True)


if __name__ == "__main__":
    main()
