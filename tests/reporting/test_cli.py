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


def test_the_console_command_exits_with_mains_status(monkeypatch, capsys):
    """``winback-study`` is ``cli.run``: main's status, passed to os._exit after a flush
    (pyarrow's thread pools can abort a normal interpreter shutdown)."""
    import os
    import tomllib
    from pathlib import Path

    from winback_study import cli

    scripts = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())[
        "project"]["scripts"]
    assert scripts["winback-study"] == "winback_study.cli:run"
    codes = []

    class Exited(Exception):
        pass

    def fake_exit(code):
        codes.append(code)
        raise Exited

    monkeypatch.setattr(os, "_exit", fake_exit)
    monkeypatch.setattr(sys, "argv", ["winback-study", "validate", "/nowhere/x.csv"])
    with pytest.raises(Exited):
        cli.run()
    assert codes == [2] and "error:" in capsys.readouterr().err
