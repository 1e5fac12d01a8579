"""The bad-input corpus: every malformed file gives one clear error, API and CLI alike,
and is left byte-for-byte unchanged."""

import hashlib
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from winback_study import StudyDataError, load_study
from winback_study.reporting.analyze import analyze

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "bad_inputs"
EXPECTED = pd.read_csv(CORPUS / "expected.csv", keep_default_na=False)
CASES = [r for _, r in EXPECTED.iterrows()]


def test_corpus_is_large_enough():
    assert len(CASES) >= 20
    assert all((CORPUS / r.file).exists() for r in CASES)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("case", CASES, ids=lambda r: r.file)
def test_python_api_gives_one_clear_error(case, tmp_path):
    path = CORPUS / case.file
    before = _digest(path)
    call = (lambda: load_study(path)) if case.stage == "load" else (
        lambda: analyze(path, out=tmp_path))
    with pytest.raises(StudyDataError) as info:
        call()
    err = info.value
    assert err.problem == case.problem
    if case.column:
        assert err.column == case.column and f"'{case.column}'" in str(err)
    if err.rows:
        assert "row" in str(err)
    assert "Traceback" not in str(err) and "\n" not in str(err)
    assert _digest(path) == before


@pytest.mark.parametrize("case", CASES, ids=lambda r: r.file)
def test_cli_exits_nonzero_with_one_line_and_no_traceback(case, tmp_path):
    path = CORPUS / case.file
    before = _digest(path)
    cmd = ["validate", str(path)] if case.stage == "load" else [
        "analyze", str(path), "--out", str(tmp_path / "out")]
    r = subprocess.run([sys.executable, "-m", "winback_study.cli", *cmd],
                       capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in r.stderr
    if case.column:
        assert case.column in lines[0]
    assert _digest(path) == before
