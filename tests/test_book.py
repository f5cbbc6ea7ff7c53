"""The HTML book (`make book`), built quickly from a tiny chapter written here rather than from the real ones
(`make book` builds those): its headings, math rendered by the MathJax shipped beside the pages, figures as
PNG files, the βt explorer as its static figure, Markdown tables, the notebook download, and navigation
made from toc.yml.

Where Debian's chromium and playwright are installed, the page is also opened with the network blocked to
check that MathJax really renders the math offline.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("DIFFUSION_LITE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

TOC = """chapters:
  - number: "98"
    title: A tiny chapter
    file: 98_tiny.py
    goal: check that the book builds
  - number: "99"
    title: Still to come
    goal: be written one day
"""
CHAPTER = r"""# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 98 · A tiny chapter
#
# ## The forward process
#
# Noise is added as $x_t = \sqrt{\bar\alpha_t}\, x_0 + \sqrt{1 - \bar\alpha_t}\, \varepsilon$, that is
#
# $$q(x_t \mid x_0) = \mathcal{N}\big(x_t; \sqrt{\bar\alpha_t}\, x_0, (1 - \bar\alpha_t) I\big).$$

# %%
import matplotlib.pyplot as plt

plt.plot([0, 1], [1, 0]);

# %%
import torch
from diffusion_lite.widgets import BetaExplorer

BetaExplorer(torch.zeros(1, 1, 8, 8))

# %%
from IPython.display import Markdown

Markdown("| t | ᾱ |\n|---|---|\n| 0 | $1$ |")
"""


@pytest.fixture(scope="module")
def book(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("book")
    (tmp / "chapters").mkdir()
    (tmp / "chapters" / "toc.yml").write_text(TOC)
    (tmp / "chapters" / "98_tiny.py").write_text(CHAPTER)
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_book.py"), "--out", str(tmp / "html"),
                          "--work", str(tmp / "work"), "--chapters-dir", str(tmp / "chapters")],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return tmp / "html"


def cells(page: str) -> list:
    """The HTML of each notebook cell on a page, in order."""
    return page.split('<div class="cell docutils container">')[1:]


def test_chapter_page_has_headings_math_with_local_mathjax_and_png_figures(book):
    page = (book / "chapters" / "98_tiny.html").read_text()
    assert re.search(r"<h1>98 · A tiny chapter", page) and re.search(r"<h2>The forward process", page)
    assert r'<span class="math notranslate nohighlight">\(x_t = \sqrt{\bar\alpha_t}' in page
    assert r'<div class="math notranslate nohighlight">' in page
    script = re.search(r'<script[^>]* src="\.\./(_static/mathjax/tex-chtml\.js)', page)
    assert script and (book / script.group(1)).is_file()
    assert not re.search(r'<script[^>]* src="(https?:)?//', page)  # nothing loaded from the network
    images = re.findall(r'<img[^>]* src="\.\./(_images/[^"]+\.png)"', page)
    assert len(images) == 2
    for image in images:
        data = (book / image).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 1000


def test_explorer_shows_its_figure_and_no_widget(book):
    page = (book / "chapters" / "98_tiny.html").read_text()
    explorer = next(c for c in cells(page) if "BetaExplorer" in c)
    assert "<img" in explorer and "BetaExplorer(kind=" not in explorer  # the PNG, not the text fallback
    assert "widget-state" not in page and "widget-view" not in page


def test_markdown_outputs_render_tables_and_math(book):
    page = (book / "chapters" / "98_tiny.html").read_text()
    table = next(c for c in cells(page) if "Markdown" in c)
    assert "<table" in table and '<span class="math notranslate nohighlight">\\(1\\)</span>' in table


def test_chapter_page_offers_its_executed_notebook(book):
    page = (book / "chapters" / "98_tiny.html").read_text()
    assert 'href="../_sources/chapters/98_tiny.ipynb"' in page
    notebook = nbformat.read(book / "_sources" / "chapters" / "98_tiny.ipynb", as_version=4)
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 2


def test_navigation_and_landing_page_come_from_the_toc(book):
    index = (book / "index.html").read_text()
    assert re.search(r'<a class="reference internal" href="chapters/98_tiny.html">98 · A tiny chapter</a>', index)
    assert "check that the book builds" in index
    assert "99 · Still to come (<em>coming</em>): be written one day" in index
    assert "chapters/99" not in index  # a chapter to come has no page yet


def test_math_renders_offline_in_chromium(book, tmp_path):
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_CACHE_HOME=str(tmp_path / "cache"))
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, env=env, timeout=30_000)
        page = browser.new_page()
        network = []  # every request that is not for a file of the book
        page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file://")
                   else (network.append(route.request.url), route.abort()))
        page.goto((book / "chapters" / "98_tiny.html").as_uri())
        page.wait_for_function("() => window.MathJax?.startup?.promise", timeout=30_000)
        page.evaluate("() => MathJax.startup.promise")  # resolves once the page's math is typeset
        rendered = page.locator("span.math mjx-container, div.math mjx-container[display=true]").count()
        text = page.locator("main").inner_text()
        figures = page.evaluate("() => [...document.querySelectorAll('main img')].map(i => i.naturalWidth)")
        browser.close()
    assert rendered == 3 and "\\(" not in text and "\\sqrt" not in text
    assert len(figures) == 2 and min(figures) > 0
    assert network == []
