"""The book ``make site`` builds (docs/build_site.py): built once per session from the
notebooks the notebook tests executed, then read in headless Chromium (the browser tests'
set-up: Playwright driving Debian's chromium; under WINBACK_REQUIRE_BROWSER=1 a missing
browser fails instead of skipping). Also: the student copies without solutions.
"""

import importlib.util
import os
import re
from pathlib import Path
from urllib.parse import unquote, urlparse

import nbformat
import pytest
from test_notebooks import NOTEBOOKS, SEED, executed

ROOT = Path(__file__).resolve().parents[2]
CHAPTERS = [p.stem for p in NOTEBOOKS]


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build_site = _load(ROOT / "docs" / "build_site.py", "build_site")
student = _load(ROOT / "scripts" / "student_notebooks.py", "student_notebooks")


# --- the book, built once ------------------------------------------------------------------

@pytest.fixture(scope="module")
def site(runs_dir, tmp_path_factory):
    """The book built from this session's executed notebooks and a replication table."""
    from winback_study import simulate_study
    from winback_study.reporting.replication import replication_table, to_markdown

    work = tmp_path_factory.mktemp("site")
    notebooks = []
    for path in NOTEBOOKS:
        executed(path, runs_dir)  # runs it, or reuses this session's run
        notebooks.append(runs_dir / path.stem / path.name)
    table = work / "replication.md"
    table.write_text("# Replication table\n\n"
                     + to_markdown(replication_table(simulate_study(53_000, seed=SEED))),
                     encoding="utf-8")
    index = build_site.build_site(notebooks, work / "html", replication_md=table,
                                  workdir=work / "build")
    return index


def _shot(page, name: str) -> None:
    folder = os.environ.get("WINBACK_SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / name), full_page=False)


def _local_targets_missing(page) -> list[str]:
    """Local links and images of the page whose file (or #anchor in it) does not exist."""
    urls = page.eval_on_selector_all(
        "a[href], img[src], link[href], script[src]",
        "els => els.map(e => e.href || e.src)")
    missing = []
    for url in urls:
        u = urlparse(url)
        if u.scheme != "file":
            continue
        path = Path(unquote(u.path))
        if not path.exists():
            missing.append(url)
        elif u.fragment and path.suffix == ".html":
            text = path.read_text(encoding="utf-8")
            if f'id="{unquote(u.fragment)}"' not in text:
                missing.append(url)
    return missing


def _images_load(page) -> list[str]:
    page.wait_for_load_state("load")
    for img in page.query_selector_all("img"):
        img.scroll_into_view_if_needed()
    page.wait_for_function("Array.from(document.images).every(i => i.complete)",
                           timeout=30_000)
    return page.eval_on_selector_all(
        "img", "els => els.filter(i => !(i.naturalWidth > 0)).map(i => i.src)")


@pytest.mark.slow
@pytest.mark.xdist_group("site")
def test_site_has_every_page_and_needs_nothing_from_outside(site):
    html = site.parent
    for page in ["index", "replication", "data", "teaching", "api/index",
                 *(f"chapters/{c}" for c in CHAPTERS)]:
        assert (html / f"{page}.html").exists(), page
    external = re.compile(r"""<(?:script|link|img|iframe)\b[^>]*(?:src|href)=["'](?:https?:)?//""")
    offenders = {p.name: external.findall(p.read_text(encoding="utf-8"))
                 for p in html.rglob("*.html")}
    assert not {k: v for k, v in offenders.items() if v}, offenders
    replication = (html / "replication.html").read_text(encoding="utf-8")
    assert replication.count("<tr") >= 20 and "match" in replication
    assert "first_tenure_months" in (html / "data.html").read_text(encoding="utf-8")
    api = (html / "api" / "models.html").read_text(encoding="utf-8")
    assert "fit_return_model" in api and "Parameters" in api  # from the docstrings
    landing = site.read_text(encoding="utf-8")
    for words in ("What the study found", "How to run it", "How to cite", "reports/site",
                  "10.1509/jm.14.0107"):
        assert words in landing, words


@pytest.mark.slow
@pytest.mark.xdist_group("site")
def test_navigation_reaches_every_chapter_with_its_figures_and_no_broken_link(site, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(site.as_uri())
    assert "Win-back" in page.title()
    assert not _images_load(page)
    assert not _local_targets_missing(page)
    _shot(page, "landing.png")
    seen, checked = [], set()
    # follow the "next" button of each page, from the landing page through the chapters
    for _ in CHAPTERS:
        page.locator("a.right-next").first.click()
        page.wait_for_load_state("load")
        seen.append(Path(urlparse(page.url).path).stem)
        checked.add(urlparse(page.url).path)
        broken = _images_load(page)
        assert not broken, (page.url, broken)
        n_fig = page.locator("article img").count()
        assert n_fig >= 3, f"{page.url}: {n_fig} figures"
        assert not _local_targets_missing(page), page.url
        assert page.locator(".exercise").count() >= 3, page.url
        assert page.locator(".solution.dropdown").count() >= 3, page.url
    assert seen == CHAPTERS
    # the sidebar links every chapter, and every page it links exists
    page.goto(site.as_uri())
    nav = page.eval_on_selector_all("nav.bd-docs-nav a.reference.internal",
                                    "els => els.map(e => e.href)")
    stems = {Path(urlparse(u).path).stem for u in nav}
    assert set(CHAPTERS) <= stems, stems
    for url in nav:  # the other pages: replication table, data dictionary, API, teaching
        if urlparse(url).path in checked:
            continue
        checked.add(urlparse(url).path)
        page.goto(url)
        assert not _images_load(page), url
        assert not _local_targets_missing(page), url
    page.close()
    assert not errors, errors


@pytest.mark.slow
@pytest.mark.xdist_group("site")
def test_a_solution_is_folded_and_unfolds_on_click(site, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto((site.parent / "chapters" / "05_offer_experiment.html").as_uri())
    page.wait_for_load_state("load")
    solution = page.locator(".solution.dropdown").nth(1)  # exercise 5.2's
    solution.scroll_into_view_if_needed()
    body = solution.locator("section").first
    code = solution.locator(".cell_input").first
    assert not body.is_visible() and not code.is_visible(), "a solution is open by default"
    _shot(page, "solution_folded.png")
    solution.locator(".toggle-button, .admonition-title").first.click()
    body.wait_for(state="visible", timeout=10_000)
    assert code.is_visible()
    assert "break_even_cost" in code.inner_text()
    assert "the upgrade leads up to" in solution.inner_text()
    solution.scroll_into_view_if_needed()
    _shot(page, "solution_unfolded.png")
    page.close()


# --- what make site reuses, and the student copies ---------------------------------------

@pytest.mark.parametrize("change", [None, "edit", "remove"])
def test_stale_notebooks_are_the_missing_and_the_edited(tmp_path, change):
    src, done = tmp_path / "src", tmp_path / "done"
    for folder in (src, done):
        folder.mkdir()
        nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]),
                       folder / "01_a.ipynb")
    nb = nbformat.read(done / "01_a.ipynb", as_version=4)
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", text="out")]  # outputs: not stale
    nbformat.write(nb, done / "01_a.ipynb")
    if change == "edit":
        nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 2")]),
                       src / "01_a.ipynb")
    elif change == "remove":
        (done / "01_a.ipynb").unlink()
    expected = [] if change is None else ["01_a.ipynb"]
    assert build_site.stale_notebooks(done, src) == expected
