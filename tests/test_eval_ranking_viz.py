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
    sample_queries,
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
    # the default sample: query 0 (rank-1 right) and query 1 (rank-1 wrong), in turn
    assert [s.label for s in steps] == ["0 ok", "1 wrong"]
    assert "rank-1 WRONG" in steps[1].args[1]["title.text"]
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


def _many_queries(ids: int = 8, per_id: int = 4):
    """Queries of ``ids`` people (``per_id`` each, all of person 0 first, as a loader lists
    them) against a one-image-per-person gallery; a query fails when its own gallery image is
    not the nearest. Query q of person p fails when q is odd; person 7 has no gallery image."""
    queries = [Record(f"q{p}_{q}.png", p, 3, "infrared") for p in range(ids) for q in range(per_id)]
    gallery = [Record(f"g{p}.png", p if p < ids - 1 else 99, 1, "visible") for p in range(ids)]
    dist = np.ones((len(queries), len(gallery)))
    for row, record in enumerate(queries):
        dist[row, record.pid] = 0.5 if row % 2 == 0 else 2.0  # odd queries: another is nearer
    return queries, gallery, dist


def test_sample_queries_spreads_over_identities_and_includes_failures() -> None:
    queries, gallery, dist = _many_queries()
    chosen = sample_queries(dist, queries, gallery, "regdb", count=8, seed=0)
    assert len(chosen) == len(set(chosen)) == 8
    rows = rank_queries(dist, queries, gallery, "regdb", top_k=1, queries=chosen)
    verdicts = [row.matches[0] for row in rows]
    assert verdicts == [True, False] * 4  # successes and failures in turn, half each
    right = {queries[q].pid for q, ok in zip(chosen, verdicts) if ok}
    wrong = {queries[q].pid for q, ok in zip(chosen, verdicts) if not ok}
    assert len(right) == len(wrong) == 4  # four different people in each group
    assert all(queries[q].pid != 7 for q in chosen)  # no true match: left out
    assert chosen == sample_queries(dist, queries, gallery, "regdb", count=8, seed=0)
    others = [sample_queries(dist, queries, gallery, "regdb", count=8, seed=s) for s in (1, 2)]
    assert any(other != chosen for other in others)  # the seed decides
    # the first 12 queries would be people 0, 1 and 2 only
    assert len({queries[q].pid for q in range(8)}) == 2


def test_sample_queries_fills_up_when_one_kind_is_short() -> None:
    queries, gallery, dist = _many_queries()
    dist[1::2] = np.where(dist[1::2] == 2.0, 0.5, dist[1::2])  # now every query succeeds ...
    dist[1, 0] = 2.0  # ... except query 1 (person 0)
    chosen = sample_queries(dist, queries, gallery, "regdb", count=6, seed=0)
    rows = rank_queries(dist, queries, gallery, "regdb", top_k=1, queries=chosen)
    assert [row.matches[0] for row in rows].count(False) == 1 and 1 in chosen
    assert len(chosen) == 6 and len({queries[q].pid for q in chosen}) == 6  # person 0 once
    with pytest.raises(ValueError, match="count must be at least 1"):
        sample_queries(dist, queries, gallery, "regdb", count=0)
