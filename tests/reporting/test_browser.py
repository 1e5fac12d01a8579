"""Real browser, real Jupyter: headless Chromium (Debian's package) driven by Playwright.

The chromium package is installed by the test set-up when missing (as root, with apt);
where it cannot be installed the tests are skipped with the reason.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from winback_study.reporting.notebook_runner import NOTEBOOK_DIR, list_notebooks
from winback_study.reporting.reproduce import reproduce

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("browser")]


def _ensure_chromium() -> str:
    path = shutil.which("chromium")
    if path:
        return path
    if not shutil.which("apt-get") or os.geteuid() != 0:
        pytest.skip("chromium is not installed and cannot be installed here (needs root + apt)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # wait for another apt (e.g. the machine's own start-up install) instead of skipping
    wait = ["-o", "DPkg::Lock::Timeout=600", "-o", "Acquire::Lock::Timeout=600"]
    for cmd in (["apt-get", *wait, "update", "-qq"],
                ["apt-get", *wait, "install", "-y", "-qq", "chromium"]):
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1200)
        if r.returncode != 0:
            pytest.skip(f"could not install chromium: {' '.join(cmd)} failed: {r.stderr[-300:]}")
    path = shutil.which("chromium")
    if not path:
        pytest.skip("chromium still missing after apt-get install")
    return path


@pytest.fixture(scope="module")
def browser():
    exe = _ensure_chromium()
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    home = tmp_path_factory.mktemp("jupyter")
    root = home / "notebooks"  # a copy: the browser session must never touch the sources
    shutil.copytree(NOTEBOOK_DIR, root)
    port = _free_port()
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(home / "config"),
           "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
           "JUPYTER_RUNTIME_DIR": str(home / "runtime")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}",
         "--ServerApp.ip=127.0.0.1", "--IdentityProvider.token=", "--ServerApp.password=",
         f"--ServerApp.root_dir={root}", "--ServerApp.open_browser=False",
         "--allow-root"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the kernels it starts go with it
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{url}/api/status", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not start within 60 s")
        yield url
    finally:
        # A server with a kernel still starting can take longer than a SIGTERM allows
        # under load: then kill its whole group rather than fail the teardown.
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def test_jupyterlab_renders_a_notebook(browser, jupyterlab):
    nb = list_notebooks()[0]
    page = browser.new_page()
    page.goto(f"{jupyterlab}/lab/tree/{nb.name}", timeout=90_000)
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
    heading = page.locator(".jp-Notebook .jp-RenderedMarkdown h1").first
    heading.wait_for(timeout=60_000)
    assert "The study population" in heading.inner_text()
    page.screenshot(path=str(Path(os.environ.get("WINBACK_SCREENSHOT_DIR", ".")) / "lab.png")
                    ) if os.environ.get("WINBACK_SCREENSHOT_DIR") else None
    assert page.locator(".jp-Notebook .jp-Cell").count() >= 5
    assert "JupyterLab" in page.title() or nb.stem in page.title()
    page.close()


def test_report_index_links_and_images_resolve(browser, tmp_path):
    result = reproduce(tmp_path / "reports", seed=7, notebooks=list_notebooks()[:1],
                       progress=False)
    index = result.out / "index.html"
    page = browser.new_page()
    page.goto(index.as_uri())
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
    srcs = page.eval_on_selector_all("img", "els => els.map(e => e.src)")
    assert hrefs and srcs
    missing = [u for u in hrefs + srcs
               if urlparse(u).scheme == "file" and not Path(unquote(urlparse(u).path)).exists()]
    assert not missing, missing
    page.wait_for_load_state("load")
    for img in page.query_selector_all("img"):
        img.scroll_into_view_if_needed()
    page.wait_for_function(
        "Array.from(document.images).every(i => i.complete)", timeout=30_000)
    broken = page.eval_on_selector_all(
        "img", "els => els.filter(i => !(i.naturalWidth > 0)).map(i => i.src)")
    assert not broken, broken
    assert page.locator("table tbody tr").count() >= 20
    page.close()
