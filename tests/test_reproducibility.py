"""Same seed, same numbers: across processes, for files and for figures."""

import hashlib
import subprocess
import sys

import pandas as pd
import pytest

from winback_study import cli

HASH = (
    "import sys, hashlib, pandas as pd; from winback_study import simulate_study; "
    "df = simulate_study(20_000, seed=int(sys.argv[1])); "
    "print(hashlib.sha256(pd.util.hash_pandas_object(df, index=True).values.tobytes()).hexdigest())"
)


def _hash_in_new_process(seed: int) -> str:
    out = subprocess.run([sys.executable, "-c", HASH, str(seed)], capture_output=True,
                         text=True, check=True)
    return out.stdout.strip()


def test_same_seed_same_hash_in_two_processes():
    a, b = _hash_in_new_process(7), _hash_in_new_process(7)
    assert a == b and len(a) == 64
    assert _hash_in_new_process(8) != a


@pytest.mark.parametrize("ext", ["csv", "parquet"])
def test_simulated_files_are_byte_identical(tmp_path, ext):
    paths = [tmp_path / f"{k}.{ext}" for k in "ab"]
    for p in paths:
        cli.main(["simulate", "--customers", "3000", "--seed", "5", "--out", str(p)])
    digests = {hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}
    assert len(digests) == 1


def test_interrupted_write_leaves_no_file(tmp_path, monkeypatch):
    target = tmp_path / "study.parquet"

    def boom(self, path, *a, **k):
        with open(path, "wb") as fh:
            fh.write(b"PAR1 half")
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_parquet", boom)
    with pytest.raises(KeyboardInterrupt):
        cli.main(["simulate", "--customers", "100", "--out", str(target)])
    assert not target.exists() and not list(tmp_path.iterdir())


def _interrupt_on_call(monkeypatch, cls, name, n):
    """Let the first ``n - 1`` calls of ``cls.name`` run; the n-th writes half a file and stops."""
    real = getattr(cls, name)
    calls = {"n": 0}

    def flaky(self, path, *a, **k):
        calls["n"] += 1
        if calls["n"] < n:
            return real(self, path, *a, **k)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write("half,a,row\n1,")
        raise KeyboardInterrupt

    monkeypatch.setattr(cls, name, flaky)
    return calls


def _complete_csvs_only(folder):
    leftovers = [p.name for p in folder.rglob(".*.tmp")]
    assert not leftovers, f"temporary files left behind: {leftovers}"
    for p in folder.rglob("*.csv"):
        assert not p.read_text(encoding="utf-8").endswith("1,"), f"{p.name} is half-written"


def test_interrupted_analyze_leaves_only_complete_files(tmp_path, monkeypatch):
    from winback_study import simulate_study
    from winback_study.reporting.analyze import analyze

    df = simulate_study(2_000, seed=3)
    _interrupt_on_call(monkeypatch, pd.DataFrame, "to_csv", 3)
    with pytest.raises(KeyboardInterrupt):
        analyze(df, out=tmp_path / "out")
    written = sorted(p.name for p in (tmp_path / "out").glob("*.csv"))
    assert len(written) == 2  # the two finished tables, nothing for the interrupted one
    _complete_csvs_only(tmp_path / "out")


def test_interrupted_reproduce_leaves_only_complete_files(tmp_path, monkeypatch):
    from winback_study.reporting.reproduce import reproduce

    _interrupt_on_call(monkeypatch, pd.DataFrame, "to_csv", 1)
    with pytest.raises(KeyboardInterrupt):
        reproduce(tmp_path / "reports", seed=3, customers=3_000, notebooks=[], progress=False)
    assert not (tmp_path / "reports" / "replication.csv").exists()
    _complete_csvs_only(tmp_path / "reports")
