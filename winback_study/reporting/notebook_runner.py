"""Execute the study notebooks top to bottom (nbclient) and render them to HTML."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from winback_study.core.io import atomic_path

__all__ = ["NOTEBOOK_DIR", "list_notebooks", "execute_notebook"]

#: Where the numbered study notebooks live in a source checkout.
NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"


def list_notebooks(folder: str | os.PathLike = NOTEBOOK_DIR) -> list[Path]:
    """The numbered notebooks (``NN_name.ipynb``) in reading order."""
    return sorted(p for p in Path(folder).glob("[0-9][0-9]_*.ipynb"))


def execute_notebook(
    path: str | os.PathLike,
    out: str | os.PathLike | None = None,
    timeout: int = 600,
    html: bool = False,
    env: Mapping[str, str] | None = None,
) -> nbformat.NotebookNode:
    """Run a notebook in a fresh kernel, from its own folder, and optionally save it.

    Parameters
    ----------
    path : path
        The ``.ipynb`` file; it is read, never modified.
    out : path, optional
        Where to write the executed notebook (and ``.html`` beside it when ``html``).
    timeout : int
        Seconds allowed per cell.
    html : bool
        Also write an HTML rendering.
    env : mapping, optional
        Environment variables set for the kernel only (e.g. ``WINBACK_SEED``), on top of
        this process's environment, which is left unchanged.

    Returns
    -------
    nbformat.NotebookNode
        The executed notebook. A failing cell raises ``nbclient.exceptions.CellExecutionError``.
    """
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", record_timing=False,
        resources={"metadata": {"path": str(path.parent)}},
        # ipykernel warns on every start that its local TCP sockets are unencrypted;
        # the kernel is private to this process, so keep the console to real errors.
        extra_arguments=["--IPKernelApp.log_level=ERROR"],
    )
    client.execute(**({"env": {**os.environ, **dict(env)}} if env else {}))
    # A print's text can arrive as one stream message or several, depending on when the
    # kernel flushes (it varies with machine load): merge them, so the same notebook gives
    # the same saved file on every run.
    from nbconvert.preprocessors import CoalesceStreamsPreprocessor

    nb, _ = CoalesceStreamsPreprocessor().preprocess(nb, {})
    if out is not None:
        out = Path(out)
        with atomic_path(out) as tmp:
            nbformat.write(nb, tmp)
        if html:
            from nbconvert import HTMLExporter

            body, _ = HTMLExporter().from_notebook_node(nb)
            with atomic_path(out.with_suffix(".html")) as tmp:
                tmp.write_text(body, encoding="utf-8")
    return nb
