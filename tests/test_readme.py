"""The README's Python tour runs as written, and its shell commands exist."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def test_python_tour_runs(tmp_path, monkeypatch):
    text = README.read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks, "README has no Python example"
    monkeypatch.chdir(tmp_path)
    for code in blocks:
        exec(compile(code, "README.md", "exec"), {})


@pytest.mark.parametrize("target", ["reproduce", "test", "lab", "benchmark", "notebooks"])
def test_make_targets_named_in_readme_exist(target):
    makefile = (README.parent / "Makefile").read_text(encoding="utf-8")
    assert f"make {target}" in README.read_text(encoding="utf-8")
    assert re.search(rf"^{target}:", makefile, re.M), f"Makefile has no {target} target"


def test_example_files_named_in_readme_exist():
    for rel in re.findall(r"data/[\w./]+\.(?:csv|toml)", README.read_text(encoding="utf-8")):
        assert (README.parent / rel).exists(), rel
