"""Benchmark ``make reproduce`` against its floor, stage by stage.

``reproduce`` (what ``make reproduce`` runs after installation) is timed in a fresh
subprocess writing into a temporary folder: the total wall time from the interpreter's
start, each stage (simulate, replication table, the notebooks' wall time, index) and each
notebook, and the peak memory of the whole process tree (the command and the kernels it
starts), sampled every 50 ms with psutil, and the CPU time of the tree (user + system, this
process and the kernels it waited for): on a machine shared with other jobs the wall time
grows with their load, the CPU time much less, so the CPU ratio is the steadier one.

The floor, measured the same way in another fresh process: six notebooks whose only cell
imports the stack (numpy, pandas, scipy, statsmodels, lifelines, matplotlib, seaborn and
winback_study), executed by nbclient two at a time, as ``reproduce`` does. Nothing can run a
notebook faster than it can start a kernel and import what every notebook imports. Run:

    .venv/bin/python benchmarks/bench_reproduce.py [--seed 20150701] [--repeat 1] [--jobs 2]

Goal (issue 14): ``make reproduce`` in at most 2x its floor. Nothing is asserted: the
numbers are printed, side by side with the ratio.
"""

from __future__ import annotations

import argparse
import os
import tempfile

from _child import run_child  # benchmarks/_child.py, beside this script

#: samples the RSS of this process and all its descendants (the notebook kernels) in a
#: thread; ``peak_mib()`` is the largest sum seen
MONITOR = r"""
import threading, time
import psutil

_me = psutil.Process()
_peak = [0]

def _tree_rss():
    total = 0
    for p in [_me, *_me.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:  # a kernel that just exited
            pass
    return total

def _watch():
    while True:
        _peak[0] = max(_peak[0], _tree_rss())
        time.sleep(0.05)

threading.Thread(target=_watch, daemon=True).start()

def peak_mib():
    _peak[0] = max(_peak[0], _tree_rss())
    return _peak[0] / 2**20

def cpu_seconds():
    import resource
    return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
               resource.getrusage(resource.RUSAGE_CHILDREN)))
"""

REPRODUCE = r"""
import json, sys, time
t0 = time.perf_counter()
""" + MONITOR + r"""
from winback_study.reporting.reproduce import reproduce
res = reproduce(out=sys.argv[1], seed=int(sys.argv[2]), progress=False,
                jobs=int(sys.argv[3]) or None)
total = time.perf_counter() - t0
print(json.dumps({"seconds": total, "peak_mib": peak_mib(), "cpu": cpu_seconds(),
                  "timings": res.timings,
                  "notebooks_wall": res.notebooks_wall, "jobs": res.jobs, "wall": res.wall,
                  "status": res.table["status"].value_counts().to_dict()}))
"""

FLOOR = r"""
import json, sys, time
t0 = time.perf_counter()
""" + MONITOR + r"""
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
import nbformat
from winback_study.reporting.notebook_runner import execute_notebook

folder, jobs = Path(sys.argv[1]), int(sys.argv[2])
source = ("import numpy, pandas, scipy, statsmodels.api, lifelines, matplotlib.pyplot, "
          "seaborn\nimport winback_study")
books = []
for i in range(6):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    books.append(folder / f"{i + 1:02d}_imports_only.ipynb")
    nbformat.write(nb, books[-1])
t1 = time.perf_counter()
with ThreadPoolExecutor(max_workers=jobs) as pool:
    list(pool.map(lambda p: execute_notebook(p, folder / "out" / p.name), books))
notebooks = time.perf_counter() - t1
print(json.dumps({"seconds": time.perf_counter() - t0, "notebooks_wall": notebooks,
                  "peak_mib": peak_mib(), "cpu": cpu_seconds()}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=20150701)
    ap.add_argument("--jobs", type=int, default=2, help="notebooks at once (as reproduce)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs of each; the fastest is reported (default 1)")
    args = ap.parse_args()

    runs, floors = [], []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            floors.append(run_child(FLOOR, tmp, args.jobs))
        with tempfile.TemporaryDirectory() as tmp:
            runs.append(run_child(REPRODUCE, os.path.join(tmp, "reports"), args.seed,
                                  args.jobs))
    run = min(runs, key=lambda r: r["seconds"])
    floor = min(floors, key=lambda r: r["seconds"])

    load = os.getloadavg()
    print(f"make reproduce (seed {args.seed}, {run['jobs']} notebooks at a time, "
          f"{os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
          f"best of {args.repeat})")
    print(f"status: {run['status']}\n")
    t = run["timings"]
    books = {k: v for k, v in t.items()
             if k not in ("simulate", "replication table", "index")}
    rows = [("simulate", t["simulate"]), ("replication table", t["replication table"])]
    rows += [(f"  notebook {k}", v) for k, v in books.items()]
    rows += [(f"notebooks ({run['jobs']} at a time, wall)", run["notebooks_wall"]),
             ("index", t["index"])]
    # the notebooks run alongside simulate and the replication table: what is left of the
    # total once reproduce() returns is the interpreter's start and the imports
    reproduce_wall = run.get("wall") or (sum(v for k, v in t.items() if k not in books)
                                         + run["notebooks_wall"])
    width = max(len(r[0]) for r in rows) + 2
    print(f"{'stage':<{width}}{'time':>9}")
    for name, sec in rows:
        print(f"{name:<{width}}{sec:>8.1f}s")
    print(f"{'reproduce(), all stages':<{width}}"
          f"{reproduce_wall:>8.1f}s")
    print(f"{'startup and imports':<{width}}{run['seconds'] - reproduce_wall:>8.1f}s\n")

    print(f"{'':<22}{'reproduce':>12}{'floor':>10}{'ratio':>8}")
    print(f"{'total time':<22}{run['seconds']:>11.1f}s{floor['seconds']:>9.1f}s"
          f"{run['seconds'] / floor['seconds']:>7.2f}x")
    print(f"{'notebooks (wall)':<22}{run['notebooks_wall']:>11.1f}s"
          f"{floor['notebooks_wall']:>9.1f}s"
          f"{run['notebooks_wall'] / floor['notebooks_wall']:>7.2f}x")
    print(f"{'CPU time (tree)':<22}{run['cpu']:>11.1f}s{floor['cpu']:>9.1f}s"
          f"{run['cpu'] / floor['cpu']:>7.2f}x")
    print(f"{'peak memory (tree)':<22}{run['peak_mib']:>8,.0f} MiB{floor['peak_mib']:>6,.0f} MiB"
          f"{run['peak_mib'] / floor['peak_mib']:>7.2f}x")
    print("\nfloor: six notebooks that only import numpy, pandas, scipy, statsmodels, "
          "lifelines, matplotlib, seaborn and winback_study, run by nbclient "
          f"{args.jobs} at a time (no HTML rendering: a strict floor)")


if __name__ == "__main__":
    main()
