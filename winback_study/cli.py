"""Command line: ``winback-study simulate`` and ``winback-study reproduce``."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._io import atomic_path
from .report import DEFAULT_SEED

__all__ = ["main"]



def write_table(df, out: Path) -> None:
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
    write_table(df, Path(args.out))
    print(f"wrote {len(df):,} customers (seed {args.seed}) to {args.out}")
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    from .report import reproduce

    result = reproduce(args.out, seed=args.seed, customers=args.customers)
    print(result.summary())
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
