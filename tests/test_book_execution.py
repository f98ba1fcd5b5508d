"""The book executes its chapters through a cache of its own per profile."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def book_extension():
    path = ROOT / "book" / "_ext" / "reidkit_book.py"
    spec = importlib.util.spec_from_file_location("reidkit_book", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_each_profile_has_its_own_execution_cache(book_extension, tmp_path):
    out = tmp_path / "_build" / "html"
    smoke = book_extension.execution_settings(out, "smoke")
    quick = book_extension.execution_settings(out, "quick")
    assert smoke["nb_execution_cache_path"] != quick["nb_execution_cache_path"]
    assert Path(quick["nb_execution_cache_path"]).parent == tmp_path / "_build"
    assert quick["nb_execution_timeout"] > smoke["nb_execution_timeout"]


def test_the_book_is_built_through_the_execution_cache():
    config = (ROOT / "book" / "_config.yml").read_text(encoding="utf-8")
    assert "execute_notebooks: cache" in config
