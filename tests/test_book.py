"""The book builds offline, and headless Chromium sees its plotly figures drawn."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=15000",
]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built_book(tmp_path_factory) -> Path:
    """The book built in smoke here; or, with ``REIDKIT_BOOK_HTML`` naming a built book's html
    folder (e.g. ``make book``'s quick build), that book, checked by the same tests."""
    given = os.environ.get("REIDKIT_BOOK_HTML")
    if given:
        html = Path(given)
        assert (html / "intro.html").is_file(), f"REIDKIT_BOOK_HTML={given}: no intro.html there"
        return html
    out = tmp_path_factory.mktemp("book")
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    env = {**os.environ, "REIDKIT_PROFILE": "smoke", "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [str(jupyter_book), "build", str(ROOT / "book"), "--path-output", str(out), "-W", "-n"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 0, f"book build failed:\n{result.stdout[-4000:]}\n{result.stderr}"
    html = out / "_build" / "html"
    assert (html / "intro.html").is_file()
    return html


def rendered_dom(page: Path) -> str:
    with tempfile.TemporaryDirectory() as profile_dir:
        result = subprocess.run(
            [
                CHROMIUM,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile_dir}",
                "--dump-dom",
                page.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_every_chapter_page_is_built_without_inlined_plotlyjs(built_book):
    assert (built_book / "_static" / "plotly.min.js").stat().st_size > 1_000_000
    pages = sorted((built_book / "notebooks").glob("*.html"))
    assert pages
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert page.stat().st_size < 3_000_000, f"{page.name}: plotly.js inlined?"
        colab = f"colab.research.google.com/github/reidkit/reidkit/blob/main/notebooks/{page.stem}"
        assert colab in text, f"{page.name}: no Colab launch button to the notebook"


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (installed by .ci/run)")
def test_chromium_draws_every_figure_offline(built_book):
    pages = [
        page
        for page in sorted((built_book / "notebooks").glob("*.html"))
        if "reidkit-plotly" in page.read_text(encoding="utf-8")
    ]
    assert pages, "no chapter page has a plotly figure"
    for page in pages:
        figures = page.read_text(encoding="utf-8").count('class="reidkit-plotly"')
        dom = rendered_dom(page)
        drawn = len(re.findall(r'class="[^"]*js-plotly-plot', dom))
        assert drawn == figures, f"{page.name}: {drawn} of {figures} figures drawn"


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (installed by .ci/run)")
def test_chromium_typesets_the_math_offline(built_book):
    """MathJax comes from the book's own _static folder, so equations render without a CDN."""
    assert (built_book / "_static" / "mathjax" / "tex-chtml.js").is_file()
    page = built_book / "notebooks" / "04_baseline.html"
    html = page.read_text(encoding="utf-8")
    assert "cdn.jsdelivr.net/npm/mathjax" not in html
    equations = html.count('class="math notranslate nohighlight"')
    assert equations > 5
    dom = rendered_dom(page)
    typeset = dom.count("<mjx-container")
    assert typeset >= equations, f"{typeset} of {equations} equations typeset"
