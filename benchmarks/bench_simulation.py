"""Benchmark the study simulator: wall time and peak memory against a numpy floor.

For each size, the simulator is timed in a fresh subprocess (so peak RSS is its own), and
beside it the time numpy takes just to draw the same number of random variates the
simulator draws (the floor: ~14 variates per customer). Run:

    .venv/bin/python benchmarks/bench_simulation.py [--sizes 53000 1000000 10000000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

VARIATES_PER_CUSTOMER = 14  # reason, plan, margin, tenure, referrals, complaints, resolved,
# defection month, gap, permutation, loyalty, return error, second tenure, second margin

CHILD = r"""
import json, resource, sys, time
import numpy as np
from winback_study import simulate_study
n = int(sys.argv[1]); mode = sys.argv[2]
t0 = time.perf_counter()
if mode == "simulate":
    df = simulate_study(n, seed=1)
    rows = len(df)
else:
    rng = np.random.default_rng(1)
    k = int(sys.argv[3])
    chunk = 1_000_000
    for i in range(0, n * k, chunk):
        rng.standard_normal(min(chunk, n * k - i))
    rows = n
dt = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB (Linux: KiB)
print(json.dumps({"seconds": dt, "peak_mib": peak, "rows": rows}))
"""


def run(n: int, mode: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(n), mode, str(VARIATES_PER_CUSTOMER)],
        capture_output=True, text=True, check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[53_000, 1_000_000, 10_000_000])
    args = ap.parse_args()
    print(f"{'customers':>12} {'simulate s':>11} {'peak MiB':>9} {'floor s':>8} {'ratio':>6}")
    for n in args.sizes:
        sim = run(n, "simulate")
        floor = run(n, "floor")
        print(f"{n:>12,} {sim['seconds']:>11.2f} {sim['peak_mib']:>9.0f} "
              f"{floor['seconds']:>8.2f} {sim['seconds'] / floor['seconds']:>6.1f}x")
    print("target: 10,000,000 customers in <= 30 s, < 4 GB, within 3x of the floor")


if __name__ == "__main__":
    main()
