"""The course map: written chapters are known without the notebooks folder (pip install)."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reidkit import course
from reidkit.course import CHAPTERS
from reidkit.viz.overview import course_map_figure

REPO = Path(__file__).resolve().parent.parent


def test_written_flags_match_the_repository_notebooks():
    on_disk = {path.name for path in (REPO / "notebooks").glob("*.ipynb")}
    assert {chapter.notebook for chapter in CHAPTERS if chapter.written} == on_disk
    assert all(chapter.path() is not None for chapter in CHAPTERS if chapter.written)


def test_papers_are_keys_of_the_bibliography():
    bibliography = (REPO / "book" / "references.bib").read_text(encoding="utf-8")
    for chapter in CHAPTERS:
        for key in chapter.papers:
            assert "{" + key + "," in bibliography, f"chapter {chapter.number}: {key} missing"


def test_course_map_without_a_notebooks_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(course, "NOTEBOOKS", tmp_path)  # as in site-packages: no notebooks/
    chapter = CHAPTERS[3]
    assert chapter.path() is None
    assert chapter.link() == (
        "https://colab.research.google.com/github/reidkit/reidkit/blob/main/notebooks/03_vit.ipynb"
    )
    unwritten = dataclasses.replace(CHAPTERS[13], written=False)  # a chapter still planned
    assert unwritten.link() is None  # not written: nowhere to open it
    chapters = [unwritten if c.number == 13 else c for c in CHAPTERS]
    figure = course_map_figure(chapters)
    status = dict(zip(figure.data[0].ids, figure.data[0].customdata))
    assert [status[f"ch{n}"] for n in (0, 3, 12, 13)] == ["available"] * 3 + ["coming"]
    (tmp_path / chapter.notebook).write_text("{}", encoding="utf-8")
    assert chapter.link() == str(tmp_path / chapter.notebook)  # a local copy wins


INSTALLED = """
import json
import re
from reidkit import course
print(json.dumps({
    "folder": str(course.NOTEBOOKS),
    "written": [c.number for c in course.CHAPTERS if c.available],
    "links": [c.link() for c in course.CHAPTERS[:2]],
}))
"""


def test_course_map_of_an_installed_copy_of_the_package(tmp_path):
    site = tmp_path / "site-packages"
    shutil.copytree(
        REPO / "reidkit", site / "reidkit", ignore=shutil.ignore_patterns("__pycache__")
    )
    result = subprocess.run(
        [sys.executable, "-c", INSTALLED],
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(result.stderr)
    report = json.loads(result.stdout)
    assert report["folder"] == str(site / "notebooks")  # beside the package: nothing there
    assert report["written"] == [c.number for c in CHAPTERS if c.written]
    assert all(link.startswith("https://colab.research.google.com/") for link in report["links"])


# Chapters still being brought up to the rules of CONTRIBUTING.md ("Rules every chapter
# follows"); strict: a chapter that starts to pass must leave this list.
PENDING_REFERENCES: set[str] = set()
PENDING_EXERCISES: set[str] = set()
OUTSIDE = re.compile(r"METHODS\.md|shared/seeds|seeds/|seed paper|seed 00\d")
PAGES = sorted((REPO / "notebooks").glob("*.ipynb")) + sorted((REPO / "book").glob("*.md"))


def _pending(names: set[str]):
    return [
        pytest.param(p, marks=pytest.mark.xfail(strict=True)) if p.name in names else p
        for p in PAGES
    ]


@pytest.mark.parametrize("page", _pending(PENDING_REFERENCES), ids=lambda p: p.name)
def test_pages_point_to_nothing_outside_the_repository(page):
    text = page.read_text(encoding="utf-8")
    found = sorted(set(OUTSIDE.findall(text)))
    assert not found, f"{page.name} refers to {found}: cite book/references.bib instead"


@pytest.mark.parametrize(
    "page",
    [p for p in _pending(PENDING_EXERCISES) if getattr(p, "values", [p])[0].suffix == ".ipynb"],
    ids=lambda p: p.name,
)
def test_chapters_have_three_checked_exercises(page):
    notebook = json.loads(page.read_text(encoding="utf-8"))
    code = ["".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code"]
    checks = {name for source in code for name in re.findall(r"\b(check_\w+)\(my_", source)}
    assert len(checks) >= 3, f"{page.name} checks only {sorted(checks)}"
    folded = [
        cell
        for cell in notebook["cells"]
        if "hide-input" in cell.get("metadata", {}).get("tags", [])
        or "hide-cell" in cell.get("metadata", {}).get("tags", [])
    ]
    assert len(folded) >= 3, f"{page.name}: fold each solution with a hide-input tag"
