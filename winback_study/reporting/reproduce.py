"""The one-command replication report: simulate, fit, run every notebook, write ``reports/``.

``reproduce(out="reports", seed=...)`` is what ``make reproduce`` and
``winback-study reproduce`` run. It writes, each file atomically:

* ``data/study_population.parquet``: the simulated study table (true parameters in its
  metadata);
* ``replication.csv`` and ``replication.md``: every published figure beside the replicated
  one (:mod:`winback_study.reporting.replication`);
* ``figures/``: every chart of every notebook as PNG, SVG and PDF;
* ``notebooks/``: each executed notebook and its HTML rendering;
* ``index.html``: links to all of the above.
"""

from __future__ import annotations

import html
import os
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from winback_study.core.io import atomic_path

__all__ = ["ReproduceResult", "reproduce", "write_index"]

DEFAULT_SEED = 20150701
_SERIAL_STAGES = ("simulate", "replication table", "index")
#: What each notebook takes on a warm kernel, in seconds (two kernels, the first notebook of
#: each with its kernel's start; the mean of two runs on 2 shared cores, load 3-4,
#: 2026-12-07): it only sets the order the kernels take them in (longest first), never an
#: output. A notebook missing here is started first; stale numbers only cost wall time.
NOTEBOOK_SECONDS: dict[str, float] = {
    "01_study_population": 4.7, "02_return_probability": 8.0, "03_second_lifetime": 22.1,
    "04_customer_value": 8.9, "05_offer_experiment": 10.0, "06_targeting": 18.1,
}


@dataclass
class ReproduceResult:
    """What :func:`reproduce` wrote and how long each stage took.

    ``timings`` holds each stage and each notebook (seconds); ``notebooks_wall`` the wall
    time of all notebooks (they run alongside simulating and the replication table) and
    ``wall`` that of the whole call.
    """

    out: Path
    table: pd.DataFrame
    timings: dict[str, float] = field(default_factory=dict)
    jobs: int = 1
    notebooks_wall: float | None = None
    wall: float | None = None

    def summary(self) -> str:
        """The replication table and where everything is, as text."""
        from winback_study.core.provenance import version_stamp
        from winback_study.reporting.replication import format_number, status_counts

        cols = ["id", "published", "replicated", "ci_low", "ci_high", "tolerance", "status"]
        if "estimator" in self.table.columns:
            cols.insert(-1, "estimator")
        with pd.option_context("display.width", 200, "display.max_rows", 200):
            body = self.table[cols].to_string(index=False, na_rep="", formatters={
                c: format_number for c in ("published", "replicated", "ci_low", "ci_high")})
        counts = self.table["status"].value_counts().to_dict()
        stages = {k: v for k, v in self.timings.items() if k in _SERIAL_STAGES}
        books = {k: v for k, v in self.timings.items() if k not in _SERIAL_STAGES}
        wall = self.wall if self.wall is not None else sum(stages.values()) + (
            self.notebooks_wall if self.notebooks_wall is not None else sum(books.values()))
        lines = [
            body,
            "",
            "status: " + ", ".join(f"{k} {v}" for k, v in counts.items())
            + f" ({status_counts(self.table)})",
            f"time: {wall:.1f}s (" + ", ".join(f"{k} {v:.1f}s" for k, v in stages.items())
            + (f"; notebooks {self.notebooks_wall:.1f}s on {self.jobs} kernel"
               f"{'s' if self.jobs > 1 else ''}: " if self.notebooks_wall is not None else "; ")
            + ", ".join(f"{k} {v:.1f}s" for k, v in books.items()) + ")",
            f"replication table: {self.out / 'replication.md'}",
            f"figures:           {self.out / 'figures'}",
            f"notebooks:         {self.out / 'notebooks'}",
            f"index:             {self.out / 'index.html'}",
            version_stamp(),
        ]
        return "\n".join(lines)


def write_index(out: str | os.PathLike, table: pd.DataFrame, seed: int) -> Path:
    """Write ``out/index.html`` linking the replication table, figures and notebooks."""
    from winback_study.core.provenance import version_stamp

    out = Path(out)
    figs = sorted((out / "figures").glob("*.png"))
    nbs = sorted((out / "notebooks").glob("*.html"))
    status_class = {"match": "ok", "miss": "bad"}
    rows = "\n".join(
        "<tr class='{}'>{}</tr>".format(
            status_class.get(r["status"], ""),
            "".join(f"<td>{html.escape(_fmt(r[c]))}</td>" for c in table.columns),
        )
        for _, r in table.iterrows()
    )
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
    fig_items = "\n".join(
        f"<figure><a href='figures/{p.name}'><img src='figures/{p.name}' alt='{p.stem}'"
        f" loading='lazy'></a><figcaption>{p.stem} · "
        f"<a href='figures/{p.stem}.svg'>SVG</a> · <a href='figures/{p.stem}.pdf'>PDF</a>"
        "</figcaption></figure>"
        for p in figs
    )
    nb_items = "\n".join(
        f"<li><a href='notebooks/{p.name}'>{p.stem}</a> "
        f"(<a href='notebooks/{p.stem}.ipynb'>ipynb</a>)</li>"
        for p in nbs
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>winback-study: replication report</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; color: #222; }}
table {{ border-collapse: collapse; font-size: 0.85rem; }}
td, th {{ border-bottom: 1px solid #ddd; padding: 0.25rem 0.5rem; text-align: left; }}
tr.ok td:nth-child(8) {{ color: #009E73; font-weight: bold; }}
tr.bad td:nth-child(8) {{ color: #D55E00; font-weight: bold; }}
.figs {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(360px, 1fr)); gap: 1rem; }}
figure {{ margin: 0; }} img {{ width: 100%; border: 1px solid #eee; }}
figcaption {{ font-size: 0.8rem; }}
</style></head><body>
<h1>Replicating Kumar, Bhagwat &amp; Zhang (2015): win-back and second-lifetime value</h1>
<p>Simulated study population (seed {seed}); every published figure beside the replicated
one. Files: <a href="replication.csv">replication.csv</a> ·
<a href="replication.md">replication.md</a> ·
<a href="data/study_population.parquet">study_population.parquet</a></p>
<h2>Replication table</h2>
<table><thead><tr>{head}</tr></thead><tbody>
{rows}
</tbody></table>
<h2>Notebooks</h2>
<ul>
{nb_items}
</ul>
<h2>Figures</h2>
<div class="figs">
{fig_items}
</div>
<p><small>{html.escape(version_stamp())}</small></p>
</body></html>
"""
    target = out / "index.html"
    with atomic_path(target) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return target


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return "" if pd.isna(v) else f"{v:,.2f}"
    return str(v)


#: The environment variables that set how many threads a kernel's BLAS (OpenBLAS, MKL) and
#: OpenMP code start.
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def kernel_threads(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """One BLAS thread per notebook kernel: the variables to add to the kernels' environment.

    Each kernel's OpenBLAS otherwise starts a thread per core, so two kernels on two cores
    run four BLAS threads that spin while they wait for each other: notebook 03's probit,
    two-step and joint fits took 5.0 s in a kernel with the default threads against 1.2 s
    with one (2026-12-07, 2 cores, the other kernel busy). One thread whatever the number
    of kernels and cores, so what a notebook prints does not depend on either (a BLAS
    reduction split over threads can differ in its last bit). A variable the caller has
    set (``environ``, default this process's environment) is left as it is.
    """
    environ = os.environ if environ is None else environ
    return {v: "1" for v in THREAD_VARS if v not in environ}


def reproduce(
    out: str | os.PathLike = "reports",
    seed: int = DEFAULT_SEED,
    customers: int = 53_000,
    notebooks: list[Path] | None = None,
    progress: bool = True,
    jobs: int | None = None,
) -> ReproduceResult:
    """Simulate the study, build the replication table, execute every notebook.

    Parameters
    ----------
    out : path
        Output folder (created).
    seed : int
        Seed of the simulation; the notebooks read it from ``WINBACK_SEED``.
    customers : int
        Size of the simulated population.
    notebooks : list of Path, optional
        Notebooks to run (default: every numbered notebook, in order).
    progress : bool
        Show a progress bar (tqdm) on standard error.
    jobs : int, optional
        Notebooks executed at once (default: the number of cores, at most 2), on as many
        warm kernels: each kernel starts and imports the stack once and is reset before
        each notebook (:func:`~winback_study.reporting.notebook_runner.execute_notebooks`).
        The notebooks are independent (each simulates its own data from the seed, and
        none reads what this function writes), so they start at once, while this process
        simulates the study and builds the replication table, and which kernel runs
        which, and the order they finish in, change nothing they write; the longest
        start first (``NOTEBOOK_SECONDS``). Each kernel's BLAS runs one thread
        (:func:`kernel_threads`).

    Returns
    -------
    ReproduceResult
    """
    from tqdm import tqdm

    from winback_study.core.io import write_table
    from winback_study.core.provenance import version_stamp
    from winback_study.data.simulate import simulate_study
    from winback_study.reporting.notebook_runner import execute_notebooks, list_notebooks
    from winback_study.reporting.replication import replication_table, to_markdown

    out = Path(out).resolve()
    nbs = list_notebooks() if notebooks is None else list(notebooks)
    jobs = max(1, min(jobs or min(2, os.cpu_count() or 1), len(nbs) or 1))
    timings: dict[str, float] = {}
    # passed to each kernel, never left in this process's environment (a library call must
    # not change the session: a later notebook run would silently use this seed)
    kernel_env = {"WINBACK_FIGURES_DIR": str(out / "figures"), "WINBACK_SEED": str(seed),
                  **kernel_threads()}
    bar = tqdm(total=len(nbs) + 3, desc="reproduce", unit="stage", file=sys.stderr,
               disable=not progress)

    def stage(name: str) -> None:
        timings[name] = time.perf_counter() - t0
        bar.set_postfix_str(name)
        bar.update()

    def done(nb: Path, seconds: float) -> None:
        with lock:  # called from the kernels' threads
            bar.set_postfix_str(nb.stem)
            bar.update()

    lock = threading.Lock()
    books: dict[str, float] = {}
    failed: list[BaseException] = []
    stop = threading.Event()

    def run_notebooks() -> None:
        try:
            books.update(execute_notebooks(nbs, out / "notebooks", jobs=jobs, html=True,
                                           env=kernel_env, on_done=done,
                                           costs=NOTEBOOK_SECONDS, stop=stop))
        except BaseException as exc:  # noqa: BLE001 - re-raised in this thread
            failed.append(exc)

    # the notebooks do not read what this process writes: their kernels start (and the
    # first notebooks run) while the study is simulated and the replication table built
    t_books = t0 = time.perf_counter()
    runner = threading.Thread(target=run_notebooks, name="reproduce-notebooks", daemon=True)
    runner.start()
    try:
        df = simulate_study(customers, seed=seed)
        write_table(df, out / "data" / "study_population.parquet")
        with lock:
            stage("simulate")
        t0 = time.perf_counter()
        table = replication_table(df)
        write_table(table, out / "replication.csv")
        with atomic_path(out / "replication.md") as md:
            md.write_text(
                f"# Replication table (seed {seed}, {len(df):,} simulated customers)\n\n"
                + to_markdown(table) + f"\n{version_stamp()}\n",
                encoding="utf-8",
            )
        with lock:
            stage("replication table")
    except BaseException:
        stop.set()  # no further notebook starts; the running ones finish
        runner.join()
        bar.close()
        raise
    runner.join()
    notebooks_wall = time.perf_counter() - t_books
    if failed:
        bar.close()
        raise failed[0]
    timings.update(books)  # reading order, not finishing order
    t0 = time.perf_counter()
    write_index(out, table, seed)
    stage("index")
    bar.close()
    return ReproduceResult(out=out, table=table, timings=timings, jobs=jobs,
                           notebooks_wall=notebooks_wall,
                           wall=time.perf_counter() - t_books)
