"""The one-command replication report: simulate, fit, run every notebook, write ``reports/``.

``reproduce(out="reports", seed=...)`` is what ``make reproduce`` and
``winback-study reproduce`` run. It writes, each file atomically:

* ``data/study_population.parquet``: the simulated study table (true parameters in its
  metadata);
* ``replication.csv`` and ``replication.md``: every published figure beside the replicated
  one (:mod:`winback_study.replication`);
* ``figures/``: every chart of every notebook as PNG, SVG and PDF;
* ``notebooks/``: each executed notebook and its HTML rendering;
* ``index.html``: links to all of the above.
"""

from __future__ import annotations

import html
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ._io import atomic_path

__all__ = ["ReproduceResult", "reproduce", "write_index"]

DEFAULT_SEED = 20150701


@dataclass
class ReproduceResult:
    """What :func:`reproduce` wrote and how long each stage took."""

    out: Path
    table: pd.DataFrame
    timings: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        """The replication table and where everything is, as text."""
        from .provenance import version_stamp
        from .replication import format_number

        with pd.option_context("display.width", 200, "display.max_rows", 200):
            body = self.table[
                ["id", "published", "replicated", "ci_low", "ci_high", "tolerance", "status"]
            ].to_string(index=False, na_rep="", formatters={
                c: format_number for c in ("published", "replicated", "ci_low", "ci_high")})
        counts = self.table["status"].value_counts().to_dict()
        total = sum(self.timings.values())
        lines = [
            body,
            "",
            "status: " + ", ".join(f"{k} {v}" for k, v in counts.items()),
            f"time: {total:.1f}s (" + ", ".join(f"{k} {v:.1f}s" for k, v in self.timings.items())
            + ")",
            f"replication table: {self.out / 'replication.md'}",
            f"figures:           {self.out / 'figures'}",
            f"notebooks:         {self.out / 'notebooks'}",
            f"index:             {self.out / 'index.html'}",
            version_stamp(),
        ]
        return "\n".join(lines)


def write_index(out: str | os.PathLike, table: pd.DataFrame, seed: int) -> Path:
    """Write ``out/index.html`` linking the replication table, figures and notebooks."""
    from .provenance import version_stamp

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


def reproduce(
    out: str | os.PathLike = "reports",
    seed: int = DEFAULT_SEED,
    customers: int = 53_000,
    notebooks: list[Path] | None = None,
    progress: bool = True,
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

    Returns
    -------
    ReproduceResult
    """
    from tqdm import tqdm

    from .cli import write_table
    from .notebook_runner import execute_notebook, list_notebooks
    from .provenance import version_stamp
    from .replication import replication_table, to_markdown
    from .study_population import simulate_study

    out = Path(out).resolve()
    nbs = list_notebooks() if notebooks is None else list(notebooks)
    stages = ["simulate", "replication table"] + [p.stem for p in nbs] + ["index"]
    timings: dict[str, float] = {}
    os.environ["WINBACK_FIGURES_DIR"] = str(out / "figures")
    os.environ["WINBACK_SEED"] = str(seed)
    bar = tqdm(stages, desc="reproduce", unit="stage", file=sys.stderr, disable=not progress)
    df = table = None
    for i, stage in enumerate(bar):
        bar.set_postfix_str(stage)
        t0 = time.perf_counter()
        if stage == "simulate":
            df = simulate_study(customers, seed=seed)
            write_table(df, out / "data" / "study_population.parquet")
        elif stage == "replication table":
            table = replication_table(df)
            write_table(table, out / "replication.csv")
            with atomic_path(out / "replication.md") as md:
                md.write_text(
                    f"# Replication table (seed {seed}, {len(df):,} simulated customers)\n\n"
                    + to_markdown(table) + f"\n{version_stamp()}\n",
                    encoding="utf-8",
                )
        elif stage == "index":
            write_index(out, table, seed)
        else:
            nb = nbs[i - 2]
            execute_notebook(nb, out / "notebooks" / nb.name, html=True)
        timings[stage] = time.perf_counter() - t0
    bar.close()
    return ReproduceResult(out=out, table=table, timings=timings)
