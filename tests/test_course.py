"""The course map: written chapters are known without the notebooks folder (pip install)."""

from __future__ import annotations

import json
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
    assert CHAPTERS[9].link() is None  # not written: nowhere to open it
    status = dict(zip(course_map_figure().data[0].ids, course_map_figure().data[0].customdata))
    assert [status[f"ch{n}"] for n in range(6)] == ["available"] * 5 + ["coming"]
    (tmp_path / chapter.notebook).write_text("{}", encoding="utf-8")
    assert chapter.link() == str(tmp_path / chapter.notebook)  # a local copy wins


INSTALLED = """
import json
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
    assert report["written"] == [0, 1, 2, 3, 4]
    assert all(link.startswith("https://colab.research.google.com/") for link in report["links"])
