"""Chapter 8's view of the adaptive-weight triplet (eq. 15): which positives and negatives an
anchor weighs, on a hand-made batch of 2-D features, a slider choosing the anchor."""

from __future__ import annotations

import plotly.graph_objects as go
import torch
import torch.nn.functional as F
from torch import Tensor

from reidkit.losses import triplet_weights


def anchor_summary(features: Tensor, labels: Tensor, anchor: int, margin: float) -> dict:
    """For one anchor: its weights (positives ``softmax(d)``, negatives ``softmax(-d)``), the
    weighted distances ``d_p``, ``d_n``, the hardest ones (eq. 14) and the three losses."""
    distances, positive, negative = triplet_weights(features, labels)  # (B, B) each
    d = distances[anchor]  # (B,)
    d_p, d_n = float(positive[anchor] @ d), float(negative[anchor] @ d)
    has_pos, has_neg = bool(positive[anchor].any()), bool(negative[anchor].any())
    hard_p = float(d[positive[anchor] > 0].max()) if has_pos else float("nan")
    hard_n = float(d[negative[anchor] > 0].min()) if has_neg else float("nan")
    gap = torch.tensor(d_p - d_n)
    return {
        "weights": (positive[anchor] + negative[anchor]).tolist(),  # (B,): one or the other
        "positive": (positive[anchor] > 0).tolist(),
        "d_p": d_p,
        "d_n": d_n,
        "hinge": float(F.relu(gap + margin)),
        "soft": float(F.softplus(gap)),
        "batch_hard": max(0.0, hard_p - hard_n + margin),
        "counts": has_pos and has_neg,
    }


def triplet_weights_figure(features: Tensor, labels: Tensor, margin: float = 1.0) -> go.Figure:
    """The batch's 2-D ``features`` (B, 2), coloured by label; for the anchor the slider picks,
    each other point's size is its weight in eq. 15 (a hover gives it and the distance), and
    the title gives ``d_p``, ``d_n`` and the hinge (``margin``), soft-margin and batch-hard
    losses of that anchor."""
    if features.dim() != 2 or features.shape[1] != 2:
        raise ValueError(f"features must be 2-D points (B, 2), got {tuple(features.shape)}")
    if labels.shape != features.shape[:1]:
        raise ValueError(f"labels must have shape ({len(features)},), got {tuple(labels.shape)}")
    xs, ys = features[:, 0].tolist(), features[:, 1].tolist()
    fig = go.Figure()
    titles = []
    for a in range(len(features)):
        s = anchor_summary(features, labels, a, margin)
        kinds = ["positive" if p else "negative" for p in s["positive"]]
        kinds[a] = "anchor"
        sizes = [10 + 40 * w for w in s["weights"]]
        sizes[a] = 18
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="markers+text",
                text=[f"{w:.2f}" if i != a else "anchor" for i, w in enumerate(s["weights"])],
                textposition="top center",
                marker={
                    "size": sizes,
                    "color": labels.tolist(),
                    "colorscale": "Viridis",
                    "symbol": ["star" if i == a else "circle" for i in range(len(xs))],
                    "line": {"width": 1, "color": "black"},
                },
                customdata=list(zip(kinds, s["weights"])),
                hovertemplate="%{customdata[0]}, weight %{customdata[1]:.3f}<extra></extra>",
                visible=a == 0,
                name=f"anchor {a}",
            )
        )
        titles.append(
            f"anchor {a}: d_p = {s['d_p']:.3f}, d_n = {s['d_n']:.3f}; hinge (margin {margin:g}) "
            f"{s['hinge']:.3f}, soft {s['soft']:.3f}, batch-hard {s['batch_hard']:.3f}"
            if s["counts"]
            else f"anchor {a}: no positive or no negative in the batch (does not count)"
        )
    steps = [
        {
            "method": "update",
            "label": str(a),
            "args": [
                {"visible": [i == a for i in range(len(features))]},
                {"title.text": titles[a]},
            ],
        }
        for a in range(len(features))
    ]
    fig.update_layout(
        title={"text": titles[0], "font": {"size": 13}},
        sliders=[{"active": 0, "currentvalue": {"prefix": "anchor "}, "steps": steps}],
        xaxis={"title": "feature 1", "scaleanchor": "y"},
        yaxis={"title": "feature 2"},
        showlegend=False,
        height=480,
    )
    return fig
