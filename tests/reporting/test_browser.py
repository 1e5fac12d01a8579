"""Real browser, real Jupyter: headless Chromium (Debian's package) driven by Playwright.

The chromium package is installed by the test set-up when missing (as root, with apt);
where it cannot be installed the tests are skipped with the reason, except under
WINBACK_REQUIRE_BROWSER=1 (set by .ci/run, which installs chromium): there they fail.
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

from winback_study.reporting.html_report import ReportSection, write_html_report
from winback_study.reporting.notebook_runner import NOTEBOOK_DIR, list_notebooks
from winback_study.reporting.reproduce import reproduce

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("browser")]


def _skip(reason: str) -> None:
    """Skip, except where the browser is required (CI sets WINBACK_REQUIRE_BROWSER=1 and
    installs chromium first): there a missing browser is a failure, not a quiet skip."""
    if os.environ.get("WINBACK_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser tests are required here (WINBACK_REQUIRE_BROWSER=1): {reason}")
    pytest.skip(reason)


def _ensure_chromium() -> str:
    path = shutil.which("chromium")
    if path:
        return path
    if not shutil.which("apt-get") or os.geteuid() != 0:
        _skip("chromium is not installed and cannot be installed here (needs root + apt)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # wait for another apt (e.g. the machine's own start-up install) instead of skipping
    wait = ["-o", "DPkg::Lock::Timeout=600", "-o", "Acquire::Lock::Timeout=600"]
    for cmd in (["apt-get", *wait, "update", "-qq"],
                ["apt-get", *wait, "install", "-y", "-qq", "chromium"]):
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1200)
        if r.returncode != 0:
            _skip(f"could not install chromium: {' '.join(cmd)} failed: {r.stderr[-300:]}")
    path = shutil.which("chromium")
    if not path:
        _skip("chromium still missing after apt-get install")
    return path


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


def _write_hostile_report(tmp_path: Path) -> Path:
    """An analyze-style report whose every piece of user text is an attack."""
    import numpy as np
    import pandas as pd
    from matplotlib.figure import Figure

    script, img = "<script>alert(1)</script>", "<img src=x onerror=alert(1)>"
    fig_path = tmp_path / "out" / "figures" / "return rate #1.png"
    fig_path.parent.mkdir(parents=True)
    fig = Figure(figsize=(6, 3.5), dpi=100)  # no pyplot: Agg canvas of its own
    ax = fig.subplots()
    ax.bar(["control", "offer A", img], [0.12, 0.18, 0.15], color="#0072B2")
    ax.set_ylabel("return rate")
    ax.set_title("Return rate by arm")
    fig.tight_layout()
    fig.savefig(fig_path)
    arms = pd.DataFrame(
        {"segment": [script, "loyal", "lapsed"], img: [0.123456, 0.18, np.nan],
         "customers": [12_345, 980, 40_000], "clv_gain": [1234.5678, -0.000123, 53_000.0]},
        index=pd.Index([img, "offer A", "offer B"], name="arm"),
    )
    wide = pd.DataFrame(
        [[0.5123, 0.25], [0.75, 1.0]],
        index=pd.MultiIndex.from_tuples([(script, "x"), ("y", img)], names=[img, "level 2"]),
        columns=pd.MultiIndex.from_tuples([(img, "a"), ("g", script)], names=[script, "c"]),
    )
    return write_html_report(
        tmp_path / "out" / "report.html", title="Win-back analysis " + script,
        data_name="lapsed <svg onload=alert(4)>.csv",
        sections=[
            ReportSection(title="Return model " + img,
                          tables={'Return "rate" & odds by arm': arms, "By level": wide},
                          figures={'Return "rate" & <b>odds</b>': fig_path},
                          notes=["Fitted on 3 arms.</p><script>alert(2)</script>\nline 2"]),
            ReportSection(title="Second lifetime", notes=["Nothing else & <i>here</i>."]),
        ],
        skipped={"Offer targeting " + img: "no offer column " + script},
        mapping_text="customer_id: id\nsegment: seg </pre><script>alert(3)</script>\n",
        summary_lines=["3 rows, 3 arms", "period: 2015-01 to 2015-06 " + img],
    )


def test_html_report_shows_hostile_labels_as_text(browser, tmp_path):
    report = _write_hostile_report(tmp_path)
    page = browser.new_page()
    dialogs: list[str] = []
    errors: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(report.as_uri())
    page.wait_for_load_state("load")
    page.wait_for_function("Array.from(document.images).every(i => i.complete)",
                           timeout=30_000)
    label = page.get_by_text("<script>alert(1)</script>", exact=True)
    assert label.count() >= 2  # the table cell and the MultiIndex labels
    assert label.first.is_visible()
    assert page.get_by_text("<img src=x onerror=alert(1)>", exact=True).first.is_visible()
    assert page.locator("script").count() == 0
    assert page.locator('img[src="x"]').count() == 0
    assert page.locator("svg, iframe, object, embed").count() == 0
    assert page.locator("img").count() == 1
    broken = page.eval_on_selector_all(
        "img", "els => els.filter(i => !(i.naturalWidth > 0)).map(i => i.src)")
    assert not broken, broken
    assert "</pre><script>alert(3)</script>" in page.locator("pre").inner_text()
    if os.environ.get("WINBACK_SCREENSHOT_DIR"):
        page.screenshot(path=str(Path(os.environ["WINBACK_SCREENSHOT_DIR"]) / "html_report.png"),
                        full_page=True)
    page.close()
    assert not dialogs, dialogs
    assert not errors, errors


def test_analyze_report_of_a_hostile_file_runs_nothing(browser, tmp_path):
    """End to end: a user's file whose labels and column names are markup, through
    ``analyze``; its report.html shows them as text and runs nothing."""
    from test_analyze import quirky_file  # the same folder: on sys.path under pytest

    from winback_study.reporting.analyze import analyze

    script, img = "<script>alert(1)</script>", "<img src=x onerror=alert(1)>"
    df = quirky_file().replace({"gender": {"F": script, "M": img}}).rename(
        columns={"age": "age<b>yrs</b>"})
    mapping = {
        "columns": {"customer_id": "customer", "reacquired": "reacquire",
                    "first_tenure": "duration_1", "second_tenure": "duration_2",
                    "second_value": "sclv"},
        "units": {"tenure": "days"}, "constants": {"second_event": 1},
        "models": {"return": "offer + duration_lapse + gender + Q('age<b>yrs</b>')",
                   "second_lifetime": "offer + gender", "second_value": "offer + gender"},
    }
    res = analyze(df, mapping, out=tmp_path / "out")
    assert "return model" in res.ran, res.skipped
    page = browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto((tmp_path / "out" / "report.html").as_uri())
    page.wait_for_load_state("load")
    assert page.get_by_text(f"gender[{script}]", exact=True).first.is_visible()
    assert page.get_by_text(img, exact=True).first.is_visible()  # the reference level
    assert page.locator("script").count() == 0
    assert page.locator('img[src="x"]').count() == 0
    assert page.locator("b").count() == 0
    broken = page.eval_on_selector_all(
        "img", "els => els.filter(i => !(i.naturalWidth > 0)).map(i => i.src)")
    assert page.locator("img").count() >= 3 and not broken, broken
    page.close()
    assert not dialogs, dialogs


def test_ci_requires_the_browser_tests(monkeypatch):
    """Under WINBACK_REQUIRE_BROWSER=1 (set by .ci/run) a missing browser fails the run."""
    monkeypatch.setenv("WINBACK_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="required here"):
        _skip("no chromium")
    monkeypatch.delenv("WINBACK_REQUIRE_BROWSER")
    with pytest.raises(pytest.skip.Exception):
        _skip("no chromium")
    ci = (Path(__file__).resolve().parents[2] / ".ci" / "run").read_text(encoding="utf-8")
    assert "WINBACK_REQUIRE_BROWSER=1" in ci and "install -y -qq chromium" in ci
