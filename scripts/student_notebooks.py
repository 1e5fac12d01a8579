"""Hand out the notebooks without their solutions: ``make student-notebooks``.

Writes a copy of every numbered notebook with the cells tagged ``solution`` removed (the
worked solutions and the answer check of each "Exercises" section; nbconvert's
``TagRemovePreprocessor``), and no outputs. The exercises themselves stay::

    python scripts/student_notebooks.py --out reports/student

The same with nbconvert alone, for one notebook::

    jupyter nbconvert --to notebook --TagRemovePreprocessor.enabled=True \\
        --TagRemovePreprocessor.remove_cell_tags solution --output-dir reports/student \\
        notebooks/05_offer_experiment.ipynb
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import nbformat
from nbconvert.preprocessors import ClearOutputPreprocessor, TagRemovePreprocessor

ROOT = Path(__file__).resolve().parents[1]
SOLUTION_TAG = "solution"


def strip_solutions(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook without its cells tagged ``solution``, and without outputs."""
    nb, _ = TagRemovePreprocessor(remove_cell_tags={SOLUTION_TAG}, enabled=True).preprocess(
        nb, {})
    nb, _ = ClearOutputPreprocessor().preprocess(nb, {})
    return nb


def write_student_notebooks(out: str | Path, source: str | Path = ROOT / "notebooks") -> list[Path]:
    """Write the student copy of every numbered notebook of ``source`` into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(Path(source).glob("[0-9][0-9]_*.ipynb")):
        nb = strip_solutions(nbformat.read(path, as_version=4))
        nbformat.write(nb, out / path.name)
        written.append(out / path.name)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(ROOT / "reports" / "student"))
    p.add_argument("--source", default=str(ROOT / "notebooks"))
    args = p.parse_args(argv)
    for path in write_student_notebooks(args.out, args.source):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
