"""Benchmark the return model: fit_return_model against statsmodels called directly.

For each size, two fresh subprocesses simulate the same population (seed 1), keep the
columns the formula uses, and fit it: one through ``winback_study.fit_return_model``, one
with ``statsmodels.formula.api.<link>(DEFAULT_RETURN_FORMULA, data).fit(disp=0)``, the same
formula on the same data. Each reports the fit's wall time, the process's peak RSS
(``resource.getrusage``, simulation included) and the peak RSS during the fit alone (Linux:
``VmHWM`` after resetting it through ``/proc/self/clear_refs``). The direct run also splits
its time into building the design matrix (patsy) and the Newton iterations. Run:

    .venv/bin/python benchmarks/bench_return_probability.py [--sizes 1000000 10000000]
        [--link logit] [--threads 1] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys

CHILD = r"""
import gc, json, re, resource, sys, time
import numpy as np
import statsmodels.formula.api as smf
import winback_study as wb
from winback_study.core.formula import formula_columns
from winback_study.models.return_probability import DEFAULT_RETURN_FORMULA

n, mode, link, repeat = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])

def status(key):
    with open("/proc/self/status") as f:
        m = re.search(rf"^{key}:\s+(\d+) kB", f.read(), re.M)
    return int(m.group(1)) / 1024 if m else float("nan")

df = wb.simulate_study(n, seed=1)
outcome, cols = formula_columns(DEFAULT_RETURN_FORMULA)
df = df[[outcome, *cols]].copy()
gc.collect()
rss_before = status("VmRSS")
try:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak-RSS counter (VmHWM)
    reset = True
except OSError:
    reset = False
times, designs, newtons = [], [], []
for _ in range(repeat):
    t0 = time.perf_counter()
    if mode == "wrapper":
        model = wb.fit_return_model(df, link=link)
        params = model.params.to_numpy()
        t1 = float("nan")
    else:
        m = getattr(smf, link)(DEFAULT_RETURN_FORMULA, data=df)
        t1 = time.perf_counter()
        res = m.fit(disp=0)
        params = res.params.to_numpy()
    t2 = time.perf_counter()
    times.append(t2 - t0)
    designs.append(t1 - t0)
    newtons.append(t2 - t1)
    model = m = res = None
    gc.collect()
best = int(np.argmin(times))
print(json.dumps({
    "seconds": times[best], "all_seconds": times, "design_s": designs[best],
    "newton_s": newtons[best],
    "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "fit_peak_mib": status("VmHWM") if reset else float("nan"),
    "rss_before_mib": rss_before, "params": params.tolist(),
}))
"""


def run(n: int, mode: str, link: str, threads: int | None, repeat: int) -> dict:
    env = dict(os.environ)
    if threads:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(threads)
    out = subprocess.run([sys.executable, "-c", CHILD, str(n), mode, link, str(repeat)],
                         capture_output=True, text=True, env=env)
    if out.returncode != 0:
        tail = (out.stderr or "").strip().splitlines()[-3:]
        return {"error": f"exit {out.returncode}: {' | '.join(tail) or 'killed (out of memory?)'}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def fmt(values: list[float]) -> str:
    return " ".join(f"{v:.2f}" for v in values)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--link", choices=["logit", "probit"], default="logit")
    ap.add_argument("--threads", type=int, default=1,
                    help="BLAS threads per child (0 = library default)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="fits per child; the fastest is reported (all are printed)")
    args = ap.parse_args()
    print(f"link {args.link}, BLAS threads {args.threads or 'default'}, best of {args.repeat} "
          "fits per process; times are the fit only (simulation excluded)")
    print(f"{'customers':>12} {'wrapper s':>10} {'direct s':>9} {'ratio':>6} {'design s':>9} "
          f"{'newton s':>9} {'peak MiB':>9} {'fit peak':>9} {'direct fit peak':>16} {'same':>5}")
    rows = []
    for n in args.sizes:
        wrap = run(n, "wrapper", args.link, args.threads, args.repeat)
        direct = run(n, "direct", args.link, args.threads, args.repeat)
        if "error" in wrap or "error" in direct:
            print(f"{n:>12,} failed: wrapper {wrap.get('error', 'ok')}; "
                  f"direct {direct.get('error', 'ok')}")
            continue
        same = wrap["params"] == direct["params"]
        ratio = wrap["seconds"] / direct["seconds"]
        rows.append((n, wrap["seconds"], direct["seconds"]))
        print(f"{n:>12,} {wrap['seconds']:>10.2f} {direct['seconds']:>9.2f} {ratio:>5.2f}x "
              f"{direct['design_s']:>9.2f} {direct['newton_s']:>9.2f} {wrap['peak_mib']:>9.0f} "
              f"{wrap['fit_peak_mib'] - wrap['rss_before_mib']:>+9.0f} "
              f"{direct['fit_peak_mib'] - direct['rss_before_mib']:>+16.0f} {str(same):>5}")
        print(f"{'':>12} all fits (s): wrapper {fmt(wrap['all_seconds'])}; "
              f"direct {fmt(direct['all_seconds'])}")
    for (n1, w1, _), (n2, w2, _) in zip(rows, rows[1:], strict=False):
        print(f"{n1:,} -> {n2:,} customers: wrapper time x{w2 / w1:.1f} for x{n2 / n1:.0f} rows "
              f"(scaling exponent {math.log(w2 / w1) / math.log(n2 / n1):.2f}; 1 = linear)")
    print("peak MiB: whole process (simulation included); fit peak: extra RSS during the fit "
          "over the data already in memory. target: wrapper within 1.2x of direct statsmodels")


if __name__ == "__main__":
    main()
