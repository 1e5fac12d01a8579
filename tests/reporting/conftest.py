"""Fixtures the reporting tests share: the folder of this session's notebook runs and the
headless browser."""

import pytest
from test_browser import CHROMIUM_ARGS, _ensure_chromium, _skip


@pytest.fixture(scope="session")
def runs_dir(tmp_path_factory, worker_id):
    """A folder shared by every xdist worker of this session, where test_notebooks.py runs
    each notebook once (a notebook already run there is reused, not rerun)."""
    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if worker_id != "master" else base) / "notebook_runs"
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium (Debian's, driven by Playwright); a skip, or a failure under
    WINBACK_REQUIRE_BROWSER=1, when it is missing."""
    exe = _ensure_chromium()
    try:
        from playwright import sync_api
    except ImportError as exc:
        _skip(f"playwright is not installed ({exc})")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()
