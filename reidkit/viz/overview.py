"""Figures for chapter 0: the course map and the profiles side by side."""

from __future__ import annotations

from collections.abc import Iterable

import plotly.graph_objects as go

from reidkit.course import CHAPTERS, Chapter
from reidkit.profiles import PROFILES, Profile


def course_map_figure(chapters: Iterable[Chapter] = CHAPTERS) -> go.Figure:
    """A sunburst: parts in the middle, chapters around them, written chapters coloured."""
    chapters = list(chapters)
    parts = list(dict.fromkeys(chapter.part for chapter in chapters))
    ids = parts + [f"ch{chapter.number}" for chapter in chapters]
    labels = parts + [f"{chapter.number} {chapter.title}" for chapter in chapters]
    parents = [""] * len(parts) + [chapter.part for chapter in chapters]
    status = ["part"] * len(parts) + [
        "available" if chapter.available else "coming" for chapter in chapters
    ]
    colours = {"part": "#d9d9d9", "available": "#2a9d8f", "coming": "#f1f1f1"}
    figure = go.Figure(
        go.Sunburst(
            ids=ids,
            labels=labels,
            parents=parents,
            marker={"colors": [colours[s] for s in status]},
            customdata=status,
            hovertemplate="%{label}<br>%{customdata}<extra></extra>",
            insidetextorientation="radial",
        )
    )
    figure.update_layout(
        title="The course: written chapters in green", height=520, margin={"t": 50, "b": 10}
    )
    return figure


def profiles_figure(profiles: Iterable[Profile] = PROFILES.values()) -> go.Figure:
    """Bars of the work each profile asks for: identities, image pixels and epochs."""
    profiles = list(profiles)
    names = [profile.name for profile in profiles]
    measures = {
        "training identities": [profile.train_ids for profile in profiles],
        "pixels per image": [profile.img_size[0] * profile.img_size[1] for profile in profiles],
        "epochs": [profile.epochs for profile in profiles],
    }
    figure = go.Figure(
        [go.Bar(name=label, x=names, y=values) for label, values in measures.items()]
    )
    figure.update_layout(
        barmode="group",
        yaxis_type="log",
        yaxis_title="amount (log scale)",
        title="How much work each profile does",
        height=380,
    )
    return figure
