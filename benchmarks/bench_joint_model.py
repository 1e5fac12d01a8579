"""Benchmark the joint model: wall time and peak memory, beside the two-step fits.

For each size (number of lapsed customers) two cases run in fresh subprocesses, so that
each peak RSS is its own:

* ``two-step``: the peer, :func:`winback_study.fit_selection` on every customer, then
  :func:`winback_study.fit_second_lifetime` (Weibull AFT) and
  :func:`winback_study.fit_second_profit` with that probit's control function;
* ``joint``: :func:`winback_study.fit_joint_model` (which fits the two-step models itself
  for its starting values, then maximises the joint likelihood and computes its Hessian).

The study table is simulated once per size in the parent and written to a temporary
Parquet file; each child reads it. Timing covers fitting only, not simulating or reading.
Peak memory is ``ru_maxrss`` of the child; ``data MiB`` is the peak after reading the
table. The last lines give the scaling exponent of each case between consecutive sizes
(``log(t2 / t1) / log(n2 / n1)``; 1 is linear). Goals: 53,000 customers in 10 s or less,
1,000,000 in 3 minutes or less and under 4 GB, on 2 cores. Run::

    .venv/bin/python benchmarks/bench_joint_model.py [--sizes 53000 1000000]
        [--lifetime-model weibull] [--timeout 900]
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
from pathlib import Path

from _child import run_child  # benchmarks/_child.py, beside this script

CHILD = r"""
import json, resource, sys, time
import pandas as pd
import winback_study as wb

path, mode, model = sys.argv[1], sys.argv[2], sys.argv[3]
df = pd.read_parquet(path)
data_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t0 = time.perf_counter()
extra = {}
if mode == "two-step":
    sel = wb.fit_selection(df)
    life = wb.fit_second_lifetime(df, model="weibull", selection=sel)
    prof = wb.fit_second_profit(df, selection=sel)
    rows = sel.nobs
else:
    res = wb.fit_joint_model(df, lifetime_model=model)
    rows = res.nobs
    extra = {"iterations": res.n_iterations, "returners": res.n_returners}
dt = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB (Linux: KiB)
print(json.dumps({"seconds": dt, "peak_mib": peak, "data_mib": data_peak, "rows": rows,
                  **extra}))
"""

MODES = ("two-step", "joint")


def run(path: Path, mode: str, model: str, timeout: float) -> dict:
    """Run one case in a subprocess; ``{"timeout": True}`` if it exceeds ``timeout`` s."""
    return run_child(CHILD, path, mode, model, timeout=timeout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[53_000, 1_000_000],
                    help="lapsed customers per case")
    ap.add_argument("--lifetime-model", default="weibull", choices=["weibull", "lognormal"])
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per case")
    args = ap.parse_args()
    print(f"{'customers':>10} {'case':>9} {'seconds':>8} {'peak MiB':>9} {'data MiB':>9} "
          f"{'vs two-step':>11} {'iterations':>10}")
    times: dict[str, list[tuple[int, float]]] = {m: [] for m in MODES}
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "study.parquet"
            subprocess.run(
                [sys.executable, "-c", "import sys; from winback_study import simulate_study; "
                 "d = simulate_study(int(sys.argv[1]), seed=1); d.to_parquet(sys.argv[2])",
                 str(size), str(path)], check=True)
            base = None
            for mode in MODES:
                r = run(path, mode, args.lifetime_model, args.timeout)
                if r.get("timeout"):
                    print(f"{size:>10,} {mode:>9} {'> ' + str(int(args.timeout)):>8}"
                          "  (timed out)", flush=True)
                    continue
                if mode == "two-step":
                    base = r["seconds"]
                times[mode].append((size, r["seconds"]))
                ratio = f"{r['seconds'] / base:.2f}x" if base else "-"
                print(f"{r['rows']:>10,} {mode:>9} {r['seconds']:>8.1f} {r['peak_mib']:>9.0f} "
                      f"{r['data_mib']:>9.0f} {ratio:>11} {r.get('iterations', '-'):>10}",
                      flush=True)
    for mode, pts in times.items():
        for (n1, t1), (n2, t2) in zip(pts, pts[1:], strict=False):
            print(f"scaling exponent, {mode}, {n1:,} -> {n2:,}: "
                  f"{math.log(t2 / t1) / math.log(n2 / n1):.2f}")


if __name__ == "__main__":
    main()
