"""Build the static HTML book of the study (``make site``) into ``reports/site/``.

The book is the six executed notebooks (one chapter each, exercises with their solutions
folded), a landing page, the replication table, the data dictionary, ``TEACHING.md`` and
an API reference generated from the docstrings; Sphinx with myst-nb, sphinx-exercise,
sphinx-togglebutton and sphinx-book-theme builds it offline (``docs/conf.py``).

The notebooks are not executed by Sphinx: ``make site`` reuses the executed notebooks and
the replication table that ``make reproduce`` wrote into ``reports/``, and runs
``winback-study reproduce`` first when any of them is missing or was executed from an
older version of its notebook (its cells' sources differ from ``notebooks/``)::

    python docs/build_site.py --reports reports --out reports/site

From Python (the tests build the book from notebooks they executed themselves)::

    build_site(notebooks=[...executed .ipynb...], replication_md=..., out=...)
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import nbformat

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
#: The pages of the book that live in ``docs/`` (the chapters and tables are staged).
PAGES = ("conf.py", "index.md", "replication.md", "data.md", "teaching.md")


def _sources(path: Path) -> list[tuple[str, str]]:
    nb = nbformat.read(path, as_version=4)
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


def stale_notebooks(executed_dir: Path, source_dir: Path = ROOT / "notebooks") -> list[str]:
    """Names of the numbered notebooks whose executed copy is missing or out of date."""
    stale = []
    for src in sorted(source_dir.glob("[0-9][0-9]_*.ipynb")):
        done = executed_dir / src.name
        if not done.exists() or _sources(done) != _sources(src):
            stale.append(src.name)
    return stale


def _copy_if_changed(src: Path, dst: Path, text: str | None = None) -> None:
    """Copy (or write ``text``) only when the content differs: Sphinx then rebuilds only
    the pages that changed (its environment is kept between builds)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    new = text.encode("utf-8") if text is not None else src.read_bytes()
    if dst.exists() and dst.read_bytes() == new:
        return
    dst.write_bytes(new)


def stage(notebooks: Sequence[Path], replication_md: Path | None, workdir: Path) -> Path:
    """Lay out the Sphinx source folder in ``workdir/src`` and return it."""
    src = workdir / "src"
    keep = set()
    for name in PAGES:
        _copy_if_changed(DOCS / name, src / name)
        keep.add(src / name)
    for nb in notebooks:
        _copy_if_changed(Path(nb), src / "chapters" / Path(nb).name)
        keep.add(src / "chapters" / Path(nb).name)
    if replication_md is not None and Path(replication_md).exists():
        table = Path(replication_md).read_text(encoding="utf-8")
    else:
        table = ("# Replication table\n\nNot built yet: run `make reproduce`, then "
                 "`make site`.\n")
    generated = {
        "replication.md": table,
        "data_dictionary.md": (ROOT / "data" / "README.md").read_text(encoding="utf-8"),
        "teaching.md": (ROOT / "TEACHING.md").read_text(encoding="utf-8"),
    }
    for name, text in generated.items():
        _copy_if_changed(src / "_generated" / name, src / "_generated" / name, text=text)
        keep.add(src / "_generated" / name)
    for name, text in api_pages().items():
        _copy_if_changed(src / "api" / name, src / "api" / name, text=text)
        keep.add(src / "api" / name)
    for old in [*(src / "chapters").glob("*.ipynb"), *(src / "api").glob("*.md")]:
        if old not in keep:
            old.unlink()
    return src


def api_pages() -> dict[str, str]:
    """The API reference: one page per subpackage of ``winback_study``, each module on it
    documented from its docstrings (autodoc), and an index of the names ``wb.`` offers.

    Generated from the package itself, so a new module appears without editing ``docs/``;
    one page per subpackage rather than per module keeps the build fast.
    """
    import importlib
    import pkgutil

    import winback_study

    groups: dict[str, list[str]] = {}
    for info in pkgutil.walk_packages(winback_study.__path__, "winback_study."):
        parts = info.name.split(".")
        if any(p.startswith("_") for p in parts):
            continue
        group = parts[1] if info.ispkg or len(parts) > 2 else "winback_study"
        groups.setdefault(group, []).append(info.name)
    pages = {}
    for group, modules in sorted(groups.items()):
        title = f"winback_study.{group}" if group != "winback_study" else "winback_study (top-level modules)"
        body = "\n\n".join(f".. automodule:: {m}\n   :members:" for m in sorted(modules))
        pages[f"{group}.md"] = f"# {title}\n\n```{{eval-rst}}\n{body}\n```\n"
    rows = []
    for name in winback_study.__all__:
        obj = getattr(winback_study, name)
        mod = getattr(obj, "__module__", None)
        if mod and mod.startswith("winback_study") and hasattr(obj, "__qualname__"):
            importlib.import_module(mod)
            rows.append(f"   ~{mod}.{obj.__qualname__}")
    pages["index.md"] = (
        "# API reference\n\nGenerated from the package's docstrings. "
        "`import winback_study as wb` gives these names (each links to its module):\n\n"
        "```{eval-rst}\n.. autosummary::\n\n" + "\n".join(rows) + "\n```\n\n"
        "```{toctree}\n:maxdepth: 1\n:caption: Modules\n\n"
        + "\n".join(sorted(p.removesuffix(".md") for p in pages)) + "\n```\n")
    return pages


def build_site(notebooks: Sequence[Path], out: str | Path,
               replication_md: Path | None = None, workdir: str | Path | None = None,
               quiet: bool = True) -> Path:
    """Build the book from executed notebooks into ``out``; return ``out/index.html``.

    Parameters
    ----------
    notebooks : sequence of Path
        The executed numbered notebooks (``NN_name.ipynb``), in reading order.
    out : path
        The HTML folder (created).
    replication_md : path, optional
        The replication table ``make reproduce`` writes (``reports/replication.md``).
    workdir : path, optional
        Where the staged sources and Sphinx's environment are kept between builds
        (default ``build/site`` in the checkout).
    quiet : bool
        Only warnings and errors on the console.

    Raises
    ------
    RuntimeError
        Sphinx failed; the message holds the end of its output.
    """
    workdir = Path(workdir) if workdir is not None else ROOT / "build" / "site"
    out = Path(out)
    src = stage(notebooks, replication_md, workdir)
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-j", "1",
           "-d", str(workdir / "doctrees"), "-w", str(workdir / "warnings.txt"),
           *(["-q"] if quiet else []), str(src), str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir,
                       env={**os.environ, "MPLBACKEND": "Agg"})
    if r.returncode != 0:
        raise RuntimeError(f"sphinx-build failed ({r.returncode}):\n{r.stdout[-3000:]}\n"
                           f"{r.stderr[-3000:]}")
    if r.stderr.strip():
        print(r.stderr.strip(), file=sys.stderr)
    return out / "index.html"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reports", default=str(ROOT / "reports"),
                   help="where make reproduce writes (executed notebooks, replication table)")
    p.add_argument("--out", default=None, help="HTML folder (default REPORTS/site)")
    p.add_argument("--seed", type=int, default=None,
                   help="seed for winback-study reproduce, when the notebooks must be run")
    args = p.parse_args(argv)
    reports = Path(args.reports).resolve()
    out = Path(args.out).resolve() if args.out else reports / "site"
    t0 = time.perf_counter()
    stale = stale_notebooks(reports / "notebooks")
    if stale or not (reports / "replication.md").exists():
        from winback_study.reporting.reproduce import DEFAULT_SEED, reproduce

        print("executing the notebooks first (winback-study reproduce): "
              + (", ".join(stale) + " missing or out of date" if stale
                 else "no replication table"), flush=True)
        reproduce(reports, seed=args.seed or DEFAULT_SEED)
    notebooks = sorted((reports / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    index = build_site(notebooks, out, replication_md=reports / "replication.md")
    shutil.rmtree(out / ".doctrees", ignore_errors=True)
    print(f"site: {index} ({time.perf_counter() - t0:.1f}s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
