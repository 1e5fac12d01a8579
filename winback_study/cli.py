"""Command line: ``winback-study simulate`` and ``winback-study reproduce``."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from ._io import atomic_path

__all__ = ["main"]

DEFAULT_SEED = 20150701


def _write_table(df, out: Path) -> None:
    """Write CSV or Parquet by extension, via a temporary name (no half-written files)."""
    suffix = out.suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise SystemExit(f"error: --out must end in .parquet or .csv, got {out.name!r}")
    with atomic_path(out) as tmp:
        if suffix == ".parquet":
            df = df.copy(deep=False)
            # keep the true parameters in the file's metadata, as JSON
            df.attrs = {k: v.to_dict() if hasattr(v, "to_dict") else v
                        for k, v in df.attrs.items()}
            df.to_parquet(tmp, index=False)
        else:
            df.to_csv(tmp, index=False)


def cmd_simulate(args: argparse.Namespace) -> int:
    from .study_population import simulate_study

    df = simulate_study(args.customers, seed=args.seed)
    _write_table(df, Path(args.out))
    print(f"wrote {len(df):,} customers (seed {args.seed}) to {args.out}")
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .notebook_runner import execute_notebook, list_notebooks
    from .provenance import version_stamp
    from .replication import replication_table, to_markdown
    from .study_population import simulate_study

    out = Path(args.out).resolve()
    notebooks = list_notebooks()
    stages = ["simulate", "replication table"] + [f"notebook {p.stem}" for p in notebooks]
    timings: dict[str, float] = {}
    os.environ["WINBACK_FIGURES_DIR"] = str(out / "figures")
    os.environ["WINBACK_SEED"] = str(args.seed)
    bar = tqdm(stages, desc="reproduce", unit="stage", file=sys.stderr)
    for stage in bar:
        bar.set_postfix_str(stage)
        t0 = time.perf_counter()
        if stage == "simulate":
            df = simulate_study(args.customers, seed=args.seed)
            _write_table(df, out / "data" / "study_population.parquet")
        elif stage == "replication table":
            table = replication_table(df)
            _write_table(table, out / "replication.csv")
            with atomic_path(out / "replication.md") as md:
                md.write_text(
                    f"# Replication table (seed {args.seed}, {len(df):,} simulated customers)"
                    "\n\n" + to_markdown(table) + f"\n{version_stamp()}\n",
                    encoding="utf-8",
                )
        else:
            nb = next(p for p in notebooks if stage.endswith(p.stem))
            execute_notebook(nb, out / "notebooks" / nb.name, html=True)
        timings[stage] = time.perf_counter() - t0
    bar.close()

    import pandas as pd

    with pd.option_context("display.width", 200, "display.max_colwidth", 60,
                           "display.max_rows", 200):
        print(table[["id", "published", "replicated", "ci_low", "ci_high", "tolerance",
                     "status"]].to_string(index=False, float_format=lambda v: f"{v:,.1f}"))
    counts = table["status"].value_counts().to_dict()
    print("\nstatus: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    print("time per stage: " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()))
    print(f"replication table: {out / 'replication.md'}")
    print(f"figures:           {out / 'figures'}")
    print(f"notebooks:         {out / 'notebooks'}")
    print(version_stamp())
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="winback-study",
        description="Replicate the Kumar, Bhagwat & Zhang (2015) win-back study.",
    )
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("simulate", help="simulate the study population to a file")
    s.add_argument("--customers", type=int, default=53_000)
    s.add_argument("--seed", type=int, default=DEFAULT_SEED)
    s.add_argument("--out", required=True, help="output path ending in .parquet or .csv")
    s.set_defaults(func=cmd_simulate)
    r = sub.add_parser("reproduce", help="simulate, run every notebook, write reports/")
    r.add_argument("--out", default="reports")
    r.add_argument("--seed", type=int, default=DEFAULT_SEED)
    r.add_argument("--customers", type=int, default=53_000)
    r.set_defaults(func=cmd_reproduce)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
