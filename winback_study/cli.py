"""Command line: ``winback-study simulate``, ``reproduce``, ``validate`` and ``analyze``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from winback_study.core.io import write_table
from winback_study.reporting.reproduce import DEFAULT_SEED

__all__ = ["main"]



def cmd_simulate(args: argparse.Namespace) -> int:
    from winback_study.data.simulate import simulate_study

    df = simulate_study(args.customers, seed=args.seed)
    write_table(df, Path(args.out))
    print(f"wrote {len(df):,} customers (seed {args.seed}) to {args.out}")
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
    s.add_argument("--out", required=True, help="output path ending in .parquet or .csv")
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


if __name__ == "__main__":
    raise SystemExit(main())
