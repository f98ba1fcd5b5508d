"""The ranked-list viewer: which images it shows, their frames, the AP and the slider."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from reidkit.data import Record
from reidkit.viz.ranking import (
    MATCH,
    QUERY,
    WRONG,
    framed_thumbnail,
    rank_queries,
    ranked_list_figure,
    ranked_list_widget,
)


@pytest.fixture()
def records(tmp_path: Path):
    def make(name: str, pid: int, cam: int, modality: str) -> Record:
        path = tmp_path / f"{name}.png"
        Image.new("RGB", (8, 16), (pid * 40, 80, 120)).save(path)
        return Record(str(path), pid, cam, modality)

    queries = [make("q0", 1, 3, "infrared"), make("q1", 2, 6, "infrared")]
    gallery = [
        make(f"g{i}", pid, cam, "visible")
        for i, (pid, cam) in enumerate([(1, 2), (2, 1), (1, 1), (3, 4)])
    ]
    dist = np.array([[0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1]])
    return queries, gallery, dist


def test_rank_queries_applies_the_protocol(records) -> None:
    queries, gallery, dist = records
    rows = rank_queries(dist, queries, gallery, "sysu", top_k=3)
    # query 0 is cam3: the cam2 item (gallery 0) is removed
    assert rows[0].gallery == [1, 2, 3] and rows[0].matches == [False, True, False]
    assert rows[0].ap == pytest.approx(0.5)
    assert rows[1].gallery == [3, 2, 1] and rows[1].ap == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match=r"distmat has shape \(2, 4\), expected \(2, 3\)"):
        rank_queries(dist, queries, gallery[:3], "sysu")


def test_framed_thumbnail_colours_the_border(records) -> None:
    queries, _, _ = records
    framed = framed_thumbnail(queries[0], MATCH, size=(20, 10), border=2)
    assert framed.shape == (24, 14, 3)
    assert tuple(framed[0, 0]) == MATCH and tuple(framed[12, 7]) == (40, 80, 120)


def test_figure_has_one_slider_step_per_query(records) -> None:
    queries, gallery, dist = records
    figure = ranked_list_figure(dist, queries, gallery, "regdb", top_k=2)
    assert len(figure.data) == 2 * 3  # per query: itself and its top 2
    steps = figure.layout.sliders[0].steps
    assert [s.label for s in steps] == ["0", "1"]
    assert steps[1].args[0]["visible"] == [False] * 3 + [True] * 3
    assert "AP 83.3%" in steps[0].args[1]["title.text"]  # RegDB: ranks 1 and 3 of id 1
    assert [t.visible for t in figure.data] == [True] * 3 + [False] * 3
    # query 0 framed grey, then its ranked items: id 1 (green), id 2 (red)
    for trace, colour in zip(figure.data[:3], (QUERY, MATCH, WRONG)):
        data = base64.b64decode(trace.source.split(",", 1)[1])
        corner = np.asarray(Image.open(io.BytesIO(data)))[0, 0].astype(int)
        assert np.abs(corner - colour).max() < 30  # JPEG keeps the colour


def test_single_query_figure_has_no_slider(records) -> None:
    queries, gallery, dist = records
    figure = ranked_list_figure(dist, queries, gallery, "text", top_k=4, queries=[1])
    assert not figure.layout.sliders and len(figure.data) == 5


def test_widget_redraws_on_slider_change(records) -> None:
    pytest.importorskip("ipywidgets")
    queries, gallery, dist = records
    box = ranked_list_widget(dist, queries, gallery, "sysu", top_k=2)
    slider, _ = box.children
    assert slider.max == 1 and box.figure.layout.title.text.startswith("Query 0")
    slider.value = 1
    assert box.figure.layout.title.text.startswith("Query 1")
