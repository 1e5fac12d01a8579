"""Command line: ``winback-study simulate``, ``reproduce``, ``validate``, ``analyze`` and
``score``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from winback_study.core.io import write_table
from winback_study.reporting.reproduce import DEFAULT_SEED

__all__ = ["main"]



def _bar(total: int, desc: str, unit: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, unit_scale=True, leave=False,
                disable=not sys.stderr.isatty())


def cmd_simulate(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.suffix and not out.is_dir():  # a file name (an unknown extension is refused)
        from winback_study.data.simulate import simulate_study

        df = simulate_study(args.customers, seed=args.seed)
        write_table(df, out)
        print(f"wrote {len(df):,} customers (seed {args.seed}) to {args.out}")
        return 0
    import time

    from winback_study.scale.dataset import simulate_dataset

    began = time.perf_counter()
    with _bar(args.customers, "simulating", "customers") as bar:
        simulate_dataset(out, args.customers, seed=args.seed,
                         partition_size=args.partition_size, progress=bar.update)
    parts = -(-args.customers // args.partition_size)
    print(f"wrote {args.customers:,} customers (seed {args.seed}) to {out}/ in {parts:,} "
          f"partition{'s' if parts > 1 else ''} of up to {args.partition_size:,} "
          f"in {time.perf_counter() - began:.1f} s")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    import time

    from winback_study.models.portable import ScoringModels
    from winback_study.scale.fit import fit_at_scale
    from winback_study.scale.score import MODELS_FILE, score_dataset

    began = time.perf_counter()
    model_file = Path(args.model) if args.model else None
    if model_file is not None and model_file.exists():
        models = ScoringModels.load(model_file)
        print(f"models read from {model_file} (so --sample, --seed and --return-formula "
              "are not used)")
    else:
        models = fit_at_scale(args.data, sample=args.sample, seed=args.seed,
                              return_formula=args.return_formula)
        print(f"models fitted in {time.perf_counter() - began:.1f} s: return model "
              f"{models.info['return_model']}; second stage on "
              f"{models.info['sample_returners']:,} sampled returners (seed {args.seed})")
        if model_file is not None:
            models.save(model_file)
            print(f"models saved to {model_file}")
    result = score_dataset(args.data, args.out, models, scheduler=args.scheduler,
                           progress=not args.quiet and sys.stderr.isatty())
    print(result.summary())
    print(f"models used: {Path(args.out) / MODELS_FILE}; total time "
          f"{time.perf_counter() - began:.1f} s")
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    from winback_study.reporting.reproduce import reproduce

    result = reproduce(args.out, seed=args.seed, customers=args.customers, jobs=args.jobs)
    print(result.summary())
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    if args.map:
        from winback_study.data.user_data import read_user_data

        user = read_user_data(args.data, args.map)
        df, notes = user.study, user.notes
    else:
        from winback_study.data.study_table import load_study

        df, notes = load_study(args.data), []
    print(f"ok: {args.data}: {len(df):,} customers, {int(df['reacquired'].sum()):,} reacquired")
    for note in notes:
        print(f"  note: {note}")
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    from winback_study.reporting.analyze import analyze

    result = analyze(args.data, args.map, out=args.out, annual_rate=args.discount_rate,
                     seed=args.seed, progress=False if args.quiet else None)
    print(result.summary())
    print(f"written to {args.out} (open {Path(args.out) / 'report.html'})")
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
    s.add_argument("--out", required=True,
                   help="a file ending in .parquet or .csv, or a folder name (no extension): "
                        "a partitioned Parquet dataset written one partition at a time")
    s.add_argument("--partition-size", type=int, default=1_000_000,
                   help="customers per partition of a dataset folder (default 1,000,000); "
                        "with the seed it fixes the data")
    s.set_defaults(func=cmd_simulate)
    r = sub.add_parser("reproduce", help="simulate, run every notebook, write reports/")
    r.add_argument("--out", default="reports")
    r.add_argument("--seed", type=int, default=DEFAULT_SEED)
    r.add_argument("--customers", type=int, default=53_000)
    r.add_argument("--jobs", type=int, default=None,
                   help="notebooks run at once, one kernel each (default: cores, at most 2)")
    r.set_defaults(func=cmd_reproduce)
    v = sub.add_parser("validate", help="check a lapsed-customer file; one clear error if bad")
    v.add_argument("data", help="CSV or Parquet file (never modified)")
    v.add_argument("--map", help="TOML/JSON mapping of your columns to the study's roles")
    v.set_defaults(func=cmd_validate)
    a = sub.add_parser("analyze", help="run the study's analyses on your own file")
    a.add_argument("data", help="CSV or Parquet file (never modified)")
    a.add_argument("--map", help="TOML/JSON mapping of your columns (default: study names)")
    a.add_argument("--out", required=True, help="output folder for CSV summaries and figures")
    a.add_argument("--discount-rate", type=float, default=None,
                   help="annual discount rate for values (default 0.10)")
    a.add_argument("--seed", type=int, default=0, help="seed of the ROI bootstrap (default 0)")
    a.add_argument("--quiet", action="store_true",
                   help="no progress bar (default: one on stderr when it is a terminal, for "
                        "runs longer than a few seconds)")
    a.set_defaults(func=cmd_analyze)
    c = sub.add_parser("score", help="score every customer of a Parquet dataset (Dask)")
    c.add_argument("data", help="a folder of Parquet files in the study's columns (or one file)")
    c.add_argument("--out", required=True, help="output folder: a partitioned Parquet dataset")
    c.add_argument("--model", help="models JSON: read it if it exists, else fit and save there")
    c.add_argument("--sample", type=int, default=200_000,
                   help="returners sampled for the second-lifetime models (default 200,000)")
    c.add_argument("--seed", type=int, default=0, help="seed of the sample (default 0)")
    c.add_argument("--return-formula", default=None,
                   help="the return model's formula (default the study's); with discrete "
                        "covariates only it is fitted exactly on every customer")
    c.add_argument("--scheduler", default=None,
                   help="address of a dask.distributed scheduler (default: local threads)")
    c.add_argument("--quiet", action="store_true", help="no progress bar")
    c.set_defaults(func=cmd_score)
    return ap


def main(argv: list[str] | None = None) -> int:
    """Entry point; bad input ends with one line on stderr and exit status 2."""
    from winback_study.errors import WinbackError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except WinbackError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def run() -> None:
    """The ``winback-study`` command: :func:`main`, then exit with its status directly.

    Now and then pyarrow's C++ thread pools abort the interpreter's shutdown after the work
    is done and every file is written ("terminate called without an active exception",
    exit status -6 instead of the command's own; apache/arrow#34314). The command's output
    is flushed and the process ends with ``os._exit``, before those destructors run.
    (``main`` itself returns, for callers in Python.)
    """
    import os

    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
