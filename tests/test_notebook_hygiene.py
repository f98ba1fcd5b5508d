"""Committed notebooks are clean, follow the chapter conventions and are all in the book."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from reidkit.course import CHAPTERS

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CHECK_MARK = "# NBVAL_CHECK_OUTPUT"
MACHINE_PATHS = re.compile(r"(/work/|/root/|/home/\w+|/tmp/|C:\\\\Users)")
KEPT_NOTEBOOK_METADATA = {"kernelspec", "language_info", "colab"}


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def toc_files() -> set[str]:
    toc = yaml.safe_load((ROOT / "book" / "_toc.yml").read_text(encoding="utf-8"))
    files = set()
    for part in toc.get("parts", []):
        files.update(entry["file"] for entry in part.get("chapters", []))
    return files


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found under notebooks/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_clean(path):
    nb = load(path)
    assert set(nb["metadata"]) <= KEPT_NOTEBOOK_METADATA, "run scripts/nbtool.py clean"
    code_number = 0
    for index, cell in enumerate(nb["cells"]):
        where = f"{path.name} cell {index}"
        source = "".join(cell["source"])
        assert not MACHINE_PATHS.search(source), f"{where}: machine path in source"
        if cell["cell_type"] != "code":
            continue
        code_number += 1
        checked = CHECK_MARK in source
        # Checked cells keep a canonical count (their position among code cells) for nbval.
        expected_count = code_number if checked else None
        assert cell["execution_count"] == expected_count, f"{where}: run scripts/nbtool.py clean"
        if not checked:
            assert cell["outputs"] == [], f"{where}: output committed for an unchecked cell"
        for output in cell["outputs"]:
            text = json.dumps(output)
            assert not MACHINE_PATHS.search(text), f"{where}: machine path in output"
            assert output.get("execution_count", expected_count) == expected_count, where


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_follows_the_chapter_conventions(path):
    cells = load(path)["cells"]
    title = "".join(cells[0]["source"])
    assert cells[0]["cell_type"] == "markdown" and title.startswith("# ")
    badge = f"colab.research.google.com/github/reidkit/reidkit/blob/main/notebooks/{path.name}"
    assert badge in title, f"{path.name}: first cell needs the Open in Colab badge"
    install = "".join(cells[1]["source"])
    assert '"google.colab" in sys.modules' in install and "%pip install" in install
    assert "torch" not in install.split("%pip install", 1)[1], "never reinstall torch on Colab"
    assert "setup(seed=" in "".join(cells[2]["source"]) + "".join(cells[3]["source"])
    markdown = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    assert "## Summary" in markdown and "## Exercises" in markdown


def test_every_notebook_is_in_the_book_and_in_the_chapter_map():
    listed = toc_files()
    for path in NOTEBOOKS:
        assert f"notebooks/{path.stem}" in listed, f"{path.name} is missing from book/_toc.yml"
    mapped = {chapter.notebook for chapter in CHAPTERS}
    assert {path.name for path in NOTEBOOKS} <= mapped, "add the chapter to reidkit.course"
    for entry in listed:
        assert (ROOT / "book" / f"{entry}.ipynb").exists() or (
            ROOT / "book" / f"{entry}.md"
        ).exists(), f"book/_toc.yml lists {entry}, which does not exist"
