"""The figure of chapter 3's short run (``reidkit.train.classifier``): loss and accuracy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots


def classifier_curve_figure(
    history: Sequence[dict[str, Any]], title: str = "Identity classification"
) -> go.Figure:
    """Cross-entropy (left) and batch accuracy (right) per step, from the run's records."""
    steps = [r["step"] for r in history]
    figure = make_subplots(rows=1, cols=2, subplot_titles=("cross-entropy", "batch accuracy"))
    figure.add_trace(
        go.Scatter(x=steps, y=[r["loss"] for r in history], name="loss", mode="lines"),
        row=1,
        col=1,
    )
    figure.add_trace(
        go.Scatter(x=steps, y=[r["accuracy"] for r in history], name="accuracy", mode="lines"),
        row=1,
        col=2,
    )
    figure.update_xaxes(title_text="step")
    figure.update_yaxes(range=[0, 1], row=1, col=2)
    figure.update_layout(title=title, height=360, showlegend=False, margin={"t": 60, "b": 40})
    return figure
