import subprocess
import sys

import pandas as pd
import pytest

from winback_study.cli import main


@pytest.mark.parametrize("ext", ["csv", "parquet"])
def test_simulate_writes_the_table(tmp_path, ext):
    out = tmp_path / f"study.{ext}"
    assert main(["simulate", "--customers", "2000", "--seed", "3", "--out", str(out)]) == 0
    df = pd.read_csv(out) if ext == "csv" else pd.read_parquet(out)
    assert len(df) == 2000 and df["customer_id"].is_unique


def test_simulate_rejects_unknown_extension(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "winback_study.cli", "simulate", "--customers", "10",
         "--out", str(tmp_path / "x.xlsx")], capture_output=True, text=True,
    )
    assert r.returncode != 0 and "Traceback" not in r.stderr and ".parquet or .csv" in r.stderr
