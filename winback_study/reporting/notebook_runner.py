"""Execute the study notebooks top to bottom (nbclient) and render them to HTML.

:func:`execute_notebook` runs one notebook in a fresh kernel. :func:`execute_notebooks`
runs several on a few warm kernels: each kernel starts once, imports the stack once, and
before each notebook is reset to what a fresh kernel that has imported the stack looks
like (empty namespace, execution count 1, figures closed, matplotlib's and numpy's
settings, warnings filters, environment, working directory and ``sys.path`` as they were),
so a notebook writes the same file whichever kernel ran it and whatever ran before.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from winback_study.core.io import atomic_path

__all__ = ["NOTEBOOK_DIR", "list_notebooks", "execute_notebook", "execute_notebooks",
           "longest_first"]

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
    client = _client(nb, path.parent, timeout)
    client.execute(**({"env": {**os.environ, **dict(env)}} if env else {}))
    return _save(nb, out, html)


def _client(nb: nbformat.NotebookNode, folder: Path, timeout: int) -> NotebookClient:
    return NotebookClient(nb, **_client_args(folder, timeout))


def _save(nb: nbformat.NotebookNode, out: str | os.PathLike | None, html: bool
          ) -> nbformat.NotebookNode:
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


#: Run once in each warm kernel: import what every notebook imports, remember the state a
#: notebook may change and keep on the shell a function that puts it back (_RESET). Nothing
#: is left in the user namespace.
_WARM_UP = """
import numpy, pandas, scipy, scipy.stats, statsmodels.api, statsmodels.formula.api
import lifelines, matplotlib, matplotlib.pyplot, seaborn, winback_study


def _winback_warm():
    import copy, os, sys, warnings

    import matplotlib
    import matplotlib.pyplot as plt
    import numpy as np

    ip = get_ipython()
    rc = {k: copy.deepcopy(v) for k, v in matplotlib.rcParams.items() if k != "backend"}
    fresh = {"np": np.get_printoptions(), "warnings": list(warnings.filters),
             "environ": dict(os.environ), "cwd": os.getcwd(), "path": list(sys.path)}

    def reset():
        ip.run_line_magic("reset", "-f")  # the namespace, In, Out: not the modules
        plt.close("all")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            matplotlib.rcParams.update(rc)
        np.set_printoptions(**fresh["np"])
        warnings.resetwarnings()  # also forgets which warnings were already shown
        warnings.filters[:] = fresh["warnings"]
        os.environ.clear()
        os.environ.update(fresh["environ"])
        os.chdir(fresh["cwd"])
        sys.path[:] = fresh["path"]
        ip.execution_count = 1

    ip._winback_reset = reset


_winback_warm()
"""

#: Run (silently, outside the history) before each notebook in a warm kernel.
_RESET = "get_ipython()._winback_reset()"


class _WarmClient(NotebookClient):
    """A notebook client on a kernel it does not own, reset before the first cell."""

    _preludes: Sequence[str] = ()

    async def async_start_new_kernel_client(self):  # type: ignore[override]
        from jupyter_core.utils import ensure_async

        kc = await super().async_start_new_kernel_client()
        for code in self._preludes:
            msg_id = await ensure_async(kc.execute(code, silent=True, store_history=False,
                                                   allow_stdin=False))
            reply = await self.async_wait_for_reply(msg_id)
            content = (reply or {}).get("content", {})
            if content.get("status") != "ok":
                raise RuntimeError(f"resetting the kernel failed: {content.get('ename')}: "
                                   f"{content.get('evalue')}")
        return kc


def execute_notebooks(
    paths: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    jobs: int = 2,
    timeout: int = 600,
    html: bool = False,
    env: Mapping[str, str] | None = None,
    on_done: Callable[[Path, float], None] | None = None,
    costs: Mapping[str, float] | None = None,
    stop: threading.Event | None = None,
) -> dict[str, float]:
    """Run notebooks on ``jobs`` warm kernels and save each into ``out`` (see the module).

    Parameters
    ----------
    paths : sequence of path
        ``.ipynb`` files, taken in this order (or by ``costs``) by whichever kernel is
        free; each is read, never modified, and runs from its own folder (the kernels
        start in the first one's).
    out : path
        Folder for the executed notebooks (and their ``.html`` when ``html``).
    jobs : int
        Kernels, each running one notebook at a time.
    timeout : int
        Seconds allowed per cell.
    html : bool
        Also write an HTML rendering of each.
    env : mapping, optional
        Environment variables set for the kernels only, on top of this process's.
    on_done : callable, optional
        ``on_done(path, seconds)`` after each notebook is saved (from the saver thread).
    costs : mapping, optional
        Expected seconds of each notebook, by stem: the notebooks are then started
        longest first (longest processing time first: the long ones do not end up last
        on one kernel while the other kernel is idle). A notebook not in ``costs`` counts
        as longer than any in it; ties keep the order of ``paths``. Which kernel runs
        which notebook changes nothing a notebook writes, only the wall time.
    stop : threading.Event, optional
        Once set, no kernel starts another notebook (those running finish); the ones not
        run are missing from the result.

    Returns
    -------
    dict
        Seconds per notebook (by stem) on its kernel: from taking it to its last cell's
        end, the first one on each kernel including that kernel's start and imports (not
        saving it: a saver thread writes each executed notebook and its HTML while its
        kernel runs the next one). A failing cell raises
        ``nbclient.exceptions.CellExecutionError`` once the running notebooks are done.
    """
    paths = [Path(p) for p in paths]
    out = Path(out)
    if not paths:
        return {}
    todo: queue.Queue[Path] = queue.Queue()
    for p in longest_first(paths, costs) if costs is not None else paths:
        todo.put(p)
    seconds: dict[str, float] = {}
    errors: list[BaseException] = []
    kernel_env = {**os.environ, **dict(env or {})}
    folder = paths[0].parent
    # Executed notebooks are saved (and rendered to HTML, about 0.5-1 s of this process's
    # CPU each) by one saver thread, so a kernel starts its next notebook at once instead
    # of idling while the previous one is rendered.
    to_save: queue.Queue[tuple[nbformat.NotebookNode, Path, float] | None] = queue.Queue()

    def saver() -> None:
        while (item := to_save.get()) is not None:
            nb, path, ran = item
            try:
                _save(nb, out / path.name, html)
                seconds[path.stem] = ran
                if on_done is not None:
                    on_done(path, seconds[path.stem])
            except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
                errors.append(exc)

    def worker() -> None:
        km = None
        try:
            while not errors and not (stop is not None and stop.is_set()):
                try:
                    path = todo.get_nowait()
                except queue.Empty:
                    return
                start = time.perf_counter()
                nb = nbformat.read(path, as_version=4)
                if km is None:  # this kernel's first notebook: start it, import the stack
                    client = _WarmClient(nb, **_client_args(folder, timeout))
                    client._preludes = [_WARM_UP, _RESET]
                    client.km = client.create_kernel_manager()
                    client.owns_km = False  # the kernel outlives this notebook
                    client.start_new_kernel(env=kernel_env)
                    km = client.km
                else:
                    client = _WarmClient(nb, km=km, **_client_args(path.parent, timeout))
                    client._preludes = [_RESET]
                try:
                    client.execute()
                finally:
                    if client.kc is not None:
                        client.kc.stop_channels()
                to_save.put((nb, path, time.perf_counter() - start))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
            errors.append(exc)
        finally:
            if km is not None:
                _shutdown(km)

    saving = threading.Thread(target=saver, daemon=True)
    saving.start()
    threads = [threading.Thread(target=worker, daemon=True)
               for _ in range(max(1, min(jobs, len(paths))))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    to_save.put(None)
    saving.join()
    if errors:
        raise errors[0]
    return {p.stem: seconds[p.stem] for p in paths if p.stem in seconds}


def longest_first(paths: Sequence[str | os.PathLike], costs: Mapping[str, float]
                  ) -> list[Path]:
    """``paths`` by decreasing expected cost (``costs[stem]``; unknown: first).

    Parameters
    ----------
    paths : sequence of path
        Notebooks.
    costs : mapping
        Expected seconds by notebook stem.

    Returns
    -------
    list of Path
        The notebooks, longest first; ties (and unknown notebooks) in the given order.
    """
    return sorted((Path(p) for p in paths),
                  key=lambda p: -costs.get(p.stem, float("inf")))


def _client_args(folder: Path, timeout: int) -> dict:
    return {"timeout": timeout, "kernel_name": "python3", "record_timing": False,
            "resources": {"metadata": {"path": str(folder)}},
            # ipykernel warns on every start that its local TCP sockets are unencrypted;
            # the kernel is private to this process, so keep the console to real errors.
            "extra_arguments": ["--IPKernelApp.log_level=ERROR"]}


def _shutdown(km: object) -> None:
    """Stop a kernel and remove its connection file (sync or async kernel manager)."""
    import inspect

    from jupyter_core.utils import run_sync

    for name, kwargs in (("shutdown_kernel", {"now": False}), ("cleanup_resources", {})):
        result = getattr(km, name)(**kwargs)
        if inspect.isawaitable(result):
            async def wait(r=result):
                return await r

            run_sync(wait)()
