"""Figures survive into the book's HTML without inlining plotly.js."""

from __future__ import annotations

import json

import plotly.graph_objects as go
import plotly.io as pio

from reidkit.course import CHAPTERS, PARTS
from reidkit.plotting import RENDERER, configure_plotly, figure_html, write_plotlyjs
from reidkit.profiles import PROFILES
from reidkit.viz.overview import course_map_figure, profiles_figure


def test_renderer_bundle_has_plotly_json_and_light_html():
    assert configure_plotly() == RENDERER
    fig = go.Figure(go.Scatter(x=[1, 2, 3], y=[3, 1, 2]))
    bundle = pio.renderers[RENDERER].to_mimebundle(fig.to_dict())
    data = bundle["application/vnd.plotly.v1+json"]["data"]
    assert data[0]["y"] == [3, 1, 2]
    page = bundle["text/html"]
    assert len(page) < 20_000  # no plotly.js (4+ MB) inside: the page provides it once
    assert "Plotly.newPlot" in page and '"y":[3,1,2]' in page.replace(" ", "")


def test_figure_html_uses_the_given_id_and_layout_height():
    fig = go.Figure(layout={"height": 321})
    page = figure_html(fig, div_id="abc")
    assert 'id="abc"' in page and "height:321px" in page


def test_write_plotlyjs_writes_the_library(tmp_path):
    path = write_plotlyjs(tmp_path)
    assert path.name == "plotly.min.js" and path.stat().st_size > 1_000_000


def test_course_map_has_every_part_and_chapter_and_marks_written_ones():
    fig = course_map_figure()
    trace = fig.data[0]
    assert list(trace.ids[: len(PARTS)]) == list(PARTS)
    assert len(trace.ids) == len(PARTS) + len(CHAPTERS)
    status = dict(zip(trace.ids, trace.customdata))
    assert status["ch0"] == "available"  # this chapter's notebook is in the repository
    assert status["ch16"] == ("available" if CHAPTERS[16].available else "coming")
    json.loads(fig.to_json())


def test_profiles_figure_reports_profile_sizes():
    fig = profiles_figure()
    bars = {trace.name: list(trace.y) for trace in fig.data}
    assert list(fig.data[0].x) == list(PROFILES)
    assert bars["epochs"] == [p.epochs for p in PROFILES.values()]
    assert bars["pixels per image"][0] == 64 * 32
